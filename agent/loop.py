"""The perceive-plan-act loop: capture, decide, check, act, record, stop?

Errors say whose fault they are. The model's (an unusable reply, a point off the grid)
becomes feedback for its next step, within the error budget. The policy's (a refused
action) is told to the model and never run. A person's (hotkey, failsafe corner, Ctrl+C)
stops the run, also in the middle of a long action: the executor checks the kill switch
between its chunks, and the step that was cut short is recorded as interrupted. Ours or the
system's (no display, model unavailable, input refused, or any unexpected exception) stops
the run with status ``error``. Every finished step has been recorded either way.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Protocol

from loguru import logger

from actions.executor import Checkpoint, Execution, FailSafeTriggered, InputFailed
from actions.schema import INPUT_ACTIONS, Action
from agent.model import ModelBackend, ModelUnavailable, TextSink
from agent.prompt import PromptBuilder
from agent.reply import ReplyError, parse_reply
from agent.task import Outcome, Status, Step, TaskState
from perception.accessibility import focused_password_field
from perception.geometry import CoordinateTransform, OffScreen
from perception.screen import Screen, ScreenUnavailable
from safety.gate import Gate
from safety.killswitch import KillSwitch, StopRequested
from safety.policy import Proposal


class Executes(Protocol):
    def execute(self, action: Action, target: tuple[int, int] | None,
                checkpoint: Checkpoint = ...) -> Execution: ...


class StepObserver(Protocol):
    """Sees each step once it is done; ``task`` is None for steps outside the agent loop (form
    fills and replays). Raising StopRequested ends the run."""

    def on_step(self, step: Step, task: TaskState | None) -> None: ...


@dataclass(frozen=True)
class Pacing:
    settle_timeout: float = 2.0  # longest wait for the screen to stop changing after an action
    resume_after: float = 2.0  # the person's idle time before the agent goes on
    max_pause: float = 300.0  # a person busy this long has taken over: stop


class Agent:
    def __init__(
        self,
        model: ModelBackend,
        screen: Screen,
        gate: Gate,
        executor: Executes,
        kill_switch: KillSwitch,
        prompt: PromptBuilder,
        observers: Sequence[StepObserver] = (),
        pacing: Pacing = Pacing(),
        on_text: TextSink | None = None,
    ) -> None:
        self.model, self.screen, self.gate, self.executor = model, screen, gate, executor
        self.kill, self.prompt, self.pacing = kill_switch, prompt, pacing
        self.observers = list(observers)
        self.on_text = on_text
        self._transform: CoordinateTransform | None = None

    def run(self, task: TaskState) -> TaskState:
        """Step until the task has a status; every way out sets one."""
        try:
            while task.status is None:
                self.step(task)
        except (StopRequested, FailSafeTriggered) as stop:
            task.finish(Status.STOPPED, str(stop))
        except KeyboardInterrupt:
            task.finish(Status.STOPPED, "interrupted (Ctrl+C)")
        except (ModelUnavailable, ScreenUnavailable, InputFailed) as error:
            task.finish(Status.ERROR, str(error))
        except Exception as error:  # a bug of ours or of a library: the run ends, its record stays
            logger.opt(exception=error).error("unexpected error in step {}", len(task.steps) + 1)
            task.finish(Status.ERROR, f"unexpected error: {type(error).__name__}: {error}")
        return task

    def step(self, task: TaskState) -> None:
        self.kill.check()
        step = self.capture(task)
        if task.status is not None:
            return
        self.decide(task, step)
        if step.outcome is None:
            self.check(step)
        if step.outcome is None:
            self.act(step)
        task.record(step)
        for observer in self.observers:
            observer.on_step(step, task)

    def capture(self, task: TaskState) -> Step:
        started = time.monotonic()
        screenshot = self.screen.capture()
        if screenshot.transform != self._transform:
            self._transform = screenshot.transform
            logger.info("coordinates: {}", self._transform.describe())
        task.see(screenshot)
        step = Step(index=len(task.steps) + 1, screenshot=screenshot, seen_at=started)
        step.timings["capture"] = time.monotonic() - started
        return step

    def decide(self, task: TaskState, step: Step) -> None:
        started = time.monotonic()
        step.reply = self.model.complete(self.prompt.request(task, step.screenshot), self.on_text)
        step.timings["model"] = time.monotonic() - started
        try:
            decision = parse_reply(step.reply)
            step.thought, step.action = decision.thought, decision.action
            if decision.action.point is not None:
                step.target = step.screenshot.transform.to_desktop(decision.action.point)
        except (ReplyError, OffScreen) as error:
            step.outcome, step.detail = Outcome.INVALID, str(error)

    def check(self, step: Step) -> None:
        started = time.monotonic()
        assert step.action is not None
        shot = step.screenshot
        if step.action.action == "type" and shot.window is not None:  # whatever goes into a password field is secret
            field = focused_password_field(f"^{re.escape(shot.window.title)}$")
            step.secret_boxes = (field,) if field else ()
        secret = bool(step.secret_boxes)
        step.verdict = self.gate.check(Proposal(step.action, step.target, shot.window, shot, secret=secret))
        step.timings["gate"] = time.monotonic() - started
        if step.verdict.asked:  # the person's answer was input of theirs, and took time
            step.seen_at = time.monotonic()
        if not step.verdict.allowed:
            step.outcome, step.detail = Outcome.BLOCKED, step.verdict.reason

    def act(self, step: Step) -> None:
        assert step.action is not None
        if self.kill.person_active_since(step.seen_at):
            step.outcome = Outcome.INTERRUPTED
            step.detail = "a person used the mouse or keyboard, so this action was dropped and the screen re-read"
            logger.warning("paused: a person is using the mouse or keyboard")
            self.kill.wait_for_person(self.pacing.resume_after, self.pacing.max_pause)
            return
        sends_input = step.action.action in INPUT_ACTIONS
        started = time.monotonic()
        try:
            with self.kill.agent_input() if sends_input else nullcontext():
                execution = self.executor.execute(step.action, step.target, self.kill.check)
        except (StopRequested, FailSafeTriggered) as stop:  # recorded, then the next step() stops the run
            self.kill.request_stop(str(stop))
            step.timings["act"] = time.monotonic() - started
            step.outcome = Outcome.INTERRUPTED
            step.detail = "; ".join([f"stopped: {stop}", *getattr(stop, "__notes__", ())])
            return
        step.timings["act"] = execution.seconds
        step.detail = execution.detail
        step.outcome = Outcome.DONE if execution.performed else Outcome.DRY_RUN
        if execution.performed and sends_input:
            step.timings["settle"] = self.screen.wait_until_still(self.pacing.settle_timeout)
