"""The one module that reads the screen: mss captures, the resize for the model, settling.

A :class:`Screenshot` holds what was grabbed and the image the model is shown (the capture
resized to the model's pixel budget), with the :class:`CoordinateTransform` that ties the
model's answer back to the desktop.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import mss
import numpy as np
from PIL import Image

from errors import SystemFailure
from perception.geometry import CoordinateTransform, Monitor, ScreenLayout
from perception.windows import WindowInfo, active_window

PATCH = 32
"""Qwen3-VL turns each 32x32 block (patch 16, 2x2 merge) into one token: sizes are multiples."""

MonitorChoice = int | Literal["primary", "active"]


class ScreenUnavailable(SystemFailure):
    """No display to capture (DISPLAY unset, X server gone, no permission)."""


def fit_to_budget(size: tuple[int, int], max_pixels: int, min_pixels: int = PATCH * PATCH * 4) -> tuple[int, int]:
    """The image size the model gets: aspect kept, sides multiples of 32, area within budget."""
    width, height = size
    w = max(PATCH, round(width / PATCH) * PATCH)
    h = max(PATCH, round(height / PATCH) * PATCH)
    if w * h > max_pixels:
        shrink = math.sqrt(width * height / max_pixels)
        w = max(PATCH, math.floor(width / shrink / PATCH) * PATCH)
        h = max(PATCH, math.floor(height / shrink / PATCH) * PATCH)
    elif w * h < min_pixels:
        grow = math.sqrt(min_pixels / (width * height))
        w = math.ceil(width * grow / PATCH) * PATCH
        h = math.ceil(height * grow / PATCH) * PATCH
    return (w, h)


def fit_image(image: Image.Image, max_pixels: int) -> Image.Image:
    """``image`` as the model gets it: resized (bicubic) to :func:`fit_to_budget`'s size."""
    size = fit_to_budget(image.size, max_pixels)
    return image if size == image.size else image.resize(size, Image.Resampling.BICUBIC)


def image_digest(image: Image.Image) -> str:
    """A content hash of an image's pixels: a key to recognise a screen seen before, not a
    security measure (SHA-1 runs on the processor's hash instructions: 1.7 ms for a 1280x800
    screenshot where BLAKE2 took 4.2)."""
    return hashlib.sha1(image.tobytes(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True)
class Screenshot:
    """One capture of one monitor, and the image of it the model sees."""

    capture: Image.Image
    image: Image.Image
    monitor: Monitor
    window: WindowInfo | None
    taken_at: float = field(default_factory=time.time)

    @property
    def transform(self) -> CoordinateTransform:
        return CoordinateTransform(self.monitor, self.capture.size, self.image.size)

    @cached_property
    def digest(self) -> str:
        """Content hash of the model's image: equal digests mean the model saw the same thing."""
        return image_digest(self.image)


class Screen:
    """Captures a chosen monitor for the model and tells when the screen has settled."""

    def __init__(self, monitor: MonitorChoice = "primary", max_pixels: int = 1280 * 800) -> None:
        self.choice = monitor
        self.max_pixels = max_pixels
        self._local = threading.local()

    @property
    def _mss(self) -> mss.base.MSSBase:
        # mss keeps one X connection per instance, and X connections are not thread-safe.
        if not hasattr(self._local, "mss"):
            try:
                self._local.mss = mss.MSS()
            except Exception as error:  # mss raises several types for "no display"
                raise ScreenUnavailable(f"cannot open the display for capture: {error}") from error
        return self._local.mss

    def layout(self) -> ScreenLayout:
        """Every monitor, in the input API's logical coordinates."""
        return ScreenLayout(
            tuple(
                Monitor(i, m["left"], m["top"], m["width"], m["height"], bool(m.get("is_primary")))
                for i, m in enumerate(self._mss.monitors[1:], start=1)
            )
        )

    def monitor(self, window: WindowInfo | None = None) -> Monitor:
        """The chosen monitor; for "active", the one under ``window`` (default: asked for now)."""
        layout = self.layout()
        if self.choice == "primary":
            return layout.primary
        if self.choice == "active":
            window = window or active_window()
            if window is not None:
                found = layout.monitor_at(*window.center)
                if found is not None:
                    return found
            return layout.primary
        return layout.monitor(self.choice)

    def grab(self, monitor: Monitor) -> Image.Image:
        """The monitor's pixels as RGB, at the capture's own resolution."""
        shot = self._grab_raw(monitor)
        return Image.frombytes("RGB", shot.size, shot.bgra, "raw", "BGRX")

    def capture(self) -> Screenshot:
        """Grab the chosen monitor and fit it to the model's pixel budget."""
        window = active_window()
        monitor = self.monitor(window)
        capture = self.grab(monitor)
        return Screenshot(capture=capture, image=fit_image(capture, self.max_pixels), monitor=monitor, window=window)

    def wait_until_still(
        self, timeout: float = 2.0, interval: float = 0.05, quiet_checks: int = 2, tolerance: float = 0.0005
    ) -> float:
        """Wait until the screen stops changing; return the seconds waited.

        "Still" allows a ``tolerance`` fraction of changed pixels, so a blinking text cursor
        does not count as change. Gives up after ``timeout`` (an animation, a video).
        """
        monitor = self.monitor()
        start = time.monotonic()
        previous = self._pixels(monitor)
        quiet = 0
        while quiet < quiet_checks and time.monotonic() - start < timeout:
            time.sleep(interval)
            current = self._pixels(monitor)
            changed = np.count_nonzero(np.any(current != previous, axis=-1)) / current[..., 0].size
            quiet = quiet + 1 if changed <= tolerance else 0
            previous = current
        return time.monotonic() - start

    def _pixels(self, monitor: Monitor) -> np.ndarray:
        shot = self._grab_raw(monitor)
        return np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4)[..., :3]

    def _grab_raw(self, monitor: Monitor) -> mss.screenshot.ScreenShot:
        area = {"left": monitor.left, "top": monitor.top, "width": monitor.width, "height": monitor.height}
        try:
            return self._mss.grab(area)
        except mss.ScreenShotError as error:
            raise ScreenUnavailable(f"screen capture of {monitor} failed: {error}") from error
