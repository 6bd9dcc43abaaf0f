"""Recorded by the real recorder, replayed on a fresh copy of the app, in each toolkit: classic Tk,
ttk, Qt and a GTK form (yad). Judged by what the apps hold and print.

A fresh app's fields have no focus ring, so the recorded patch must show them as they were before
the press; the replayed text has characters the keymap lacks, and a click that reached the app
late would let the next field's keys land in the previous one.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from agent.hands import Pacing
from agent.settings import Settings
from agent.task import Status
from perception.accessibility import window_elements
from perception.geometry import center
from perception.screen import Screen
from perception.windows import open_windows
from tasks.recordings.record import Recorder
from tasks.recordings.recording import Recording
from tasks.recordings.replay import replay
from conftest import FormApp

FAST = Pacing(settle_timeout=1.0, resume_after=0.5, max_pause=10)
COMPANY = "Kōbe Precision 東京 KK"
EMAIL = "orders@kobe.example"


class GtkForm:
    """``yad --form`` with two fields; it prints them, '|'-separated, when OK is pressed."""

    title = "Shipping"

    def __init__(self, desktop) -> None:
        self.process = subprocess.Popen(["yad", "--form", f"--title={self.title}", "--field=Company", "--field=Email"],
                                        env=desktop.env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        desktop.wait_for_window(self.title)

    def places(self) -> list[tuple[int, int]]:
        """The two fields, then OK, as the accessibility tree places them."""
        elements = window_elements(self.title)
        fields = sorted((e.box for e in elements if e.role == "text"), key=lambda box: box[1])
        (ok,) = (e.box for e in elements if e.role == "push button" and e.name == "OK")
        return [center(box) for box in (*fields, ok)]

    def values(self) -> list[str]:
        out, _ = self.process.communicate(timeout=10)
        return out.split("|")[:2]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)


class TkForm:
    """The contact form (classic Tk, or ttk) or the Qt sign-up form: name and e-mail fields."""

    def __init__(self, desktop, kind: str, state: Path) -> None:
        if kind == "qt":
            self.app = FormApp(desktop, "signup_form_qt", "Sign up", state)
        else:
            self.app = FormApp(desktop, "contact_form", "Contact", state, *(["--ttk"] if kind == "ttk" else []))
        self.title, self.kind = self.app.title, kind

    def places(self) -> list[tuple[int, int]]:
        if self.kind == "qt":
            boxes = {e.name: e.box for e in window_elements(self.title) if e.role == "text"}
            return [center(boxes["Full name"]), center(boxes["Email"])]
        (window,) = [w for w in open_windows() if w.title == "Contact"]
        return [(window.left + 330, window.top + 57), (window.left + 330, window.top + 117)]

    def values(self) -> list[str]:
        state = self.app.wait_for(lambda s: s["fields"]["email"] == EMAIL)
        return [state["fields"]["name"], state["fields"]["email"]]

    def close(self) -> None:
        self.app.close()


def open_form(desktop, kind: str, state: Path) -> GtkForm | TkForm:
    return GtkForm(desktop) if kind == "gtk" else TkForm(desktop, kind, state)


def places_of(form) -> list[tuple[int, int]]:
    """Where the form's controls are, once its window is listed and its accessibility tree published
    (a busy machine may take its time)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            return form.places()
        except (KeyError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def record(desktop, form, root: Path) -> Recording:
    """A person fills the form: click, type, click, type (and OK on the GTK form)."""
    places = places_of(form)
    recording = Recording.create(root, "form", (1280, 800))
    with Recorder(recording, Screen()) as recorder:
        for place, text in zip(places, ["ACME", EMAIL], strict=False):
            desktop.xdotool("mousemove", str(place[0]), str(place[1]), "click", "1")
            time.sleep(0.3)
            desktop.xdotool("type", "--delay", "20", text)
            time.sleep(0.3)
        if len(places) == 3:
            desktop.xdotool("mousemove", *map(str, places[2]), "click", "1")
        time.sleep(0.8)  # a click is final once it can no longer become a double click
        desktop.xdotool("key", "ctrl+alt+Escape")
        assert recorder.stop_requested.wait(5)
    steps = recording.folder / "steps.jsonl"
    steps.write_text(steps.read_text(encoding="utf-8").replace('"ACME"', '"{company}"'), encoding="utf-8")
    return Recording.load(root, "form")


@pytest.mark.parametrize("kind", ["tk", "ttk", "qt", "gtk"])
def test_a_recording_replays_on_a_fresh_app(desktop, tmp_path, kind):
    form = open_form(desktop, kind, tmp_path / "first.json")
    try:
        recording = record(desktop, form, tmp_path / "recordings")
        form.values()
    finally:
        form.close()
    kinds = [s.kind for s in recording.steps]
    assert kinds == ["click", "type", "click", "type"] + (["click"] if kind == "gtk" else []), kinds
    assert recording.steps[1].text == "{company}"
    first = recording.steps[0]
    if kind == "tk":  # the patch from before the press, without the focus ring the press drew
        assert recording.image(first.after).tobytes() != recording.image(first.target).tobytes()

    fresh = open_form(desktop, kind, tmp_path / "fresh.json")
    try:
        time.sleep(0.5)
        result = replay(Settings(runs_dir=tmp_path / "runs", confirm="deny", settle_timeout=1.0), recording,
                        {"company": COMPANY}, speed=10, pacing=FAST)
        assert result.status is Status.SUCCESS, result.reason
        assert fresh.values() == [COMPANY, EMAIL]
    finally:
        fresh.close()
