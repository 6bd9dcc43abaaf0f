"""The recorder: merge rules on synthetic events, then real X input (xdotool) against real apps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from perception.geometry import Monitor
from perception.screen import Screen
from tasks.recordings.event_merge import MergeRules, RawEvent, StepMerger, hotkey_keys, key_label, merge
from tasks.recordings.record import Recorder, crop_box
from tasks.recordings.recording import Recording, Window
from tests.replies import NAME, NEWSLETTER, NOTES, SAVE

FORM = Window(title="Contact", app="python3", left=41, top=60, width=640, height=520)
TERM = Window(title="xterm", app="xterm", left=0, top=0, width=400, height=300)
ROOT = Path(__file__).resolve().parents[1]


# synthetic raw events


def click(at: float, x: int, y: int, button: str = "left", to: tuple[int, int] | None = None) -> list[RawEvent]:
    return [RawEvent("down", at, (x, y), button=button, window=FORM),
            RawEvent("up", at + 0.05, to or (x, y), button=button)]


def key(at: float, name: str, char: str | None = None, window: Window | None = FORM) -> list[RawEvent]:
    return [RawEvent("key_down", at, key=name, char=char, window=window), RawEvent("key_up", at + 0.01, key=name)]


def typed(at: float, text: str, window: Window | None = FORM) -> list[RawEvent]:
    events: list[RawEvent] = []
    for n, char in enumerate(text):
        name, when = "space" if char == " " else key_label(char), at + n * 0.05
        down = key(when, name, char, window)
        shifted = [RawEvent("key_down", when, key="shift"), *down, RawEvent("key_up", when + 0.02, key="shift")]
        events += shifted if char.isupper() else down
    return events


def combo(at: float, *names: str) -> list[RawEvent]:
    """Modifiers down in order, the last key pressed and released, modifiers up."""
    *mods, last = names
    return ([RawEvent("key_down", at, key=m) for m in mods] + key(at, last, last if len(last) == 1 else None)
            + [RawEvent("key_up", at + 0.02, key=m) for m in reversed(mods)])


def scroll(at: float, x: int, y: int, dy: int, dx: int = 0) -> RawEvent:
    return RawEvent("scroll", at, (x, y), scroll=(dx, dy), window=FORM)


def summary(steps) -> list[tuple]:
    return [(s.kind, {"type": s.text or s.parameter, "hotkey": s.keys, "scroll": s.scroll}.get(s.kind, s.point))
            for s in steps]


def test_clicks_double_clicks_right_clicks_and_drags():
    events = (click(0.0, 100, 100) + click(1.0, 200, 200) + click(1.2, 202, 199)  # double
              + click(2.0, 300, 300) + click(3.0, 300, 300)  # too slow: two clicks
              + click(4.0, 400, 400) + click(4.1, 450, 400)  # too far: two clicks
              + click(5.0, 10, 20, "right") + click(6.0, 30, 40, "middle")
              + click(7.0, 500, 500, to=(620, 540)) + click(8.0, 50, 60, to=(53, 62)))  # drag; a 3 px wobble is a click
    steps = merge(events)
    assert summary(steps) == [
        ("click", (100, 100)), ("double_click", (200, 200)), ("click", (300, 300)), ("click", (300, 300)),
        ("click", (400, 400)), ("click", (450, 400)), ("right_click", (10, 20)), ("middle_click", (30, 40)),
        ("drag", (500, 500)), ("click", (50, 60))]
    assert steps[8].to == (620, 540) and [s.index for s in steps] == list(range(1, 11))
    assert steps[1].at == 1.0 and steps[0].window == FORM


def test_typing_applies_shift_and_backspace_and_enter_tab_end_the_run():
    events = (typed(0.0, "Ada Lovelacx") + key(1.0, "backspace") + typed(1.1, "e") + key(1.2, "tab")
              + typed(2.0, "x") + key(2.1, "backspace") + key(2.2, "backspace")  # the second deletes older text
              + typed(3.0, "ls -l") + key(3.5, "enter"))
    assert summary(merge(events)) == [("type", "Ada Lovelace"), ("hotkey", ["tab"]), ("hotkey", ["backspace"]),
                                      ("type", "ls -l"), ("hotkey", ["enter"])]


def test_modifier_combos_are_hotkeys_in_the_order_pressed():
    events = (typed(0.0, "ab") + combo(1.0, "ctrl", "a") + combo(2.0, "ctrl", "shift", "s") + combo(3.0, "shift", "tab")
              + combo(4.0, "alt", "f4") + combo(5.0, "win", "l") + [RawEvent("key_down", 6.0, key="ctrl")]
              + [RawEvent("key_up", 6.1, key="ctrl")] + key(6.2, "capslock") + typed(7.0, "Hi!"))
    assert summary(merge(events)) == [("type", "ab"), ("hotkey", ["ctrl", "a"]), ("hotkey", ["ctrl", "shift", "s"]),
                                      ("hotkey", ["shift", "tab"]), ("hotkey", ["alt", "f4"]), ("hotkey", ["win", "l"]),
                                      ("type", "Hi!")]


def test_pynput_key_names_become_actions_keys_names():
    assert [key_label(n) for n in ("ctrl_l", "alt_r", "shift", "cmd", "page_up", "esc", "enter", "A", "f5", "ü")] == \
        ["ctrl", "alt", "shift", "win", "pageup", "esc", "enter", "a", "f5", "ü"]
    assert hotkey_keys("<ctrl>+<alt>+<esc>") == {"ctrl", "alt", "esc"}


def test_wheel_notches_merge_per_place_and_pause():
    events = ([scroll(0.0 + n * 0.05, 300, 300, -1) for n in range(4)] + [scroll(0.3, 302, 301, 1, dx=1)]
              + [scroll(0.4, 600, 300, 1), scroll(0.45, 600, 300, 1)]  # elsewhere: a new step
              + [scroll(3.0, 600, 300, 1)]  # after a pause: a new step
              + click(4.0, 10, 10))
    assert summary(merge(events)) == [("scroll", (1, -3)), ("scroll", (0, 2)), ("scroll", (0, 1)), ("click", (10, 10))]


def test_secret_window_or_secret_looking_text_becomes_a_parameter():
    rules = MergeRules(secret_windows=("^Contact$",))
    events = (typed(0.0, "Ada Lovelace") + key(1.0, "tab")
              + typed(2.0, "ls", window=TERM) + key(2.5, "enter", window=TERM)
              + typed(3.0, "Hunter2!x9", window=TERM) + key(4.0, "enter", window=TERM))
    steps = merge(events, rules)
    assert summary(steps) == [("type", "secret_1"), ("hotkey", ["tab"]), ("type", "ls"), ("hotkey", ["enter"]),
                              ("type", "secret_2"), ("hotkey", ["enter"])]
    assert steps[0].text is None and steps[4].text is None
    assert "Lovelace" not in repr(steps) and "Hunter2" not in repr(steps)


def test_stop_hotkey_makes_no_step_and_ends_the_text_run():
    events = typed(0.0, "abc") + combo(1.0, "ctrl", "alt", "esc") + combo(2.0, "ctrl", "esc")
    assert summary(merge(events)) == [("type", "abc"), ("hotkey", ["ctrl", "esc"])]


def test_a_ctrl_c_that_interrupts_the_recording_is_dropped():
    events = typed(0.0, "abc") + combo(1.0, "ctrl", "c")
    assert summary(merge(events, interrupted=True)) == [("type", "abc")]
    assert summary(merge(events)) == [("type", "abc"), ("hotkey", ["ctrl", "c"])]
    assert summary(merge(events + click(1.2, 5, 5), interrupted=True))[1] == ("hotkey", ["ctrl", "c"])


def test_steps_come_out_as_soon_as_they_are_final():
    """What the recorder writes at once: a click after the double-click time, text at the next mouse event."""
    merger = StepMerger()
    assert [m for e in click(0.0, 10, 10) for m in merger.feed(e)] == []
    assert [m.step.kind for m in merger.tick(0.3)] == []
    assert [m.step.kind for m in merger.tick(0.7)] == ["click"]
    assert [m for e in typed(1.0, "hi") for m in merger.feed(e)] == [] and merger.tick(60.0) == []
    (done,) = merger.feed(RawEvent("down", 61.0, (5, 5), button="left"))
    assert done.step.text == "hi" and done.step.index == 2
    assert [m.step.kind for m in merger.feed(RawEvent("up", 61.1, (5, 5), button="left")) + merger.flush()] == ["click"]


def test_target_patch_keeps_its_size_at_the_screen_edges():
    screen = Monitor(1, 0, 0, 1280, 800)
    assert crop_box((640, 400), (120, 60), screen) == (580, 370, 700, 430)
    assert crop_box((3, 795), (120, 60), screen) == (0, 740, 120, 800)
    assert crop_box((1279, 0), (120, 60), Monitor(2, -1280, 0, 1280, 800)) == (-120, 0, 0, 60)


def test_the_writer_puts_both_listeners_events_back_in_time_order(tmp_path):
    """Keyboard and mouse are two listener threads: under load the mouse one may deliver late."""
    recording = new_recording(tmp_path)
    recorder = Recorder(recording, Screen())
    writer = threading.Thread(target=recorder._write_steps)
    writer.start()
    for event in typed(0.1, "Ada") + click(0.0, 431, 117):  # the mouse listener delivered late
        recorder._events.put(event)
    recorder._events.put(None)
    writer.join()
    assert summary(Recording.load(tmp_path / "recordings", "demo").steps) == [("click", (431, 117)), ("type", "Ada")]


def test_without_a_display_starting_says_why(tmp_path):
    code = ("from pathlib import Path; from tasks.recordings.record import Recorder, RecorderError; "
            "from tasks.recordings.recording import Recording; from perception.screen import Screen\n"
            "try: Recorder(Recording.create(Path('%s'), 'x', (1, 1)), Screen()).start()\n"
            "except RecorderError as error: print(error)")
    result = subprocess.run([sys.executable, "-c", code % tmp_path], capture_output=True, text=True,
                            cwd=ROOT, env={"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT)})
    assert "cannot listen to the mouse and keyboard" in result.stdout, result.stderr


# real X input on the session's desktop


def pixel(grid: list[int]) -> tuple[int, int]:
    return (round(grid[0] / 1000 * 1280), round(grid[1] / 1000 * 800))


def xclick(desktop, point: tuple[int, int]) -> None:
    desktop.xdotool("mousemove", str(point[0]), str(point[1]), "click", "1")


def new_recording(tmp_path: Path) -> Recording:
    return Recording.create(tmp_path / "recordings", "demo", (1280, 800))


def stop_with_hotkey(desktop, recorder: Recorder) -> str:
    desktop.xdotool("key", "ctrl+alt+Escape")
    assert recorder.stop_requested.wait(5), "the stop hotkey was not seen"
    return recorder.wait()


def lines(recording: Recording) -> int:
    return len((recording.folder / "steps.jsonl").read_text(encoding="utf-8").splitlines())


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_records_filling_the_contact_form(contact_form, desktop, tmp_path):
    recording = new_recording(tmp_path)
    name, newsletter, save = pixel(NAME), pixel(NEWSLETTER), pixel(SAVE)
    with Recorder(recording, Screen()) as recorder:
        xclick(desktop, name)
        desktop.xdotool("type", "Ada Lovelacx")
        desktop.xdotool("key", "BackSpace")
        desktop.xdotool("type", "e")
        desktop.xdotool("key", "ctrl+a")
        xclick(desktop, newsletter)
        xclick(desktop, save)  # quickly after, but far away: not a double click
        wait_until(lambda: lines(recording) == 5)  # each step is on disk once final, before stopping
        assert "hotkey" in stop_with_hotkey(desktop, recorder)

    steps = Recording.load(tmp_path / "recordings", "demo").steps
    assert summary(steps) == [("click", name), ("type", "Ada Lovelace"), ("hotkey", ["ctrl", "a"]),
                              ("click", newsletter), ("click", save)]
    assert all(s.window and s.window.title == "Contact" for s in steps)
    assert [s.at for s in steps] == sorted(s.at for s in steps) and steps[0].at >= 0
    for step in (steps[0], steps[3], steps[4]):
        screenshot, target = recording.image(step.screenshot), recording.image(step.target)
        assert screenshot.size == (1280, 800) and target.size == (120, 60)
        left, top, right, bottom = step.target_box
        assert left < step.point[0] < right and top < step.point[1] < bottom
        assert len(target.getcolors(120 * 60)) > 3  # the control, not a blank patch
        assert target.tobytes() == screenshot.crop(step.target_box).tobytes()
    assert steps[1].screenshot is None and steps[1].target is None
    state = contact_form.wait_for(lambda s: s["submissions"])
    assert state["submissions"] == [{"name": "Ada Lovelace", "email": "", "city": "", "notes": "", "newsletter": True}]


def test_records_pointer_gestures(contact_form, desktop, tmp_path):
    recording = new_recording(tmp_path)
    notes = pixel(NOTES)
    with Recorder(recording, Screen()) as recorder:
        xclick(desktop, notes)
        desktop.xdotool("type", "one two three")
        desktop.xdotool("mousemove", "300", "300", "click", "--repeat", "2", "--delay", "80", "1")
        desktop.xdotool("mousemove", "250", "320", "mousedown", "1", "mousemove", "330", "340", "mouseup", "1")
        for _ in range(3):
            desktop.xdotool("click", "5")
        desktop.xdotool("click", "3")
        stop_with_hotkey(desktop, recorder)

    steps = Recording.load(tmp_path / "recordings", "demo").steps
    assert summary(steps) == [("click", notes), ("type", "one two three"), ("double_click", (300, 300)),
                              ("drag", (250, 320)), ("scroll", (0, -3)), ("right_click", (330, 340))]
    assert steps[3].to == (330, 340)
    assert all((recording.folder / s.screenshot).is_file() for s in steps if s.kind != "type")


def test_text_typed_in_a_secret_window_is_a_parameter_and_never_written(contact_form, desktop, tmp_path):
    recording = new_recording(tmp_path)
    with Recorder(recording, Screen(), secret_windows=["^Contact$"]) as recorder:
        xclick(desktop, pixel(NAME))
        desktop.xdotool("type", "Ada Lovelace")
        xclick(desktop, pixel(SAVE))
        stop_with_hotkey(desktop, recorder)

    loaded = Recording.load(tmp_path / "recordings", "demo")
    assert summary(loaded.steps) == [("click", pixel(NAME)), ("type", "secret_1"), ("click", pixel(SAVE))]
    assert loaded.steps[1].text is None and loaded.info.parameters == ["secret_1"]
    assert all(s.screenshot is None and s.target for s in loaded.steps if s.kind == "click")  # patch only
    assert contact_form.wait_for(lambda s: s["submissions"])["submissions"][0]["name"] == "Ada Lovelace"
    for path in loaded.folder.iterdir():
        assert b"Lovelace" not in path.read_bytes(), path.name


RECORD = """
import sys
from perception.screen import Screen
from tasks.recordings.record import Recorder
from tasks.recordings.recording import Recording
recorder = Recorder(Recording.create(sys.argv[1], "demo", (1280, 800)), Screen())
recorder.start()
print("ready", flush=True)
print(recorder.wait(), flush=True)
"""


def test_ctrl_c_keeps_everything_recorded_so_far(contact_form, desktop, tmp_path):
    process = subprocess.Popen([sys.executable, "-c", RECORD, str(tmp_path / "recordings")], cwd=ROOT,
                               env={**desktop.env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        xclick(desktop, pixel(NAME))
        desktop.xdotool("type", "Ada")  # an open text run: only Ctrl+C ends it
        contact_form.wait_for(lambda s: s["fields"]["name"] == "Ada")
        time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
        assert "interrupted" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
    steps = Recording.load(tmp_path / "recordings", "demo").steps
    assert summary(steps) == [("click", pixel(NAME)), ("type", "Ada")]
    assert json.loads((tmp_path / "recordings" / "demo" / "recording.json").read_text())["name"] == "demo"
    assert os.path.isfile(tmp_path / "recordings" / "demo" / steps[0].screenshot)


def test_a_command_recorded_in_xterm_replays_in_a_new_xterm_elsewhere(desktop, tmp_path):
    """The README's walk-through: record in xterm, edit a parameter in, replay in a new xterm."""
    from agent.settings import Settings
    from tasks.recordings.replay import replay

    first, second = tmp_path / "first.txt", tmp_path / "second.txt"

    def terminal(geometry: str):
        process = desktop.launch(["xterm", "-title", "rec-term", "-geometry", geometry,  # no rc: it would
                                  "-e", "bash", "--norc", "--noprofile"], quiet=True)  # retitle the window
        desktop.wait_for_window("rec-term")
        time.sleep(0.3)  # the shell starts
        return process

    shell = terminal("70x10+650+450")
    try:
        recording = new_recording(tmp_path)
        with Recorder(recording, Screen()) as recorder:
            xclick(desktop, (900, 520))
            desktop.xdotool("type", f"echo replayed > {first}")
            desktop.xdotool("key", "Return")
            wait_until(first.exists)
            stop_with_hotkey(desktop, recorder)
    finally:
        shell.terminate()
        shell.wait(timeout=5)
    steps = Recording.load(tmp_path / "recordings", "demo").steps
    assert summary(steps) == [("click", (900, 520)), ("type", f"echo replayed > {first}"), ("hotkey", ["enter"])]
    assert all(s.window and s.window.title == "rec-term" for s in steps)
    assert first.read_text() == "replayed\n"
    # the person edits the typed command: the file name becomes a parameter
    steps_file = recording.folder / "steps.jsonl"
    steps_file.write_text(steps_file.read_text().replace(str(first), "{out}"))

    shell = terminal("70x10+120+140")
    try:
        result = replay(Settings(runs_dir=tmp_path / "runs", confirm="deny"),
                        Recording.load(tmp_path / "recordings", "demo"), {"out": str(second)}, speed=4)
        wait_until(second.exists)
    finally:
        shell.terminate()
        shell.wait(timeout=5)
    assert result.status.value == "success" and result.steps == 3, result.reason
    assert second.read_text() == "replayed\n"
