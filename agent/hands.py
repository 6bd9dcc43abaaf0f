"""The agent's one pair of hands: the only way anything acts on the desktop.

Every path that drives the desktop (the agent loop, a form fill, a replay, and the web page
through them) acts through :class:`Hands`, one action at a time and always the same way:

1. **judge**: the safety gate's verdict; what goes into a password field (the accessibility tree
   says which field has the focus) is a secret. A refused action is recorded, never run.
2. **person**: input of the person's own since the step's look pauses the agent: the action is
   dropped, and the caller looks again once the person has left the mouse and keyboard alone.
3. **execute**: the one executor, bracketed as the agent's input, in chunks the stop hotkey cuts.
4. **settle** and **check**: the screen is left to stop changing; whether a click changed the
   screen and where the keyboard focus went is recorded, and so is whether a typed-into field
   reads what was typed, where it can be read (a mismatch is read again once, then told).
5. **record**: the step goes to the run folder and to the observers.

A run's lifetime is here too (:meth:`Hands.open`): its controls, its folder, the kill switch
listening, and the summary at the end, whatever way the run ends. Windows are raised through the
gate, and the clipboard borrowed for a read-back is given back as it was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from loguru import logger

from actions.executor import DryRunExecutor, Executor, FailSafeTriggered
from actions.schema import INPUT_ACTIONS, Action, parse_action
from agent.settings import Settings
from agent.task import Outcome, Status, Step, TaskState
from agent.trajectory import RunSummary, Trajectory
from perception import clipboard
from perception.accessibility import Element, focused_element, focused_password_field, focused_text
from perception.geometry import ScreenLayout
from perception.screen import Screen
from perception.windows import WindowInfo, active_window, find_window
from safety.confirm import TerminalAsker
from safety.gate import Asker, Gate
from safety.killswitch import AgentInput, KillSwitch, StopRequested
from safety.policy import Policy, Proposal, Verdict
from safety.secrets import Redactor


class Refused(Exception):
    """The safety gate refused something the hands were asked to do outside a step (raising a window)."""


class StepObserver(Protocol):
    """Sees each step once it is done; ``task`` is None for steps outside the agent loop (form
    fills and replays). Raising StopRequested ends the run."""

    def on_step(self, step: Step, task: TaskState | None) -> None: ...


@dataclass(frozen=True)
class Pacing:
    settle_timeout: float = 2.0  # longest wait for the screen to stop changing after an action
    resume_after: float = 2.0  # the person's idle time before the agent goes on
    max_pause: float = 300.0  # a person busy this long has taken over: stop


@dataclass
class Hands:
    screen: Screen
    layout: ScreenLayout
    gate: Gate
    kill: KillSwitch
    executor: Executor | DryRunExecutor
    pacing: Pacing = Pacing()
    observers: Sequence[StepObserver] = ()
    trajectory: Trajectory | None = None
    steps: list[Step] = field(default_factory=list)

    @classmethod
    @contextmanager
    def open(cls, settings: Settings, title: str, meta: dict[str, Any], summary: RunSummary,
             redactor: Redactor | None = None, ask: Asker | None = None, pacing: Pacing | None = None,
             observers: Sequence[StepObserver] = ()) -> Iterator[Hands]:
        """Hands for one run: the screen, the gate (the policy and the windows marked sensitive),
        the kill switch listening, and a run folder named after ``title`` that ends with
        ``summary`` (the caller fills it in; it is written however the run ends)."""
        screen = Screen(settings.monitor_choice, settings.max_pixels)
        layout = screen.layout()
        policy = Policy.load(settings.policy)
        for pattern in settings.sensitive_windows:
            policy.mark_sensitive(window_title=pattern)
        gate = Gate(policy, layout, settings.confirm_mode, ask or TerminalAsker())
        kill = KillSwitch(settings.stop_hotkey, corners=[c for m in layout.monitors for c in m.corners])
        executor = DryRunExecutor() if settings.dry_run else Executor(sleep=kill.sleep)
        meta = {**meta, "settings": settings.model_dump(mode="json"), "monitors": [str(m) for m in layout.monitors]}
        trajectory = Trajectory(settings.runs_dir, title, redactor or Redactor(), meta)
        hands = cls(screen, layout, gate, kill, executor, pacing or Pacing(settle_timeout=settings.settle_timeout),
                    (trajectory, *observers), trajectory)
        started = time.monotonic()
        summary.folder = trajectory.folder
        kill.start()
        try:
            yield hands
        except BaseException as error:
            if summary.status is None:
                summary.end(Status.ERROR, f"crashed: {type(error).__name__}: {error}")
            raise
        finally:
            kill.close()
            summary.steps = summary.steps if summary.steps is not None else len(hands.steps)
            summary.seconds = round(time.monotonic() - started, 3)
            summary.outcomes = _outcomes(hands.steps)
            trajectory.finish(summary)

    @property
    def dry_run(self) -> bool:
        return isinstance(self.executor, DryRunExecutor)

    @property
    def folder(self) -> Path | None:
        """The run folder (None for hands that keep no record)."""
        return self.trajectory.folder if self.trajectory is not None else None

    # look

    def look(self, thought: str = "") -> Step:
        """A new step: the kill switch asked, the screen captured; input after this moment is the person's."""
        self.kill.check()
        started = time.monotonic()
        step = Step(index=len(self.steps) + 1, screenshot=self.screen.capture(), seen_at=started, thought=thought)
        step.timings["capture"] = time.monotonic() - started
        return step

    # do

    def judge(self, step: Step, action: Action | dict[str, Any], target: tuple[int, int] | None = None, *,
              secret: bool = False, confirm: str | None = None, person_only: bool = False) -> Verdict:
        """The gate's verdict on one action of ``step`` (``confirm``: a person must approve it, with
        that reason; ``person_only``: and ``--confirm allow`` does not count). A refusal marks the
        step blocked."""
        started = time.monotonic()
        shot = step.screenshot
        if isinstance(action, dict):
            if target is not None and "coordinate" not in action and action.get("action") in _POINTED:
                action = {**action, "coordinate": [round(v, 1) for v in shot.transform.desktop_to_grid(target)]}
            action = parse_action(action)
        step.action, step.target = action, target
        if action.action == "type" and shot.window is not None and not secret:
            box = focused_password_field(shot.window.title)
            if box is not None:
                step.secret_boxes = (*step.secret_boxes, box)
                secret = True
        proposal = Proposal(action, target, shot.window, shot, secret=secret)
        verdict = self.gate.confirm(proposal, confirm, person_only) if confirm else self.gate.check(proposal)
        step.verdict = verdict
        step.timings["gate"] = step.timings.get("gate", 0.0) + time.monotonic() - started
        if verdict.asked:  # the person's answer was input of theirs, and took time
            step.seen_at = time.monotonic()
        if not verdict.allowed:
            step.outcome, step.detail = Outcome.BLOCKED, _joined(step.detail, f"refused: {verdict.reason}")
        return verdict

    def do(self, step: Step, settle: bool = True) -> bool:
        """Carry out the action ``judge`` allowed; False when it was not run: a person was using
        the input (the step is marked interrupted, and this waits until they are done) or a stop
        cut it short (the next look stops the run). ``settle=False`` goes on at once, for keys in
        a row that only move the caret or the selection."""
        action, target = step.action, step.target
        assert action is not None and step.verdict is not None and step.verdict.allowed
        if self.kill.person_active_since(step.seen_at):
            step.outcome = Outcome.INTERRUPTED
            step.detail = _joined(step.detail, "a person used the mouse or keyboard, so this action was dropped "
                                               "and the screen is read again")
            logger.warning("paused: a person is using the mouse or keyboard")
            self.kill.wait_for_person(self.pacing.resume_after, self.pacing.max_pause)
            return False
        sends_input = action.action in INPUT_ACTIONS
        clicks = action.action in _CLICKS and not self.dry_run
        window = step.screenshot.window
        focus_before = focused_element(window.title) if clicks and window is not None else None
        started = time.monotonic()
        try:
            with self.kill.agent_input(_input_of(action, target)) if sends_input else nullcontext():
                execution = self.executor.execute(action, target, self.kill.check)
        except (StopRequested, FailSafeTriggered) as stop:
            self.kill.request_stop(str(stop))
            step.timings["act"] = step.timings.get("act", 0.0) + time.monotonic() - started
            step.outcome = Outcome.INTERRUPTED
            step.detail = _joined(step.detail, "; ".join([f"stopped: {stop}", *getattr(stop, "__notes__", ())]))
            return False
        step.timings["act"] = step.timings.get("act", 0.0) + execution.seconds
        step.detail = _joined(step.detail, execution.detail)
        step.outcome = Outcome.DONE if execution.performed else Outcome.DRY_RUN
        if execution.performed and sends_input and settle:
            step.timings["settle"] = step.timings.get("settle", 0.0) + self.screen.wait_until_still(
                self.pacing.settle_timeout)
            if clicks:
                self._check_click(step, focus_before)
            elif action.action == "type":
                self._check_typed(step, action.text)
        return True

    def act(self, step: Step, action: Action | dict[str, Any], target: tuple[int, int] | None = None,
            settle: bool = True, **judging: Any) -> bool:
        """``judge`` then ``do``: False when the action was refused or not run."""
        return self.judge(step, action, target, **judging).allowed and self.do(step, settle)

    def _check_click(self, step: Step, focus_before: Element | None) -> None:
        """Whether the click changed the screen, and where the keyboard focus went: to another
        window, or from one control to another where the accessibility tree says."""
        changed = self.screen.grab(step.screenshot.monitor).tobytes() != step.screenshot.capture.tobytes()
        step.checks["screen"] = "changed" if changed else "unchanged"
        before, now = step.screenshot.window, active_window()
        if now is None:
            step.checks["focus"] = "not known (no window has the focus)"
        elif before is None or now.title != before.title:
            step.checks["focus"] = f"moved to the window {now.title!r}"
        elif (focus := focused_element(now.title)) is None:
            step.checks["focus"] = f"in the window {now.title!r} (its controls cannot be read here)"
        elif focus == focus_before:
            step.checks["focus"] = f"stayed on the {focus.role} {focus.name!r}"
        else:
            step.checks["focus"] = f"moved to the {focus.role} {focus.name!r}"

    def _check_typed(self, step: Step, text: str) -> None:
        """Whether the focused field holds what was typed, where the accessibility tree can read it;
        a field that does not is read once more after the screen settles again (an app may draw
        before it files the text), then the mismatch is the step's detail, which the model reads."""
        window = step.screenshot.window
        if window is None or step.secret_boxes:
            return
        for reading in ("first", "second"):
            reads = focused_text(window.title)
            if reads is None:
                step.checks["typed"] = "not checked (the field cannot be read back here)"
                return
            if text.replace("\n", "") in reads.replace("\n", ""):
                step.checks["typed"] = "the field reads what was typed" + (
                    " (at the second reading)" if reading == "second" else "")
                return
            if reading == "first":
                self.screen.wait_until_still(self.pacing.settle_timeout)
        step.checks["typed"] = f"mismatch: the field reads {reads[-80:]!r}"
        step.detail = _joined(step.detail, f"the focused field does not hold the typed text: it reads {reads[-80:]!r}")

    # record

    def record(self, step: Step, task: TaskState | None = None) -> None:
        self.steps.append(step)
        for observer in self.observers:
            observer.on_step(step, task)

    # windows and the clipboard

    def bring(self, pattern: str) -> WindowInfo | None:
        """The window whose title matches ``pattern``, raised in front if the gate allows acting in
        it (raising a window is acting there, as a click on it is); None when there is none.
        :class:`Refused` when the gate does not allow it."""
        found = find_window(pattern)
        if found is None:
            return None
        shot = self.screen.capture()
        verdict = self.gate.check(Proposal(parse_action({"action": "left_click", "coordinate": [500, 500]}),
                                           found.center, found, shot))
        if not verdict.allowed:
            raise Refused(f"bringing {found.title!r} to the front was refused: {verdict.reason}")
        return found if self.dry_run else find_window(pattern, activate=True)

    @contextmanager
    def borrowed_clipboard(self) -> Iterator[str]:
        """The clipboard, marked for a copy whose arrival can be told apart; what the person had on it
        is put back afterwards."""
        kept = clipboard.text()
        try:
            yield clipboard.mark()
        finally:
            clipboard.restore(kept)


_CLICKS = frozenset({"left_click", "right_click", "middle_click", "double_click", "triple_click", "left_click_drag"})
_POINTED = _CLICKS | {"mouse_move"}


def _input_of(action: Action, target: tuple[int, int] | None) -> AgentInput:
    """What ``action`` sends, so that anything else seen meanwhile is taken for the person's."""
    kind = action.action
    return AgentInput(keys=kind in ("key", "type"), buttons=kind in _CLICKS,
                      wheel=kind in ("scroll", "hscroll"), pointer_to=target)


def _joined(detail: str, more: str) -> str:
    return f"{detail}; {more}" if detail and more else detail or more


def _outcomes(steps: list[Step]) -> dict[str, int]:
    names = [s.outcome.value for s in steps if s.outcome]
    return {name: names.count(name) for name in sorted(set(names))}
