"""The OpenAI-compatible backend against a real HTTP server process speaking vLLM's protocol."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agent.backends import make_backend
from agent.backends.server import OpenAIBackend, RequestRefused
from agent.model import Message, ModelReply, ModelRequest, ModelUnavailable, Sampling, TextSink
from agent.prompt import system_prompt, thought_cutoff
from agent.reply import ReplyError, parse_reply
from agent.settings import load_settings
from agent.task import Status
from evaluation.model_server import shared_model
from tasks.commands.run import run_command
from tests.replies import EMAIL, NAME, SAVE, click, done, reply, script, type_text
from tests.test_agent_on_desktop import FAST

SERVER = Path(__file__).with_name("openai_server.py")


class ScriptedServer:
    """tests/openai_server.py running as its own process; ``requests()`` are the bodies it got."""

    def __init__(self, folder: Path, replies: tuple[str, ...], *options: str) -> None:
        self.log = folder / "requests.jsonl"
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER), "--script", str(script(folder / "replies.txt", *replies)),
             "--port", "0", "--log", str(self.log), *options],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        assert self.url.startswith("http://"), self.process.communicate()[1]

    def requests(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def stop(self) -> str:
        """Stop it; what it wrote to stderr."""
        self.process.terminate()
        return self.process.communicate(timeout=5)[1]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ScriptedServer]]:
    """Starts a server answering with the given replies; ``api_key=`` makes it demand one."""
    servers: list[ScriptedServer] = []

    def start(*replies: str, api_key: str | None = None) -> ScriptedServer:
        folder = tmp_path / f"server{len(servers)}"
        folder.mkdir()
        servers.append(ScriptedServer(folder, replies, *(["--api-key", api_key] if api_key else [])))
        return servers[-1]

    yield start
    for server in servers:
        assert "Traceback" not in server.stop()  # the stand-in itself must not break


def backend(server: ScriptedServer, **options: Any) -> OpenAIBackend:
    return OpenAIBackend(server.url, "qwen3-vl", **{"timeout": 5.0, "retries": 2, "backoff": 0.01, **options})


def ask(model: OpenAIBackend, sampling: Sampling = Sampling(), on_text: TextSink | None = None) -> ModelReply:
    request = ModelRequest((Message("system", (system_prompt(),)), Message("user", ("Fill the form",))),
                           sampling=sampling)
    return model.complete(request, on_text)


THOUGHT = "The name field is empty, so I click it first."
CLICK = reply(THOUGHT, action="left_click", coordinate=[337, 146])


def test_a_streamed_reply_reaches_on_text_piece_by_piece(serve):
    server = serve(CLICK)
    pieces: list[str] = []
    answer = ask(backend(server), on_text=pieces.append)

    assert answer.text == CLICK and "".join(pieces) == CLICK and len(pieces) > 10
    assert answer.finish_reason == "stop" and answer.completion_tokens == len(CLICK.split())
    assert answer.prompt_tokens > 0 and answer.tool_calls == ()
    decision = parse_reply(answer)
    assert decision.thought == THOUGHT and decision.action.action == "left_click"


def test_the_request_carries_a_png_screenshot_and_the_sampling_but_no_tools(serve):
    server = serve(CLICK)
    screen = Image.new("RGB", (320, 200), (200, 30, 30))
    sampling = replace(Sampling.for_mode("thinking"), thinking_budget=None, max_new_tokens=900)
    request = ModelRequest((Message("system", (system_prompt(),)), Message("user", (screen, "Fill the form"))),
                           tools=({"type": "function", "function": {"name": "computer_use"}},), sampling=sampling)
    OpenAIBackend(server.url + "/", "qwen3-vl").complete(request)  # a trailing slash is fine

    (body,) = server.requests()
    assert "tools" not in body and body["model"] == "qwen3-vl"
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "presence_penalty", "max_tokens")} == {
        "temperature": 0.6, "top_p": 0.95, "top_k": 20, "presence_penalty": 0.0, "max_tokens": 900}
    system, user = body["messages"]
    assert system == {"role": "system", "content": system_prompt()}
    image, text = user["content"]
    assert text == {"type": "text", "text": "Fill the form"} and image["type"] == "image_url"
    prefix, encoded = image["image_url"]["url"].split(",", 1)
    assert prefix == "data:image/png;base64"
    sent = Image.open(io.BytesIO(base64.b64decode(encoded)))
    assert sent.format == "PNG" and sent.size == (320, 200) and sent.getpixel((5, 5)) == (200, 30, 30)


def test_structured_tool_calls_and_inline_tool_call_give_the_same_action(serve):
    server = serve(CLICK, "!tool_calls\n" + CLICK)
    model = backend(server)
    inline, structured = ask(model), ask(model)

    assert "<tool_call>" not in structured.text and len(structured.tool_calls) == 1
    call = structured.tool_calls[0]
    assert call["id"] == "call_0" and call["type"] == "function" and call["function"]["name"] == "computer_use"
    assert json.loads(call["function"]["arguments"]) == {"action": "left_click", "coordinate": [337, 146]}
    assert parse_reply(inline) == parse_reply(structured)


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_a_separately_sent_thought_is_put_back_before_think(serve, field):
    server = serve(f"!reasoning {field}\n" + CLICK, f"!reasoning {field}\n!tool_calls\n" + CLICK)
    model = backend(server)
    pieces: list[str] = []
    answer = ask(model, on_text=pieces.append)

    assert answer.text.startswith(THOUGHT + "\n\n</think>\n\n") and "".join(pieces) == answer.text
    assert parse_reply(answer).thought == THOUGHT
    with_call = ask(model)
    assert with_call.text.startswith(THOUGHT) and "</think>" in with_call.text
    assert parse_reply(with_call) == parse_reply(answer)


def test_a_server_that_does_not_stream_answers_with_one_body(serve):
    server = serve("!plain\n!reasoning\n!tool_calls\n" + CLICK)
    answer = ask(backend(server))
    assert answer.text.startswith(THOUGHT) and answer.tool_calls and answer.completion_tokens > 0
    assert parse_reply(answer).action.action == "left_click"


def test_an_empty_reply_is_left_to_the_parser(serve):
    answer = ask(backend(serve("")))
    assert answer.text == "" and answer.finish_reason == "stop"
    with pytest.raises(ReplyError):
        parse_reply(answer)


def test_a_server_error_is_tried_again(serve):
    server = serve("!status 500\nCUDA out of memory", CLICK)
    assert ask(backend(server)).text == CLICK
    assert len(server.requests()) == 2


def test_retry_after_is_honoured_over_the_backoff(serve):
    server = serve("!status 429\n!retry-after 0\nslow down", CLICK)
    started = time.monotonic()
    assert ask(backend(server, backoff=30)).text == CLICK
    assert time.monotonic() - started < 5


def test_a_lasting_server_error_names_the_status_and_the_attempts(serve):
    server = serve(*["!status 500\nCUDA out of memory"] * 3)
    with pytest.raises(ModelUnavailable, match=r"HTTP 500: CUDA out of memory \(tried 3 times\)") as error:
        ask(backend(server, retries=2))
    assert server.url in str(error.value) and len(server.requests()) == 3


def test_a_server_that_does_not_answer_in_time(serve):
    server = serve("!sleep 3\n" + CLICK, "!sleep 3\n" + CLICK)
    started = time.monotonic()
    with pytest.raises(ModelUnavailable, match=r"did not answer within 0.3 s \(tried 2 times\)"):
        ask(backend(server, timeout=0.3, retries=1))
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("directives", ["!malformed", "!plain\n!malformed"])
def test_malformed_json_is_tried_again_then_reported(serve, directives):
    server = serve(*[f"{directives}\n{CLICK}"] * 2)
    with pytest.raises(ModelUnavailable, match=r"sent malformed JSON .*\{not json.*tried 2 times"):
        ask(backend(server, retries=1))


def test_no_server_at_all_is_a_clear_message():
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    with pytest.raises(ModelUnavailable, match=r"cannot connect to the model server at .*: is it running"):
        ask(OpenAIBackend(url, "qwen3-vl", retries=1, backoff=0.01))


def test_a_wrong_api_key_is_refused_at_once_and_named(serve):
    server = serve(CLICK, api_key="s3cret")
    with pytest.raises(RequestRefused, match=r"HTTP 401.*API key.*AGENT_API_KEY"):
        ask(backend(server, api_key="wrong"))
    assert len(server.requests()) == 1  # not tried again
    assert ask(backend(server, api_key="s3cret")).text == CLICK


def test_an_unknown_model_names_the_served_ones(serve):
    server = serve(CLICK)
    with pytest.raises(RequestRefused, match=r"HTTP 404.*model name 'qwen3-vl-8b'; it serves qwen3-vl"):
        ask(OpenAIBackend(server.url, "qwen3-vl-8b"))
    assert OpenAIBackend(server.url, "any").served_models() == [{"id": "qwen3-vl", "owned_by": None}]


THINKING = Sampling.for_mode("thinking", thinking_budget=100, max_new_tokens=400)
LONG_THOUGHT = "The form has many fields and I keep weighing which one to fill first"
ACTION = CLICK.rpartition("</think>\n\n")[2]


@pytest.mark.parametrize("directives", ["!length", "!length\n!reasoning"])
def test_a_thought_over_budget_is_closed_and_the_model_acts(serve, directives):
    server = serve(f"{directives}\n{LONG_THOUGHT}", ACTION)
    pieces: list[str] = []
    answer = ask(backend(server), THINKING, pieces.append)

    assert answer.text == LONG_THOUGHT + thought_cutoff() + ACTION and "".join(pieces) == answer.text
    assert answer.finish_reason == "stop" and answer.completion_tokens == 100 + len(ACTION.split())
    decision = parse_reply(answer)
    assert decision.thought.startswith(LONG_THOUGHT) and decision.action.action == "left_click"
    first, second = server.requests()
    assert first["max_tokens"] == 100 and "continue_final_message" not in first
    assert second["continue_final_message"] is True and second["add_generation_prompt"] is False
    assert second["max_tokens"] == 300 and second["messages"][:-1] == first["messages"]
    assert second["messages"][-1] == {"role": "assistant", "content": LONG_THOUGHT + thought_cutoff()}
    assert second["messages"][-1]["content"].endswith("</think>\n\n")


def test_a_server_that_cannot_continue_leaves_the_reply_cut_off(serve):
    server = serve(f"!length\n{LONG_THOUGHT}", "!status 400\ncontinue_final_message is not supported")
    answer = ask(backend(server), THINKING)
    assert answer.text == LONG_THOUGHT and answer.finish_reason == "length"
    with pytest.raises(ReplyError, match="cut off"):
        parse_reply(answer)


def test_a_thought_that_ends_within_budget_needs_no_second_request(serve):
    server = serve(CLICK)
    assert ask(backend(server), THINKING).text == CLICK and len(server.requests()) == 1


def test_this_projects_server_closes_the_thought_itself_in_one_request(tiny_models):
    # the in-process model served as an evaluation serves it to its workers
    settings = load_settings(backend="transformers", model=str(tiny_models["thinking"]), mode="thinking")
    with shared_model(settings) as served:
        model = make_backend(served)
        pieces: list[str] = []
        answer = ask(model, replace(THINKING, thinking_budget=6, max_new_tokens=200, temperature=0.0), pieces.append)
        assert model.closes_thoughts()
    closing = thought_cutoff().partition("</think>")[0].strip()  # (a random model's answer may be blank)
    assert closing in answer.text and "".join(pieces) == answer.text and answer.completion_tokens > 6


def test_the_agent_fills_the_form_through_the_server(contact_form, serve, tmp_path):
    server = serve(
        "!status 503\nthe model is still loading",
        "!tool_calls\n" + click(NAME),
        "!reasoning\n" + type_text("Ada Lovelace"),
        "!reasoning\n!tool_calls\n" + click(EMAIL),
        type_text("ada@analytical-engine.org"),
        "!length\n" + click(SAVE),  # a whole call that ended right at the token limit is acted on
        done(),
    )
    settings = load_settings(runs_dir=tmp_path / "runs", confirm="deny")
    result = run_command(settings, "Fill the form", model=backend(server), pacing=FAST)

    assert result.status is Status.SUCCESS, result.reason
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert saved == [{"name": "Ada Lovelace", "email": "ada@analytical-engine.org", "city": "", "notes": "",
                      "newsletter": False}]
    run = json.loads((result.folder / "run.json").read_text())
    assert run["backend"] == "openai" and run["settings"]["profile"] == "qwen3-vl"  # the run names its profile
    cookbook = (Path(__file__).parent / "prompt_fixtures" / "qwen3vl_cookbook_system.txt").read_text(encoding="utf-8")
    assert all(body["messages"][0] == {"role": "system", "content": cookbook} for body in server.requests())
