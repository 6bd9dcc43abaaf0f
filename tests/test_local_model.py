"""The in-process transformers backend, on a tiny random-weight Qwen3-VL loaded from disk.

The model is built offline and saved with save_pretrained; everything here loads it with
from_pretrained, the path users take with downloaded weights. Its replies are gibberish.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine.local import LocalModel, TextStream
from engine.plain import PresencePenalty, ThinkingBudget
from agent.model import Message, ModelRequest, ModelUnavailable, Sampling
from agent.prompt import system_prompt, thought_cutoff
from agent.settings import Settings
from agent.task import Status
from tasks.commands.run import run_command
from tests.test_agent_on_desktop import FAST

GREEDY = Sampling(temperature=0.0, presence_penalty=0.0, max_new_tokens=24)


def screen_request(size: tuple[int, int] = (1280, 800), sampling: Sampling = GREEDY) -> ModelRequest:
    screenshot = Image.new("RGB", size, "white")
    return ModelRequest(
        (Message("system", (system_prompt(),)), Message("user", (screenshot, "Fill in the form."))), sampling=sampling,
    )


@pytest.fixture(scope="module")
def thinking(tiny_models) -> LocalModel:
    return LocalModel(str(tiny_models["thinking"]))


def image_tokens(model: LocalModel, request: ModelRequest) -> int:
    inputs, _ = model.encode(request)
    return int((inputs["input_ids"] == model.model.config.image_token_id).sum())


def test_image_token_count_follows_the_pixel_budget(tiny_models):
    full = LocalModel(str(tiny_models["thinking"]), max_pixels=1280 * 800)
    assert image_tokens(full, screen_request((1280, 800))) == 1000  # one token per 32x32 block
    assert image_tokens(full, screen_request((1920, 1080))) <= 1000  # shrunk into the budget
    small = LocalModel(str(tiny_models["thinking"]), max_pixels=640 * 416)
    assert image_tokens(small, screen_request((1280, 832))) == 20 * 13


def test_chat_template_renders_the_tool_prompt_and_the_thinking_opener(thinking, tiny_models):
    _, prompt = thinking.encode(screen_request())
    assert "<tools>" in prompt and '"name": "computer_use"' in prompt
    assert prompt.count("<|image_pad|>") == 1
    assert prompt.endswith("<|im_start|>assistant\n<think>\n")
    _, plain = LocalModel(str(tiny_models["instruct"])).encode(screen_request())
    assert plain.endswith("<|im_start|>assistant\n")


def test_generates_and_streams_the_same_text(thinking):
    pieces: list[str] = []
    reply = thinking.complete(screen_request(), pieces.append)
    assert reply.completion_tokens > 0 and reply.prompt_tokens > 1000
    assert "".join(pieces) == reply.text
    assert reply.finish_reason in ("stop", "length")


def test_streamed_text_holds_a_character_back_until_its_last_byte_comes(thinking):
    text = "点击“保存”按钮 🙂 then type 東京 and press Enter"
    tokens = thinking.tokenizer.encode(text)
    split = [piece for piece in (thinking.tokenizer.decode([t]) for t in tokens) if "\ufffd" in piece]
    assert split, "some characters take several tokens"
    pieces: list[str] = []
    stream = TextStream(thinking.tokenizer, pieces.append, thinking.stop_ids)
    for token in tokens:
        stream.add([token])
    stream.end()
    assert "".join(pieces) == text and not any("\ufffd" in piece for piece in pieces)


def test_thinking_budget_closes_the_thought_so_an_action_can_follow(thinking):
    budget = Sampling(temperature=0.0, presence_penalty=0.0, max_new_tokens=400, thinking_budget=12)
    reply = thinking.complete(screen_request(sampling=budget))
    thought, cutoff, answer = reply.text.partition(thought_cutoff().strip())
    assert cutoff and answer, "the thought is closed and the reply goes on after it"
    assert len(thinking.tokenizer.encode(thought)) <= 14  # 12, give or take a merge


def test_thinking_budget_leaves_a_closed_thought_alone():
    end, cutoff = 7, [1, 2, 3]
    budget = ThinkingBudget(prompt_length=2, budget=3, end_think=end, cutoff=cutoff)
    scores = torch.zeros(2, 10)
    ids = torch.tensor([[0, 0, 5, 7, 5], [0, 0, 5, 5, 5]])  # row 0 closed its thought itself
    forced = budget(ids, scores)
    assert torch.equal(forced[0], scores[0])
    assert forced[1].argmax() == 1 and torch.isinf(forced[1]).sum() == 9


def test_presence_penalty_lowers_every_used_token_once():
    penalty = PresencePenalty(prompt_length=1, penalty=1.5)
    scores = penalty(torch.tensor([[4, 2, 2, 3]]), torch.zeros(1, 5))
    assert scores.tolist() == [[0.0, 0.0, -1.5, -1.5, 0.0]]  # the prompt's token 4 is not a reply token


def test_chat_template_from_a_processor_file(tiny_models, tmp_path):
    folder = Path(shutil.copytree(tiny_models["thinking"], tmp_path / "legacy"))
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    template = (folder / "chat_template.jinja").read_text()
    (folder / "chat_template.jinja").unlink()
    (folder / "chat_template.json").write_text(json.dumps({"chat_template": template}))
    _, prompt = LocalModel(str(folder)).encode(screen_request())
    assert prompt.endswith("<think>\n")


@pytest.mark.parametrize(
    "options, words",
    [
        ({"cpu_offload": True}, "no CUDA GPU here"),
        ({"attn": "flash_attention_2"}, "flash"),
    ],
)
def test_gpu_only_options_fail_clearly_on_a_cpu_machine(tiny_models, options, words):
    with pytest.raises(ModelUnavailable, match=words):
        LocalModel(str(tiny_models["thinking"]), **options)


def test_missing_and_broken_weights_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailable, match="not in the local model cache and HF_HUB_OFFLINE"):
        LocalModel("Qwen/Qwen3-VL-4B-Instruct")
    with pytest.raises(ModelUnavailable, match="neither a model folder nor a hub id"):
        LocalModel(str(tmp_path / "no" / "such" / "folder"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailable, match="cannot load"):
        LocalModel(str(broken))


def test_agent_loop_on_the_tiny_model_stops_cleanly_with_a_full_record(contact_form, tiny_models, tmp_path):
    settings = Settings(model=str(tiny_models["thinking"]), mode="thinking", max_new_tokens=40, thinking_budget=16,
                        runs_dir=tmp_path / "runs", confirm="deny", max_errors=2)
    result = run_command(settings, "Fill in the form", pacing=FAST)
    assert result.status is Status.BUDGET and "unusable" in result.reason
    lines = (result.folder / "steps.jsonl").read_text().splitlines()
    assert len(lines) == result.steps == 2
    assert all(json.loads(line)["outcome"] == "invalid" for line in lines)
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["status"] == "budget" and summary["steps"] == 2
    assert contact_form.state()["submissions"] == []  # gibberish never reached the form


def test_heavy_libraries_load_only_with_the_in_process_model():
    code = ("import sys, agent.settings, agent.backends, agent.prompt, agent.reply, actions.schema, safety.policy, "
            "tasks.commands.ask; print(sorted(m for m in ('torch', 'transformers', 'bitsandbytes') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_command_line_runs_the_tiny_model_from_its_folder(contact_form, tiny_models, tmp_path):
    from tests.test_cli import run_agent

    result = run_agent("run", "Fill in the form", "--model", str(tiny_models["instruct"]), "--max-new-tokens", "24",
                       "--max-steps", "2", "--runs-dir", str(tmp_path / "runs"), "--confirm", "deny",
                       stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr  # a budget ran out: gibberish is never an action
    (folder,) = (tmp_path / "runs").iterdir()
    run = json.loads((folder / "run.json").read_text())
    assert run["backend"] == "transformers" and run["model"] == str(tiny_models["instruct"])
    assert len((folder / "steps.jsonl").read_text().splitlines()) == 2
    Image.new("RGB", (320, 200), "white").save(tmp_path / "shot.png")
    asked = run_agent("ask", str(tmp_path / "shot.png"), "the OK button", "--point", "--mode", "thinking",
                      "--model", str(tiny_models["thinking"]), "--max-new-tokens", "200", "--thinking-budget", "8")
    assert asked.returncode == 1 and ("holds no point" in asked.stderr or "cut off" in asked.stderr)
