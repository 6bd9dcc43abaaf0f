"""Recording a demonstration: a person's mouse and keyboard, merged into semantic steps.

:class:`Recorder` listens with pynput and stamps each event with the X server's time and the
active window; a press also with the screen and the patch around the pointer, grabbed in the
listener callback (before a person's release; XTest's instant press+release may already show its
effect). One writer thread puts both listeners' events back in time order, feeds the merger and
appends each step once final (synced); the stop hotkey and Ctrl+C flush what is pending.
The events become steps in :mod:`tasks.recordings.event_merge` (pure, where every merge rule is tested).

Secrets: presses in a secret window keep only the target patch a replay needs, not the whole
screen (the text typed there is a parameter, see :mod:`tasks.recordings.event_merge`).

pynput's ``injected`` flag cannot tell XTest input from a person's on X11, so it is not consulted.
"""

from __future__ import annotations

from errors import SystemFailure
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

from perception.geometry import CoordinateTransform, Monitor
from perception.screen import Screen
from perception.windows import active_window
from safety.killswitch import DEFAULT_HOTKEY, unblock_x11_listener
from tasks.recordings.event_merge import MODIFIERS, MergeRules, Merged, RawEvent, StepMerger, near, hotkey_keys, key_label
from tasks.recordings.recording import POINTER_KINDS, Recording, Window

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
        self._server_zero: float | None = None  # the X server's clock (ms) at the start
        self._scroll_run: tuple[tuple[int, int], float] | None = None  # first point, last notch

    def start(self) -> None:
        try:
            from pynput import keyboard, mouse  # connects to the display: only when recording starts

            self._combo = keyboard.HotKey(keyboard.HotKey.parse(self.stop_hotkey), self._hotkey_pressed)
            self._keyboard = _stamped(keyboard.Listener)(on_press=self._key_down, on_release=self._key_up)
            self._mouse = _stamped(mouse.Listener)(on_click=self._clicked, on_scroll=self._scrolled)
            self._listeners = [self._keyboard, self._mouse]
        except Exception as error:
            raise RecorderError(f"cannot listen to the mouse and keyboard here: {error}") from error
        self._started = time.monotonic()
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
                    self._append(merger.feed(heapq.heappop(waiting)[2]))
                if not stopping:
                    self._append(merger.tick(settled))  # a click or a scroll may be final by now
            self._append(merger.flush(self._interrupted))
        except Exception as error:  # disk full, folder deleted: stop, and let stop() say so
            logger.error("recording stopped: a step could not be written: {}", error)
            self._error = error
            self.stop_reason = self.stop_reason or "writing the recording failed"
            self.stop_requested.set()

    def _append(self, merged: list[Merged]) -> None:
        for step, source in merged:
            pointer = step.kind in POINTER_KINDS
            self.recording.append(step, source.screen if pointer else None, source.target if pointer else None)
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
            window = _window()
            pictures = self._look(point, window)
            self._events.put(RawEvent("down", at, point, button=button.name, window=window, **pictures))

    @_guarded
    def _scrolled(self, x: int, y: int, dx: int, dy: int, *_: object) -> None:
        with self._lock:
            point, at, run = (int(x), int(y)), self._stamp(self._mouse), self._scroll_run
            window, pictures = None, {}
            if run is None or not near(run[0], point, self.rules.drag_px) or at - run[1] > self.rules.scroll_gap_s:
                window = _window()  # only a scroll's first notch needs pictures (as the merger starts runs)
                pictures, run = self._look(point, window), (point, at)
            self._scroll_run = (run[0], at)
            self._events.put(RawEvent("scroll", at, point, scroll=(int(dx), int(dy)), window=window, **pictures))

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
        """When the event happened, in seconds since the start: by the X server's clock where known."""
        server = getattr(listener, "server_ms", None)
        if server is None:
            return self._now()
        if self._server_zero is None:  # the first event sets the offset between the two clocks
            self._server_zero = server - self._now() * 1000
        return max(0.0, (server - self._server_zero) / 1000)

    def _look(self, point: tuple[int, int], window: Window | None) -> dict[str, object]:
        """The screen and the patch around ``point``, now; no full screen for a secret window."""
        try:
            layout = self.screen.layout()
            monitor = layout.monitor_at(*point) or layout.primary
            shot = self.screen.grab(monitor)
        except Exception as error:  # a capture failure costs this step its pictures, not the recording
            logger.warning("no screenshot for this step: {}", error)
            return {}
        box = crop_box(point, self.crop, monitor)
        inside = CoordinateTransform(monitor, shot.size, shot.size).desktop_box_to_capture(box)  # HiDPI included
        return {"screen": None if self.rules.secret_window(window) else shot,
                "target": shot.crop(inside), "target_box": box}


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
    return Window(**info.to_dict()) if info else None
