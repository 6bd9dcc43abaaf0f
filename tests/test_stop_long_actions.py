"""The stop hotkey during long actions: a 400-character type, a 10000-pixel scroll, a long wait.

Real display, real Tk app, real kill switch listening; the hotkey is pressed by another process
through XTest (``xdotool key ctrl+alt+Escape``), as a person's keyboard is seen. The time from
the press to the StopRequested must stay under 0.3 s, and the app must have got only part of it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from actions.executor import Executor
from actions.schema import parse_action
from agent.backends.scripted import ScriptedBackend
from agent.hands import Pacing
from agent.model import ModelReply, ModelRequest
from agent.settings import Settings
from agent.task import Status
from safety.killswitch import AgentInput, KillSwitch, StopRequested
from tasks.commands.run import run_command
from tests.replies import NAME, NOTES, click, done, type_text

STOP_WITHIN = 0.3
LONG_TEXT = "".join(f"{n:03d} lorem ipsum " for n in range(30))[:400]
FAST = Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=10)

# A Text that counts the wheel notches it gets; publishes {"text", "wheel"} every 50 ms.
WHEEL_APP = r"""
import json, sys, tkinter as tk
root = tk.Tk(); root.title("Wheel"); root.geometry("500x400+300+200")
text = tk.Text(root); text.pack(fill="both", expand=True)
text.insert("1.0", "\n".join(f"line {n}" for n in range(3000)))
count = [0]
def wheel(event): count[0] += 1
text.bind("<Button-4>", wheel, add="+"); text.bind("<Button-5>", wheel, add="+")
def publish():
    open(sys.argv[1] + ".tmp", "w").write(json.dumps({"wheel": count[0]}))
    import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    root.after(50, publish)
publish(); root.mainloop()
"""


def press_hotkey_later(desktop, delay: float, once=lambda: True) -> dict[str, float]:
    """Press the stop hotkey from another process ``delay`` s after ``once()`` holds; the dict gets
    the moment."""
    pressed: dict[str, float] = {}

    def press() -> None:
        while not once():
            time.sleep(0.02)
        time.sleep(delay)
        pressed["at"] = time.monotonic()  # before xdotool starts: the measured latency includes its start
        desktop.xdotool("key", "ctrl+alt+Escape")

    threading.Thread(target=press, daemon=True).start()
    return pressed


def stop_latency(executor: Executor, kill: KillSwitch, arguments: dict, target, pressed: dict) -> tuple[float, str]:
    with kill.agent_input(AgentInput(keys=True, wheel=True, pointer_to=target)), pytest.raises(StopRequested) as stop:
        executor.execute(parse_action(arguments), target, kill.check)
    latency = time.monotonic() - pressed["at"]
    return latency, " ".join(getattr(stop.value, "__notes__", []))


def test_stop_hotkey_cuts_a_long_type_short(desktop, contact_form, kill_switch):
    executor = Executor(sleep=kill_switch.sleep)
    notes = (round(NOTES[0] / 1000 * 1280), round(NOTES[1] / 1000 * 800))
    executor.execute(parse_action({"action": "left_click", "coordinate": NOTES}), notes)
    # pressed once the app has 80 characters, however fast this machine types
    pressed = press_hotkey_later(desktop, 0.0, lambda: len(contact_form.state()["fields"]["notes"]) >= 80)

    latency, note = stop_latency(executor, kill_switch, {"action": "type", "text": LONG_TEXT}, None, pressed)

    assert latency < STOP_WITHIN, f"stopped {latency:.3f} s after the hotkey"
    assert "hotkey" in kill_switch.stop_reason
    assert note.startswith("type stopped after ") and note.endswith(" of 400 characters")
    time.sleep(0.3)  # the app publishes every 100 ms
    typed = contact_form.state()["fields"]["notes"]
    # (the keys typed while the person held ctrl+alt are the app's to read as shortcuts)
    assert 60 < len(typed) < len(LONG_TEXT) and LONG_TEXT.startswith(typed[:60])


def test_stop_hotkey_cuts_a_long_scroll_short(desktop, kill_switch, tmp_path):
    state = tmp_path / "wheel.json"
    app = subprocess.Popen([sys.executable, "-c", WHEEL_APP, str(state)], env=desktop.env)
    try:
        desktop.wait_for_window("^Wheel$")
        executor = Executor(sleep=kill_switch.sleep)
        pressed = press_hotkey_later(desktop, 0.6)

        latency, note = stop_latency(executor, kill_switch, {"action": "scroll", "pixels": -10000}, (550, 400),
                                     pressed)

        assert latency < STOP_WITHIN, f"stopped {latency:.3f} s after the hotkey"
        assert note.startswith("scroll stopped after ") and note.endswith(" of 200 notches")
        time.sleep(0.3)
        wheel = json.loads(state.read_text())["wheel"]
        assert 0 < wheel < 200
    finally:
        app.terminate()
        app.wait(timeout=5)


def test_stop_hotkey_cuts_a_wait_short(desktop, kill_switch):
    executor = Executor(sleep=kill_switch.sleep)
    pressed = press_hotkey_later(desktop, 0.5)
    latency, note = stop_latency(executor, kill_switch, {"action": "wait", "time": 30}, None, pressed)
    assert latency < STOP_WITHIN and note.startswith("wait stopped after ")


def test_a_stop_during_a_long_type_ends_the_agent_run_as_stopped(contact_form, desktop, tmp_path):
    backend = ScriptedBackend([click(NOTES), type_text(LONG_TEXT), done()])
    settings = Settings(backend="scripted", script=tmp_path / "unused", runs_dir=tmp_path / "runs", confirm="deny")

    def press_once_typing() -> None:  # the person presses the hotkey once the text starts arriving
        contact_form.wait_for(lambda s: len(s["fields"]["notes"]) >= 20, timeout=20)
        desktop.xdotool("key", "ctrl+alt+Escape")

    threading.Thread(target=press_once_typing, daemon=True).start()
    result = run_command(settings, "Write the notes", model=backend, pacing=FAST)

    assert result.status is Status.STOPPED and result.exit_code == 130, result.reason
    assert "hotkey" in result.reason
    records = [json.loads(line) for line in (result.folder / "steps.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["done", "interrupted"]
    assert "hotkey" in records[1]["detail"] and "of 400 characters" in records[1]["detail"]
    assert json.loads((result.folder / "summary.json").read_text())["status"] == "stopped"
    time.sleep(0.3)
    assert len(contact_form.state()["fields"]["notes"]) < len(LONG_TEXT)


class OverflowingBackend(ScriptedBackend):
    """A model whose second step hits a bug nobody expected."""

    def complete(self, request: ModelRequest, on_text=None) -> ModelReply:
        if len(self.requests) == 1:
            raise OverflowError("math range error")
        return super().complete(request, on_text)


def test_an_unexpected_error_in_a_step_ends_the_run_as_error_70_with_its_summary(contact_form, tmp_path):
    backend = OverflowingBackend([click(NAME), done()])
    settings = Settings(backend="scripted", script=tmp_path / "unused", runs_dir=tmp_path / "runs", confirm="deny")
    result = run_command(settings, "Click", model=backend, pacing=FAST)

    assert result.status is Status.ERROR and result.exit_code == 70
    assert "OverflowError" in result.reason
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["status"] == "error" and summary["exit_code"] == 70 and summary["steps"] == 1
