"""The one module that drives the mouse and keyboard.

pyautogui moves and clicks the pointer and presses keys; its corner failsafe stays on, so a
person can always stop the agent by throwing the pointer into a screen corner. Text goes
through a path that handles any Unicode (pyautogui.write silently drops non-ASCII): on X11,
ASCII through xdotool and other characters through XTest on spare keycodes bound once (see
:class:`_BoundKeys`); pynput's keyboard controller elsewhere.

Points arrive already in desktop coordinates (see :mod:`perception.geometry`).

Long actions run in bounded chunks, with the caller's checkpoint (the kill switch's check)
called between them, so a stop takes effect within a chunk: text ~0.12 s of typing at a time,
scrolls a few wheel notches at a time, waits 0.1 s at a time.

After a click, keys wait until the X server reports the button released. A window manager
(openbox, like most) holds a synchronous grab on button presses and replays each press to the
application only once it has handled it; after a keymap change (a character the keymap lacks
is bound to a spare keycode) it is busy re-grabbing for ~40-220 ms, the press waits, the
keyboard does not, and the next field's first keys land in the previous one. The button
release is processed only after the replayed press, so "no button held" means the click has
reached the application, ahead of any key sent after it.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from actions.keys import key_combo
from actions.schema import Action
from errors import Stopped, SystemFailure

NON_ASCII_DELAY_MS = 40
"""Between characters typed through pynput's controller, which remaps a keycode for each."""
SCROLL_PIXELS_PER_NOTCH = 50
"""The model scrolls in pixels, the wheel in notches; toolkits move ~3 lines (~50 px) a notch."""
CHUNK_SECONDS = 0.12
"""The longest stretch of typing between two checkpoints."""
NOTCHES_PER_CHUNK = 5
NOTCH_PAUSE = 0.01
"""Seconds between wheel notches, about a fast flick of a wheel: 200 notches (10000 px) take 2 s."""
WAIT_CHUNK = 0.1
CLICK_DELIVERY_TIMEOUT = 1.0
"""The longest wait for a click to reach the application (longer only while a person holds a button)."""

Checkpoint = Callable[[], None]
"""Called between the chunks of a long action; raises to stop it (the kill switch's check)."""


def no_checkpoint() -> None:
    """The default checkpoint: never stops."""


class InputFailed(SystemFailure):
    """The operating system did not take our input (X server gone, xdotool failed)."""


class FailSafeTriggered(Stopped):
    """A person moved the pointer into a screen corner: pyautogui's kill switch."""


@dataclass(frozen=True)
class Execution:
    """What the executor did, in words for the trajectory and the model."""

    detail: str
    seconds: float
    performed: bool = True


class Executor:
    """Performs :data:`actions.schema.Action` values with real input devices."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, type_delay_ms: int = 12) -> None:
        import pyautogui  # connects to the display on import

        pyautogui.PAUSE = 0  # the settle wait after each action replaces fixed pauses
        pyautogui.FAILSAFE = True
        self._gui = pyautogui
        self._sleep = sleep
        self._type_delay_ms = type_delay_ms
        self._xdotool = shutil.which("xdotool") if os.environ.get("DISPLAY") else None
        self._pointer: object = None  # a display connection of our own, to ask for the pointer's state

    def execute(self, action: Action, target: tuple[int, int] | None,
                checkpoint: Checkpoint = no_checkpoint) -> Execution:
        """Perform one action; ``target`` is the desktop point for actions that have one.

        ``checkpoint`` is called between the chunks of a long action (type, scroll, wait);
        whatever it raises stops the action there and propagates, with a note of how far it got.
        """
        start = time.monotonic()
        progress = _Progress()
        try:
            detail = self._perform(action, target, checkpoint, progress)
        except self._gui.FailSafeException as error:
            raise FailSafeTriggered("the pointer was moved into a screen corner (failsafe)") from error
        except BaseException as error:
            if progress.done:
                error.add_note(f"{action.action} stopped after {progress.done} of {progress.total} {progress.unit}")
            raise
        return Execution(detail, time.monotonic() - start)

    def _perform(self, action: Action, target: tuple[int, int] | None, checkpoint: Checkpoint,
                 progress: _Progress) -> str:
        gui = self._gui
        match action.action:
            case "left_click" | "right_click" | "middle_click" | "double_click" | "triple_click":
                button = {"right_click": "right", "middle_click": "middle"}.get(action.action, "left")
                clicks = {"double_click": 2, "triple_click": 3}.get(action.action, 1)
                # (pyautogui sleeps the interval after every click, the last one too)
                gui.click(*target, clicks=clicks, interval=0.05 if clicks > 1 else 0.0, button=button)
                self._wait_for_button_release()
                return f"{action.action.replace('_', ' ')} at {target}"
            case "mouse_move":
                gui.moveTo(*target)
                return f"moved pointer to {target}"
            case "left_click_drag":
                start = gui.position()
                gui.dragTo(*target, duration=0.3, button="left")
                self._wait_for_button_release()
                return f"dragged from {tuple(start)} to {target}"
            case "scroll" | "hscroll":
                notches = max(1, round(abs(action.pixels) / SCROLL_PIXELS_PER_NOTCH)) if action.pixels else 0
                self._scroll(action.action, notches if action.pixels > 0 else -notches, target, checkpoint, progress)
                way = ("up" if action.pixels > 0 else "down") if action.action == "scroll" else (
                    "left" if action.pixels > 0 else "right")
                return f"scrolled {way} {notches} notches" + (f" at {target}" if target else "")
            case "key":
                names = key_combo(action.keys)
                gui.hotkey(*names)
                return "pressed " + "+".join(names)
            case "type":
                self._type(action.text, checkpoint, progress)
                return f"typed {len(action.text)} characters"
            case "wait":
                progress.start(round(action.time, 3), "seconds")
                deadline = time.monotonic() + action.time
                while (left := deadline - time.monotonic()) > 0:
                    checkpoint()
                    self._sleep(min(WAIT_CHUNK, left))
                    progress.done = round(action.time - max(0.0, deadline - time.monotonic()), 3)
                return f"waited {action.time:g} s"
            case _:  # terminate, answer: they end the task and touch nothing
                return "nothing to do"

    def _scroll(self, name: str, notches: int, target: tuple[int, int] | None, checkpoint: Checkpoint,
                progress: _Progress) -> None:
        scroll = self._gui.scroll if name == "scroll" else self._gui.hscroll
        way = 1 if notches > 0 else -1
        if name == "hscroll":  # the model's positive pixels scroll left; pyautogui's positive clicks, right
            way = -way
        progress.start(abs(notches), "notches")
        while progress.done < progress.total:
            checkpoint()
            group = min(NOTCHES_PER_CHUNK, progress.total - progress.done)
            for _ in range(group):
                scroll(way, *(target or ()))
                time.sleep(NOTCH_PAUSE)
            progress.done += group

    def _wait_for_button_release(self) -> None:
        """Wait until the X server reports no pointer button held: the click has reached the app.

        While the window manager holds the press (see the module's docstring), the server still
        reports the button down, as the release waits behind the press.
        """
        if not os.environ.get("DISPLAY"):
            return
        from Xlib import X
        from Xlib.display import Display

        if self._pointer is None:
            self._pointer = Display()
        root = self._pointer.screen().root  # type: ignore[attr-defined]
        buttons = X.Button1Mask | X.Button2Mask | X.Button3Mask | X.Button4Mask | X.Button5Mask
        start = time.monotonic()
        while root.query_pointer().mask & buttons:
            if time.monotonic() - start > CLICK_DELIVERY_TIMEOUT:
                break  # a person holds a button: nothing to wait for
            time.sleep(0.002)
        if (waited := time.monotonic() - start) > 0.02:
            logger.debug("the click reached the application {:.0f} ms after it was sent", waited * 1000)

    def _type(self, text: str, checkpoint: Checkpoint, progress: _Progress) -> None:
        progress.start(len(text), "characters")
        if self._xdotool:
            for chunk in _chunks(text, self._type_delay_ms):
                checkpoint()
                if chunk.isascii():
                    self._xdotool_type(chunk)
                else:
                    self._type_bound(chunk, checkpoint)
                progress.done += len(chunk)
            return
        from pynput.keyboard import Controller

        keyboard = Controller()
        for character in text:
            checkpoint()
            # one character at a time, paced: pynput remaps keycodes and fast runs collide
            keyboard.type(character)
            time.sleep(NON_ASCII_DELAY_MS / 1000)
            progress.done += 1

    def _xdotool_type(self, run: str) -> None:
        # ASCII only: every character has a key in the keymap (xdotool finds it, shift included)
        if run == "\n":  # xdotool types it as Linefeed, which Qt ignores; Return is what a person presses
            command = [self._xdotool, "key", "Return"]
        else:
            command = [self._xdotool, "type", "--delay", str(self._type_delay_ms), "--", run]
        try:
            subprocess.run(command, check=True, capture_output=True,
                           timeout=10 + len(run) * self._type_delay_ms / 100)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
            stderr = getattr(error, "stderr", b"") or b""
            raise InputFailed(f"xdotool could not type: {stderr.decode(errors='replace').strip() or error}") from None

    def _type_bound(self, characters: str, checkpoint: Checkpoint) -> None:
        keys = _bound_keys()
        for character in characters:
            keys.type(character, checkpoint)
            time.sleep(self._type_delay_ms / 1000)


MAX_BOUND = 24
"""Spare keycodes one process holds at most, leaving others for other processes (and xdotool)."""
REBIND_AFTER = 1.0
"""Seconds after its last key before a bound keycode is given to another character: an app reads
a key's character from the keymap as it is when the app gets to the key, not when it was sent
(Tk lost characters remapped 20 ms after their key)."""
RELEASE_AFTER = 5.0
"""Seconds without a key before the bound keycodes are given back, for other processes to use:
longer than a busy app lags behind its input (on two loaded cores, the demo lost an emoji 1 of 30
times when they were given back after one second)."""


class _BoundKeys:
    """Characters the keymap lacks, each on a spare keycode of its own, typed through XTest.

    xdotool types such a character by remapping a spare keycode and restoring the map right
    after: two keymap changes a character. Each one is a MappingNotify that every client must
    handle (the window manager re-grabs all its keys and buttons, holding back clicks meanwhile),
    and an app that gets to the key after the restore reads no character, or another one. Here
    a character is bound when first typed and stays bound while typing goes on: a text binds
    each of its characters once, and the keycodes are given back after :data:`RELEASE_AFTER`
    of quiet (and when the process ends).
    """

    def __init__(self) -> None:
        from Xlib.display import Display

        self._display = Display()
        info = self._display.display.info
        self._first, self._count = info.min_keycode, info.max_keycode - info.min_keycode + 1
        self._width = len(self._display.get_keyboard_mapping(self._first, 1)[0])
        self._bound: dict[str, int] = {}
        self._used: dict[int, float] = {}
        self._lock = threading.Lock()
        self._release: threading.Timer | None = None
        atexit.register(self.release, at_exit=True)

    def type(self, character: str, checkpoint: Checkpoint) -> None:
        from Xlib import X
        from Xlib.ext import xtest

        with self._lock:
            code = self._keycode(character, checkpoint)
            xtest.fake_input(self._display, X.KeyPress, code)
            xtest.fake_input(self._display, X.KeyRelease, code)
            self._display.sync()
            self._used[code] = time.monotonic()
            if self._release is not None:
                self._release.cancel()
            self._release = threading.Timer(RELEASE_AFTER, self.release)
            self._release.daemon = True
            self._release.start()

    def _keycode(self, character: str, checkpoint: Checkpoint) -> int:
        """The keycode that types ``character``, bound now if it is not yet."""
        if character in self._bound:
            return self._bound[character]
        code = self._free_keycode(checkpoint)
        # the same keysym at every level, so shift or caps lock cannot change the character
        self._display.change_keyboard_mapping(code, [(_keysym(character),) * self._width])
        self._display.sync()
        self._bound[character] = code
        return code

    def _free_keycode(self, checkpoint: Checkpoint) -> int:
        deadline = time.monotonic() + 3.0
        while True:
            if len(self._bound) < MAX_BOUND:
                mapping = self._display.get_keyboard_mapping(self._first, self._count)
                empty = [self._first + n for n, keysyms in enumerate(mapping) if not any(keysyms)]
                if empty[1:]:  # the lowest is left free: xdotool's scratch keycode
                    return empty[1]
            if self._bound:  # the least recently typed of ours, once no app can still be reading it
                code = min(self._bound.values(), key=lambda c: self._used.get(c, 0.0))
                if self._used.get(code, 0.0) + REBIND_AFTER <= time.monotonic():
                    del self._bound[next(c for c, k in self._bound.items() if k == code)]
                    return code
            elif time.monotonic() > deadline:
                raise InputFailed("no spare keycode in the keymap to type non-ASCII text with")
            checkpoint()
            time.sleep(0.02)

    def release(self, at_exit: bool = False) -> None:
        """Give the bound keycodes back (empty, as they were), unless typing goes on."""
        with self._lock:
            if not at_exit and self._used and max(self._used.values()) + RELEASE_AFTER > time.monotonic() + 0.01:
                return  # typed again meanwhile: its own timer comes later
            try:
                for code in self._bound.values():
                    self._display.change_keyboard_mapping(code, [(0,) * self._width])
                self._display.sync()
            except Exception:  # noqa: BLE001 - at exit the display may be gone already: nothing to give back
                pass
            self._bound.clear()


@functools.cache
def _bound_keys() -> _BoundKeys:
    """One binder per process: two would hand the same spare keycode to two characters."""
    return _BoundKeys()


def _keysym(character: str) -> int:
    """The X keysym of a character: Latin-1 keysyms are the code point, others 0x01000000 + it."""
    point = ord(character)
    return point if 0x20 <= point < 0x7F or 0xA0 <= point < 0x100 else 0x01000000 | point


class _Progress:
    """How far a long action has got: told in the note of an exception that stopped it."""

    def __init__(self) -> None:
        self.done: float = 0
        self.total: float = 0
        self.unit = ""

    def start(self, total: float, unit: str) -> None:
        self.done, self.total, self.unit = 0, total, unit


def _chunks(text: str, delay_ms: int) -> list[str]:
    """Text in pieces of at most ~:data:`CHUNK_SECONDS` of typing each: runs of ASCII (one
    xdotool call), runs of other characters (bound keycodes), each line break on its own."""
    size = max(1, int(CHUNK_SECONDS * 1000 / max(1, delay_ms)))
    chunks: list[str] = []
    for run in _keymap_runs(text):
        chunks.extend(run[i:i + size] for i in range(0, len(run), size))
    return chunks


def _kind(character: str) -> str:
    return "newline" if character == "\n" else "ascii" if character.isascii() else "other"


def _keymap_runs(text: str) -> list[str]:
    """Split text into runs of one kind: ASCII, other characters, and each line break on its own."""
    runs: list[str] = []
    for character in text:
        if runs and _kind(character) == _kind(runs[-1][-1]) != "newline":
            runs[-1] += character
        else:
            runs.append(character)
    return runs


class DryRunExecutor:
    """Stands in for :class:`Executor` under ``--dry-run``: says what it would do, does nothing."""

    def execute(self, action: Action, target: tuple[int, int] | None,
                checkpoint: Checkpoint = no_checkpoint) -> Execution:
        where = f" at {target}" if target else ""
        return Execution(f"dry run: would {action.action.replace('_', ' ')}{where}", 0.0, performed=False)
