"""The screen as it was a moment ago, for the recorder: grabbed all along on a thread of its own.

A press reaches the recorder's listener after the X server has sent it to the app, and an app may
draw what the press does before the listener gets to grab: a classic Tk entry draws its focus
ring on the press, so a patch grabbed then shows the field as it looks *after* the click, and a
replay on a fresh app does not find it (64-69% alike). :class:`ScreenHistory` keeps the last
frames, each with the moments it was seen on the screen, so the recorder takes a step's pictures
from the last frame grabbed before the press, and a click's after-picture from the last frame
before whatever came next. With each new frame it notes the windows open, top last: a click on
OK closes its dialog before the listener can ask which window has the focus.

Cost on 1280x800 (2 busy cores): a grab, its conversion and the comparison with the last frame
take about 2.5 ms of processor time, 5% of one core at one grab every ``EVERY`` seconds while
recording; an unchanged screen keeps one frame, so memory stays at a few frames of 3 MB.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger
from PIL import Image

from perception.geometry import Monitor
from perception.screen import Screen
from perception.windows import WindowInfo, open_windows

T = TypeVar("T")

EVERY = 0.05  # seconds between grabs: a person's press comes later than that after what they react to
KEEP = 3.0  # seconds of history: the recorder's writer works a little behind the listeners
STALE = 1.0  # seconds without a grab (the capture failing, or starved): the history does not know


@dataclass
class Frame:
    """What one monitor showed, from the first grab that saw it to the last (``time.monotonic``
    when each grab had returned: the picture was on the screen by then)."""

    picture: Image.Image
    first: float
    last: float


class ScreenHistory:
    """``start()``, then ``before(moment)`` for the screen as it was just before ``moment``."""

    def __init__(self, screen: Screen, monitors: tuple[Monitor, ...], every: float = EVERY,
                 keep: float = KEEP) -> None:
        self.screen, self.monitors, self.every, self.keep = screen, monitors, every, keep
        self._frames: dict[Monitor, deque[Frame]] = {m: deque() for m in monitors}
        self._last: dict[Monitor, bytes] = {}  # the newest frame's pixels, to tell a change
        self._windows: deque[tuple[float, list[WindowInfo]]] = deque()  # when noted, the windows then
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Grab once now (so that a press at once has a picture), then keep grabbing."""
        self._grab()
        self._thread = threading.Thread(target=self._run, name="recorder-frames", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None

    def before(self, moment: float, monitor: Monitor) -> Image.Image | None:
        """``monitor`` as it was just before ``moment`` (``time.monotonic``): the newest frame first
        grabbed before then; None when no grab before then has kept up (the capture failed)."""
        with self._lock:
            frames = list(self._frames.get(monitor, ()))
        earlier = [f for f in frames if f.first < moment]
        if not earlier or moment - earlier[-1].last > STALE:
            return None
        return earlier[-1].picture

    def windows_before(self, moment: float) -> list[WindowInfo] | None:
        """The windows open just before ``moment``, bottom to top; None when not known."""
        with self._lock:
            earlier = [windows for seen, windows in self._windows if seen < moment]
        return earlier[-1] if earlier else None

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._grab()

    def _grab(self) -> None:
        changed = False
        for monitor in self.monitors:
            try:
                picture = self.screen.grab(monitor)
            except Exception as error:  # a failed grab costs the steps around it their pictures
                logger.debug("no frame of monitor {}: {}", monitor.index, error)
                continue
            now, pixels = time.monotonic(), picture.tobytes()
            same, self._last[monitor] = self._last.get(monitor) == pixels, pixels
            with self._lock:
                frames = self._frames[monitor]
                if same and frames:
                    frames[-1].last = now
                else:
                    frames.append(Frame(picture, now, now))
                    changed = True
                _prune(frames, lambda frame: frame.first, now - self.keep)
        if changed:  # windows do not open, close or move without the screen changing
            windows = open_windows()
            now = time.monotonic()
            with self._lock:
                self._windows.append((now, windows))
                _prune(self._windows, lambda noted: noted[0], now - self.keep)


def _prune(history: deque[T], since: Callable[[T], float], oldest: float) -> None:
    """Drop what only moments before ``oldest`` need: all but the newest entry from before then."""
    while len(history) > 1 and since(history[1]) < oldest:
        history.popleft()
