"""Where a form's control is, seen from its label, and whether a box is ticked: pixel geometry.

A control (a text field, a combo box, a check box's square) is a block that stands out from the
background around its label: a filled field, or the frame of one. The control of a label is the
nearest such block to its right on the same line, else the nearest below it; a check box's or a
radio button's indicator is the small square block just left of its text. Toolkits draw forms
this way (Tk, Qt, GTK), and it needs no model and no accessibility support.

Whether an indicator is ticked is read from its own looks (:class:`TickLooks`), where the
accessibility tree cannot say: toolkits draw a tick or a dot in every colour (Tk and Qt a dark
one on white, GTK a white one on blue), so neither dark nor bright pixels mean "ticked"; a mark
that stands out from the indicator's own fill does, and once a click has shown the indicator's
unticked look, a mark that stands out from that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from PIL import Image

from perception.geometry import Box, distance, overlap

Side = Literal["auto", "right", "below"]

CONTRAST = 24  # grey levels: less is the same background
MIN_CONTROL = 12  # pixels: smaller blocks are letters, not controls
INDICATOR = (8, 32)  # pixels: the side of a check box or radio indicator
MARKED = 0.08  # fraction of an indicator's inside that stands out from its fill: a tick or a dot
MARK_CONTRAST = 96  # grey levels a mark stands out by (Tk's grey "no choice yet" dot stands out by ~55)
FILLED = 0.5  # fraction of an indicator's inside unlike the window around it: a box filled when ticked
RING = 3  # pixels of the window kept around an indicator's picture


@dataclass(frozen=True)
class Blocks:
    """The blocks standing out from one background colour, in a picture."""

    boxes: list[Box]

    @classmethod
    def around(cls, image: Image.Image, label: Box) -> Blocks:
        """The blocks against the background just around ``label``."""
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
        return cls._against(pixels, _ring_colour(pixels, label))

    @classmethod
    def against_window(cls, image: Image.Image) -> Blocks:
        """The blocks against the picture's most common colour (a window's background)."""
        pixels = np.asarray(image.convert("RGB")).astype(np.int16)
        colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
        return cls._against(pixels, colours[counts.argmax()])

    @classmethod
    def _against(cls, pixels: np.ndarray, background: np.ndarray) -> Blocks:
        differs = (np.abs(pixels - background).max(axis=2) > CONTRAST).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
        boxes = [(int(x), int(y), int(x + w), int(y + h)) for x, y, w, h, _ in stats[1:count]]
        return cls(boxes)

    def control(self, label: Box, side: Side = "auto") -> Box | None:
        """The control this label names: right of it on its line, else below it."""
        cy = (label[1] + label[3]) // 2
        height = label[3] - label[1]
        candidates = [b for b in self.boxes if _is_control(b, label)]
        right = [b for b in candidates if b[0] >= label[2] - 2 and b[1] <= cy <= b[3]]
        below = [b for b in candidates if b[1] >= label[3] - 2 and b[1] - label[3] <= 4 * height + 20
                 and b[0] <= label[2] and b[2] >= label[0]]
        nearest_right = min(right, key=lambda b: b[0] - label[2], default=None)
        nearest_below = min(below, key=lambda b: (b[1] - label[3], abs(b[0] - label[0])), default=None)
        if side == "right":
            return nearest_right
        if side == "below":
            return nearest_below
        return nearest_right or nearest_below

    def indicator(self, text: Box) -> Box | None:
        """The check box or radio button square just left of its text."""
        cy = (text[1] + text[3]) // 2
        low, high = INDICATOR
        squares = [b for b in self.boxes
                   if b[2] <= text[0] + 2 and text[0] - b[2] <= 3 * (text[3] - text[1]) and b[1] <= cy <= b[3]
                   and low <= b[2] - b[0] <= high and low <= b[3] - b[1] <= high
                   and 0.75 <= (b[2] - b[0]) / (b[3] - b[1]) <= 1.33]
        return max(squares, key=lambda b: b[2], default=None)

    def indicator_at(self, point: tuple[int, int], reach: int = 10) -> Box | None:
        """The check box or radio square nearest ``point``, within ``reach`` pixels."""
        low, high = INDICATOR
        squares = [b for b in self.boxes if low <= b[2] - b[0] <= high and low <= b[3] - b[1] <= high
                   and 0.75 <= (b[2] - b[0]) / (b[3] - b[1]) <= 1.33 and distance(point, b) <= reach]
        return min(squares, key=lambda b: distance(point, b), default=None)


@dataclass
class TickLooks:
    """One indicator's unticked look, learnt the first time a click is seen to change it.

    Pictures are of the indicator with :data:`RING` pixels of the window around it."""

    unticked: np.ndarray | None = None

    def is_ticked(self, picture: Image.Image) -> bool:
        """A mark stands out from the unticked look where it is known (a pointer hovering over the
        box shades it, but by far less than a tick does); before, a mark stands out from the
        indicator's own fill, or the fill from the window around it (a box filled when ticked)."""
        inside, around = _parts(picture)
        if self.unticked is not None and self.unticked.shape == inside.shape:
            return _standing_out(inside, self.unticked) >= MARKED
        return _ink(inside, around) >= 1

    def learn(self, before: Image.Image, after: Image.Image) -> None:
        """A click changed the indicator from ``before`` to ``after``: the one with less ink is its
        unticked look."""
        (first, around_first), (second, around_second) = _parts(before), _parts(after)
        if first.shape == second.shape and _standing_out(first, second) > 0:
            self.unticked = first if _ink(first, around_first) < _ink(second, around_second) else second


def _ink(inside: np.ndarray, around: np.ndarray) -> float:
    """How ticked an indicator's inside looks: a mark on its fill, or a fill unlike the window
    around it, in parts of what makes it ticked (1 or more: ticked)."""
    colours, counts = np.unique(inside.reshape(-1, 3), axis=0, return_counts=True)
    return max(_standing_out(inside, colours[counts.argmax()]) / MARKED, _standing_out(inside, around) / FILLED)


def _standing_out(pixels: np.ndarray, reference: np.ndarray) -> float:
    """The fraction of ``pixels`` unlike ``reference`` (a picture of the same size, or a colour)."""
    return float((np.abs(pixels - reference).max(axis=-1) > MARK_CONTRAST).mean())


def _parts(picture: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """The middle of an indicator, clear of its frame (round for a radio button), and the window's
    colour around it, as signed RGB."""
    pixels = np.asarray(picture.convert("RGB")).astype(np.int16)
    height, width = pixels.shape[:2]
    inset = RING + max(2, round((width - 2 * RING) * 0.3))
    ring = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    colours, counts = np.unique(ring, axis=0, return_counts=True)
    return pixels[inset:height - inset, inset:width - inset], colours[counts.argmax()]


def _is_control(box: Box, label: Box) -> bool:
    """Big enough to be a control, and not the label itself or a frame around it."""
    width, height = box[2] - box[0], box[3] - box[1]
    return width >= MIN_CONTROL and height >= MIN_CONTROL and not overlap(box, label)


def _ring_colour(pixels: np.ndarray, box: Box, gap: int = 3) -> np.ndarray:
    """The most common colour in a thin ring just outside ``box``."""
    height, width = pixels.shape[:2]
    left, top = max(0, box[0] - gap), max(0, box[1] - gap)
    right, bottom = min(width - 1, box[2] + gap), min(height - 1, box[3] + gap)
    ring = np.concatenate([pixels[top, left:right + 1], pixels[bottom, left:right + 1],
                           pixels[top:bottom + 1, left], pixels[top:bottom + 1, right]])
    colours, counts = np.unique(ring, axis=0, return_counts=True)
    return colours[counts.argmax()]
