"""Replaying a recording: ``run_agent.py replay NAME [--speed 2] [--param k=v] [--data rows.csv]
[--from-step N] [--dry-run]``.

Each recorded step is done again the way the agent does its own actions: as an
:mod:`actions.schema` action, checked by the safety gate, performed by the one executor, written
to a normal run folder, with the kill switch listening. What a replay adds is finding each
target again (:mod:`perception.locate`), as windows move between recording and replay, and
knowing when not to act:

* **Where.** Before each step the screen settles and the step's window (by title) is waited
  for. The replay never raises or focuses a window itself: one that is covered or out of focus
  means the desktop is not as recorded (a dialog, a notification), and acting on a guess is what
  a replay must not do. A click focuses its window, as it did for the person; keys and text go
  only to the recorded window, so when another one has the focus the replay stops.
* **How sure.** A pointer step's patch is looked for at the recorded place in its window, then
  in the window (a point recorded inside its window is not looked for elsewhere), then on the
  screen. A place scoring ``ACT`` or more with no other within ``MARGIN`` is acted on. A weaker
  one (down to ``ASK``), or one with a look-alike, is put to a person through the gate's
  confirmation (``--confirm ask``; with ``allow`` or ``deny`` the replay stops: approving the
  policy's questions is not approving a guess). Below ``ASK`` the picture is no help (an update
  restyled the app): the text the step pointed at, read in its recorded patch, is looked for
  instead (:func:`perception.locate.locate_text`); read exactly so, once, it is acted on, read
  loosely it is put to a person. Then the model is asked, if there is one. Otherwise the target
  is gone: the replay stops, and the run folder shows the screen. Measured on the contact form:
  the true place scores 0.96-1.0 (moved, tinted, scaled 0.8-1.25), a blurred recording 0.86;
  look-alikes that are not it (Clear for Save, one label for another) 0.55-0.65. A text field
  that has the focus now scores ~0.7 (its focus ring) while its unfocused neighbours score 1.0;
  but at its recorded place it looks as it did just after the recorded click, and a target
  already in that state (a focused field, a ticked box) is not done again: redoing it could undo
  it.
* **Did it work.** A step that changed the screen when recorded (its screenshot and the next
  step's differ) must change it again within the settle time, or the replay stops: the app did
  not react as it did then (it hangs, a click missed), and later steps would act on the wrong
  things. It checks "changed", not "changed into the same picture": a moved window or other
  data make the pictures differ anyway.
* **Pace.** The recorded pauses, divided by ``speed``, at most ``MAX_GAP`` seconds each.

A dry run goes through every step and acts on none. A step it could not do is noted and it
goes on, since the earlier steps that would have brought a target up did not happen.
"""

from __future__ import annotations

from errors import BadInput
import re
import time
from contextlib import suppress
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from loguru import logger
from PIL import Image

from actions.schema import Action, InvalidAction, parse_action
from agent.hands import Hands, Pacing, StepObserver
from agent.model import Message, ModelBackend, ModelRequest, Sampling
from agent.prompt import find_patch
from agent.reply import ReplyError, split_thought
from agent.settings import Settings
from agent.task import Outcome, Status, Step
from agent.trajectory import RunSummary
from errors import Stopped, SystemFailure
from perception.geometry import CoordinateTransform, Monitor
from perception.locate import SCALES, FeaturelessPatch, locate, locate_text, match_at
from perception.windows import WindowInfo, active_window, windows_titled
from safety.gate import Asker
from safety.secrets import Redactor
from tasks.commands.ask import find_point
from tasks.recordings.recording import POINTER_KINDS, RecordedStep, Recording, Window
from tasks.rows import RowsError, read_rows
from tasks.recordings.to_task import step_actions

ACT, ASK, MARGIN = 0.9, 0.7, 0.1
MAX_GAP = 3.0  # seconds: a person's long pause while recording is not replayed
WINDOW_WAIT = 5.0  # seconds a step waits for its window (an app still starting)
CHANGED = 0.0005  # fraction of pixels: less (a blinking cursor) is no change, as in wait_until_still
Plan = list[tuple[Action, tuple[int, int] | None]]


class ReplayError(BadInput):
    """A replay that cannot start (a missing parameter, a step without its target); nothing has run."""


class _Refused(Exception):
    """The current step cannot be done: the replay ends with ``args`` (status, reason); a dry run goes on."""


def replay(settings: Settings, recording: Recording, params: dict[str, str], speed: float = 1.0,
           from_step: int = 1, ask: Asker | None = None, *, pacing: Pacing | None = None,
           window_wait: float = WINDOW_WAIT, model: ModelBackend | None = None,
           observers: tuple[StepObserver, ...] = ()) -> RunSummary:
    """Replay ``recording`` from step ``from_step``; the result says how far it got and why it stopped.
    ``observers`` see each step.

    With a ``model``, a target whose picture no longer matches is looked for by the model; what it
    finds is never acted on without a person's yes.
    """
    steps = [s for s in recording.steps if s.index >= from_step]
    texts = _prepare(recording, steps, params)
    if speed <= 0:
        raise ReplayError(f"--speed must be above 0, not {speed:g}")
    # values for parameter steps were kept out of the recording: keep them out of the run folder too
    redactor = Redactor(params[s.parameter] for s in steps if s.parameter)
    meta = {"recording": recording.name, "recording_folder": str(recording.folder), "parameters": sorted(params),
            "speed": speed, "from_step": from_step}
    summary = RunSummary(kind="replay", recording=recording.name)
    with Hands.open(settings, f"replay {recording.name}", meta, summary, redactor, ask, pacing, observers) as hands:
        logger.info("replaying {} ({} steps) in {}", recording.name, len(steps), hands.folder)
        replayer = _Replayer(recording, texts, hands, speed, window_wait, model,
                             replace(settings.sampling(), temperature=0.0))
        status, reason = replayer.run(steps)
        summary.end(status, reason)
        summary.steps = replayer.done
    logger.log("SUCCESS" if status.exit_code == 0 else "WARNING", "{}: {}", status.value, reason)
    return summary


def replay_rows(settings: Settings, recording: Recording, rows: Path, params: dict[str, str] | None = None,
                speed: float = 1.0, from_step: int = 1, ask: Asker | None = None, *, pacing: Pacing | None = None,
                window_wait: float = WINDOW_WAIT, model: ModelBackend | None = None) -> list[RunSummary]:
    """One replay per row of a data file (CSV or JSON lines), its columns as parameters (over ``params``).

    Every row is checked before the first runs; the rows stop at the first replay that does not
    succeed, as the app is then in a state the recording does not start from.
    """
    try:
        table = [{**(params or {}), **row} for row in read_rows(Path(rows))]
    except RowsError as error:
        raise ReplayError(str(error)) from None
    if not table:
        raise ReplayError(f"{rows} has no data rows (the first line names the columns)")
    for number, row in enumerate(table, start=1):
        try:
            _prepare(recording, [s for s in recording.steps if s.index >= from_step], row)
        except ReplayError as error:
            raise ReplayError(f"{rows}, row {number}: {error}") from None
    results: list[RunSummary] = []
    for number, row in enumerate(table, start=1):
        logger.info("data row {} of {}", number, len(table))
        results.append(replay(settings, recording, row, speed, from_step, ask, pacing=pacing, window_wait=window_wait,
                              model=model))
        if results[-1].exit_code != 0:
            break
    return results


def fill(text: str, params: dict[str, str]) -> str:
    """``{name}`` in recorded text becomes that parameter's value; braces naming no parameter stay."""
    return re.sub(r"\{(\w+)\}", lambda m: params.get(m.group(1), m.group(0)), text)


def _prepare(recording: Recording, steps: list[RecordedStep], params: dict[str, str]) -> dict[int, str]:
    """Everything a replay can check before it touches anything; returns each type step's text."""
    if not steps:
        raise ReplayError(f"the recording {recording.name!r} has no steps from there ({len(recording.steps)} in all)")
    missing = sorted({s.parameter for s in steps if s.parameter and s.parameter not in params})
    if missing:
        raise ReplayError(f"the recording {recording.name!r} needs a value for {', '.join(missing)}: "
                          + " ".join(f"--param {name}=VALUE" for name in missing))
    texts = {}
    for step in steps:
        if step.kind == "type":
            texts[step.index] = params[step.parameter] if step.parameter else fill(step.text or "", params)
        elif step.kind == "hotkey":
            try:
                parse_action({"action": "key", "keys": step.keys or []})
            except InvalidAction as error:
                raise ReplayError(f"step {step.index} ({step.describe()}): {error}") from None
        elif step.kind in POINTER_KINDS and not (step.point and step.target_box and step.target
                                                 and (recording.folder / step.target).is_file()):
            raise ReplayError(f"step {step.index} ({step.describe()}) has no target picture, so the replay "
                              "cannot find what it pointed at")
    return texts


@dataclass
class _Replayer:
    recording: Recording
    texts: dict[int, str]
    hands: Hands
    speed: float
    window_wait: float
    model: ModelBackend | None = None  # asked where a target is when its picture no longer matches
    sampling: Sampling = field(default_factory=Sampling)
    done: int = 0
    missed: list[str] = field(default_factory=list)  # dry run: the steps it could not have done

    def run(self, steps: list[RecordedStep]) -> tuple[Status, str]:
        previous: RecordedStep | None = None
        finished = time.monotonic()
        try:
            for recorded in steps:
                if previous is not None:  # the recorded pause, less what the last step's checks took
                    gap = min(max(0.0, recorded.at - previous.at) / self.speed, MAX_GAP)
                    self.hands.kill.sleep(max(0.0, gap - (time.monotonic() - finished)))
                while not self.step(recorded):  # a person used the input: look again, then do it
                    pass
                self.done += 1
                previous, finished = recorded, time.monotonic()
        except _Refused as refused:
            return refused.args
        except Stopped as stop:
            return Status.STOPPED, str(stop)
        except KeyboardInterrupt:
            return Status.STOPPED, "interrupted (Ctrl+C)"
        except SystemFailure as error:
            return Status.ERROR, str(error)
        if self.missed:
            return Status.FAILURE, f"dry run of {self.done} steps; it would have stopped: {' | '.join(self.missed)}"
        return Status.SUCCESS, f"{'dry run of' if self.hands.dry_run else 'replayed'} all {self.done} steps"

    def step(self, recorded: RecordedStep) -> bool:
        """Settle, find, check, act, verify, record; False when a person interrupted it."""
        self.hands.kill.check()
        self.hands.kill.wait_for_person(self.hands.pacing.resume_after, self.hands.pacing.max_pause)  # their input pauses it
        self.hands.screen.wait_until_still(self.hands.pacing.settle_timeout)
        windows = self.await_window(recorded)
        step = self.hands.look(f"recorded step {recorded.index}: {recorded.describe()}")
        try:
            plan, unsure, settled = self.plan(recorded, step, windows)
            self.check(step, plan, unsure)
            if not self.act(step, plan):
                return False
            self.verify(recorded, step, expect_change=not settled)
        except _Refused as refused:
            reason = refused.args[1]
            step.outcome = step.outcome or Outcome.BLOCKED
            if reason not in step.detail:
                step.detail = f"{step.detail}; {reason}" if step.detail else reason
            self.record(step)
            if not self.hands.dry_run:
                raise
            self.missed.append(reason)
            return True
        self.record(step)
        return True

    def await_window(self, recorded: RecordedStep) -> list[WindowInfo]:
        if recorded.window is None:
            return []
        deadline = time.monotonic() + self.window_wait
        while not (found := windows_titled(recorded.window.title)) and time.monotonic() < deadline:
            self.hands.kill.sleep(0.1)
        if not found:
            logger.warning("step {}: no window titled {!r}", recorded.index, recorded.window.title)
        return found

    def plan(self, recorded: RecordedStep, step: Step, windows: list[WindowInfo]) -> tuple[Plan, str | None, bool]:
        """The actions that redo the step now, why a person must approve them (None: no need), and
        whether its target already looks as it did after the step (then nothing is done)."""
        monitor = step.screenshot.monitor
        if recorded.kind not in POINTER_KINDS:
            self.require_focus(recorded)
            return self.actions(recorded, monitor, None), None, False
        recorded_place = self.actions(recorded, monitor, recorded.point)  # drawn if the target is not found
        step.action = recorded_place[-1][0] if recorded_place else None
        point, unsure, settled = self.find(recorded, step, windows)
        plan = self.actions(recorded, monitor, point)
        if settled:  # e.g. a checkbox already ticked: doing it again would undo it
            step.action, step.target = plan[-1] if plan else (None, None)
            step.detail = "its target already looks as it did after this step when recorded: not done again"
            return [], None, True
        return plan, unsure, False

    def find(self, recorded: RecordedStep, step: Step,
             windows: list[WindowInfo]) -> tuple[tuple[int, int], str | None, bool]:
        patch, box, point = self.recording.image(recorded.target), recorded.target_box, recorded.point
        assert patch is not None and box is not None and point is not None  # checked by _prepare
        expected = near = mine = None
        scales = SCALES
        then = recorded.window
        if then is not None and len(windows) == 1 and _inside(point, then):
            # the point was in its window: carry it along with the window, and look nowhere else
            mine = windows[0]
            expected = (mine.left + point[0] - then.left, mine.top + point[1] - then.top)
            near = (mine.left - patch.width, mine.top - patch.height,
                    mine.left + mine.width + patch.width, mine.top + mine.height + patch.height)
            if (mine.width, mine.height) == (then.width, then.height):
                scales = (1.0,)  # a window of the recorded size shows its app at the recorded scale
        shot, m = step.screenshot, step.screenshot.monitor
        picture = shot.capture if shot.capture.size == (m.width, m.height) else shot.capture.resize((m.width, m.height))
        started = time.monotonic()
        try:
            matches = locate(picture, patch, (point[0] - box[0], point[1] - box[1]), origin=(m.left, m.top),
                             expected=expected, near=near, enough=ACT, scales=scales, anywhere=mine is None)
        except FeaturelessPatch as error:
            if mine is None or expected is None:
                raise _Refused(Status.FAILURE, f"step {recorded.index}: {error}") from None
            # a plain area of its window (a click that only focuses a terminal, say): the same spot of it
            step.thought += f"; a plain area of its window \"{mine.title}\": the same spot of the window now"
            return expected, None, False
        step.timings["locate"] = time.monotonic() - started
        matches = [match for match in matches if mine is None or _inside(match.point, mine)]
        best, rival = (matches + [None, None])[:2]
        doubts = []
        if best is not None and best.score < ACT:
            doubts.append(f"its target looks only {best.score:.0%} like the recorded one")
        if best is not None and rival is not None and rival.score > best.score - MARGIN:
            doubts.append(f"two places look like its target: {best.point} ({best.score:.2f}) and {rival.point} "
                          f"({rival.score:.2f})")
        after = self.after_picture(recorded)
        if expected is not None and after is not None and (best is None or doubts):
            # not found for sure, but where it was it may look as the step left it: a text field that
            # has the focus already (its focus ring makes it unlike the recording), a box already ticked
            with suppress(FeaturelessPatch):
                done = match_at(picture, after.crop(box), (point[0] - box[0], point[1] - box[1]), expected,
                                origin=(m.left, m.top))
                if done.score >= ACT:
                    step.thought += f"; at {done.point} it looks as it did after this step ({done.score:.2f})"
                    return done.point, None, True
        if best is None or best.score < ASK:
            anchored = self.anchor(recorded, patch, picture, m, mine)
            if anchored is not None:
                found, text, sure = anchored
                step.thought += f"; the picture no longer matches, but its text {text!r} is read at {found}"
                return found, None if sure else (f"step {recorded.index} of the replay of {self.recording.name!r}: "
                                                 f"the target no longer looks as recorded; its text {text!r} is "
                                                 f"read at {found}, but not for sure"), False
        if (best is None or best.score < ASK) and self.model is not None:
            found = self.ground(recorded, patch, picture, m)
            if found is not None and (mine is None or _inside(found, mine)):
                step.thought += f"; the picture no longer matches, and the model places the target at {found}"
                return found, (f"step {recorded.index} of the replay of {self.recording.name!r}: the target no "
                               f"longer looks as recorded; the model places it at {found}"), False
        if best is None or best.score < ASK:
            where = f'in its window "{mine.title}" (covered, or showing something else)' if mine else "on the screen"
            seen = f"; the best place looks {best.score:.0%} like it" if best else ""
            raise _Refused(Status.FAILURE, f"the target of step {recorded.index} ({recorded.describe()}) is not "
                           f"{where}{seen}: stopped without acting")
        step.thought += (f"; found at {best.point} ({best.where}) scoring {best.score:.2f} at scale {best.scale:g}"
                         + (f", next best {rival.score:.2f} at {rival.point}" if rival else ""))
        unsure = f"step {recorded.index} of the replay of {self.recording.name!r}: {'; '.join(doubts)}"
        return best.point, unsure if doubts else None, False

    def anchor(self, recorded: RecordedStep, patch: Image.Image, picture: Image.Image, monitor: Monitor,
               window: WindowInfo | None) -> tuple[tuple[int, int], str, bool] | None:
        """Where the text the step pointed at is now, in its window or on the screen (desktop pixels)."""
        assert recorded.point is not None and recorded.target_box is not None
        box = recorded.target_box
        area = None if window is None else (window.left - monitor.left, window.top - monitor.top,
                                            window.left - monitor.left + window.width,
                                            window.top - monitor.top + window.height)
        found = locate_text(picture, patch, (recorded.point[0] - box[0], recorded.point[1] - box[1]), area)
        if found is None:
            return None
        return (monitor.left + found.point[0], monitor.top + found.point[1]), found.text, found.sure

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

    def require_focus(self, recorded: RecordedStep) -> None:
        """Keys go to the focused window: it must be the recorded one (a dry run has not clicked into it)."""
        if recorded.window is None or self.hands.dry_run:
            return
        wanted, deadline = recorded.window, time.monotonic() + self.window_wait
        while not _same_window(active := active_window(), wanted):
            if time.monotonic() > deadline:
                where = f'"{active.title}"' if active else "no window"
                raise _Refused(Status.FAILURE, f"step {recorded.index} ({recorded.describe()}) would go to {where}, "
                               f'not to "{wanted.title}" as recorded; the replay does not move the focus itself')
            self.hands.kill.sleep(0.1)

    def actions(self, recorded: RecordedStep, monitor: Monitor, start: tuple[int, int] | None) -> Plan:
        """The agent's own actions for the step (as ``to_task`` writes them), aimed at ``start``;
        a drag keeps its recorded length and direction."""
        end = start
        if start is not None and recorded.point is not None and recorded.to is not None:
            end = (start[0] + recorded.to[0] - recorded.point[0], start[1] + recorded.to[1] - recorded.point[1])
        text = self.texts.get(recorded.index)
        if recorded.kind == "type" and not text:
            return []  # an empty data cell: nothing to type
        on_monitor = {"point": start and (start[0] - monitor.left, start[1] - monitor.top),
                      "to": end and (end[0] - monitor.left, end[1] - monitor.top)}
        copy = recorded.model_copy(update={"text": text, "parameter": None, **on_monitor})
        try:
            actions = [parse_action(a) for a in step_actions(copy, (monitor.width, monitor.height))]
        except InvalidAction:  # a recorded point off today's monitor: nothing to aim at
            return []
        return [(a, (end if a.action == "left_click_drag" else start) if a.point else None) for a in actions]

    def check(self, step: Step, plan: Plan, unsure: str | None) -> None:
        """The gate, for each action; an unsure target makes the first one a question to a person."""
        for number, (action, target) in enumerate(plan):
            ask_first = bool(unsure) and number == 0 and not self.hands.dry_run
            verdict = self.hands.judge(step, action, target, confirm=unsure if ask_first else None,
                                       person_only=ask_first)
            if not verdict.allowed:
                raise _Refused(Status.BLOCKED, f"refused: {verdict.reason}")
        if unsure and self.hands.dry_run:
            step.detail = f"would ask a person first: {unsure}"

    def act(self, step: Step, plan: Plan) -> bool:
        """Every action of the plan through the hands; False when a person's input (or a stop)
        interrupted it: the step is recorded as such and done again on a fresh look."""
        for action, target in plan:
            step.action, step.target = action, target
            if not self.hands.do(step):
                self.record(step)
                return False
        if step.outcome is None:  # nothing to do: it already looks as after the step
            step.outcome = Outcome.DRY_RUN if self.hands.dry_run else Outcome.DONE
            step.detail = step.detail or "nothing to do"
        return True

    def after_picture(self, recorded: RecordedStep) -> Image.Image | None:
        """The screen just after the step when recorded: the next step's screenshot."""
        later = [s for s in self.recording.steps if s.index > recorded.index]
        return self.recording.image(later[0].screenshot) if later else None

    def verify(self, recorded: RecordedStep, step: Step, expect_change: bool) -> None:
        """Wait for the step's effect; stop if it changed the screen when recorded and does not now."""
        if step.outcome is not Outcome.DONE:
            return
        before, after = self.recording.image(recorded.screenshot), self.after_picture(recorded)
        if expect_change and before is not None and after is not None and _changed(np.asarray(before),
                                                                                   np.asarray(after)):
            shot = step.screenshot
            deadline = time.monotonic() + self.hands.pacing.settle_timeout
            while not _changed(np.asarray(shot.capture), np.asarray(self.hands.screen.grab(shot.monitor))):
                if time.monotonic() > deadline:
                    raise _Refused(Status.NO_PROGRESS, f"the screen did not change after step {recorded.index} "
                                   f"({recorded.describe()}) as it did when recorded: stopped")
                self.hands.kill.sleep(0.05)
        step.timings["settle"] = self.hands.screen.wait_until_still(self.hands.pacing.settle_timeout)

    def record(self, step: Step) -> None:
        self.hands.record(step)


def _changed(before: np.ndarray, after: np.ndarray) -> bool:
    if before.shape != after.shape:
        return True
    return np.count_nonzero(np.any(before != after, axis=-1)) / before[..., 0].size > CHANGED


def _inside(point: tuple[int, int], window: Window | WindowInfo) -> bool:
    return window.left <= point[0] < window.left + window.width and window.top <= point[1] < window.top + window.height


def _same_window(active: WindowInfo | None, recorded: Window) -> bool:
    """The recorded window, by its title (or, for a title that changed, its application)."""
    return active is not None and (active.title == recorded.title or bool(recorded.app and active.app == recorded.app))
