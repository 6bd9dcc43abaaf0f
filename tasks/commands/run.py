"""A natural-language desktop command: ``run_agent.py run "..."``.

Wires the parts together from the settings, runs the loop, and always leaves a complete
run folder, also when something breaks half-way.
"""

from __future__ import annotations

from loguru import logger

from agent.backends import make_backend
from agent.hands import Hands, Pacing, StepObserver
from agent.loop import Agent
from agent.model import ModelBackend
from agent.profiles import load_profile
from agent.prompt import PromptBuilder
from agent.settings import Settings
from agent.task import Budget, Status, TaskState
from agent.trajectory import RunSummary
from safety.gate import Asker


def run_command(
    settings: Settings,
    instruction: str,
    ask: Asker | None = None,
    observers: tuple[StepObserver, ...] = (),
    model: ModelBackend | None = None,
    pacing: Pacing | None = None,
) -> RunSummary:
    """Run one instruction to its end and return how it ended.

    ``model`` shares an already loaded backend; by default one is made from the settings.
    """
    model = model or make_backend(settings)
    meta = {"backend": model.name,
            "model": settings.model_id if model.name != "scripted" else str(settings.script)}
    summary = RunSummary(kind="run", instruction=instruction)
    task = TaskState(instruction, Budget(max_steps=settings.max_steps, max_errors=settings.max_errors))
    with Hands.open(settings, instruction, meta, summary, ask=ask, pacing=pacing, observers=observers) as hands:
        logger.info("recording this run in {}", hands.folder)
        prompt = PromptBuilder(settings.sampling(), settings.history_images, load_profile(settings.profile))
        Agent(model, hands, prompt, zoom=settings.zoom()).run(task)
        assert task.status is not None  # every way out of the loop sets one
        summary.end(task.status, task.reason)
        summary.answer = task.answer
    logger.log("SUCCESS" if task.status.exit_code == 0 else "WARNING", "{}: {}", task.status.value, task.reason)
    return summary
