"""Finding a form's fields by their visible labels: the accessibility tree, OCR, or the model.

``accessibility`` takes the window's labels and controls from the accessibility tree (GTK and
Qt apps publish one, :mod:`perception.accessibility`), ``ocr`` reads the window
(:mod:`perception.ocr`) and finds the controls by their pixels (:mod:`perception.controls`).
Both take the control next to the visible label, never a control by its accessible name alone
(apps get those wrong), and are sure when the label reads as written (0.85 or better), once.
``model`` asks the model where "the text field labelled X" is (grounding; Instruct mode is
enough). ``auto`` tries them in that order, each only where the one before is unsure, and the
model only if one is configured. What is found is kept per window size, relative to the window,
so a form is read once and a moved window costs nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from loguru import logger
from PIL import Image

from agent.model import ModelBackend, Sampling
from agent.reply import ReplyError
from perception.accessibility import Element, window_elements
from perception.controls import Blocks
from perception.geometry import Box, CoordinateTransform, center, shift
from perception.ocr import Found, Line, find, read, similarity
from perception.screen import Screenshot
from tasks.commands.ask import ask
from tasks.forms.form import FormField

LocatorChoice = Literal["auto", "accessibility", "ocr", "model"]
SURE = 0.85  # a label read at least this close to how the spec writes it
CONTROL_ROLES = {  # accessibility roles that a field of each kind can be
    "text": {"text", "entry", "spin button", "editbar"}, "date": {"text", "entry", "spin button", "date editor"},
    "password": {"password text", "text", "entry"}, "multiline": {"text", "entry", "paragraph", "document text"},
    "select": {"combo box"},
}
DESCRIPTIONS = {
    "text": "the text input field labelled {label!r}", "password": "the password field labelled {label!r}",
    "date": "the date field labelled {label!r}", "multiline": "the multi-line text area labelled {label!r}",
    "select": "the drop-down list labelled {label!r}", "checkbox": "the check box {label!r}",
    "radio": "the option {value!r} of the choice labelled {label!r}", "button": "the button {label!r}",
}


class FieldNotFound(Exception):
    """A field's label (or its control) is not in the window; the message says where the picture is."""


@dataclass(frozen=True)
class WindowPicture:
    """Part of a capture, with the way back to desktop coordinates."""

    image: Image.Image
    transform: CoordinateTransform  # of the capture the picture was cut from
    offset: tuple[int, int]  # capture pixel of the picture's top-left pixel

    @classmethod
    def of(cls, shot: Screenshot, box: Box) -> WindowPicture:
        m = shot.monitor
        inside = (max(box[0], m.left), max(box[1], m.top), min(box[2], m.left + m.width), min(box[3], m.top + m.height))
        crop = shot.transform.desktop_box_to_capture(inside)
        return cls(shot.capture.crop(crop), shot.transform, crop[:2])

    def to_desktop(self, box: Box) -> Box:
        dx, dy = self.offset
        return self.transform.capture_box_to_desktop((box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy))

    def from_desktop(self, box: Box) -> Box:
        (dx, dy), captured = self.offset, self.transform.desktop_box_to_capture(box)
        return (captured[0] - dx, captured[1] - dy, captured[2] - dx, captured[3] - dy)

    def to_desktop_point(self, point: tuple[int, int]) -> tuple[int, int]:
        box = self.to_desktop((point[0], point[1], point[0], point[1]))
        return (box[0], box[1])


@dataclass(frozen=True)
class Place:
    """Where a field is on the desktop: what to click (and to read), and a tick mark's square."""

    box: Box
    indicator: Box | None = None
    via: str = "ocr"

    @property
    def center(self) -> tuple[int, int]:
        return center(self.box)

    def shifted(self, dx: int, dy: int) -> Place:
        return replace(self, box=shift(self.box, dx, dy),
                       indicator=None if self.indicator is None else shift(self.indicator, dx, dy))


class _Unsure(Exception):
    """OCR found nothing certain; the reason says why."""


@dataclass
class FieldLocator:
    choice: LocatorChoice
    model: ModelBackend | None
    sampling: Sampling
    folder: Path  # where pictures of failed searches go
    title: str  # the window's title pattern, to find it in the accessibility tree
    _places: dict[tuple[str, ...], Place] = field(default_factory=dict)  # relative to the window's corner
    _lines: list[Line] | None = None  # the window's text, read once per window size
    _elements: list[Element] | None = None  # its accessibility tree, likewise
    _size: tuple[int, int] = (0, 0)

    def place(self, capture: Callable[[], Screenshot], window: Box, form_field: FormField, value: str,
              button: bool = False) -> Place:
        """Where ``form_field`` (or, with ``button``, the button labelled so) is now; the screen is
        captured only when the field is not known yet."""
        size = (window[2] - window[0], window[3] - window[1])
        if size != self._size:  # a resized window lays its form out anew
            self._places.clear()
            self._lines, self._elements, self._size = None, None, size
        kind = "button" if button else form_field.kind
        key = (kind, form_field.label or "", value if kind == "radio" else "")
        if key not in self._places:
            picture = WindowPicture.of(capture(), window)
            found = self._find(picture, kind, form_field, value)
            self._places[key] = found.shifted(-window[0], -window[1])
            logger.debug("{} {!r} found by {} at {}", kind, form_field.label, found.via, found.box)
        return self._places[key].shifted(window[0], window[1])

    def _find(self, picture: WindowPicture, kind: str, form_field: FormField, value: str) -> Place:
        ways = {"auto": [self._from_tree, self._read], "accessibility": [self._from_tree], "ocr": [self._read],
                "model": []}[self.choice]
        doubts = []
        for way in ways:
            try:
                return way(picture, kind, form_field, value)
            except _Unsure as unsure:
                doubts.append(str(unsure))
        if self.choice == "model" or (self.choice == "auto" and self.model is not None):
            if doubts:
                logger.info("{}; asking the model", "; ".join(doubts))
            return self._ground(picture, kind, form_field, value)
        raise self._not_found(picture, form_field, "; ".join(doubts))

    def _from_tree(self, picture: WindowPicture, kind: str, form_field: FormField, value: str) -> Place:
        """The field from the accessibility tree: the control of its kind next to the label."""
        if self._elements is None:
            self._elements = window_elements(self.title)
        if not self._elements:
            raise _Unsure("the window has no accessibility tree")
        label = form_field.label or ""
        if kind in ("button", "checkbox", "radio"):  # named by their own text
            roles = {"button": "push button", "checkbox": "check box", "radio": "radio button"}
            name = value if kind == "radio" else label
            named = [e for e in self._elements if e.role == roles[kind] and _same(e.name, name)]
            if kind == "radio":
                group = self._one_element(label)
                named = [e for e in named if e.box[0] >= group.box[0] and e.box[1] >= group.box[1] - 4]
            if len(named) != 1:
                raise _Unsure(f"{len(named) or 'no'} {roles[kind]}s named {name!r} in the accessibility tree")
            box = named[0].box
            if kind == "button":
                return Place(box, via="accessibility")
            inside = picture.from_desktop(box)
            indicator = Blocks.against_window(picture.image).indicator_at((inside[0] + 8, (inside[1] + inside[3]) // 2),
                                                                          reach=16)
            if indicator is None:
                raise _Unsure(f"no tick box drawn in the {roles[kind]} {name!r}")
            return Place(box, picture.to_desktop(indicator), via="accessibility")
        found = self._one_element(label)
        controls = [e.box for e in self._elements if e.role in CONTROL_ROLES[kind]]
        control = Blocks(controls).control(found.box, form_field.side)
        if control is None:
            raise _Unsure(f"no {kind} control next to the label {label!r} in the accessibility tree")
        return Place(control, via="accessibility")

    def _one_element(self, label: str) -> Element:
        assert self._elements is not None
        labels = [e for e in self._elements if e.role == "label" and _same(e.name, label)]
        if len(labels) != 1:
            raise _Unsure(f"{len(labels) or 'no'} labels {label!r} in the accessibility tree")
        return labels[0]

    def _read(self, picture: WindowPicture, kind: str, form_field: FormField, value: str) -> Place:
        if self._lines is None:
            self._lines = read(picture.image)
        label = form_field.label or ""
        if kind == "radio":
            option = self._option(picture.image, label, value)
            indicator = Blocks.around(picture.image, option.box).indicator(option.box)
            if indicator is None:
                raise _Unsure(f"no radio button next to the option {value!r} of {label!r}")
            return Place(picture.to_desktop(option.box), picture.to_desktop(indicator))
        found = self._one(label)
        if kind == "button":
            return Place(picture.to_desktop(found.box))
        blocks = Blocks.around(picture.image, found.box)
        if kind == "checkbox":
            indicator = blocks.indicator(found.box)
            if indicator is None:
                raise _Unsure(f"no check box next to {label!r}")
            return Place(picture.to_desktop(found.box), picture.to_desktop(indicator))
        control = blocks.control(found.box, form_field.side)
        if control is None:
            raise _Unsure(f"no control {'next to' if form_field.side == 'auto' else form_field.side + ' of'} "
                          f"the label {label!r}")
        return Place(picture.to_desktop(control))

    def _one(self, phrase: str) -> Found:
        """The single place that reads ``phrase``."""
        assert self._lines is not None
        found = find(self._lines, phrase)
        if not found or found[0].score < SURE:
            seen = f" (closest: {found[0].text!r})" if found else ""
            raise _Unsure(f"the label {phrase!r} is not in the window{seen}")
        if len(found) > 1 and found[1].score >= found[0].score - 0.02:
            raise _Unsure(f"the label {phrase!r} is in the window more than once ({found[0].text!r} and "
                          f"{found[1].text!r})")
        return found[0]

    def _option(self, image: Image.Image, label: str, value: str) -> Found:
        """The radio option reading ``value`` that belongs to the choice labelled ``label``: the
        nearest one right of or below the label."""
        assert self._lines is not None
        group = self._one(label)
        options = [o for o in find(self._lines, value, minimum=SURE)
                   if o.box[0] >= group.box[0] and o.box[1] >= group.box[1] - 4 and o.box != group.box]
        if not options:
            raise _Unsure(f"no option {value!r} next to {label!r}")
        return min(options, key=lambda o: (o.box[0] - group.box[2]) ** 2 + 4 * (o.box[1] - group.box[1]) ** 2)

    def _ground(self, picture: WindowPicture, kind: str, form_field: FormField, value: str) -> Place:
        if self.model is None:
            raise FieldNotFound("--locator model needs a model: choose one with --backend, --model or --base-url")
        description = DESCRIPTIONS[kind].format(label=form_field.label, value=value)
        try:
            answer = ask(self.model, picture.image, description, self.sampling, point=True)
        except ReplyError as error:
            raise self._not_found(picture, form_field, f"the model did not find {description}: {error}") from None
        assert answer.point is not None
        x, y = answer.point
        near = (x - 4, y - 4, x + 4, y + 4)
        indicator = None
        if kind in ("checkbox", "radio"):  # the model may point at the square or at its text
            indicator = Blocks.against_window(picture.image).indicator_at((x, y)) or \
                Blocks.around(picture.image, near).indicator(near)
            if indicator is None:
                raise self._not_found(picture, form_field, f"the model's point for {description} is no check box")
        return Place(picture.to_desktop(near), indicator and picture.to_desktop(indicator), via="model")

    def _not_found(self, picture: WindowPicture, form_field: FormField, reason: str) -> FieldNotFound:
        slug = re.sub(r"[^a-z0-9]+", "-", (form_field.label or "field").lower()).strip("-") or "field"
        path = self.folder / f"not-found-{slug}.png"
        picture.image.save(path)
        return FieldNotFound(f"{reason}; the window as it was searched: {path}")


def _same(name: str, label: str) -> bool:
    return bool(name) and similarity(name, label) >= SURE
