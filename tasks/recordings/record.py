"""Recording a demonstration: a person's mouse and keyboard, merged into semantic steps.

:class:`Recorder` listens with pynput and stamps each event with the X server's time and the
active window; a press also with the screen and the patch around the pointer as they were just
*before* the press, from the frames :class:`~tasks.recordings.frames.ScreenHistory` grabs all
along (by the time the listener hears of a press, the app may have drawn its focus ring). The X
server's clock is tied to ours by the smallest lag seen between an event and its callback.
One writer thread puts both listeners' events back in time order, feeds the merger and appends
each step once final (synced), a click with its patch as the click left it (the last frame
before what came next); the stop hotkey and Ctrl+C flush what is pending. The events become
steps in :mod:`tasks.recordings.event_merge` (pure, where every merge rule is tested).

Secrets: presses in a secret window keep only the target patch a replay needs, not the whole
screen (the text typed there is a parameter, see :mod:`tasks.recordings.event_merge`).

pynput's ``injected`` flag cannot tell XTest input from a person's on X11, so it is not consulted.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable
from enum import Enum
from types import TracebackType
from typing import Literal

from loguru import logger

from PIL import Image

from errors import SystemFailure
from perception.geometry import Box, CoordinateTransform, Monitor, ScreenLayout
from perception.screen import Screen
from perception.windows import active_window
from safety.killswitch import DEFAULT_HOTKEY, unblock_x11_listener
from tasks.recordings.event_merge import MODIFIERS, MergeRules, Merged, RawEvent, StepMerger, near, hotkey_keys, key_label
from tasks.recordings.frames import ScreenHistory
from tasks.recordings.recording import CLICK_KINDS, POINTER_KINDS, Recording, Window
from tasks.recordings.windows import on_top_at

REORDER_S = 0.25
"""How long an event waits before merging: the other listener's thread may still deliver an earlier one."""


class RecorderError(SystemFailure):
    """The input cannot be recorded (no X display, Wayland) or the recording could not be written."""


def crop_box(point: tuple[int, int], size: tuple[int, int], monitor: Monitor) -> tuple[int, int, int, int]:
    """The patch around the pointer, shifted (not cut) at the monitor's edges so it keeps its size."""
    width, height = min(size[0], monitor.width), min(size[1], monitor.height)
    left = min(max(point[0] - width // 2, monitor.left), monitor.left + monitor.width - width)
    top = min(max(point[1] - height // 2, monitor.top), monitor.top + monitor.height - height)
    return (left, top, left + width, top + height)


def _guarded(callback: Callable[..., None]) -> Callable[..., None]:
    """A listener callback that raises ends pynput's listener, and so the recording, silently."""

    @functools.wraps(callback)
    def guarded(*args: object) -> None:
        try:
            callback(*args)
        except Exception as error:  # only the type: the message might quote a typed character
            logger.error("an input event could not be recorded ({})", type(error).__name__)

    return guarded


class Recorder:
    """Records what a person does until the stop hotkey or Ctrl+C: ``with Recorder(...) as r: r.wait()``."""

    def __init__(self, recording: Recording, screen: Screen, stop_hotkey: str = DEFAULT_HOTKEY,
                 secret_windows: Iterable[str] = (), crop: tuple[int, int] = (120, 60)) -> None:
        patterns = tuple(secret_windows)
        for pattern in patterns:
            re.compile(pattern)  # a bad pattern fails here, not in the middle of a recording
        self.recording, self.screen, self.stop_hotkey, self.crop = recording, screen, stop_hotkey, crop
        self.rules = MergeRules(secret_windows=patterns, stop_keys=hotkey_keys(stop_hotkey))
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self._events: queue.Queue[RawEvent | None] = queue.Queue()
        self._lock = threading.Lock()  # the two listeners' callbacks: one X query at a time, shared state
        self._listeners: list[object] = []
        self._writer: threading.Thread | None = None
        self._error: Exception | None = None
        self._interrupted = False
        self._started = time.monotonic()
        self._server_zero: float | None = None  # the X server's clock (ms) at the start, as first seen
        self._server_lead: float | None = None  # the X server's clock (ms) less ours since the start, at best
        self._layout: ScreenLayout | None = None
        self._history: ScreenHistory | None = None
        self._scroll_run: tuple[tuple[int, int], float] | None = None  # first point, last notch

    def start(self) -> None:
        try:
            from pynput import keyboard, mouse  # connects to the display: only when recording starts

            self._combo = keyboard.HotKey(keyboard.HotKey.parse(self.stop_hotkey), self._hotkey_pressed)
            self._keyboard = _stamped(keyboard.Listener)(on_press=self._key_down, on_release=self._key_up)
            self._mouse = _stamped(mouse.Listener)(on_click=self._clicked, on_scroll=self._scrolled,
                                                   on_move=self._moved)
            self._listeners = [self._keyboard, self._mouse]
        except Exception as error:
            raise RecorderError(f"cannot listen to the mouse and keyboard here: {error}") from error
        self._started = time.monotonic()
        try:
            self._layout = self.screen.layout()
        except Exception as error:  # steps go without pictures, as when one capture fails
            logger.warning("no screenshots in this recording: {}", error)
        else:
            self._history = ScreenHistory(self.screen, self._layout.monitors)
            self._history.start()
        self._writer = threading.Thread(target=self._write_steps, name="recorder-writer", daemon=True)
        self._writer.start()
        for listener in self._listeners:
            listener.start()  # type: ignore[attr-defined]
        for listener in self._listeners:
            listener.wait()  # type: ignore[attr-defined]
        logger.info("recording into {}; press {} (or Ctrl+C) to stop", self.recording.folder, self.stop_hotkey)

    def stop(self) -> None:
        """Stop listening and write whatever is still pending; calling it again does nothing."""
        if self._listeners:
            time.sleep(REORDER_S)  # a listener running late may still deliver what happened before the stop
        for listener in self._listeners:
            listener.stop()  # type: ignore[attr-defined]
            unblock_x11_listener(listener)  # else the X11 listener thread may never end
        for listener in self._listeners:
            listener.join(timeout=2)  # type: ignore[attr-defined]
        self._listeners = []
        if self._writer is not None:
            self._events.put(None)
            self._writer.join()
            self._writer = None
            logger.info("recorded {} steps in {}", len(self.recording.steps), self.recording.folder)
        if self._history is not None:
            self._history.stop()
            self._history = None
        self.stop_requested.set()
        error, self._error = self._error, None
        if error is not None:
            raise RecorderError(f"the recording could not be written: {error}") from error

    def wait(self) -> str:
        """Block until the stop hotkey or Ctrl+C, then stop; returns why it stopped."""
        try:
            while not self.stop_requested.wait(0.1):
                pass
        except KeyboardInterrupt:
            self._interrupted = True
            self.stop_reason = self.stop_reason or "interrupted (Ctrl+C)"
        self.stop()
        return self.stop_reason

    def __enter__(self) -> Recorder:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._interrupted = self._interrupted or kind is KeyboardInterrupt
        self.stop()

    # the writer thread

    def _write_steps(self) -> None:
        merger, waiting, order = StepMerger(self.rules), [], itertools.count()
        try:
            stopping = False
            while not stopping:
                try:
                    event = self._events.get(timeout=0.05)
                    stopping = event is None
                    if event is not None:
                        heapq.heappush(waiting, (event.at, next(order), event))
                except queue.Empty:
                    pass
                settled = math.inf if stopping else self._now() - REORDER_S  # events up to here are all in
                while waiting and waiting[0][0] <= settled:
                    event = heapq.heappop(waiting)[2]
                    self._append(merger.feed(event), event.at)
                if not stopping:
                    self._append(merger.tick(settled), settled)  # a click or a scroll may be final by now
            self._append(merger.flush(self._interrupted), self._now())
        except Exception as error:  # disk full, folder deleted: stop, and let stop() say so
            logger.error("recording stopped: a step could not be written: {}", error)
            self._error = error
            self.stop_reason = self.stop_reason or "writing the recording failed"
            self.stop_requested.set()

    def _append(self, merged: list[Merged], until: float) -> None:
        """Write finished steps; ``until`` is when the event came that made them final (seconds since the
        start): a click's after-picture is the screen just before it."""
        for step, source in merged:
            pointer = step.kind in POINTER_KINDS
            after = None
            if step.kind in CLICK_KINDS and step.point and step.target_box and source.target is not None:
                after = self._patch(self._picture(step.point, self._moment(until)), step.target_box)
            self.recording.append(step, source.screen if pointer else None, source.target if pointer else None, after)
            logger.info("step {}: {}", step.index, step.describe())

    # listener callbacks (pynput's threads)

    @_guarded
    def _clicked(self, x: int, y: int, button: Enum, pressed: bool, *_: object) -> None:
        if button.name not in ("left", "right", "middle"):
            return
        with self._lock:
            point, at, self._scroll_run = (int(x), int(y)), self._stamp(self._mouse), None
            if not pressed:
                self._events.put(RawEvent("up", at, point, button=button.name))
                return
            window = self._window_at(point, self._moment(at))
            pictures = self._look(point, window, self._moment(at))
            self._events.put(RawEvent("down", at, point, button=button.name, window=window, **pictures))

    @_guarded
    def _scrolled(self, x: int, y: int, dx: int, dy: int, *_: object) -> None:
        with self._lock:
            point, at, run = (int(x), int(y)), self._stamp(self._mouse), self._scroll_run
            window, pictures = None, {}
            if run is None or not near(run[0], point, self.rules.drag_px) or at - run[1] > self.rules.scroll_gap_s:
                # only a scroll's first notch needs its window and pictures (as the merger starts runs)
                window = self._window_at(point, self._moment(at))
                pictures, run = self._look(point, window, self._moment(at)), (point, at)
            self._scroll_run = (run[0], at)
            self._events.put(RawEvent("scroll", at, point, scroll=(int(dx), int(dy)), window=window, **pictures))

    @_guarded
    def _moved(self, *_: object) -> None:
        """Pointer motion makes no step, but its times tie the X server's clock to ours before a press."""
        self._observe(self._mouse.server_ms)

    @_guarded
    def _key_down(self, key: object, *_: object) -> None:
        self._key(key, "key_down")
        if key is not None:
            self._combo.press(self._keyboard.canonical(key))

    @_guarded
    def _key_up(self, key: object, *_: object) -> None:
        self._key(key, "key_up")
        if key is not None:
            self._combo.release(self._keyboard.canonical(key))

    def _key(self, key: object, kind: Literal["key_down", "key_up"]) -> None:
        if isinstance(key, Enum):  # pynput.keyboard.Key: a named key
            name, char = ("space", " ") if key.name == "space" else (key.name, None)
            if name == "alt_gr":
                return
        else:
            name = char = getattr(key, "char", None)
            if not name:
                return
        with self._lock:
            label = key_label(name)
            window = _window() if kind == "key_down" and label not in MODIFIERS else None
            self._events.put(RawEvent(kind, self._stamp(self._keyboard), key=label, char=char, window=window))
            self._scroll_run = None

    def _hotkey_pressed(self) -> None:
        self.stop_reason = self.stop_reason or f"the stop hotkey {self.stop_hotkey} was pressed"
        self.stop_requested.set()

    def _now(self) -> float:
        return max(0.0, time.monotonic() - self._started)

    def _stamp(self, listener: object) -> float:
        """When the event happened, in seconds since the start: by the X server's clock where known.
        The offset is the first one seen, so that the order of the two listeners' events is the server's."""
        server = getattr(listener, "server_ms", None)
        if server is None:
            return self._now()
        if self._server_zero is None:
            self._server_zero = server - self._now() * 1000
        self._observe(server)
        return max(0.0, (server - self._server_zero) / 1000)

    def _observe(self, server: int | None) -> None:
        """An event's callback runs some time after the event: the smallest lag seen ties the clocks best."""
        if server is not None:
            lead = server - self._now() * 1000
            self._server_lead = lead if self._server_lead is None else max(self._server_lead, lead)

    def _moment(self, at: float) -> float:
        """``time.monotonic()`` when the event stamped ``at`` happened (at the latest)."""
        if self._server_zero is None or self._server_lead is None:
            return self._started + at
        return self._started + at + (self._server_zero - self._server_lead) / 1000

    def _window_at(self, point: tuple[int, int], moment: float) -> Window | None:
        """The window a press or scroll at ``point`` went to: the one on top there just before it (a
        click on OK closes its dialog before the listener can ask); where no window was (a menu
        hanging out of its window), the one with the focus."""
        before = self._history.windows_before(moment) if self._history is not None else None
        found = on_top_at(point, before) if before else None
        return Window.of(found) if found else _window()

    def _picture(self, point: tuple[int, int], moment: float) -> tuple[Image.Image, Monitor] | None:
        """The monitor at ``point`` as it was just before ``moment``; grabbed now when the history
        does not know (a capture failure costs the step its pictures, not the recording)."""
        if self._layout is None or self._history is None:
            return None
        monitor = self._layout.monitor_at(*point) or self._layout.primary
        shot = self._history.before(moment, monitor)
        if shot is None:
            logger.debug("no frame from before the event: the screen as it is now instead")
            try:
                shot = self.screen.grab(monitor)
            except Exception as error:
                logger.warning("no screenshot for this step: {}", error)
                return None
        return shot, monitor

    def _patch(self, picture: tuple[Image.Image, Monitor] | None, box: Box) -> Image.Image | None:
        if picture is None:
            return None
        shot, monitor = picture
        return shot.crop(CoordinateTransform(monitor, shot.size, shot.size).desktop_box_to_capture(box))  # HiDPI

    def _look(self, point: tuple[int, int], window: Window | None, moment: float) -> dict[str, object]:
        """The screen and the patch around ``point`` just before ``moment``; no full screen for a secret window."""
        picture = self._picture(point, moment)
        if picture is None:
            return {}
        box = crop_box(point, self.crop, picture[1])
        return {"screen": None if self.rules.secret_window(window) else picture[0],
                "target": self._patch(picture, box), "target_box": box}


def _stamped(listener_class: type) -> type:
    """A pynput listener that keeps the X server's time of the event it is handling.

    The keyboard and the mouse listener are two threads; under load one runs late, so the time
    a callback runs cannot order their events, the server's event time can. Where the backend
    has no such time (not X11), ``server_ms`` stays None and the callback's time is used.
    """

    class Stamped(listener_class):  # type: ignore[misc, valid-type]
        server_ms: int | None = None

        def _handle_message(self, display: object, event: object, *args: object) -> None:
            self.server_ms = getattr(event, "time", None)
            super()._handle_message(display, event, *args)

    return Stamped


def _window() -> Window | None:
    info = active_window()
    return Window.of(info) if info else None
