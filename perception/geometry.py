"""Screen geometry and the one transform from the model's grid to the input API's space.

Three spaces meet here:

* the **grid**: Qwen3-VL answers on a 0..1000 grid laid over the image it was shown;
* the **image** the model saw: the capture, resized to the model's pixel budget;
* the **capture**: the pixels mss grabbed from one monitor, ``scale`` times the monitor's
  logical size on HiDPI screens;
* the **desktop**: the input API's logical coordinates, where each monitor sits at its own
  offset (negative offsets for monitors left of or above the primary).

:class:`CoordinateTransform` walks that chain explicitly, step by step, so each step can
be logged and tested on its own. Pure arithmetic: no screen is needed to import or use it.
"""

from __future__ import annotations

import math

from errors import ModelMistake
from collections.abc import Iterable
from dataclasses import dataclass

from actions.schema import GRID

Box = tuple[int, int, int, int]
"""left, top, right, bottom (right and bottom exclusive), in the pixels of whatever it lies on."""


def center(box: Box) -> tuple[int, int]:
    return ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)


def shift(box: Box, dx: int, dy: int) -> Box:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


def grow(box: Box, dx: int, dy: int) -> Box:
    return (box[0] - dx, box[1] - dy, box[2] + dx, box[3] + dy)


def span(boxes: Iterable[Box]) -> Box:
    """The smallest box holding all of ``boxes``."""
    left, top, right, bottom = zip(*boxes, strict=True)
    return (min(left), min(top), max(right), max(bottom))


def contains(outer: Box, inner: Box) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


def overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def distance(point: tuple[int, int], box: Box) -> int:
    """Pixels from ``point`` to ``box``, across plus down (0 inside it)."""
    return max(box[0] - point[0], point[0] - box[2], 0) + max(box[1] - point[1], point[1] - box[3], 0)


class OffScreen(ModelMistake):
    """A point that lies outside the grid or outside every monitor."""


@dataclass(frozen=True)
class Monitor:
    """One monitor in the input API's logical desktop space."""

    index: int
    left: int
    top: int
    width: int
    height: int
    primary: bool = False

    def contains(self, x: float, y: float) -> bool:
        return self.left <= x < self.left + self.width and self.top <= y < self.top + self.height

    @property
    def corners(self) -> tuple[tuple[int, int], ...]:
        right, bottom = self.left + self.width - 1, self.top + self.height - 1
        return ((self.left, self.top), (right, self.top), (self.left, bottom), (right, bottom))

    def __str__(self) -> str:
        tag = " primary" if self.primary else ""
        return f"monitor {self.index}{tag} {self.width}x{self.height}{self.left:+d}{self.top:+d}"


@dataclass(frozen=True)
class ScreenLayout:
    """All monitors of the desktop, as the input API sees them."""

    monitors: tuple[Monitor, ...]

    def __post_init__(self) -> None:
        if not self.monitors:
            raise ValueError("a screen layout needs at least one monitor")

    @property
    def primary(self) -> Monitor:
        for monitor in self.monitors:
            if monitor.primary:
                return monitor
        # X11 often marks none: the monitor at the desktop origin is the primary one there.
        at_origin = [m for m in self.monitors if m.contains(0, 0)]
        return (at_origin or list(self.monitors))[0]

    def monitor(self, index: int) -> Monitor:
        for monitor in self.monitors:
            if monitor.index == index:
                return monitor
        known = ", ".join(str(m.index) for m in self.monitors)
        raise ValueError(f"there is no monitor {index}; this desktop has monitors {known}")

    def monitor_at(self, x: float, y: float) -> Monitor | None:
        return next((m for m in self.monitors if m.contains(x, y)), None)


def grid_to_pixel(point: tuple[float, float], size: tuple[int, int]) -> tuple[int, int]:
    """The pixel of a ``size`` image that a point on the 0-1000 grid falls on (the far edge onto the last pixel)."""
    return (min(size[0] - 1, int(point[0] / GRID * size[0])), min(size[1] - 1, int(point[1] / GRID * size[1])))


def image_to_grid(point: tuple[float, float], size: tuple[int, int]) -> tuple[float, float]:
    """Where a point of a ``size`` image lies on the 0-1000 grid (a pixel's centre is its index + 0.5)."""
    return (min(GRID, max(0.0, point[0] / size[0] * GRID)), min(GRID, max(0.0, point[1] / size[1] * GRID)))


@dataclass(frozen=True)
class CoordinateTransform:
    """Maps a point on the model's grid to the desktop point the input API must use.

    ``capture_size`` is the size of what was grabbed from ``monitor`` (larger than the
    monitor's logical size on a HiDPI screen); ``image_size`` is the size of the image the
    model saw after the resize to its pixel budget.
    """

    monitor: Monitor
    capture_size: tuple[int, int]
    image_size: tuple[int, int]

    @property
    def scale(self) -> tuple[float, float]:
        """Captured pixels per logical pixel (2.0 on a typical HiDPI screen)."""
        return (self.capture_size[0] / self.monitor.width, self.capture_size[1] / self.monitor.height)

    def grid_to_image(self, point: tuple[float, float]) -> tuple[float, float]:
        x, y = point
        if not (0 <= x <= GRID and 0 <= y <= GRID):
            raise OffScreen(f"point ({x:g}, {y:g}) is outside the 0..{GRID} grid")
        return (x / GRID * self.image_size[0], y / GRID * self.image_size[1])

    def image_to_capture(self, point: tuple[float, float]) -> tuple[float, float]:
        return (
            point[0] * self.capture_size[0] / self.image_size[0],
            point[1] * self.capture_size[1] / self.image_size[1],
        )

    def capture_to_desktop(self, point: tuple[float, float]) -> tuple[int, int]:
        """Logical desktop pixel; the far edges (grid 1000) clamp onto the last pixel."""
        sx, sy = self.scale
        x = min(int(point[0] / sx), self.monitor.width - 1)
        y = min(int(point[1] / sy), self.monitor.height - 1)
        return (self.monitor.left + x, self.monitor.top + y)

    def to_desktop(self, point: tuple[float, float]) -> tuple[int, int]:
        """Grid point -> desktop point; raises :class:`OffScreen` for points off the grid."""
        return self.capture_to_desktop(self.image_to_capture(self.grid_to_image(point)))

    @classmethod
    def of_monitor(cls, monitor: Monitor) -> CoordinateTransform:
        """The transform of a picture of ``monitor`` at its own size (a recording's screen)."""
        size = (monitor.width, monitor.height)
        return cls(monitor, size, size)

    def desktop_to_capture(self, point: tuple[float, float]) -> tuple[float, float]:
        sx, sy = self.scale
        return ((point[0] - self.monitor.left) * sx, (point[1] - self.monitor.top) * sy)

    def desktop_box_to_capture(self, box: Box) -> Box:
        """A desktop box in capture pixels, grown to whole pixels."""
        (x0, y0), (x1, y1) = self.desktop_to_capture(box[:2]), self.desktop_to_capture(box[2:])
        return (math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1))

    def desktop_box_to_image(self, box: Box) -> Box:
        """A desktop box in the pixels of the image the model saw, grown to whole pixels."""
        (x0, y0), (x1, y1) = self.desktop_to_capture(box[:2]), self.desktop_to_capture(box[2:])
        fx, fy = self.image_size[0] / self.capture_size[0], self.image_size[1] / self.capture_size[1]
        return (math.floor(x0 * fx), math.floor(y0 * fy), math.ceil(x1 * fx), math.ceil(y1 * fy))

    def capture_box_to_desktop(self, box: tuple[float, float, float, float]) -> Box:
        sx, sy = self.scale
        return (self.monitor.left + round(box[0] / sx), self.monitor.top + round(box[1] / sy),
                self.monitor.left + round(box[2] / sx), self.monitor.top + round(box[3] / sy))

    def desktop_to_grid(self, point: tuple[float, float]) -> tuple[float, float]:
        """The inverse: where a desktop pixel's centre lies on the grid (e.g. a recorded click)."""
        x, y = point[0] - self.monitor.left, point[1] - self.monitor.top
        if not (0 <= x < self.monitor.width and 0 <= y < self.monitor.height):
            raise OffScreen(f"desktop point ({point[0]:g}, {point[1]:g}) is not on {self.monitor}")
        return image_to_grid((x + 0.5, y + 0.5), (self.monitor.width, self.monitor.height))

    def describe(self) -> str:
        """One line for the run log: every step of the chain with its numbers."""
        sx, sy = self.scale
        iw, ih = self.image_size
        cw, ch = self.capture_size
        return (
            f"grid 0..{GRID} -> model image {iw}x{ih} -> capture {cw}x{ch} "
            f"(scale {sx:g}x{sy:g}) -> {self.monitor}"
        )
