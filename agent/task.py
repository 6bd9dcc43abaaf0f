"""Task state across steps: the record of each step, the budgets, and when to stop.

The loop reports every step here; :class:`TaskState` decides whether the run goes on,
what the model should be told next (feedback), and how it ends (:class:`Status`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from actions.schema import Action
from agent.model import ModelReply
from perception.geometry import Box
from perception.screen import Screenshot
from safety.policy import Verdict
from safety.secrets import Redactor, looks_like_secret


class Status(str, Enum):
    """How a run ended, and the exit code ``run_agent.py`` returns for it."""

    SUCCESS = "success"  # the model said the task is done
    ANSWER = "answer"  # the model answered the user's question
    FAILURE = "failure"  # the model said the task cannot be done
    BUDGET = "budget"  # out of steps, or too many errors in a row
    NO_PROGRESS = "no_progress"  # the same action again and again, or a screen that never changes
    BLOCKED = "blocked"  # the model kept asking for what the safety gate refuses
    STOPPED = "stopped"  # a person stopped it (hotkey, failsafe corner, Ctrl+C)
    ERROR = "error"  # our fault or the system's: no display, model unavailable, input failed

    @property
    def exit_code(self) -> int:
        return {"success": 0, "answer": 0, "failure": 1, "budget": 2, "no_progress": 3,
                "blocked": 4, "stopped": 130, "error": 70}[self.value]


class Outcome(str, Enum):
    """What became of one step."""

    DONE = "done"  # executed
    DRY_RUN = "dry_run"  # allowed, but --dry-run executed nothing
    INVALID = "invalid"  # the reply held no valid action (the model's fault)
    BLOCKED = "blocked"  # the safety gate refused it
    INTERRUPTED = "interrupted"  # a person used the mouse or keyboard: discarded, screen re-read


@dataclass
class Step:
    """Everything about one step; the trajectory writes it, the prompt summarises it."""

    index: int
    screenshot: Screenshot
    seen_at: float = 0.0  # time.monotonic() of the capture: a person's input after it makes the step stale
    started: float = field(default_factory=time.time)
    reply: ModelReply | None = None
    thought: str = ""
    action: Action | None = None
    target: tuple[int, int] | None = None
    verdict: Verdict | None = None
    outcome: Outcome | None = None
    detail: str = ""  # what was executed, or why not
    timings: dict[str, float] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)  # what the action's effect was seen to be
    # desktop boxes of fields on this screen whose content is secret (a password field the accessibility
    # tree reports): blacked out in the step's saved pictures, wherever OCR reads or misses the text
    secret_boxes: tuple[Box, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secret values in this step's action: those the safety gate found or, where it found
        none (no verdict yet, or a gate that does not look), the typed text if it looks like one."""
        if self.verdict is not None and self.verdict.secrets:
            return self.verdict.secrets
        if self.action is not None and self.action.action == "type" and looks_like_secret(self.action.text):
            return (self.action.text.strip(),)
        return ()

    def summary(self) -> str:
        """One line for the model's history; a secret in the action shows as the redaction marker."""
        if self.action is None:
            return f"(invalid reply: {self.detail})"
        args = {k: v for k, v in self.action.arguments().items() if k != "action"}
        call = self.action.action + ("" if not args else " " + ", ".join(f"{k}={v}" for k, v in args.items()))
        return Redactor(self.secrets)(f"{call} -> {self.outcome.value if self.outcome else '?'}: {self.detail}")

    def to_record(self) -> dict[str, Any]:
        """The JSON-ready record (images are written separately)."""
        shot = self.screenshot
        return {
            "step": self.index,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.started)) + f".{int(self.started % 1 * 1000):03d}",
            "monitor": str(shot.monitor),
            "window": shot.window.to_dict() if shot.window else None,
            "model": None if self.reply is None else {
                "text": self.reply.text,
                "tool_calls": list(self.reply.tool_calls),
                "finish_reason": self.reply.finish_reason,
                "prompt_tokens": self.reply.prompt_tokens,
                "completion_tokens": self.reply.completion_tokens,
                "first_token_seconds": self.reply.first_token_seconds,
                "seconds": self.reply.seconds,
            },
            "thought": self.thought,
            "action": self.action.arguments() if self.action else None,
            "target": list(self.target) if self.target else None,
            "verdict": None if self.verdict is None else {
                "decision": self.verdict.decision.value, "reason": self.verdict.reason, "asked": self.verdict.asked},
            "outcome": self.outcome.value if self.outcome else None,
            "detail": self.detail,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "checks": dict(self.checks),
        }


@dataclass
class Budget:
    max_steps: int = 30
    max_errors: int = 3  # in a row: unusable replies or refused actions
    still_limit: int = 3  # actions in a row that leave the screen as it was: warn; one more stops
    repeat_limit: int = 5  # the very same action this many times in a row: warn; one more stops


class TaskState:
    """Follows the run step by step and decides when it ends."""

    def __init__(self, instruction: str, budget: Budget) -> None:
        self.instruction = instruction
        self.budget = budget
        self.steps: list[Step] = []
        self.feedback = ""
        self.status: Status | None = None
        self.reason = ""
        self.answer: str | None = None
        self._errors = 0
        self._repeats = 1
        self._still = 0

    def finish(self, status: Status, reason: str) -> None:
        if self.status is None:
            self.status, self.reason = status, reason

    def see(self, screenshot: Screenshot) -> None:
        """A new screen: did the last executed action change anything?"""
        last = self.steps[-1] if self.steps else None
        if last is None or last.outcome is not Outcome.DONE or last.action is None or last.action.action == "wait":
            return
        self._still = self._still + 1 if last.screenshot.digest == screenshot.digest else 0
        self._judge_progress(self._still, self.budget.still_limit, "the screen did not change after your last {n} actions")

    def record(self, step: Step) -> None:
        """Take a finished step into account: final actions, errors, repeats, budgets."""
        self.steps.append(step)
        self.feedback = ""
        if step.outcome is Outcome.INVALID:
            self._errors += 1
            self.feedback = f"Your last reply was not usable: {step.detail}"
        elif step.outcome is Outcome.BLOCKED:
            self._errors += 1
            self.feedback = f"The safety gate refused your last action ({step.detail}). Do not repeat it."
        elif step.outcome is not Outcome.INTERRUPTED:
            self._errors = 0
        if step.checks.get("typed", "").startswith("mismatch"):
            self.feedback = (f"What you typed did not arrive as typed ({step.checks['typed'].removeprefix('mismatch: ')}). "
                             "Make sure the right field has the focus, and clear it if need be, before typing again.")
        action = step.action
        if step.outcome in (Outcome.DONE, Outcome.DRY_RUN) and action is not None:
            previous = next((s.action for s in reversed(self.steps[:-1]) if s.outcome is step.outcome), None)
            self._repeats = self._repeats + 1 if action == previous else 1
            self._judge_progress(self._repeats, self.budget.repeat_limit, "your last {n} actions were the same")
            if action.action == "terminate":
                success = action.status == "success"
                self.finish(Status.SUCCESS if success else Status.FAILURE, f"the model reported {action.status}")
            elif action.action == "answer":
                self.answer = action.text
                self.finish(Status.ANSWER, "the model answered")
        if self._errors >= self.budget.max_errors:
            blocked = step.outcome is Outcome.BLOCKED
            self.finish(Status.BLOCKED if blocked else Status.BUDGET,
                        f"{self._errors} {'refused actions' if blocked else 'unusable replies'} in a row")
        if len(self.steps) >= self.budget.max_steps:
            self.finish(Status.BUDGET, f"the step budget of {self.budget.max_steps} is used up")

    def _judge_progress(self, count: int, limit: int, what: str) -> None:
        """At the limit the model is warned; one more time and the run stops."""
        if count < limit:
            return
        message = what.format(n=count)
        if count > limit:
            self.finish(Status.NO_PROGRESS, message)
        else:
            warning = f"Careful: {message}. Try something different, or terminate if the task cannot be done."
            self.feedback = f"{self.feedback} {warning}".strip()
