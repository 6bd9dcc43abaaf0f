"""Building the model's prompt: system message, task, compact history, screenshots.

Texts live in ``prompts/`` as data, and what to say to which model in a profile
(:mod:`agent.profiles`); this module only fills them in. History is compact: earlier steps as
one line of text each, and only the last ``history_images`` screenshots as images (each costs
about a thousand tokens).
"""

from __future__ import annotations


from actions.schema import tool_schema
from agent.model import Message, ModelRequest, Part, Sampling
from agent.profiles import DEFAULT_PROFILE, Profile, fill, load_profile, prompt_text
from agent.task import TaskState
from perception.screen import Screenshot
from safety.secrets import Redactor


def system_prompt(profile: str = DEFAULT_PROFILE) -> str:
    """The system message of ``profile`` (by default Qwen's cookbook's, byte for byte)."""
    return load_profile(profile).system


def thought_cutoff() -> str:
    """What a backend appends to a thought that ran out of budget, closing it so the model acts."""
    return prompt_text("thought_cutoff.md")


def point_question(question: str, profile: str = DEFAULT_PROFILE) -> str:
    """A grounding question: where is ``question`` in the image, as a point on the grid."""
    return load_profile(profile).question(question)


def describe_recording(steps: str) -> str:
    """Ask for a one-sentence task description of recorded ``steps`` (one per line)."""
    return fill(prompt_text("describe_recording.md"), steps=steps).strip()


def find_patch(step: str) -> str:
    """Ask where a recorded patch (the first image) is on the screen now (the second image)."""
    return fill(prompt_text("find_patch.md"), step=step).strip()


class PromptBuilder:
    def __init__(self, sampling: Sampling, history_images: int = 1, profile: Profile | None = None) -> None:
        self.sampling = sampling
        self.history_images = max(1, history_images)
        self.profile = profile or load_profile()

    def request(self, task: TaskState, screenshot: Screenshot) -> ModelRequest:
        redact = Redactor(secret for s in task.steps for secret in s.secrets)  # a secret, wherever it recurs
        lines = [self.profile.history_entry(s.index, redact(s.summary()), redact(s.thought)) for s in task.steps]
        window = f' (active window: "{screenshot.window.title}")' if screenshot.window and screenshot.window.title else ""
        content: list[Part] = []
        keep = self.history_images - 1
        earlier = [s.screenshot for s in task.steps if s.screenshot is not None][-keep:] if keep else []
        for number, old in enumerate(earlier, start=1):
            content += [f"Earlier screen {number}:", old.image]
        text = self.profile.step_text(task.instruction, lines, redact(task.feedback or ""), window)
        content += [screenshot.image, text] if self.profile.image_first else [text, screenshot.image]
        return ModelRequest(
            messages=(Message("system", (self.profile.system,)), Message("user", tuple(content))),
            tools=({"type": "function", "function": tool_schema()},),
            sampling=self.sampling,
        )
