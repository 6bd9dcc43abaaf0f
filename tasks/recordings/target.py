"""Finding a replayed step's target again, inside the windows it may act in.

A pointer step's patch (the screen around the pointer just before the press) is looked for at the
recorded place carried along with its window, then in the rest of that window
(:mod:`tasks.recordings.windows` says which windows; the whole screen only for a step recorded
without a window). A place scoring ``ACT`` or more with no other within ``MARGIN`` is the target.
A weaker one (down to ``ASK``), or one with a look-alike, is put to a person. Below ``ASK`` the
picture is no help (an update restyled the app): the text the step pointed at, read in its
recorded patch, is looked for instead (:func:`perception.locate.locate_text`); read exactly so,
once, it is the target, read loosely it is put to a person. Then the model is asked, if there is
one, and what it finds always goes to a person. Otherwise the target is not there.

Measured on the contact form: the true place scores 0.96-1.0 (moved, tinted, scaled 0.8-1.25), a
blurred recording 0.86; look-alikes that are not it (Clear for Save, one label for another)
0.55-0.65. A text field that has the focus now scores 0.64-0.69 against its unfocused recorded
look (a classic Tk entry's focus ring), but a click's after-picture (the patch as the click left
it) matches it at its recorded place: a target already in the state the step leaves it in (a
focused field, a ticked box) is not done again, as redoing it could undo it. That is only asked
of targets the click changed when recorded; a button that looks the same after a click is never
"already done".
"""

from __future__ import annotations

import time
from contextlib import suppress
from dataclasses import dataclass, field

from loguru import logger
from PIL import Image

from agent.model import Message, ModelBackend, ModelRequest, Sampling
from agent.prompt import find_patch
from agent.reply import ReplyError, split_thought
from agent.task import Step
from perception.geometry import Box, CoordinateTransform, Monitor, grow, span
from perception.locate import SCALES, FeaturelessPatch, Match, locate, locate_text, match_at
from perception.windows import WindowInfo
from tasks.commands.ask import find_point
from tasks.recordings.recording import RecordedStep, Recording
from tasks.recordings.windows import Where, area, described, inside

ACT, ASK, MARGIN = 0.9, 0.7, 0.1


class TargetMissing(Exception):
    """The step's target is not in the windows it may act in; ``args[0]`` says where it was looked for."""


@dataclass(frozen=True)
class Found:
    point: tuple[int, int]  # desktop pixels
    window: WindowInfo | None  # the window it lies in (None: a step recorded without its window)
    doubt: str | None = None  # why a person must approve acting on it (None: no need)
    settled: bool = False  # it already looks as the step left it: nothing to do


@dataclass
class TargetFinder:
    recording: Recording
    model: ModelBackend | None = None  # asked where a target is when its picture no longer matches
    sampling: Sampling = field(default_factory=Sampling)

    def find(self, recorded: RecordedStep, step: Step, where: Where) -> Found:
        """Where ``recorded``'s target is on ``step``'s screenshot; :class:`TargetMissing` if nowhere."""
        patch, box, point = self.recording.image(recorded.target), recorded.target_box, recorded.point
        assert patch is not None and box is not None and point is not None  # checked before the replay
        then, anchor = recorded.window, (point[0] - box[0], point[1] - box[1])
        areas = [(w, area(w, then, box)) for w in where.windows] if then is not None else []
        expected, scales = None, SCALES
        if then is not None and len(areas) == 1:
            mine = areas[0][0]
            expected = (point[0] + mine.left - then.left, point[1] + mine.top - then.top)
            if (mine.width, mine.height) == (then.width, then.height):
                scales = (1.0,)  # a window of the recorded size shows its app at the recorded scale
        shot, m = step.screenshot, step.screenshot.monitor
        picture = shot.capture if shot.capture.size == (m.width, m.height) else shot.capture.resize((m.width, m.height))
        started = time.monotonic()
        try:
            matches = self.matches(picture, patch, anchor, m, areas, expected, scales)
        except FeaturelessPatch as error:
            if expected is None:
                raise TargetMissing(f"step {recorded.index}: {error}") from None
            # a plain area of its window (a click that only focuses a terminal, say): the same spot of it
            step.thought += f"; a plain area of its window {described(areas[0][0])}: the same spot of the window now"
            return Found(expected, areas[0][0])
        step.timings["locate"] = time.monotonic() - started
        (best, best_window), (rival, _) = (matches + [(None, None), (None, None)])[:2]
        doubts = []
        if best is not None and best.score < ACT:
            doubts.append(f"its target looks only {best.score:.0%} like the recorded one")
        if best is not None and rival is not None and rival.score > best.score - MARGIN:
            doubts.append(f"two places look like its target: {best.point} ({best.score:.2f}) and {rival.point} "
                          f"({rival.score:.2f})")
        after = self.recording.image(recorded.after)
        if expected is not None and after is not None and (best is None or doubts) and _changes(patch, after, anchor):
            # not found for sure, but where it was it may look as the click left it: a text field that
            # has the focus already (its focus ring makes it unlike the recording), a box already ticked
            with suppress(FeaturelessPatch):
                done = match_at(picture, after, anchor, expected, origin=(m.left, m.top))
                if done.score >= ACT:
                    step.thought += f"; at {done.point} it looks as it did after this step ({done.score:.2f})"
                    return Found(done.point, areas[0][0], settled=True)
        name = f"step {recorded.index} of the replay of {self.recording.name!r}"
        if best is None or best.score < ASK:
            bounds = span([a for _, a in areas]) if areas else None
            read = locate_text(picture, patch, anchor, None if bounds is None else _on(bounds, m))
            if read is not None and (held := _holding(found := _desktop(read.point, m), areas)):
                step.thought += f"; the picture no longer matches, but its text {read.text!r} is read at {found}"
                return Found(found, held[0], None if read.sure else (
                    f"{name}: the target no longer looks as recorded; its text {read.text!r} is read at {found}, "
                    "but not for sure"))
            if self.model is not None:
                found = self.ground(recorded, patch, picture, m)
                if found is not None and (held := _holding(found, areas)):
                    step.thought += f"; the picture no longer matches, and the model places the target at {found}"
                    return Found(found, held[0], f"{name}: the target no longer looks as recorded; the model "
                                                f"places it at {found}")
            looked = ("on the screen" if not areas else f"in its window {described(areas[0][0])} (covered, or "
                      "showing something else)" if len(areas) == 1 else f"in any of the {len(areas)} windows "
                      f"{described(areas[0][0])}")
            seen = f"; the best place looks {best.score:.0%} like it" if best else ""
            raise TargetMissing(f"the target of step {recorded.index} ({recorded.describe()}) is not {looked}{seen}: "
                                "stopped without acting")
        step.thought += (f"; found at {best.point} ({best.where}) scoring {best.score:.2f} at scale {best.scale:g}"
                         + (f", next best {rival.score:.2f} at {rival.point}" if rival else ""))
        return Found(best.point, best_window, f"{name}: {'; '.join(doubts)}" if doubts else None)

    def matches(self, picture: Image.Image, patch: Image.Image, anchor: tuple[int, int], monitor: Monitor,
                areas: list[tuple[WindowInfo, Box]], expected: tuple[int, int] | None,
                scales: tuple[float, ...]) -> list[tuple[Match, WindowInfo | None]]:
        """The places that look like ``patch`` inside ``areas`` (none: the whole screen), best first."""
        found: list[tuple[Match, WindowInfo | None]] = []
        for window, bounds in areas or [(None, None)]:
            near = None if bounds is None else grow(bounds, patch.width, patch.height)  # a target at its edge
            for match in locate(picture, patch, anchor, origin=(monitor.left, monitor.top), expected=expected,
                                near=near, enough=ACT, scales=scales, anywhere=near is None):
                if bounds is None or inside(match.point, bounds):
                    found.append((match, window))
        return sorted(found, key=lambda pair: -pair[0].score)

    def ground(self, recorded: RecordedStep, patch: Image.Image, picture: Image.Image,
               monitor: Monitor) -> tuple[int, int] | None:
        """Where the model sees the recorded patch on the screen now (desktop pixels), if anywhere."""
        assert self.model is not None
        request = ModelRequest((Message("user", (patch, picture, find_patch(recorded.describe()))),),
                               sampling=self.sampling)
        reply = self.model.complete(request)
        try:
            point = find_point(split_thought(reply.text)[1], cut_off=reply.finish_reason == "length")
        except ReplyError as error:
            logger.info("the model did not find the target of step {}: {}", recorded.index, error)
            return None
        return CoordinateTransform.of_monitor(monitor).to_desktop(point)


def _changes(before: Image.Image, after: Image.Image, anchor: tuple[int, int]) -> bool:
    """Did the click change its own target when recorded (a focus ring, a tick), unlike a button's?"""
    try:
        return match_at(after, before, anchor, anchor).score < ACT
    except FeaturelessPatch:
        return True


def _holding(point: tuple[int, int], areas: list[tuple[WindowInfo, Box]]) -> list[WindowInfo | None]:
    """The window whose area holds ``point`` ([None] when the whole screen was searched; [] when outside)."""
    if not areas:
        return [None]
    return [window for window, bounds in areas if inside(point, bounds)][:1]


def _on(box: Box, monitor: Monitor) -> Box:
    return (box[0] - monitor.left, box[1] - monitor.top, box[2] - monitor.left, box[3] - monitor.top)


def _desktop(point: tuple[int, int], monitor: Monitor) -> tuple[int, int]:
    return (monitor.left + point[0], monitor.top + point[1])
