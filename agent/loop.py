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

import time
from dataclasses import replace

from loguru import logger
from PIL import Image

from actions.schema import Action
from agent.hands import Hands
from agent.model import ModelBackend, TextSink
from agent.prompt import PromptBuilder
from agent.reply import ReplyError, parse_reply
from agent.task import Outcome, Status, Step, TaskState
from agent.zoom import Zoom
from errors import Stopped, SystemFailure
from perception.geometry import CoordinateTransform, OffScreen


class Agent:
    def __init__(self, model: ModelBackend, hands: Hands, prompt: PromptBuilder, on_text: TextSink | None = None,
                 zoom: Zoom | None = None) -> None:
        self.model, self.hands, self.prompt, self.on_text, self.zoom = model, hands, prompt, on_text, zoom
        self._transform: CoordinateTransform | None = None

    def run(self, task: TaskState) -> TaskState:
        """Step until the task has a status; every way out sets one."""
        try:
            while task.status is None:
                self.step(task)
        except Stopped as stop:
            task.finish(Status.STOPPED, str(stop))
        except KeyboardInterrupt:
            task.finish(Status.STOPPED, "interrupted (Ctrl+C)")
        except SystemFailure as error:
            task.finish(Status.ERROR, str(error))
        except Exception as error:  # a bug of ours or of a library: the run ends, its record stays
            logger.opt(exception=error).error("unexpected error in step {}", len(task.steps) + 1)
            task.finish(Status.ERROR, f"unexpected error: {type(error).__name__}: {error}")
        return task

    def step(self, task: TaskState) -> None:
        step = self.capture(task)
        if task.status is not None:
            return
        self.decide(task, step)
        if step.outcome is None:
            self.check(step)
        if step.outcome is None:
            self.act(step)
        task.record(step)
        self.hands.record(step, task)

    def capture(self, task: TaskState) -> Step:
        step = self.hands.look()
        if step.screenshot.transform != self._transform:
            self._transform = step.screenshot.transform
            logger.info("coordinates: {}", self._transform.describe())
        task.see(step.screenshot)
        return step

    def decide(self, task: TaskState, step: Step) -> None:
        started = time.monotonic()
        step.reply = self.model.complete(self.prompt.request(task, step.screenshot), self.on_text)
        step.timings["model"] = time.monotonic() - started
        try:
            decision = parse_reply(step.reply, self.prompt.profile)
            step.thought, step.action = decision.thought, self.refined(task, step, decision.action)
            if step.action.point is not None:
                step.target = step.screenshot.transform.to_desktop(step.action.point)
        except (ReplyError, OffScreen) as error:
            step.outcome, step.detail = Outcome.INVALID, str(error)

    def refined(self, task: TaskState, step: Step, action: Action) -> Action:
        """With zoom-in refinement, the action's point after a second look at crops of the screen."""
        if self.zoom is None or action.point is None:
            return action

        def decide(crop: Image.Image) -> Action:
            request = self.prompt.request(task, replace(step.screenshot, image=crop))
            return parse_reply(self.model.complete(request), self.prompt.profile).action

        return self.zoom.refine_action(action, step.screenshot.image, decide)

    def check(self, step: Step) -> None:
        assert step.action is not None
        self.hands.judge(step, step.action, step.target)

    def act(self, step: Step) -> None:
        self.hands.do(step)
