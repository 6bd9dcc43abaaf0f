"""The live view: one line per step on the terminal, as the run goes."""

from __future__ import annotations

import sys
from typing import TextIO

from agent.task import Step, TaskState


class ConsoleProgress:
    def __init__(self, stream: TextIO = sys.stderr) -> None:
        self.stream = stream

    def on_step(self, step: Step, task: TaskState | None) -> None:
        seconds = sum(v for v in step.timings.values())
        action = step.action.action if step.action else "-"
        where = f" {step.target}" if step.target else ""
        verdict = step.verdict.decision.value if step.verdict else "-"
        outcome = step.outcome.value if step.outcome else "-"
        self.stream.write(
            f"step {step.index:>3}{f'/{task.budget.max_steps}' if task else ''}  {action}{where:<14} {verdict:<8}{outcome:<12}"
            f"{seconds:6.2f}s  {step.detail}\n"
        )
        self.stream.flush()
