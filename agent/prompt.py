"""Building the model's prompt: tool description, task, compact history, screenshots.

Texts live in ``prompts/`` as data; this module only fills them in. History is compact:
earlier steps as one line of text each, and only the last ``history_images`` screenshots
as images (each costs about a thousand tokens).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files

from actions.schema import tool_schema
from agent.model import Message, ModelRequest, Part, Sampling
from agent.task import TaskState
from perception.screen import Screenshot
from safety.secrets import Redactor


@cache
def _template(name: str) -> str:
    return files("agent").joinpath("prompts", name).read_text(encoding="utf-8")


@cache
def system_prompt() -> str:
    tool = {"type": "function", "function": tool_schema()}
    return _template("system.md").format(tools=json.dumps(tool, ensure_ascii=False))


def thought_cutoff() -> str:
    """What a backend appends to a thought that ran out of budget, closing it so the model acts."""
    return _template("thought_cutoff.md")


def point_question(question: str) -> str:
    """A grounding question: where is ``question`` in the image, as a point on the grid."""
    return _template("ask_point.md").format(question=question).strip()


def describe_recording(steps: str) -> str:
    """Ask for a one-sentence task description of recorded ``steps`` (one per line)."""
    return _template("describe_recording.md").format(steps=steps).strip()


def find_patch(step: str) -> str:
    """Ask where a recorded patch (the first image) is on the screen now (the second image)."""
    return _template("find_patch.md").format(step=step).strip()


class PromptBuilder:
    def __init__(self, sampling: Sampling, history_images: int = 1) -> None:
        self.sampling = sampling
        self.history_images = max(1, history_images)

    def request(self, task: TaskState, screenshot: Screenshot) -> ModelRequest:
        redact = Redactor(secret for s in task.steps for secret in s.secrets)  # a secret, wherever it recurs
        lines = [f"{s.index}. {redact(s.summary())}" for s in task.steps]
        history = "Earlier steps:\n" + "\n".join(lines) + "\n\n" if lines else ""
        feedback = f"Note: {redact(task.feedback)}\n\n" if task.feedback else ""
        window = f' (active window: "{screenshot.window.title}")' if screenshot.window and screenshot.window.title else ""
        content: list[Part] = []
        keep = self.history_images - 1
        earlier = [s.screenshot for s in task.steps if s.screenshot is not None][-keep:] if keep else []
        for number, old in enumerate(earlier, start=1):
            content += [f"Earlier screen {number}:", old.image]
        text = _template("step.md").format(
            instruction=task.instruction, history=history, feedback=feedback, window=window
        )
        content += [screenshot.image, text.strip()]
        return ModelRequest(
            messages=(Message("system", (system_prompt(),)), Message("user", tuple(content))),
            tools=({"type": "function", "function": tool_schema()},),
            sampling=self.sampling,
        )
