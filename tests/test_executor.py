"""The executor against a real Tk app: keys, Unicode text, clicks; asserted on the app's state."""

from __future__ import annotations

import subprocess
import time
import sys

import pytest

from actions.executor import Executor
from actions.schema import InvalidAction, parse_action
from tests.replies import NAME, NOTES


@pytest.fixture(scope="module")
def executor() -> Executor:
    return Executor()


def do(executor: Executor, contact_form, target_grid: list[int] | None = None, **arguments) -> None:
    action = parse_action(arguments)
    target = None
    if target_grid is not None:
        target = (round(target_grid[0] / 1000 * 1280), round(target_grid[1] / 1000 * 800))
    executor.execute(action, target)


@pytest.mark.parametrize("text", ["Ünïcødé ßpecial – ça ÉCOLE Ω", "東京都 渋谷区", "emoji 🚀🎉 mixed ✓", "tab\tand\nnewline"])
def test_types_any_unicode(executor, contact_form, text):
    do(executor, contact_form, NOTES, action="left_click", coordinate=NOTES)
    do(executor, contact_form, action="type", text=text)
    assert contact_form.wait_for(lambda s: s["fields"]["notes"] == text)["fields"]["notes"] == text


def test_model_key_names_reach_the_app(executor, contact_form):
    do(executor, contact_form, NOTES, action="left_click", coordinate=NOTES)
    do(executor, contact_form, action="type", text="abc")
    do(executor, contact_form, action="key", keys=["BackSpace"])
    do(executor, contact_form, action="key", keys=["Return"])
    do(executor, contact_form, action="key", keys=["shift", "X"])
    do(executor, contact_form, action="key", keys=["ArrowLeft"])
    do(executor, contact_form, action="key", keys=["ctrl+Home"])  # one string, split
    do(executor, contact_form, action="type", text=">")
    assert contact_form.wait_for(lambda s: s["fields"]["notes"] == ">ab\nX")["fields"]["notes"] == ">ab\nX"


def test_unknown_key_is_the_models_error(executor, contact_form):
    with pytest.raises(InvalidAction, match="unknown key 'hyperspace'"):
        do(executor, contact_form, action="key", keys=["hyperspace"])


def test_double_click_selects_a_word_and_typing_replaces_it(executor, contact_form):
    do(executor, contact_form, NAME, action="left_click", coordinate=NAME)
    do(executor, contact_form, action="type", text="Lovelace")
    do(executor, contact_form, [270, 146], action="double_click", coordinate=[270, 146])
    do(executor, contact_form, action="type", text="Byron")
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == "Byron")["fields"]["name"] == "Byron"


def test_schemas_and_policy_import_without_the_input_stack_or_torch():
    code = ("import sys, actions.schema, actions.keys, safety.policy, safety.gate, agent.reply, agent.task, "
            "agent.prompt, agent.settings; heavy = {'pyautogui', 'pynput', 'pywinctl', 'torch', 'transformers'}; "
            "print(sorted(heavy & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("text", ["a" * 400, "Zürich – 東京 " * 30, "line\n" * 50, "ÉCOLE 🚀" * 20,
                                  "東京都渋谷区" * 50])
def test_text_is_typed_in_chunks_short_enough_to_stop_between(text):
    from actions.executor import CHUNK_SECONDS, _chunks

    chunks = _chunks(text, 12)
    assert "".join(chunks) == text
    for chunk in chunks:
        assert len(chunk) * 0.012 <= CHUNK_SECONDS, chunk  # 12 ms a character
        assert chunk.isascii() or not any(c.isascii() for c in chunk) or chunk == "\n"


def test_a_checkpoint_that_raises_stops_a_long_type_and_says_how_far_it_got(executor, contact_form):
    from tests.replies import NOTES

    calls = []

    def checkpoint() -> None:
        calls.append(time.monotonic())
        if len(calls) == 4:
            raise KeyboardInterrupt("stop")

    do(executor, contact_form, NOTES, action="left_click", coordinate=NOTES)
    with pytest.raises(KeyboardInterrupt) as stop:
        executor.execute(parse_action({"action": "type", "text": "x" * 400}), None, checkpoint)
    assert stop.value.__notes__ == ["type stopped after 30 of 400 characters"]
    assert max(b - a for a, b in zip(calls, calls[1:])) < 0.2  # the checks come at least every 0.2 s
    assert contact_form.wait_for(lambda s: len(s["fields"]["notes"]) >= 30)["fields"]["notes"] == "x" * 30
