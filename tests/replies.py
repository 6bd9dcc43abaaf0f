"""Scripted replies in Qwen3-VL-Thinking's real output format, for tests."""

from __future__ import annotations

import json
from pathlib import Path

# Where the contact form's controls are on the 0-1000 grid of a 1280x800 screen
NAME = [337, 146]
EMAIL = [337, 221]
CITY = [337, 296]
NOTES = [337, 419]
NEWSLETTER = [277, 534]
SAVE = [220, 612]
BLANK = [450, 680]  # empty form background: clicking it changes nothing


def reply(thought: str, **arguments: object) -> str:
    """One reply: reasoning (the template opened <think>), </think>, then the tool call."""
    call = json.dumps({"name": "computer_use", "arguments": arguments}, ensure_ascii=False)
    return f"{thought}\n</think>\n\n<tool_call>\n{call}\n</tool_call>"


def script(path: Path, *replies: str) -> Path:
    """Write a reply file for the scripted backend and return its path."""
    path.write_text("test script\n" + "".join(f"--- reply ---\n{r}\n" for r in replies), encoding="utf-8")
    return path


def click(point: list[int], why: str = "Clicking the field.") -> str:
    return reply(why, action="left_click", coordinate=point)


def type_text(text: str) -> str:
    return reply("Typing the value.", action="type", text=text)


def done() -> str:
    return reply("Everything is done.", action="terminate", status="success")
