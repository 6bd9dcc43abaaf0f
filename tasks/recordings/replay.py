"""Replaying a recording: ``run_agent.py replay NAME [--speed 2] [--param k=v] [--data rows.csv]
[--from-step N] [--dry-run]``.

Each recorded step is done again the way the agent does its own actions: as an
:mod:`actions.schema` action, checked by the safety gate, performed by the one executor, written
to a normal run folder, with the kill switch listening. What a replay adds is finding each
target again (:mod:`perception.locate`), as windows move between recording and replay, and
knowing when not to act:

* **Where.** Before each pointer step the screen settles and the step's window is waited for:
  the window of the recorded title, class and application, or one a person approves
  (:mod:`tasks.recordings.windows`). Its target is looked for only inside that window, and
  clicked only where that window is on top; with the window gone the replay stops and names the
  windows open instead, whatever they show. The replay never raises or focuses a window itself:
  one that is covered or out of focus means the desktop is not as recorded (a dialog, a
  notification), and acting on a guess is what a replay must not do. A click focuses its window,
  as it did for the person; keys and text go only to the recorded window (or the one approved),
  so when another one has the focus the replay stops.
* **How sure.** The target is found by its picture from just before the recorded press, its text
  or the model (:mod:`tasks.recordings.target`); a weak or ambiguous find is put to a person
  through the gate's confirmation (``--confirm ask``; with ``allow`` or ``deny`` the replay stops:
  approving the policy's questions is not approving a guess), and so is acting in a window other
  than the recorded one. A click whose target already looks as the click left it (a focused
  field, a ticked box) is not done again: redoing it could undo it.
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

import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from loguru import logger
from PIL import Image

from actions.schema import Action, InvalidAction, parse_action
from agent.hands import Hands, Pacing, StepObserver
from agent.model import ModelBackend
from agent.settings import Settings
from agent.task import Outcome, Status, Step
from agent.trajectory import RunSummary
from errors import Stopped, SystemFailure
from errors import BadInput
from perception.geometry import Monitor
from perception.windows import WindowInfo, active_window, open_windows
from safety.gate import Asker
from safety.secrets import Redactor
from tasks.recordings.recording import POINTER_KINDS, RecordedStep, Recording
from tasks.recordings.target import TargetFinder, TargetMissing
from tasks.recordings.to_task import step_actions
from tasks.recordings.windows import WindowChooser, WindowGone, Where, described, on_top_at
from tasks.rows import RowsError, read_rows

MAX_GAP = 3.0  # seconds: a person's long pause while recording is not replayed
WINDOW_WAIT = 5.0  # seconds a step waits for its window (an app still starting)
CHANGED = 0.0005  # fraction of pixels: less (a blinking cursor) is no change, as in wait_until_still
Plan = list[tuple[Action, tuple[int, int] | None]]


class ReplayError(BadInput):
    """A replay that cannot start (a missing parameter, a step without its target); nothing has run."""


class _Refused(Exception):
    """The current step cannot be done: the replay ends with ``args`` (status, reason); a dry run goes on."""


@dataclass(frozen=True)
class _Intent:
    """How a step is redone now: its actions (none when its target already looks as the step left
    it), in which window, and why a person must approve them first (None: no need)."""

    actions: Plan
    unsure: str | None = None
    settled: bool = False
    window: WindowInfo | None = None
    approved: bool = False  # the window is not the recorded one: the person's yes makes it stand for it


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
        finder = TargetFinder(recording, model, replace(settings.sampling(), temperature=0.0))
        replayer = _Replayer(recording, texts, hands, speed, window_wait, finder)
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
    finder: TargetFinder
    chooser: WindowChooser = field(default_factory=WindowChooser)
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
        open_now = self.await_window(recorded)
        step = self.hands.look(f"recorded step {recorded.index}: {recorded.describe()}")
        try:
            intent = self.plan(recorded, step, open_now)
            self.check(step, intent.actions, intent.unsure)
            if not self.act(step, intent.actions):
                return False
            if intent.actions and intent.window is not None and not self.hands.dry_run:
                self.chooser.acted(intent.window, recorded.window if intent.approved else None)
            self.verify(recorded, step, expect_change=not intent.settled)
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
        """For a pointer step, the windows open once its own window is (an app still starting), or after
        ``window_wait``; bottom to top. Keys go where the focus is, so key steps need none."""
        if recorded.kind not in POINTER_KINDS:
            return []
        deadline = time.monotonic() + self.window_wait
        while True:
            open_now = open_windows()
            if recorded.window is None or time.monotonic() >= deadline or self.chooser.found(recorded.window, open_now):
                return open_now
            self.hands.kill.sleep(0.1)

    def plan(self, recorded: RecordedStep, step: Step, open_now: list[WindowInfo]) -> _Intent:
        """The actions that redo the step now, in which window, and why a person must approve them."""
        monitor, name = step.screenshot.monitor, f"step {recorded.index} ({recorded.describe()})"
        try:
            if recorded.kind not in POINTER_KINDS:
                where = self.require_focus(recorded, name)
                return _Intent(self.actions(recorded, monitor, None), where.question, window=_only(where.windows),
                               approved=where.question is not None)
            recorded_place = self.actions(recorded, monitor, recorded.point)  # drawn if the target is not found
            step.action = recorded_place[-1][0] if recorded_place else None
            where = self.chooser.pointer(name, recorded.window, open_now)
            found = self.finder.find(recorded, step, where)
        except (WindowGone, TargetMissing) as error:
            raise _Refused(Status.FAILURE, str(error)) from None
        plan = self.actions(recorded, monitor, found.point)
        if found.settled:  # e.g. a checkbox already ticked: doing it again would undo it
            step.action, step.target = plan[-1] if plan else (None, None)
            step.detail = "its target already looks as it did after this step when recorded: not done again"
            return _Intent([], settled=True)
        top = on_top_at(found.point, open_now)
        if found.window is not None and top is not None and top.handle != found.window.handle:
            raise _Refused(Status.FAILURE, f"the target of {name} is at {found.point}, but the window {described(top)} "
                           "is on top there: stopped without acting")
        questions = [q for q in (where.question, found.doubt) if q]
        return _Intent(plan, "; ".join(questions) or None, window=found.window, approved=where.question is not None)

    def require_focus(self, recorded: RecordedStep, name: str) -> Where:
        """Keys go to the focused window: the recorded one, or one a person approves (a dry run has not
        clicked into it, so it does not ask). Waits ``window_wait`` for the focus to get there."""
        if self.hands.dry_run:
            return Where(())
        deadline = time.monotonic() + self.window_wait
        while True:
            try:
                where = self.chooser.keys(name, recorded.window, active_window())
                if where.question is None or time.monotonic() > deadline:
                    return where
            except WindowGone:
                if time.monotonic() > deadline:
                    raise
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

    def next_screen(self, recorded: RecordedStep) -> Image.Image | None:
        """The screen just after the step when recorded: the next step's screenshot."""
        later = [s for s in self.recording.steps if s.index > recorded.index]
        return self.recording.image(later[0].screenshot) if later else None

    def verify(self, recorded: RecordedStep, step: Step, expect_change: bool) -> None:
        """Wait for the step's effect; stop if it changed the screen when recorded and does not now."""
        if step.outcome is not Outcome.DONE:
            return
        before, after = self.recording.image(recorded.screenshot), self.next_screen(recorded)
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


def _only(windows: tuple[WindowInfo, ...]) -> WindowInfo | None:
    return windows[0] if len(windows) == 1 else None
