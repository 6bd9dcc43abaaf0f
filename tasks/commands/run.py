"""A natural-language desktop command: ``run_agent.py run "..."``.

Wires the parts together from the settings, runs the loop, and always leaves a complete
run folder, also when something breaks half-way.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from actions.executor import DryRunExecutor, Executor
from agent.backends import make_backend
from agent.loop import Agent, Executes, Pacing, StepObserver
from agent.model import ModelBackend
from agent.prompt import PromptBuilder
from agent.settings import Settings
from agent.task import Budget, Status, TaskState
from agent.trajectory import Trajectory
from perception.geometry import ScreenLayout
from perception.screen import Screen
from safety.confirm import TerminalAsker
from safety.gate import Asker, Gate
from safety.killswitch import KillSwitch
from safety.policy import Policy
from safety.secrets import Redactor


@dataclass(frozen=True)
class RunResult:
    status: Status
    reason: str
    answer: str | None
    steps: int
    folder: Path

    @property
    def exit_code(self) -> int:
        return self.status.exit_code


@dataclass(frozen=True)
class Controls:
    """What every way of driving the desktop shares: one screen, one gate, one kill switch, one executor."""

    screen: Screen
    layout: ScreenLayout
    gate: Gate
    kill_switch: KillSwitch
    executor: Executes

    def __iter__(self) -> Iterator[Any]:
        return iter((self.screen, self.layout, self.gate, self.kill_switch, self.executor))


def controls(settings: Settings, ask: Asker | None = None) -> Controls:
    """The screen, the safety gate (policy and marked windows), the kill switch and the executor."""
    screen = Screen(settings.monitor_choice, settings.max_pixels)
    layout = screen.layout()
    policy = Policy.load(settings.policy)
    for title in settings.sensitive_windows:
        policy.mark_sensitive(window_title=title)
    gate = Gate(policy, layout, settings.confirm_mode, ask or TerminalAsker())
    kill_switch = KillSwitch(settings.stop_hotkey, corners=[c for m in layout.monitors for c in m.corners])
    executor = DryRunExecutor() if settings.dry_run else Executor(sleep=kill_switch.sleep)
    return Controls(screen, layout, gate, kill_switch, executor)


def run_command(
    settings: Settings,
    instruction: str,
    ask: Asker | None = None,
    observers: tuple[StepObserver, ...] = (),
    model: ModelBackend | None = None,
    pacing: Pacing | None = None,
) -> RunResult:
    """Run one instruction to its end and return how it ended.

    ``model`` shares an already loaded backend; by default one is made from the settings.
    """
    screen, layout, gate, kill_switch, executor = controls(settings, ask)
    model = model or make_backend(settings)
    budget = Budget(max_steps=settings.max_steps, max_errors=settings.max_errors)
    meta = {
        "backend": model.name,
        "model": settings.model_id if model.name != "scripted" else str(settings.script),
        "settings": settings.model_dump(mode="json"),
        "monitors": [str(m) for m in layout.monitors],
    }
    trajectory = Trajectory(settings.runs_dir, instruction, Redactor(), meta)
    logger.info("recording this run in {}", trajectory.folder)
    agent = Agent(
        model, screen, gate, executor, kill_switch,
        PromptBuilder(settings.sampling(), settings.history_images),
        observers=(trajectory, *observers),
        pacing=pacing or Pacing(settle_timeout=settings.settle_timeout),
    )
    task = TaskState(instruction, budget)
    started = time.monotonic()
    kill_switch.start()
    try:
        agent.run(task)
    except BaseException as error:
        task.finish(Status.ERROR, f"crashed: {type(error).__name__}: {error}")
        raise
    finally:
        kill_switch.close()
        assert task.status is not None
        trajectory.finish({
            "instruction": instruction,
            "status": task.status.value,
            "exit_code": task.status.exit_code,
            "reason": task.reason,
            "answer": task.answer,
            "steps": len(task.steps),
            "seconds": round(time.monotonic() - started, 3),
            "outcomes": {o: sum(1 for s in task.steps if s.outcome and s.outcome.value == o)
                         for o in sorted({s.outcome.value for s in task.steps if s.outcome})},
        })
    logger.log("SUCCESS" if task.status.exit_code == 0 else "WARNING", "{}: {}", task.status.value, task.reason)
    return RunResult(task.status, task.reason, task.answer, len(task.steps), trajectory.folder)
