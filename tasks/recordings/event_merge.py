"""Raw input events merged into the semantic steps of a recording. Pure: no X, clock or files.

:class:`StepMerger` takes :class:`RawEvent` records one at a time (the recorder feeds it as
events arrive); :func:`merge` runs it over a whole list, which is how every rule is tested.

Merge rules:

* press+release within ``drag_px`` -> click / right_click / middle_click; a second left click within
  ``double_click_s`` and ``double_click_px`` -> double_click (so a left click is final only after
  that time or at the next event); a left press released farther away -> drag.
* printable characters as pynput reports them (shift applied) form one ``type`` run; Backspace
  takes back its last character, or is a key step of its own on an empty run.
* Enter and Tab end the run as hotkeys ['enter'] / ['tab']: the key replays right both in a
  one-line field (submit, next field) and a multi-line one (newline); a "\n" in the text would not.
* ctrl/alt/super + key -> hotkey, modifiers in the order pressed, as :mod:`actions.keys` names
  them (['ctrl', 's']); shift counts only with a named key (['shift', 'tab']). Modifiers alone,
  lock keys and AltGr (it types characters) make no step.
* wheel notches at one place without a pause -> one scroll (dx, dy), dy > 0 up.
* the stop hotkey makes no step. A ctrl+c waits ``hold_ctrl_c_s``: Ctrl+C in the recorder's own
  terminal reaches the listener too, and is dropped when it ended the recording.

Secrets: a run typed while the active window's title matches a ``secret_windows`` pattern, or
that looks like a password or token (:func:`safety.secrets.looks_like_secret`), becomes a
parameter ``secret_N`` without text (the text lives in memory only until its run ends); presses in
a secret window keep only the target patch a replay needs, not the whole screen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from PIL import Image

from actions.keys import key_name
from actions.schema import InvalidAction
from safety.secrets import looks_like_secret
from tasks.recordings.recording import POINTER_KINDS, RecordedStep, Window

MODIFIERS = frozenset({"ctrl", "alt", "shift", "win"})
LOCKS = frozenset({"capslock", "numlock", "scrolllock"})
_SIDELESS = {"ctrl": "ctrl", "alt": "alt", "shift": "shift", "cmd": "win", "super": "win"}


@dataclass(frozen=True)
class RawEvent:
    """One low-level input event, stamped by the recorder; plain data, so merging needs no X."""

    kind: Literal["down", "up", "scroll", "key_down", "key_up"]
    at: float  # seconds since the recording started
    point: tuple[int, int] = (0, 0)  # the pointer, for mouse events
    button: str = ""  # left, right, middle
    key: str = ""  # as actions.keys names it: "a", "enter", "ctrl"
    char: str | None = None  # the character the key types (shift applied); None for named keys
    scroll: tuple[int, int] = (0, 0)
    window: Window | None = None
    screen: Image.Image | None = field(default=None, repr=False)
    target: Image.Image | None = field(default=None, repr=False)
    target_box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class MergeRules:
    double_click_s: float = 0.5
    double_click_px: int = 4
    drag_px: int = 5
    scroll_gap_s: float = 1.0
    hold_ctrl_c_s: float = 0.5
    secret_windows: tuple[str, ...] = ()
    stop_keys: frozenset[str] = frozenset({"ctrl", "alt", "esc"})

    def secret_window(self, window: Window | None) -> bool:
        return window is not None and any(re.search(pattern, window.title) for pattern in self.secret_windows)


class Merged(NamedTuple):
    """A finished step and the raw event it starts with (which carries its pictures)."""

    step: RecordedStep
    source: RawEvent


@dataclass
class _Scroll:
    first: RawEvent
    dx: int
    dy: int
    last: float


class StepMerger:
    """Raw events in, finished steps out, one event at a time; :meth:`flush` at the end."""

    def __init__(self, rules: MergeRules | None = None) -> None:
        self.rules = rules or MergeRules()
        self._index = self._secrets = 0
        self._held: dict[str, None] = {}  # modifiers down, in the order pressed
        self._press: RawEvent | None = None  # a button is down
        self._click: tuple[RawEvent, float] | None = None  # left click that may still become a double click
        self._scroll: _Scroll | None = None
        self._run: RawEvent | None = None  # first key of the text run
        self._chars: list[str] = []
        self._run_secret = False
        self._ctrl_c: RawEvent | None = None

    def feed(self, event: RawEvent) -> list[Merged]:
        out = self.tick(event.at)
        if event.kind == "key_up":
            self._held.pop(event.key, None)
            return out
        if event.kind == "key_down" and event.key in MODIFIERS:
            self._held[event.key] = None
            return out
        out += self._ctrl_c_done()
        if event.kind == "key_down":
            return out + self._click_done() + self._scroll_done() + self._key(event)
        return out + self._text_done() + self._mouse(event)

    def tick(self, now: float) -> list[Merged]:
        """Steps that are final by now because nothing followed them in time."""
        rules, out = self.rules, []
        if self._click and now - self._click[1] > rules.double_click_s:
            out += self._click_done()
        if self._scroll and now - self._scroll.last > rules.scroll_gap_s:
            out += self._scroll_done()
        if self._ctrl_c and now - self._ctrl_c.at > rules.hold_ctrl_c_s:
            out += self._ctrl_c_done()
        return out

    def flush(self, interrupted: bool = False) -> list[Merged]:
        """Everything still pending, at the end; a ctrl+c just before an interrupt was that interrupt."""
        if interrupted:
            self._ctrl_c = None
        return self._ctrl_c_done() + self._click_done() + self._scroll_done() + self._text_done()

    def _mouse(self, event: RawEvent) -> list[Merged]:
        rules, out = self.rules, self._click_done() if event.kind == "scroll" else []
        if event.kind == "scroll":
            run = self._scroll
            if run and near(run.first.point, event.point, rules.drag_px) and event.at - run.last <= rules.scroll_gap_s:
                run.dx, run.dy, run.last = run.dx + event.scroll[0], run.dy + event.scroll[1], event.at
                return out
            out += self._scroll_done()
            self._scroll = _Scroll(event, *event.scroll, event.at)
            return out
        out += self._scroll_done()
        if event.kind == "down":
            click = self._click
            if click and not (event.button == "left" and event.at - click[1] <= rules.double_click_s
                              and near(click[0].point, event.point, rules.double_click_px)):
                out += self._click_done()
            self._press = event
            return out
        press, self._press = self._press, None
        if press is None or press.button != event.button:
            return out  # the button went down before the recording started
        if press.button != "left":
            return out + [self._emit(f"{press.button}_click", press)]
        if not near(press.point, event.point, rules.drag_px):
            return out + self._click_done() + [self._emit("drag", press, to=event.point)]
        if self._click:
            first, self._click = self._click[0], None
            return out + [self._emit("double_click", first)]
        self._click = (press, event.at)
        return out

    def _key(self, event: RawEvent) -> list[Merged]:
        if event.key in LOCKS:
            return []
        combo = [m for m in self._held if m != "shift"]
        if not combo and event.char is not None and event.char.isprintable():
            self._run = self._run or event
            self._chars.append(event.char)
            self._run_secret |= self.rules.secret_window(event.window)
            return []
        if not combo and event.key == "backspace" and self._chars:
            self._chars.pop()
            return []
        out, keys = self._text_done(), [*self._held, event.key]
        if set(keys) == self.rules.stop_keys:
            return out
        if keys == ["ctrl", "c"]:
            self._ctrl_c = event
            return out
        return out + [self._emit("hotkey", event, keys=keys)]

    def _click_done(self) -> list[Merged]:
        click, self._click = self._click, None
        return [self._emit("click", click[0])] if click else []

    def _scroll_done(self) -> list[Merged]:
        run, self._scroll = self._scroll, None
        return [self._emit("scroll", run.first, scroll=(run.dx, run.dy))] if run and (run.dx or run.dy) else []

    def _ctrl_c_done(self) -> list[Merged]:
        event, self._ctrl_c = self._ctrl_c, None
        return [self._emit("hotkey", event, keys=["ctrl", "c"])] if event else []

    def _text_done(self) -> list[Merged]:
        first, text, secret = self._run, "".join(self._chars), self._run_secret
        self._run, self._chars, self._run_secret = None, [], False
        if first is None or not text:
            return []
        if secret or looks_like_secret(text):
            self._secrets += 1
            return [self._emit("type", first, parameter=f"secret_{self._secrets}")]
        return [self._emit("type", first, text=text)]

    def _emit(self, kind: str, source: RawEvent, **fields: object) -> Merged:
        self._index += 1
        if kind in POINTER_KINDS:
            fields.update(point=source.point, target_box=source.target_box)
        step = RecordedStep(index=self._index, kind=kind, at=round(source.at, 3), window=source.window, **fields)
        return Merged(step, source)


def merge(events: Iterable[RawEvent], rules: MergeRules | None = None, interrupted: bool = False) -> list[RecordedStep]:
    """The semantic steps of a whole list of raw events."""
    merger = StepMerger(rules)
    merged = [m for event in events for m in merger.feed(event)] + merger.flush(interrupted)
    return [m.step for m in merged]


def near(a: tuple[int, int], b: tuple[int, int], pixels: int) -> bool:
    return abs(a[0] - b[0]) <= pixels and abs(a[1] - b[1]) <= pixels


def key_label(name: str) -> str:
    """A pynput key name ("ctrl_l", "page_up", "A") as actions.keys spells it ("ctrl", "pageup", "a")."""
    base = name.removesuffix("_l").removesuffix("_r")
    if base in _SIDELESS:
        return _SIDELESS[base]
    try:
        return key_name(name)
    except InvalidAction:  # media keys, non-ASCII characters: kept as they are
        return name


def hotkey_keys(hotkey: str) -> frozenset[str]:
    """The keys of a pynput hotkey string like "<ctrl>+<alt>+<esc>"."""
    return frozenset(key_label(part.strip("<>")) for part in hotkey.split("+"))
