"""From demonstration to task: a recording as a reply script the agent loop can run and a person can edit.

Each recorded step becomes one reply in the model's own format (a short thought, then a
``computer_use`` call with 0-1000 grid coordinates over the screen it was recorded on), the
same file the scripted backend reads. ``run_agent.py run "<what it does>" --script task.replies``
then does the task through the whole agent loop: safety gate, trajectory, kill switch.
Parameters stay ``{name}`` placeholders in the typed text. With a model, the file starts with a
one-sentence description of the task, written by the model from the steps and the first screen.
"""

from __future__ import annotations

import json
from typing import Any

from actions.schema import GRID
from agent.model import Message, ModelBackend, ModelRequest, Sampling
from agent.prompt import describe_recording
from agent.reply import split_thought
from perception.geometry import CoordinateTransform, Monitor
from tasks.recordings.recording import Recording, RecordedStep

SCROLL_PIXELS = 50  # what one wheel notch is worth (as the executor scrolls)


def step_actions(step: RecordedStep, screen: tuple[int, int]) -> list[dict[str, Any]]:
    """The computer_use arguments that redo ``step``, on the grid of a ``screen``-sized desktop."""

    transform = CoordinateTransform.of_monitor(Monitor(0, 0, 0, *screen))

    def grid(point: tuple[int, int]) -> list[int]:
        return [min(GRID, round(v)) for v in transform.desktop_to_grid(point)]

    match step.kind:
        case "click":
            return [{"action": "left_click", "coordinate": grid(step.point)}]
        case "double_click" | "right_click" | "middle_click":
            return [{"action": step.kind, "coordinate": grid(step.point)}]
        case "type":
            return [{"action": "type", "text": f"{{{step.parameter}}}" if step.parameter else step.text}]
        case "hotkey":
            return [{"action": "key", "keys": step.keys}]
        case "scroll":
            dx, dy = step.scroll or (0, 0)
            actions = []
            if dy:
                actions.append({"action": "scroll", "pixels": dy * SCROLL_PIXELS, "coordinate": grid(step.point)})
            if dx:
                actions.append({"action": "hscroll", "pixels": -dx * SCROLL_PIXELS, "coordinate": grid(step.point)})
            return actions
        case "drag":
            return [{"action": "mouse_move", "coordinate": grid(step.point)},
                    {"action": "left_click_drag", "coordinate": grid(step.to)}]
    raise ValueError(f"step {step.index}: unknown kind {step.kind!r}")


def task_script(recording: Recording, description: str | None = None) -> str:
    """The reply file for ``recording``; ``description`` (if any) heads it as a comment."""
    lines = [f"Task script made from the recording {recording.name!r} ({recording.info.created})."]
    if description:
        lines.append(f"What it does: {description}")
    if recording.info.parameters:
        lines.append("Typed placeholders to fill in: " + ", ".join(f"{{{p}}}" for p in recording.info.parameters))
    for step in recording.steps:
        for arguments in step_actions(step, recording.info.screen):
            call = json.dumps({"name": "computer_use", "arguments": arguments}, ensure_ascii=False)
            lines += ["--- reply ---", f"Step {step.index} of the recording: {step.describe()}.", "</think>", "",
                      "<tool_call>", call, "</tool_call>"]
    done = json.dumps({"name": "computer_use", "arguments": {"action": "terminate", "status": "success"}})
    lines += ["--- reply ---", "Every recorded step is done.", "</think>", "", "<tool_call>", done, "</tool_call>"]
    return "\n".join(lines) + "\n"


def describe(model: ModelBackend, recording: Recording, sampling: Sampling) -> str:
    """One sentence from the model: what the recorded steps do, in the words of a task."""
    steps = "\n".join(f"{s.index}. {s.describe()} (window: {s.window.title if s.window else '?'})" for s in recording.steps)
    content: tuple = (describe_recording(steps),)
    first = recording.image(recording.steps[0].screenshot) if recording.steps else None
    if first is not None:
        content = (first, *content)
    reply = model.complete(ModelRequest((Message("user", content),), sampling=sampling))
    return split_thought(reply.text)[1].strip().splitlines()[0] if reply.text.strip() else ""
