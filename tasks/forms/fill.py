"""Filling a form from data, row after row: ``run_agent.py fill SPEC [--data ROWS] [--locator ...]``.

For each row of data:

1. **Window.** The window whose title matches the spec is found and brought to the front.
2. **Where.** Each field is found by its visible label (:mod:`tasks.forms.locate_field`): OCR and the
   control's geometry, or the model, or OCR first and the model when OCR is unsure. Places are
   kept per form, relative to the window: later rows need no OCR or model unless the window
   changed its size (a moved window just shifts them).
3. **Fill.** Each field is filled the way a person would: click, select what is there, type;
   a check box or radio button is clicked only when it is not already as wanted; a list is
   opened and the option clicked. Every action goes through the safety gate and the executor.
4. **Check.** Each value is read back (text: select and copy, read the clipboard; a check box:
   its mark; a list: OCR of its text); a wrong one is filled again once. A password is never
   read back. A row whose values are still wrong is not submitted.
5. **Submit.** The submit button is clicked, after a person's approval by default; then the
   window must show ``after_submit``'s text (newly: text already shown before the click must
   change, as "Saved (1)" becomes "Saved (2)").

A row that fails is reported with its reason and the next row goes on (or the run stops, with
``stop_on_error``). The run folder holds every action as a step (password values redacted),
``results.csv`` (row, status, reason, seconds) and, for a label that could not be found, the
picture of the window where it was looked for.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image

from agent.backends import make_backend
from agent.hands import Hands, Pacing, Refused, StepObserver
from agent.model import ModelBackend
from agent.settings import Settings
from agent.task import Outcome, Status, Step
from agent.trajectory import RowResult, RowStatus, RunSummary
from errors import Stopped, SystemFailure
from perception import clipboard
from perception.accessibility import checked, list_items
from perception.controls import RING, TickLooks
from perception.geometry import Box, center, contains, grow, shift, span
from perception.ocr import find, normalize, read, similarity
from perception.screen import Screenshot
from perception.windows import WindowInfo, find_window, popups
from safety.gate import Asker
from safety.secrets import Redactor
from tasks.forms.form import FormError, FormField, FormSpec, load_rows
from tasks.forms.locate_field import (
    SURE,
    FieldLocator,
    FieldNotFound,
    LocatorChoice,
    Place,
    WindowPicture,
)

TEXT_KINDS = ("text", "multiline", "password", "date")
_CARET_KEYS = (["end"], ["shift", "home"], ["ctrl", "end"], ["ctrl", "shift", "home"])
POPUP_WAIT = 2.0  # seconds a list may take to show after its control was clicked
LIST_SCROLL = 150  # pixels (three wheel notches) an open list is scrolled by at a time
MAX_LIST_SCROLLS = 40  # a list this long one way is not a form's list
OPTION_CONFIDENCE = 50  # Tesseract's confidence below which a line in a list is a border or an arrow, not an option
OPTION_INDENT = 24  # pixels right of a list's leftmost option within which the others start
MENTION = 0.95  # how closely a line must read as after_submit's text ("Save" is not "Saved")


class RowFailed(Exception):
    """This row cannot go on; the reason is for the report."""


class RowInterrupted(Exception):
    """A person used the mouse or keyboard during the row: it is filled again once they are done."""


def fill_form(settings: Settings, spec: FormSpec, rows: list[dict[str, str]], *, spec_name: str = "form",
              locator: LocatorChoice = "auto", ask: Asker | None = None, model: ModelBackend | None = None,
              stop_on_error: bool = False, pacing: Pacing | None = None,
              observers: tuple[StepObserver, ...] = ()) -> RunSummary:
    """Fill ``spec``'s form once per row; ``model`` (or the configured backend) grounds labels
    for ``locator="model"``, and for ``"auto"`` when one is configured. ``observers`` see each step."""
    if model is None and (locator == "model" or (locator == "auto" and _model_configured(settings))):
        model = make_backend(settings)
    redactor = Redactor(secret for row in rows for secret in spec.secrets(row))
    meta = {"form": spec_name, "window": spec.window, "rows": len(rows), "locator": locator}
    summary = RunSummary(kind="fill", form=spec_name)
    results: list[RowResult] = []
    stopped = None
    with Hands.open(settings, f"fill {spec_name}", meta, summary, redactor, ask, pacing, observers) as hands:
        logger.info("filling {} ({} row{}) in {}", spec_name, len(rows), "" if len(rows) == 1 else "s", hands.folder)
        filler = _Filler(spec, hands, FieldLocator(locator, model, settings.sampling(), hands.folder, spec.window))
        try:
            for number, row in enumerate(rows, start=1):
                results.append(filler.row(number, row))
                logger.log("SUCCESS" if results[-1].status != "failed" else "WARNING", "row {} of {}: {} ({:.1f} s){}",
                           number, len(rows), results[-1].status, results[-1].seconds,
                           f": {results[-1].reason}" if results[-1].reason else "")
                if results[-1].status == "failed" and stop_on_error:
                    break
        except Stopped as stop:
            stopped = f"stopped: {stop}"
        except KeyboardInterrupt:
            stopped = "stopped: interrupted (Ctrl+C)"
        except SystemFailure as error:
            stopped = str(error)
        finally:
            done = {r.number for r in results}
            results += [RowResult(number=n, status="not run", reason=stopped or "an earlier row failed", seconds=0.0)
                        for n in range(1, len(rows) + 1) if n not in done]
            _write_results(hands.folder / "results.csv", results)
            failed = [f"row {r.number}: {r.reason}" for r in results if r.status == "failed"]
            summary.end(_status(stopped, results), stopped or "; ".join(failed) or f"{len(results)} rows done")
            summary.stopped, summary.rows = stopped, results
    if stopped:
        logger.warning(stopped)
    return summary


def _row(number: int, status: RowStatus, reason: str, started: float) -> RowResult:
    return RowResult(number=number, status=status, reason=reason, seconds=time.monotonic() - started)


def _status(stopped: str | None, rows: list[RowResult]) -> Status:
    if stopped is not None:
        return Status.STOPPED if "stop" in stopped else Status.ERROR
    return Status.SUCCESS if all(r.status in ("submitted", "filled", "dry run") for r in rows) else Status.FAILURE


def _model_configured(settings: Settings) -> bool:
    return any(v is not None for v in (settings.backend, settings.script, settings.base_url, settings.model))


def _write_results(path: Path, results: list[RowResult]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["row", "status", "reason", "seconds"])
        writer.writerows([r.number, r.status, r.reason, f"{r.seconds:.2f}"] for r in results)


@dataclass
class _Filler:
    spec: FormSpec
    hands: Hands
    locator: FieldLocator
    lists: dict[tuple[str, int, int], dict[str, Box]] = field(default_factory=dict)  # options last read, by list
    looks: dict[tuple[str, str], TickLooks] = field(default_factory=dict)  # each tick box's looks, by field and option
    status: Box | None = None  # where after_submit's text was seen, relative to the window

    def row(self, number: int, row: dict[str, str]) -> RowResult:
        started = time.monotonic()
        values = [(f, f.text(row)) for f in self.spec.fields]
        for attempt in (1, 2):
            try:
                window = self.window()
                for form_field, value in values:
                    self.fill(number, window, form_field, value)
                wrong = self.check(number, window, values)
                if wrong:
                    raise RowFailed("; ".join(wrong))
                if self.spec.submit is not None:
                    self.submit(number, window)
                break
            except RowInterrupted:
                if attempt == 2:
                    return _row(number, "failed", "a person kept using the mouse and keyboard during the row", started)
                logger.info("row {}: filled again from the start, now that the person is done", number)
            except (RowFailed, FieldNotFound, FormError, Refused) as failure:
                return _row(number, "failed", str(failure), started)
        status = "dry run" if self.hands.dry_run else "filled" if self.spec.submit is None else "submitted"
        return _row(number, status, "", started)

    def window(self) -> WindowInfo:
        """The form's window, in front, settled."""
        window = self.hands.bring(self.spec.window)
        if window is None:
            raise RowFailed(f"no window titled like {self.spec.window!r} is open")
        self.hands.screen.wait_until_still(self.hands.pacing.settle_timeout)
        return window

    # filling

    def fill(self, number: int, window: WindowInfo, form_field: FormField, value: str) -> None:
        step = self.step(f"row {number}: {form_field.kind} {form_field.name!r}")
        try:
            if form_field.kind == "keys":
                self.do(step, {"action": "key", "keys": [value]})
            elif form_field.kind in TEXT_KINDS:
                self.type_into(step, self.place(window, form_field, value), form_field, value)
            elif form_field.kind in ("checkbox", "radio"):
                self.tick(step, window, form_field, value)
            else:
                self.choose(step, window, form_field, value)
        finally:
            self.record(step)

    def type_into(self, step: Step, place: Place, form_field: FormField, value: str) -> None:
        self.click_into(step, place)
        self.select_all(step, form_field)
        self.do(step, {"action": "key", "keys": ["backspace"]})
        if value:  # the hands let the app take every key before the next action
            self.do(step, {"action": "type", "text": value}, secret=form_field.kind == "password")

    def click_into(self, step: Step, place: Place) -> None:
        """Click a text field; the hands let the app take the click before any key (GTK places
        the cursor after the keys that follow a click too soon)."""
        self.do(step, {"action": "left_click"}, place.center)

    def select_all(self, step: Step, form_field: FormField) -> None:
        """Select the field's whole text with the keys every toolkit knows (ctrl+a is not select-all in Tk)."""
        if form_field.kind == "multiline":
            self.do(step, {"action": "key", "keys": ["ctrl", "end"]})
            self.do(step, {"action": "key", "keys": ["ctrl", "shift", "home"]})
        else:
            self.do(step, {"action": "key", "keys": ["end"]})
            self.do(step, {"action": "key", "keys": ["shift", "home"]})

    def tick(self, step: Step, window: WindowInfo, form_field: FormField, value: str) -> None:
        """A check box set to the wanted state, or a radio button chosen: clicked only if not so already."""
        place = self.place(window, form_field, value)
        wanted = form_field.kind == "radio" or value == "yes"
        looks = self.looks_of(form_field, value)
        before = self.indicator(place)
        if self.is_ticked(window, place, looks, before) == wanted:
            step.detail = "already as wanted"
            return
        self.do(step, {"action": "left_click"}, place.center)
        if not self.hands.dry_run:
            looks.learn(before, self.indicator(place))

    def choose(self, step: Step, window: WindowInfo, form_field: FormField, value: str) -> None:
        """Open the list and click the option that reads ``value``, scrolling the list to it."""
        place = self.place(window, form_field, value)
        if value and self.reads(place, value) == value:
            step.detail = "already as wanted"
            return
        closed = popups()
        self.do(step, {"action": "left_click"}, place.center)
        if self.hands.dry_run:
            return
        seen: list[str] = []
        option = self.option(step, self.current(window).title, place, closed, form_field, value, seen)
        if option is None:
            self.do(step, {"action": "key", "keys": ["escape"]})
            offered = f" (it offers {', '.join(repr(o) for o in seen)})" if seen else " (no option could be read)"
            raise RowFailed(f"{form_field.name}: the list has no option {value!r}{offered}")
        self.do(step, {"action": "left_click"}, option)

    def option(self, step: Step, title: str, place: Place, closed: dict[int, Box], form_field: FormField,
               value: str, seen: list[str]) -> tuple[int, int] | None:
        """Where the open list shows ``value``, scrolling it down, then up, until the option shows or
        the list's end is reached; ``seen`` gets the options read. The list is the popup that was not
        there while it was ``closed``; its options are read from the accessibility tree, else by OCR
        of its own box, a line an option (so text beside the list is not read with it). Where the options were is kept,
        relative to the control, so a later row first looks there."""
        key = (form_field.label or "", place.box[2] - place.box[0], place.box[3] - place.box[1])
        kept = self.lists.get(key, {}).get(normalize(value))
        if kept is not None:
            box = shift(kept, place.box[0], place.box[1])
            if similarity(self.text_in(grow(box, 4, 2)), value) >= SURE:
                return center(box)
        area = self.opened_list(place, closed)
        for pixels in (-LIST_SCROLL, LIST_SCROLL):  # down to the end, then up to the top
            shown: list[tuple[str, Box]] = []
            for _ in range(MAX_LIST_SCROLLS):
                before, (shown, from_tree) = shown, self.list_options(title, area)
                seen += [text for text, _ in shown if text not in seen]
                scores = [(similarity(text, value), box) for text, box in shown]
                best = max(scores, default=None, key=lambda score: score[0])
                # an item the tree places in the list may still be hidden (GTK keeps its scroll arrow over it)
                if best is not None and best[0] >= SURE and (
                        not from_tree or similarity(self.text_in(best[1]), value) >= SURE):
                    self.lists[key] = {normalize(text): shift(box, -place.box[0], -place.box[1]) for text, box in shown}
                    return center(best[1])
                if [text for text, _ in shown] == [text for text, _ in before]:
                    break  # scrolling moved nothing: the end of the list
                self.do(step, {"action": "scroll", "pixels": pixels}, center(area))
        return None

    def opened_list(self, place: Place, closed: dict[int, Box]) -> Box:
        """The box of the popup that the click opened (a busy app maps it a while after the click),
        or, where none shows, the area around the control that a list can cover."""
        deadline = time.monotonic() + POPUP_WAIT
        while not (opened := [box for window, box in popups().items() if window not in closed]):
            if time.monotonic() > deadline:
                return _list_area(place.box, self.hands.screen.capture())
            self.hands.kill.sleep(0.05)
        self.hands.screen.wait_until_still(self.hands.pacing.settle_timeout)  # its options drawn
        return max(opened, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))

    def list_options(self, title: str, area: Box) -> tuple[list[tuple[str, Box]], bool]:
        """The options an open list shows in ``area``, with their desktop boxes, and whether they
        come from the accessibility tree (the items it places there), else from OCR, a line an
        option: options line up on the list's left, and what a scroll bar's arrows and edges read
        as is left out."""
        items = [(item.name, item.box) for item in list_items(title) if item.name and contains(area, item.box)]
        if items:
            return items, True
        picture = WindowPicture.of(self.hands.screen.capture(), area)
        lines = [line for line in read(picture.image) if max(w.confidence for w in line.words) >= OPTION_CONFIDENCE]
        start = min((line.box[0] for line in lines), default=0)
        return [(line.text, picture.to_desktop(line.box)) for line in lines if line.box[0] <= start + OPTION_INDENT], False

    # checking

    def check(self, number: int, window: WindowInfo, values: list[tuple[FormField, str]]) -> list[str]:
        """Read every value back; fill a wrong one again once; what is still wrong."""
        if self.hands.dry_run:
            return []
        wrong = []
        for form_field, value in values:
            seen = self.read_back(number, window, form_field, value)
            if seen is None or seen == value:
                continue
            logger.info("row {}: {} reads {!r}, not the value wanted: filling it again", number, form_field.name,
                        "•••" if form_field.kind == "password" else seen)
            self.fill(number, window, form_field, value)
            seen = self.read_back(number, window, form_field, value)
            if seen is not None and seen != value:
                wrong.append(f"{form_field.name} reads {seen!r} instead of {value!r}")
        return wrong

    def read_back(self, number: int, window: WindowInfo, form_field: FormField, value: str) -> str | None:
        """What the field holds now, in the terms of ``value`` (None: it cannot be read back)."""
        if form_field.kind in ("keys", "password"):
            return None
        place = self.place(window, form_field, value)
        if form_field.kind == "checkbox":
            return "yes" if self.is_ticked(window, place, self.looks_of(form_field, value)) else "no"
        if form_field.kind == "radio":
            return value if self.is_ticked(window, place, self.looks_of(form_field, value)) else f"not {value}"
        if form_field.kind == "select":
            return self.reads(place, value)
        step = self.step(f"row {number}: read back {form_field.name!r}")
        try:
            with self.hands.borrowed_clipboard() as marker:
                self.click_into(step, place)
                self.select_all(step, form_field)
                self.do(step, {"action": "key", "keys": ["ctrl", "c"]})
                copied = clipboard.text() if self.hands.dry_run else clipboard.copied(marker, self.hands.kill.sleep)
        finally:
            self.record(step)
        if copied == marker:  # nothing selected to copy (an empty field), or a field that does not copy
            return self.reads(place, value)
        return copied

    def is_ticked(self, window: WindowInfo, place: Place, looks: TickLooks, picture: Image.Image | None = None) -> bool:
        """Whether the box is ticked: as the accessibility tree says, else as its looks say."""
        state = checked(self.current(window).title, place.center)
        return state if state is not None else looks.is_ticked(picture or self.indicator(place))

    def looks_of(self, form_field: FormField, value: str) -> TickLooks:
        return self.looks.setdefault((form_field.name, value if form_field.kind == "radio" else ""), TickLooks())

    def indicator(self, place: Place) -> Image.Image:
        """The tick box as it looks now, with a little of the window around it."""
        assert place.indicator is not None
        return WindowPicture.of(self.hands.screen.capture(), grow(place.indicator, RING, RING)).image

    def reads(self, place: Place, value: str) -> str:
        """``value`` if OCR finds it in the place's box (among other text, e.g. a list's arrow), else what it reads."""
        seen = self.text_in(place.box)
        return value if normalize(value) in normalize(seen) else seen

    def text_in(self, box: Box) -> str:
        picture = WindowPicture.of(self.hands.screen.capture(), box)
        return " ".join(line.text for line in read(picture.image))

    # submitting

    def submit(self, number: int, window: WindowInfo) -> None:
        assert self.spec.submit is not None
        submit, after = self.spec.submit, self.spec.after_submit
        button = FormField(label=submit.label, kind="text")
        place = self.place(window, button, submit.label, button=True)
        shown_before = self.mentions(window, after.expect_text) if after else set()
        step = self.step(f"row {number}: submit with {submit.label!r}")
        try:
            reason = f"submitting row {number} of the form with {submit.label!r}" if submit.confirm else None
            self.do(step, {"action": "left_click"}, place.center, confirm=reason)
        finally:
            self.record(step)
        if after is None or self.hands.dry_run:
            return
        deadline = time.monotonic() + after.timeout
        while not self.mentions(window, after.expect_text, besides=shown_before):
            if time.monotonic() > deadline:
                raise RowFailed(f"submitted, but the window did not show {after.expect_text!r} within "
                                f"{after.timeout:g} s")
            self.hands.kill.sleep(0.2)

    def mentions(self, window: WindowInfo, text: str, besides: set[str] | None = None) -> set[str]:
        """The lines of text in the window that mention ``text``, other than ``besides``. Where such a
        line was last seen is read first (a status line stays put), the whole window only if need be."""
        box = self.current(window).box
        for area in ([] if self.status is None else [shift(self.status, box[0], box[1])]) + [box]:
            picture = WindowPicture.of(self.hands.screen.capture(), area)
            lines = [line for line in read(picture.image) if find([line], text, minimum=MENTION)
                     and line.text not in (besides or set())]
            if lines:
                found = picture.to_desktop(span(line.box for line in lines))
                self.status = shift(grow(found, 40, 8), -box[0], -box[1])
                return {line.text for line in lines}
        return set()

    # the parts every action shares

    def place(self, window: WindowInfo, form_field: FormField, value: str, button: bool = False) -> Place:
        return self.locator.place(self.hands.screen.capture, self.current(window).box, form_field, value, button=button)

    def current(self, window: WindowInfo) -> WindowInfo:
        """The form's window as it is now: it may have moved since the row began."""
        return find_window(self.spec.window) or window

    def step(self, thought: str) -> Step:
        return self.hands.look(thought)

    def do(self, step: Step, action: dict[str, Any], target: tuple[int, int] | None = None, *,
           secret: bool = False, confirm: str | None = None) -> None:
        """One action through the hands (``confirm``: a person must approve it, with that reason);
        keys that only move the caret or the selection need no settling after them."""
        settle = action["action"] != "key" or action["keys"] not in _CARET_KEYS
        if self.hands.act(step, action, target, settle, secret=secret, confirm=confirm):
            return
        if step.outcome is Outcome.BLOCKED:
            assert step.action is not None and step.verdict is not None
            raise RowFailed(f"{step.action.action} refused: {step.verdict.reason}")
        self.hands.kill.check()  # a stop cut the action short
        raise RowInterrupted()

    def record(self, step: Step) -> None:
        self.hands.record(step)


def _list_area(control: Box, shot: Screenshot) -> Box:
    """Where an opened list can show its options: around and below the control, on its monitor."""
    m = shot.monitor
    height = control[3] - control[1]
    return (max(m.left, control[0] - 4 * height), max(m.top, control[1] - 12 * height),
            min(m.left + m.width, control[2] + 4 * height), min(m.top + m.height, control[3] + 16 * height))


def fill_command(settings: Settings, spec_path: Path, data: Path | None, locator: LocatorChoice,
                 stop_on_error: bool) -> int:
    """``run_agent.py fill``: load and check everything, fill, print one line per row."""
    spec = FormSpec.load(spec_path)
    rows = load_rows(spec, data)
    result = fill_form(settings, spec, rows, spec_name=spec_path.stem, locator=locator, stop_on_error=stop_on_error)
    for row in result.rows:
        print(f"row {row.number}: {row.status}" + (f" - {row.reason}" if row.reason else ""))
    print(f"results: {result.folder / 'results.csv'}")
    return result.exit_code
