"""Settings sources and errors, the scripted backend's reply files, and the prompt. Pure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from PIL import Image

from actions.schema import tool_schema
from agent.backends.scripted import ScriptedBackend
from agent.model import ModelReply, ModelRequest, ModelUnavailable, Sampling
from agent.profiles import load_profile
from agent.prompt import PromptBuilder, system_prompt
from agent.settings import Settings, SettingsError, load_settings
from agent.task import Budget, Outcome, Step, TaskState
from actions.schema import parse_action
from perception.geometry import Monitor
from perception.screen import Screenshot
from perception.windows import WindowInfo


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No AGENT_* variables or API keys from the outside, and a working directory without agent.toml."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("AGENT_") or name == "OPENAI_API_KEY":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ---- settings --------------------------------------------------------------------------------


def test_defaults():
    settings = load_settings()
    assert isinstance(settings, Settings)
    assert settings.max_steps == 30
    assert settings.max_errors == 3
    assert settings.backend is None and settings.backend_choice == "transformers"
    assert settings.model_id == "Qwen/Qwen3-VL-4B-Instruct"
    assert settings.script is None
    assert settings.confirm is None
    assert settings.dry_run is False
    assert settings.monitor == "primary" and settings.monitor_choice == "primary"
    assert settings.max_pixels == 1280 * 800
    assert settings.history_images == 1
    assert settings.sensitive_windows == []
    assert settings.runs_dir == Path("runs")


def test_options():
    settings = load_settings(max_steps=5, dry_run=True, monitor="2", script="demo.replies", confirm="allow")
    assert settings.max_steps == 5
    assert settings.dry_run is True
    assert settings.monitor_choice == 2
    assert settings.script == Path("demo.replies")
    assert settings.confirm_mode == "allow"


def test_none_options_are_ignored():
    assert load_settings(max_steps=None, confirm=None).max_steps == 30


def test_environment(monkeypatch):
    monkeypatch.setenv("AGENT_MAX_STEPS", "12")
    monkeypatch.setenv("AGENT_DRY_RUN", "true")
    monkeypatch.setenv("AGENT_SENSITIVE_WINDOWS", '["Bank", "KeePass"]')
    settings = load_settings()
    assert settings.max_steps == 12
    assert settings.dry_run is True
    assert settings.sensitive_windows == ["Bank", "KeePass"]


def test_config_file(tmp_path):
    path = write(tmp_path / "my.toml", 'max_steps = 9\nmax_errors = 4\nmonitor = "active"\n'
                 'sensitive_windows = ["Payroll"]\n')
    settings = load_settings(config_file=path)
    assert settings.max_steps == 9
    assert settings.max_errors == 4
    assert settings.monitor_choice == "active"
    assert settings.sensitive_windows == ["Payroll"]


def test_agent_toml_in_the_working_directory_is_read(tmp_path):
    write(tmp_path / "agent.toml", "max_steps = 11\n")
    assert load_settings().max_steps == 11


def test_option_beats_environment_beats_file(tmp_path, monkeypatch):
    path = write(tmp_path / "my.toml", "max_steps = 9\nmax_errors = 7\nhistory_images = 4\n")
    monkeypatch.setenv("AGENT_MAX_STEPS", "12")
    monkeypatch.setenv("AGENT_MAX_ERRORS", "6")
    settings = load_settings(config_file=path, max_steps=5)
    assert settings.max_steps == 5  # option
    assert settings.max_errors == 6  # environment over file
    assert settings.history_images == 4  # file over default


def test_nonexistent_config_file(tmp_path):
    path = tmp_path / "missing.toml"
    with pytest.raises(SettingsError) as error:
        load_settings(config_file=path)
    assert str(path) in str(error.value) and "does not exist" in str(error.value)


def test_a_directory_is_not_a_config_file(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(config_file=tmp_path)


@pytest.mark.parametrize(
    "options, words",
    [
        ({"max_steps": 0}, ["max_steps", "greater than or equal to 1"]),
        ({"max_steps": "many"}, ["max_steps", "integer"]),
        ({"monitor": "left"}, ["monitor", "pattern"]),
        ({"confirm": "maybe"}, ["confirm", "'ask', 'allow' or 'deny'"]),
        ({"backend": "llama"}, ["backend"]),
        ({"max_pixels": 100}, ["max_pixels"]),
        ({"settle_timeout": 0}, ["settle_timeout"]),
        ({"no_such_option": 1}, ["no_such_option", "Extra inputs"]),
    ],
)
def test_invalid_values(options, words):
    with pytest.raises(SettingsError) as error:
        load_settings(**options)
    message = str(error.value)
    assert message.startswith("invalid settings: ")
    for word in words:
        assert word in message


def test_invalid_environment_value(monkeypatch):
    monkeypatch.setenv("AGENT_MAX_STEPS", "lots")
    with pytest.raises(SettingsError, match="max_steps"):
        load_settings()


def test_invalid_value_in_the_file(tmp_path):
    path = write(tmp_path / "my.toml", "max_steps = -1\n")
    with pytest.raises(SettingsError, match="max_steps"):
        load_settings(config_file=path)


def test_unknown_key_in_the_file(tmp_path):
    path = write(tmp_path / "my.toml", "max_stepz = 3\n")
    with pytest.raises(SettingsError, match="max_stepz"):
        load_settings(config_file=path)


def test_non_toml_file(tmp_path):
    path = write(tmp_path / "notes.txt", "this is = = not TOML [\n")
    with pytest.raises(SettingsError) as error:
        load_settings(config_file=path)
    assert f"cannot read config file {path}" in str(error.value)


def test_settings_error_is_a_value_error():
    assert issubclass(SettingsError, ValueError)


class FakeStdin:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty, mode", [(True, "ask"), (False, "deny")])
def test_confirm_mode_default_depends_on_a_terminal(monkeypatch, tty, mode):
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty))
    assert load_settings().confirm_mode == mode


@pytest.mark.parametrize("tty", [True, False])
@pytest.mark.parametrize("confirm", ["ask", "allow", "deny"])
def test_explicit_confirm_mode_wins(monkeypatch, tty, confirm):
    monkeypatch.setattr(sys, "stdin", FakeStdin(tty))
    assert load_settings(confirm=confirm).confirm_mode == confirm


# ---- the scripted backend ---------------------------------------------------------------------


def request() -> ModelRequest:
    return ModelRequest(messages=())


SCRIPT = """Comments before the first reply are ignored.
--- reply --- is only a separator on a line of its own.

--- reply ---
First thought.
</think>

<tool_call>
{"name": "computer_use", "arguments": {"action": "wait", "time": 1}}
</tool_call>
--- reply ---   
Second reply
--- reply ---
Third
"""


def test_scripted_from_file(tmp_path):
    path = write(tmp_path / "demo.replies", SCRIPT)
    backend = ScriptedBackend.from_file(path)
    assert backend.name == "scripted"
    assert backend.source == str(path)
    assert len(backend.replies) == 3
    assert backend.replies[0].startswith("First thought.\n</think>")
    assert backend.replies[0].endswith("</tool_call>")
    assert backend.replies[1] == "Second reply"
    assert backend.replies[2] == "Third"
    assert all("Comments" not in r for r in backend.replies)


def test_scripted_replies_in_order_then_runs_out(tmp_path):
    backend = ScriptedBackend.from_file(write(tmp_path / "demo.replies", SCRIPT))
    first, second = request(), request()
    reply = backend.complete(first)
    assert isinstance(reply, ModelReply)
    assert reply.text.startswith("First thought.") and reply.finish_reason == "stop"
    assert backend.complete(second).text == "Second reply"
    assert backend.complete(request()).text == "Third"
    assert backend.requests[0] is first and backend.requests[1] is second
    with pytest.raises(ModelUnavailable) as error:
        backend.complete(request())
    assert "ran out after 3" in str(error.value)
    assert str(tmp_path / "demo.replies") in str(error.value)


def test_scripted_streams_text(tmp_path):
    backend = ScriptedBackend(["line one\nline two\n</think>"])
    pieces: list[str] = []
    reply = backend.complete(request(), pieces.append)
    assert "".join(pieces) == reply.text
    assert pieces == ["line one\n", "line two\n", "</think>"]
    assert reply.completion_tokens == 5  # words, as a rough count


def test_scripted_file_without_separator(tmp_path):
    path = write(tmp_path / "bad.replies", "just some text\n</think>\n<tool_call>{}</tool_call>\n")
    with pytest.raises(ModelUnavailable) as error:
        ScriptedBackend.from_file(path)
    assert str(path) in str(error.value) and "--- reply ---" in str(error.value)


def test_scripted_file_missing(tmp_path):
    with pytest.raises(ModelUnavailable, match="cannot read scripted replies"):
        ScriptedBackend.from_file(tmp_path / "nope.replies")


def test_scripted_file_not_utf8(tmp_path):
    path = tmp_path / "latin1.replies"
    path.write_bytes("--- reply ---\nZ\xfcrich\n".encode("latin-1"))
    with pytest.raises(ModelUnavailable, match="cannot read scripted replies"):
        ScriptedBackend.from_file(path)


def test_bundled_demo_script_parses():
    from importlib.resources import files

    from agent.reply import parse_reply

    demo = Path(str(files("tasks").joinpath("demos", "contact_form.replies")))
    backend = ScriptedBackend.from_file(demo)
    assert len(backend.replies) >= 2
    for text in backend.replies:
        parse_reply(ModelReply(text))  # every scripted reply is a valid action


# ---- the prompt ----------------------------------------------------------------------------


def test_the_project_profile_describes_the_tool_from_the_action_types():
    prompt = system_prompt("agent-rules")  # our own tool description, from the action types
    assert "<tools>" in prompt and "</tools>" in prompt
    tool = json.dumps({"type": "function", "function": tool_schema()}, ensure_ascii=False)
    assert tool in prompt
    inside = prompt.rsplit("<tools>", 1)[1].split("</tools>", 1)[0].strip()
    assert json.loads(inside)["function"]["name"] == "computer_use"
    assert '{"name": <function-name>, "arguments": <args-json-object>}' in prompt  # braces unescaped
    assert "{tools}" not in prompt


MONITOR = Monitor(1, 0, 0, 320, 200, primary=True)


def shot(color: str, window: WindowInfo | None = None) -> Screenshot:
    image = Image.new("RGB", (320, 200), color)
    return Screenshot(capture=image, image=image, monitor=MONITOR, window=window)


RULES = load_profile("agent-rules")  # the project's own guidance: window titles, "Earlier steps"


def test_request_first_step():
    sampling = Sampling(temperature=0.1)
    builder = PromptBuilder(sampling, profile=RULES)
    task = TaskState("Fill in {the} form", Budget())
    window = WindowInfo(title="Contact", app="python3", left=0, top=0, width=10, height=10)
    screenshot = shot("white", window)
    req = builder.request(task, screenshot)
    assert req.sampling is sampling
    assert req.tools == ({"type": "function", "function": tool_schema()},)
    system, user = req.messages
    assert system.role == "system" and system.text == system_prompt("agent-rules")
    assert user.role == "user"
    images = [p for p in user.content if isinstance(p, Image.Image)]
    assert len(images) == 1 and images[0] is screenshot.image
    assert user.content[0] is screenshot.image  # the image comes before the question
    assert "Fill in {the} form" in user.text
    assert 'active window: "Contact"' in user.text
    assert "Earlier steps" not in user.text
    assert "Note:" not in user.text


def test_request_summarises_earlier_steps_and_feedback():
    builder = PromptBuilder(Sampling(), profile=RULES)
    task = TaskState("Fill in the form", Budget())
    first = shot("red")
    task.record(Step(index=1, screenshot=first, action=parse_action({"action": "left_click", "coordinate": [337, 146]}),
                     outcome=Outcome.DONE, detail="clicked at (431, 116)"))
    task.record(Step(index=2, screenshot=shot("green"), outcome=Outcome.INVALID, detail="no <tool_call> block"))
    current = shot("blue")
    req = builder.request(task, current)
    user = req.messages[1]
    text = user.text
    assert "Earlier steps:" in text
    assert "1. left_click coordinate=[337.0, 146.0] -> done: clicked at (431, 116)" in text
    assert "2. (invalid reply: no <tool_call> block)" in text
    assert "Note: Your last reply was not usable: no <tool_call> block" in text
    assert "Fill in the form" in text
    assert text.index("Earlier steps") < text.index("Note:")
    images = [p for p in user.content if isinstance(p, Image.Image)]
    assert len(images) == 1 and images[0] is current.image  # history_images=1: only the current screen
    assert "active window" not in text


def test_request_with_earlier_screenshots():
    builder = PromptBuilder(Sampling(), history_images=2)
    task = TaskState("t", Budget())
    older, previous = shot("red"), shot("green")
    for n, s in enumerate((older, previous), start=1):
        task.record(Step(index=n, screenshot=s, action=parse_action({"action": "wait", "time": 1}),
                         outcome=Outcome.DONE, detail="waited"))
    current = shot("blue")
    content = builder.request(task, current).messages[1].content
    assert content[0] == "Earlier screen 1:"
    assert content[1] is previous.image  # only the most recent earlier screen
    assert content[2] is current.image
    assert isinstance(content[3], str)
    assert all(p is not older.image for p in content)
    assert len(content) == 4


def test_history_images_at_least_one():
    assert PromptBuilder(Sampling(), history_images=0).history_images == 1


# ---- model choice ----------------------------------------------------------------------------


def test_backend_follows_what_was_given():
    assert load_settings(script="demo.replies").backend_choice == "scripted"
    assert load_settings(base_url="http://localhost:8000/v1").backend_choice == "openai"
    assert load_settings(backend="transformers", base_url="http://x/v1").backend_choice == "transformers"


def test_mode_picks_model_and_model_card_sampling():
    thinking = load_settings(mode="thinking")
    assert thinking.model_id == "Qwen/Qwen3-VL-4B-Thinking"
    sampling = thinking.sampling()
    assert (sampling.temperature, sampling.top_p, sampling.top_k, sampling.presence_penalty) == (0.6, 0.95, 20, 0.0)
    assert sampling.thinking_budget == 1024
    instruct = load_settings(mode="instruct", temperature=0.0, max_new_tokens=64).sampling()
    assert (instruct.temperature, instruct.top_p, instruct.presence_penalty) == (0.0, 0.8, 1.5)
    assert instruct.max_new_tokens == 64 and instruct.thinking_budget is None


def test_api_key_comes_from_the_environment_and_stays_secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-123")
    settings = load_settings(base_url="http://localhost:8000/v1")
    assert settings.api_key.get_secret_value() == "sk-test-123"
    assert "sk-test-123" not in str(settings.model_dump(mode="json"))


def test_bad_model_options_are_named():
    with pytest.raises(SettingsError, match="quantize"):
        load_settings(quantize="3bit")
    with pytest.raises(SettingsError, match="base_url"):
        load_settings(base_url="localhost:8000")
