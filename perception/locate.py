"""Finding a recorded target again on today's screen.

A recording keeps, for every click, the patch of screen around the pointer. Windows move,
themes change colour and screens change scale between recording and replay, so the replay
looks for that patch instead of trusting the recorded pixel: normalised cross-correlation
(OpenCV's ``TM_CCOEFF_NORMED``) at a few scales, first where the target's window is now,
then on the whole screen.

Grayscale correlation is blind to brightness and contrast, so a tinted theme scores as the
original. Edge strength keeps the shapes when a theme swaps colours (even dark for light, where
grayscale correlation turns negative), but tells buttons apart less well (Save and Clear 0.96
against 0.62 on grayscale), so it is only a fallback. Correlation is undefined on flat areas
and wild on nearly flat ones: places with far less contrast than the patch do not count. The
search runs on half-size pictures; each place found is measured again at full size.

Two places that look alike are reported as such: the caller gets every distinct place that
scores well, best first, and must refuse or ask when the best is not clearly the best. A place
counts as distinct only when the score dips between it and a better one, so the length of a
text field, along which the patch slides at an unchanged score, is one place.

Speed on 1280x800 (2 cores, the recorder's 120x60 patch): at the expected place 0.7 ms; in a
640x520 window at one scale 2 ms; the whole screen at one scale 9 ms, at five scales 27 ms;
a target that is not there at all (grayscale, then edges, five scales) 70 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

from perception.geometry import Box, center, distance

SCALES = (1.0, 0.9, 1.1, 0.8, 1.25)
"""Patch sizes tried, relative to the recording: a changed DPI or font scaling."""
SURE_TEXT, LOOSE_TEXT = 0.95, 0.85
"""How closely a patch's text must read elsewhere: sure (act), or worth asking a person about."""
FLOOR = 0.3
"""Places scoring below this are not reported at all: they do not look like the patch."""
DIP = 0.15
"""How far the score must fall between two places for them to be different places."""
CONTRAST = 0.25
"""A place needs at least this fraction of the patch's contrast to be compared at all."""
EDGES_BELOW = 0.5
"""Edges are searched only when grayscale's best place scores below this."""
EDGE_BLUR = 2.5
"""Sigma of the blur on edge strength, so that thin lines survive half-size and scaled copies."""
SLACK = 4
"""Pixels of play around the expected place (a window frame that changed by a pixel or two)."""


class FeaturelessPatch(ValueError):
    """The patch is (nearly) one flat colour: it looks like any empty area, so it cannot be found."""


@dataclass(frozen=True)
class Match:
    """A place on the screen that looks like the recorded patch."""

    point: tuple[int, int]  # where the recorded click point lies there, in desktop pixels
    score: float  # 1.0 is identical; below ~0.5 it is something else
    scale: float  # the patch's size there, relative to the recording
    where: str = "screen"  # searched at: "recorded place", "window" or "screen"


def locate(
    screen: Image.Image,
    patch: Image.Image,
    anchor: tuple[int, int],
    *,
    origin: tuple[int, int] = (0, 0),
    expected: tuple[int, int] | None = None,
    near: Box | None = None,
    enough: float = 0.9,
    limit: int = 3,
    scales: tuple[float, ...] = SCALES,
    anywhere: bool = True,
) -> list[Match]:
    """The places on ``screen`` that look like ``patch``, best first, at most ``limit``.

    ``anchor`` is the click point inside the patch; ``origin`` the desktop pixel of the
    screen image's top-left corner. The search widens until a place scores ``enough``:

    1. ``expected``, the recorded point carried along with its window: found there, the
       patch is taken without looking for rivals, as the window itself tells identical
       text fields apart (the one answer returned);
    2. ``near``, the window's box: a look-alike in another window does not make it ambiguous;
    3. the whole screen, unless ``anywhere`` is False (the target cannot be outside ``near``);

    then, only when grayscale found nothing even half alike, the same again on edges: for a
    theme that inverted or recoloured the app. Edges tell buttons apart less well, so they are
    not asked about a target that merely changed a little. ``scales`` are the patch sizes
    tried: only 1.0 when the caller knows the scale did not change (its window has the
    recorded size), which spares look-alikes at other sizes. An empty list means the target
    is not on the screen.
    """
    if expected is not None:
        match = match_at(screen, patch, anchor, expected, origin=origin)
        if match.score >= enough:
            return [match]
    pattern, picture = _pattern(patch), _gray(screen)
    areas: list[tuple[str, Box | None]] = [("window", near)] if near else []
    if anywhere or near is None:
        areas.append(("screen", None))
    found: list[Match] = []
    for channel in ("gray", "edges"):
        if channel == "edges":
            if found and found[0].score >= EDGES_BELOW:
                break
            picture, pattern = _edges(picture), _edges(pattern)
        for where, box in areas:
            left, top, right, bottom = (0, 0, None, None) if box is None else (
                max(0, box[0] - origin[0]), max(0, box[1] - origin[1]), box[2] - origin[0], box[3] - origin[1])
            found = _search(picture[top:bottom, left:right], pattern, anchor, (origin[0] + left, origin[1] + top),
                            limit, where, scales)
            if found and found[0].score >= enough:
                return found
    return found


def match_at(screen: Image.Image, patch: Image.Image, anchor: tuple[int, int], point: tuple[int, int], *,
             origin: tuple[int, int] = (0, 0)) -> Match:
    """How much the screen looks like ``patch`` with its anchor at ``point`` (give or take ``SLACK``)."""
    at = (point[0] - origin[0] - anchor[0], point[1] - origin[1] - anchor[1])
    return _refine(_gray(screen), _pattern(patch), anchor, origin, 1.0, at, SLACK, "recorded place")


def _pattern(patch: Image.Image) -> np.ndarray:
    pattern = _gray(patch)
    if float(pattern.std()) < 3.0:
        raise FeaturelessPatch("the recorded target is one flat colour: nothing to recognise it by")
    return pattern


def _gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float32)


def _edges(gray: np.ndarray) -> np.ndarray:
    edges = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    return cv2.GaussianBlur(edges, (0, 0), EDGE_BLUR)


def _resize(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    way = cv2.INTER_AREA if size[0] < picture.shape[1] else cv2.INTER_LINEAR
    return cv2.resize(picture, size, interpolation=way)


def _scores(picture: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """The correlation at each top-left position; -1 where the screen is too flat to compare."""
    h, w = pattern.shape
    if picture.shape[0] < h or picture.shape[1] < w:
        return np.full((1, 1), -1.0, dtype=np.float32)
    scores = cv2.matchTemplate(picture, pattern, cv2.TM_CCOEFF_NORMED)
    total, squares = cv2.integral2(picture)
    sums = total[h:, w:] - total[:-h, w:] - total[h:, :-w] + total[:-h, :-w]
    sq = squares[h:, w:] - squares[:-h, w:] - squares[h:, :-w] + squares[:-h, :-w]
    spread = np.sqrt(np.maximum(sq / (h * w) - (sums / (h * w)) ** 2, 0))
    scores[spread < max(1.0, CONTRAST * float(pattern.std()))] = -1.0
    return np.nan_to_num(scores, nan=-1.0, posinf=-1.0, neginf=-1.0)


def _search(image: np.ndarray, template: np.ndarray, anchor: tuple[int, int], origin: tuple[int, int],
            limit: int, where: str, scales: tuple[float, ...]) -> list[Match]:
    """Coarse search on half-size pictures, then each place measured again at full size."""
    th, tw = template.shape
    coarse = 2 if min(th, tw) >= 24 else 1
    ih, iw = image.shape
    small = _resize(image, (iw // coarse, ih // coarse)) if coarse > 1 else image
    layers = []
    for scale in scales:
        size = (round(tw * scale / coarse), round(th * scale / coarse))
        if min(size) >= 6:
            scores = _scores(small, _resize(template, size))
            layers.append((scale, scores, scores.copy()))
    matches = [_refine(image, template, anchor, origin, scale, (x * coarse, y * coarse), coarse + 1, where)
               for scale, (x, y) in _peaks(layers, (tw / coarse, th / coarse), limit)]
    return sorted((m for m in matches if m.score >= FLOOR), key=lambda m: -m.score)


def _peaks(layers: list[tuple[float, np.ndarray, np.ndarray]], patch: tuple[float, float],
           limit: int) -> list[tuple[float, tuple[int, int]]]:
    """Distinct places (scale, top-left) best first; after each pick its surroundings are blanked."""
    found: list[tuple[float, tuple[float, float]]] = []  # scale, centre
    picks: list[tuple[float, tuple[int, int]]] = []
    for _ in range(limit * 10):  # a long text field takes a few picks before its stretch is used up
        scale, scores, original = max(layers, key=lambda layer: float(layer[1].max()))
        score = float(scores.max())
        if score < FLOOR:
            break
        y, x = np.unravel_index(int(scores.argmax()), scores.shape)
        half = (patch[0] * scale / 2, patch[1] * scale / 2)
        centre = (x + half[0], y + half[1])
        if all(_dips_between(original, (c[0] - half[0], c[1] - half[1]), (x, y), score) for _, c in found):
            found.append((scale, centre))
            picks.append((scale, (int(x), int(y))))
            if len(picks) == limit:
                break
        for other_scale, other, _ in layers:  # blank half a patch around the pick, in each layer
            ox, oy = centre[0] - patch[0] * other_scale / 2, centre[1] - patch[1] * other_scale / 2
            rx, ry = patch[0] * other_scale / 2, patch[1] * other_scale / 2
            other[max(0, int(oy - ry)):max(0, int(oy + ry) + 1), max(0, int(ox - rx)):max(0, int(ox + rx) + 1)] = -1
    return picks


def _dips_between(scores: np.ndarray, a: tuple[float, float], b: tuple[int, int], score: float) -> bool:
    """Does the score fall by ``DIP`` on the straight line from ``a`` to ``b``? If not, they are one place."""
    h, w = scores.shape
    if not (0 <= a[0] < w and 0 <= a[1] < h):
        return True
    steps = int(max(abs(a[0] - b[0]), abs(a[1] - b[1]), 1))
    xs = np.linspace(a[0], b[0], steps + 1).round().astype(int)
    ys = np.linspace(a[1], b[1], steps + 1).round().astype(int)
    return float(scores[ys, xs].min()) < score - DIP


def _refine(image: np.ndarray, template: np.ndarray, anchor: tuple[int, int], origin: tuple[int, int],
            scale: float, at: tuple[int, int], slack: int, where: str) -> Match:
    """The full-size score and exact position near a coarse find."""
    th, tw = template.shape
    size = (round(tw * scale), round(th * scale))
    left, top = max(0, at[0] - slack), max(0, at[1] - slack)
    window = image[top:max(0, at[1] + size[1] + slack), left:max(0, at[0] + size[0] + slack)]
    scores = _scores(window, _resize(template, size) if scale != 1 else template)
    # on a tie (the length of a text field) the position nearest the estimate wins, not the first
    ys, xs = np.nonzero(scores >= scores.max() - 1e-3)
    nearest = int(np.argmin((xs - (at[0] - left)) ** 2 + (ys - (at[1] - top)) ** 2))
    y, x = ys[nearest], xs[nearest]
    point = (origin[0] + left + int(x) + round(anchor[0] * scale), origin[1] + top + int(y) + round(anchor[1] * scale))
    return Match(point, round(float(scores[y, x]), 4), scale, where)


@dataclass(frozen=True)
class TextMatch:
    point: tuple[int, int]  # pixels of the picture searched
    text: str  # the text read in the patch
    sure: bool  # read exactly so (SURE_TEXT), and nowhere else nearly so


def locate_text(picture: Image.Image, patch: Image.Image, anchor: tuple[int, int],
                area: Box | None = None) -> TextMatch | None:
    """For a patch that no longer looks as it did (an app restyled by an update) but whose words
    did not change: where the text of ``patch`` nearest ``anchor`` is read in ``picture`` (within
    ``area``), as the point at ``anchor``'s offset from that text. None when the patch holds no
    text, or it is not read there at LOOSE_TEXT or better."""
    from perception.ocr import find, normalize, read  # OCR only for this fallback

    labels = [line for line in read(patch) if normalize(line.text)]
    if not labels:
        return None
    label = min(labels, key=lambda line: distance(anchor, line.box))
    left, top, right, bottom = area or (0, 0, picture.width, picture.height)
    area = (max(0, left), max(0, top), min(picture.width, right), min(picture.height, bottom))
    found = find(read(picture.crop(area)), label.text, minimum=LOOSE_TEXT)
    if not found:
        return None
    x, y = found[0].center
    middle = center(label.box)
    offset = (anchor[0] - middle[0], anchor[1] - middle[1])
    sure = found[0].score >= SURE_TEXT and (len(found) == 1 or found[1].score < LOOSE_TEXT)
    return TextMatch((area[0] + x + offset[0], area[1] + y + offset[1]), label.text, sure)

