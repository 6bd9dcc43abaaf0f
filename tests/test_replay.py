"""The replayer on the real X desktop: recordings made from what is on the screen, replayed with
real input into the real contact form, judged by the form's own state file."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from agent.hands import Pacing
from agent.settings import Settings
from agent.task import Status
from desktop.virtual import app_path
from perception.locate import locate
from perception.screen import Screen
from perception.windows import WindowInfo, open_windows
from safety.policy import Proposal, Verdict
from tasks.recordings.recording import RecordedStep, Recording, Window
from tasks.recordings.replay import ReplayError, replay, replay_rows

FAST = Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=10)
# places in the form's window (its client area, as pywinctl reports it)
NAME, EMAIL, SAVE, CLEAR = (330, 57), (330, 117), (240, 430), (380, 430)
PATCH = (120, 60)


def settings(tmp_path: Path, **overrides) -> Settings:
    return Settings(**{"confirm": "deny", "runs_dir": tmp_path / "runs", "settle_timeout": 1.0, **overrides})


def windows_titled(title: str) -> list[WindowInfo]:
    return [w for w in open_windows() if w.title == title]


def form_box() -> Window:
    (found,) = windows_titled("Contact")
    return Window.of(found)


class Recorder:
    """Records as a person would: the screen before each step and the patch around the pointer,
    then does the step with xdotool, so the next step's screenshot shows what it did; a click
    keeps its patch as it left it, as the recorder does."""

    def __init__(self, desktop, root: Path, name: str = "contact", gap: float = 0.4) -> None:
        self.desktop, self.screen, self.gap = desktop, Screen(), gap
        self.recording = Recording.create(root, name, (1280, 800))

    def _append(self, act, **fields) -> RecordedStep:
        self.screen.wait_until_still()
        shot = self.screen.capture().capture
        step = RecordedStep(index=len(self.recording.steps) + 1, at=len(self.recording.steps) * self.gap,
                            window=form_box(), **fields)
        act()
        after = None
        if step.target_box:
            self.screen.wait_until_still()
            after = self.screen.capture().capture.crop(step.target_box)
        self.recording.append(step, screen=shot, target=shot.crop(step.target_box) if step.target_box else None,
                              after=after)
        return step

    def click(self, place: tuple[int, int], patch: tuple[int, int] = PATCH) -> RecordedStep:
        window = form_box()
        x, y = window.left + place[0], window.top + place[1]
        box = (x - patch[0] // 2, y - patch[1] // 2, x + patch[0] - patch[0] // 2, y + patch[1] - patch[1] // 2)
        return self._append(lambda: self.desktop.xdotool("mousemove", str(x), str(y), "click", "1"),
                            kind="click", point=(x, y), target_box=box)

    def type(self, text: str | None = None, parameter: str | None = None, typed: str | None = None) -> RecordedStep:
        """Record ``text`` (or a parameter) while typing ``typed`` (what the person typed before editing)."""
        return self._append(lambda: self.desktop.xdotool("type", "--delay", "20", typed or text or "x"),
                            kind="type", text=text, parameter=parameter)

    def done(self, form) -> Recording:
        """Clear the form the recording filled, so a replay starts from the same screen."""
        self.screen.wait_until_still()
        window = form_box()
        self.desktop.xdotool("mousemove", str(window.left + CLEAR[0]), str(window.top + CLEAR[1]), "click", "1")
        form.wait_for(lambda s: not any(s["fields"][k] for k in ("name", "email", "city")))
        self.desktop.xdotool("mousemove", "900", "700")
        return self.recording


def fill_and_save(desktop, form, tmp_path: Path, name_text: str = "Ada Lovelace") -> Recording:
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(NAME)
    recorder.type(name_text, typed="Ada Lovelace")
    recorder.click(EMAIL)
    recorder.type(parameter="email", typed="ada@example.org")
    recorder.click(SAVE)
    return recorder.done(form)


def steps_of(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "steps.jsonl").read_text(encoding="utf-8").splitlines()]


def test_replay_fills_the_unchanged_form(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    before = len(contact_form.state()["submissions"])

    result = replay(settings(tmp_path), recording, {"email": "grace@navy.mil"}, speed=20, pacing=FAST)

    assert result.status is Status.SUCCESS and result.steps == 5, result.reason
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) > before)["submissions"]
    assert saved[-1]["name"] == "Ada Lovelace" and saved[-1]["email"] == "grace@navy.mil"
    records = steps_of(result.folder)
    assert [r["outcome"] for r in records] == ["done"] * 5
    assert [r["action"]["action"] for r in records] == ["left_click", "type", "left_click", "type", "left_click"]
    assert all((result.folder / r["screenshot"]).is_file() for r in records)
    assert "recorded place" in records[0]["thought"]
    text = (result.folder / "steps.jsonl").read_text(encoding="utf-8")
    assert "grace@navy.mil" not in text  # a parameter step's value is kept out of the run folder
    summary = json.loads((result.folder / "summary.json").read_text())
    assert summary["status"] == "success" and summary["steps"] == 5


def test_replay_finds_the_form_after_it_moved_and_fills_in_parameters(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path, name_text="Dr {name}")
    before = len(contact_form.state()["submissions"])
    desktop.xdotool("windowmove", contact_form.window, "520", "230")
    desktop.xdotool("windowsize", contact_form.window, "700", "560")  # the form is fixed-size: asks only
    deadline = time.monotonic() + 5
    while form_box().left < 500 and time.monotonic() < deadline:
        time.sleep(0.05)

    result = replay(settings(tmp_path), recording, {"name": "Grace Hopper", "email": "g@navy.mil"}, speed=20,
                    pacing=FAST)

    assert result.status is Status.SUCCESS, result.reason
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) > before)["submissions"][-1]
    assert (saved["name"], saved["email"]) == ("Dr Grace Hopper", "g@navy.mil")


def test_missing_parameter_is_an_error_before_anything_runs(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    with pytest.raises(ReplayError, match="--param email=VALUE"):
        replay(settings(tmp_path), recording, {}, pacing=FAST)
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("how", ["closed", "covered"])
def test_target_gone_stops_cleanly_without_clicking(contact_form, desktop, tmp_path, how):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    state = contact_form.state()
    cover = None
    if how == "closed":
        contact_form.close()
    else:
        cover = desktop.launch(["xterm", "-geometry", "130x60+0+0"], quiet=True)
        desktop.wait_for_window("xterm")
        Screen().wait_until_still()
    desktop.xdotool("mousemove", "1100", "700")
    try:
        result = replay(settings(tmp_path), recording, {"email": "e@x.org"}, speed=20, pacing=FAST, window_wait=0.5)
        pointer = desktop.xdotool("getmouselocation")
    finally:
        if cover is not None:
            cover.terminate()
            cover.wait()

    assert result.status is Status.FAILURE and result.steps == 0
    assert ('the window "Contact" (Tk) of step 1 (click at' if how == "closed"
            else 'target of step 1 (click at') in result.reason
    assert ("is not open: stopped without acting" if how == "closed"
            else 'not in its window "Contact"') in result.reason
    assert pointer.startswith("x:1100 y:700")  # the pointer never moved: nothing was clicked
    (record,) = steps_of(result.folder)
    assert record["outcome"] == "blocked" and record["target"] is None
    assert (result.folder / record["screenshot"]).is_file()  # what the screen looked like
    if how == "covered":
        time.sleep(0.3)
        assert contact_form.state() == state


@pytest.fixture
def second_form(desktop, tmp_path):
    process = desktop.launch([sys.executable, str(app_path("contact_form")), "--state", str(tmp_path / "second.json"),
                              "--geometry", "640x520+620+200"])
    deadline = time.monotonic() + 10
    while len(windows_titled("Contact")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    Screen().wait_until_still()
    yield tmp_path / "second.json"
    process.terminate()
    process.wait(timeout=5)


@pytest.mark.parametrize("confirm", ["deny", "ask"])
def test_two_identical_targets_are_never_guessed(contact_form, desktop, tmp_path, request, confirm):
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(SAVE)
    recording = recorder.done(contact_form)
    second = request.getfixturevalue("second_form")
    saved = len(contact_form.state()["submissions"])
    asked: list[tuple[Proposal, Verdict]] = []

    def person(proposal: Proposal, verdict: Verdict) -> bool:
        asked.append((proposal, verdict))
        return False

    result = replay(settings(tmp_path, confirm=confirm), recording, {}, pacing=FAST, ask=person)

    assert result.status is Status.BLOCKED and result.steps == 0, result.reason
    assert "two places look like its target" in result.reason
    assert len(asked) == (1 if confirm == "ask" else 0)
    if asked:
        assert "two places" in asked[0][1].reason
    time.sleep(0.3)
    assert len(contact_form.state()["submissions"]) == saved
    assert json.loads(second.read_text())["submissions"] == []


def test_an_unsure_target_is_clicked_only_when_a_person_approves(contact_form, desktop, tmp_path):
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(SAVE)
    recording = recorder.done(contact_form)
    # recorded on a blurrier screen (a scaled remote desktop): the button scores ~0.86, Clear ~0.6
    for patch in (recording.steps[0].target, recording.steps[0].after):
        Image.open(recording.folder / patch).filter(ImageFilter.GaussianBlur(1)).save(recording.folder / patch)
    saved = len(contact_form.state()["submissions"])
    asked: list[str] = []

    result = replay(settings(tmp_path, confirm="ask"), recording, {}, pacing=FAST,
                    ask=lambda proposal, verdict: asked.append(verdict.reason) or True)

    assert result.status is Status.SUCCESS, result.reason
    assert len(asked) == 1 and "looks only" in asked[0]
    assert len(contact_form.wait_for(lambda s: len(s["submissions"]) > saved)["submissions"]) == saved + 1


def test_replay_stops_when_the_app_does_not_react(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    os.kill(contact_form.process.pid, signal.SIGSTOP)  # the app hangs: its window stays, nothing reacts
    try:
        result = replay(settings(tmp_path), recording, {"email": "e@x.org"}, speed=20, pacing=FAST)
    finally:
        os.kill(contact_form.process.pid, signal.SIGCONT)

    assert result.status is Status.NO_PROGRESS and result.steps == 0, result.reason
    assert "did not change after step 1" in result.reason
    time.sleep(0.5)
    assert contact_form.state()["fields"]["name"] == ""  # nothing was typed into the hung app


def test_a_field_that_already_has_the_focus_is_found_as_it_looked_after_the_click(contact_form, desktop, tmp_path):
    """Its focus ring makes it unlike the recorded (unfocused) patch, and its unfocused neighbours
    like it; but it looks as it did after the recorded click, where the recorded click was."""
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(NAME)
    recorder.type("Ada", typed="Ada")
    recording = recorder.done(contact_form)
    assert contact_form.state()["focus"] == "name"  # still there after Clear

    result = replay(settings(tmp_path), recording, {}, speed=20, pacing=FAST)

    assert result.status is Status.SUCCESS, result.reason
    first = steps_of(result.folder)[0]
    assert "looks as it did after this step" in first["thought"] and "not done again" in first["detail"]
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == "Ada")


def test_dry_run_touches_nothing_and_records_every_step(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    state = contact_form.state()

    result = replay(settings(tmp_path, dry_run=True), recording, {"email": "e@x.org"}, speed=20, pacing=FAST)

    assert result.status is Status.SUCCESS and result.steps == 5, result.reason
    records = steps_of(result.folder)
    assert [r["outcome"] for r in records] == ["dry_run"] * 5
    assert all((result.folder / r["annotated"]).is_file() for r in records)
    time.sleep(0.3)
    assert contact_form.state() == state

    later = replay(settings(tmp_path, dry_run=True), recording, {"email": "e@x.org"}, speed=20, from_step=4,
                   pacing=FAST)
    assert later.steps == 2
    assert [r["thought"].split(":")[0] for r in steps_of(later.folder)] == ["recorded step 4", "recorded step 5"]


def test_dry_run_goes_on_past_a_missing_target_and_says_so(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    contact_form.close()

    result = replay(settings(tmp_path, dry_run=True), recording, {"email": "e@x.org"}, speed=20, pacing=FAST,
                    window_wait=0.2)

    assert result.status is Status.FAILURE and result.steps == 5
    assert result.reason.startswith('dry run of 5 steps; it would have stopped: the window "Contact"')
    assert [r["outcome"] for r in steps_of(result.folder)] == ["blocked", "dry_run", "blocked", "dry_run", "blocked"]


def test_stop_hotkey_ends_a_replay_between_steps(contact_form, desktop, tmp_path):
    recorder = Recorder(desktop, tmp_path / "recordings", gap=2.8)  # the person paused before typing
    recorder.click(NAME)
    recorder.type("Ada", typed="Ada")
    recording = recorder.done(contact_form)
    threading.Timer(1.0, desktop.xdotool, ("key", "ctrl+alt+Escape")).start()

    result = replay(settings(tmp_path), recording, {}, pacing=FAST)

    assert result.status is Status.STOPPED and result.steps == 1 and "hotkey" in result.reason
    time.sleep(0.3)
    assert contact_form.state()["fields"]["name"] == ""


def test_replay_rows_runs_once_per_data_row(contact_form, desktop, tmp_path):
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(NAME)
    recorder.type("{name}", typed="Ada")
    recorder.click(EMAIL)
    recorder.type(parameter="email", typed="ada@example.org")
    recorder.click(SAVE)
    recorder.click(CLEAR)  # so that the next row starts from an empty form
    recording = recorder.done(contact_form)
    rows = tmp_path / "people.csv"
    rows.write_text("name,email\nAda Lovelace,ada@example.org\nAlan Turing,alan@example.org\n", encoding="utf-8")
    before = len(contact_form.state()["submissions"])

    results = replay_rows(settings(tmp_path), recording, rows, speed=20, pacing=FAST)

    assert [r.status for r in results] == [Status.SUCCESS, Status.SUCCESS], [r.reason for r in results]
    saved = contact_form.wait_for(lambda s: len(s["submissions"]) == before + 2)["submissions"]
    assert [(s["name"], s["email"]) for s in saved[-2:]] == [("Ada Lovelace", "ada@example.org"),
                                                            ("Alan Turing", "alan@example.org")]


def test_locate_is_fast_and_tolerates_scale_and_colour(contact_form, desktop, tmp_path):
    screen = Screen().capture().capture
    window = form_box()
    x, y = window.left + SAVE[0], window.top + SAVE[1]
    patch = screen.crop((x - 60, y - 30, x + 60, y + 30))
    timings = {}
    for name, picture, scale in [
        ("same", screen, 1.0),
        ("x0.8", screen.resize((1024, 640), Image.Resampling.BICUBIC), 0.8),
        ("x1.25", screen.resize((1600, 1000), Image.Resampling.BICUBIC), 1.25),
        ("tinted", ImageEnhance.Color(ImageEnhance.Brightness(screen).enhance(0.8)).enhance(2.0), 1.0),
    ]:
        started = time.perf_counter()
        best, *others = locate(picture, patch, (60, 30))
        timings[name] = time.perf_counter() - started
        assert abs(best.point[0] - x * scale) <= 3 and abs(best.point[1] - y * scale) <= 3, (name, best)
        assert best.score >= 0.9 and all(o.score < best.score - 0.1 for o in others), (name, best, others)
    started = time.perf_counter()
    near = locate(screen, patch, (60, 30), near=(window.left, window.top, window.left + window.width,
                                                  window.top + window.height))
    timings["window"] = time.perf_counter() - started
    print("locate on 1280x800, 120x60 patch, ms:", {k: round(v * 1000, 1) for k, v in timings.items()})
    assert near[0].where == "window" and timings["same"] < 0.5


@pytest.mark.parametrize("approve", [True, False])
def test_a_target_that_changed_looks_is_found_by_the_model_and_clicked_only_on_a_yes(contact_form, desktop,
                                                                                      tmp_path, approve):
    from agent.backends.scripted import ScriptedBackend
    from perception.geometry import CoordinateTransform, Monitor

    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(SAVE)
    recording = recorder.done(contact_form)
    # the app was restyled since: nothing on the screen looks like the recorded pictures any more
    noise = np.random.default_rng(7).integers(0, 256, (PATCH[1] // 6, PATCH[0] // 6, 3), dtype=np.uint8)
    for patch in (recording.steps[0].target, recording.steps[0].after):
        Image.fromarray(noise).resize(PATCH, Image.Resampling.NEAREST).save(recording.folder / patch)
    box = form_box()
    save = (box.left + SAVE[0], box.top + SAVE[1])
    grid = [round(v) for v in CoordinateTransform.of_monitor(Monitor(0, 0, 0, 1280, 800)).desktop_to_grid(save)]
    model = ScriptedBackend([f'The Save button.\n</think>\n\n{{"point_2d": {grid}, "label": "Save"}}'])
    saved = len(contact_form.state()["submissions"])
    asked: list[str] = []

    result = replay(settings(tmp_path, confirm="ask"), recording, {}, pacing=FAST, model=model,
                    ask=lambda proposal, verdict: asked.append(verdict.reason) or approve)

    assert len(model.requests) == 1 and len(model.requests[0].messages[0].content) == 3  # patch, screen, question
    assert len(asked) == 1 and "the model places it" in asked[0]
    if approve:
        assert result.status is Status.SUCCESS, result.reason
        assert len(contact_form.wait_for(lambda s: len(s["submissions"]) > saved)["submissions"]) == saved + 1
    else:
        assert result.status is not Status.SUCCESS
        time.sleep(0.5)
        assert len(contact_form.state()["submissions"]) == saved


@pytest.mark.parametrize(("options", "found_by"), [
    (("--buttons-x", "330"), "found at"),  # a new version of the app: its buttons 150 px further right
    # an update restyled the buttons (font, size, colours): the recorded picture of Save no longer
    # matches, but it still reads "Save", once, so the replay clicks it without asking
    (("--restyled",), "its text 'Save' is read at"),
])
def test_a_button_that_moved_or_changed_looks_is_found_where_it_is_now(contact_form, desktop, tmp_path, options,
                                                                       found_by):
    recorder = Recorder(desktop, tmp_path / "recordings")
    recorder.click(NAME)
    recorder.type("Ada Lovelace")
    recorder.click(SAVE)
    recording = recorder.done(contact_form)
    contact_form.close()
    changed = type(contact_form)(desktop, tmp_path / "changed.json", *options)
    try:
        result = replay(settings(tmp_path), recording, {}, pacing=FAST)
        assert result.status is Status.SUCCESS, result.reason
        assert changed.wait_for(lambda s: s["submissions"])["submissions"][0]["name"] == "Ada Lovelace"
        assert found_by in steps_of(result.folder)[-1]["thought"]
    finally:
        changed.close()


def test_replay_after_the_window_was_moved_and_resized(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    desktop.xdotool("windowsize", contact_form.window, "900", "640")
    desktop.xdotool("windowmove", contact_form.window, "330", "120")
    deadline = time.monotonic() + 5
    while (form_box().width, form_box().left) != (900, 330) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (form_box().width, form_box().height) == (900, 640)

    result = replay(settings(tmp_path), recording, {"email": "ada@example.org"}, pacing=FAST)

    assert result.status is Status.SUCCESS, result.reason
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert (saved[-1]["name"], saved[-1]["email"]) == ("Ada Lovelace", "ada@example.org")


def test_a_window_of_another_app_where_the_recorded_one_was_is_never_acted_in(contact_form, desktop, tmp_path):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    contact_form.close()
    other = desktop.launch(["xterm", "-title", "", "-geometry", "80x30+40+40"], quiet=True)
    try:
        desktop.wait_for_window("xterm", by_class=True)
        Screen().wait_until_still()
        desktop.xdotool("mousemove", "1100", "700")
        result = replay(settings(tmp_path, confirm="ask"), recording, {"email": "e@x.org"}, speed=20, pacing=FAST,
                        window_wait=0.5, ask=lambda proposal, verdict: pytest.fail("nothing to ask about"))
        pointer = desktop.xdotool("getmouselocation")
    finally:
        other.terminate()
        other.wait()

    assert result.status is Status.FAILURE and result.steps == 0, result.reason
    assert result.reason.startswith('the window "Contact" (Tk) of step 1 (click at')
    assert 'is not open: stopped without acting (windows open now: "" (XTerm, xterm))' in result.reason
    assert pointer.startswith("x:1100 y:700")


@pytest.mark.parametrize("approve", [True, False])
def test_a_window_of_the_recorded_app_under_another_title_is_acted_in_once_a_person_approves(
        contact_form, desktop, tmp_path, approve):
    recording = fill_and_save(desktop, contact_form, tmp_path)
    desktop.xdotool("set_window", "--name", "Contact - copy", contact_form.window)
    contact_form.title = "Contact - copy"
    asked: list[str] = []

    result = replay(settings(tmp_path, confirm="ask"), recording, {"email": "e@x.org"}, speed=20, pacing=FAST,
                    window_wait=0.5, ask=lambda proposal, verdict: asked.append(verdict.reason) or approve)

    assert len(asked) == 1 and '"Contact - copy" (Tk) is of the same kind' in asked[0], asked
    if approve:
        assert result.status is Status.SUCCESS, result.reason
        saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
        assert (saved[-1]["name"], saved[-1]["email"]) == ("Ada Lovelace", "e@x.org")
    else:
        assert result.status is Status.BLOCKED and result.steps == 0, result.reason
        time.sleep(0.3)
        assert contact_form.state()["fields"]["name"] == ""
