"""A backend that replays model replies from a file, for demos and tests without weights.

The file holds replies in the real model's format (Thinking text, ``</think>``,
``<tool_call>`` JSON with 0-1000 coordinates), each introduced by a line ``--- reply ---``.
Lines before the first reply are comments::

    Demo script for the contact form.
    --- reply ---
    The name field is empty; I'll click it first.
    </think>

    <tool_call>
    {"name": "computer_use", "arguments": {"action": "left_click", "coordinate": [304, 169]}}
    </tool_call>
"""

from __future__ import annotations

import re
from pathlib import Path

from agent.model import ModelReply, ModelRequest, ModelUnavailable, TextSink

SEPARATOR = re.compile(r"^--- reply ---[ \t]*$", re.MULTILINE)


class ScriptedBackend:
    """Answers each request with the next reply of a script; runs out loudly."""

    name = "scripted"

    def __init__(self, replies: list[str], source: str = "script") -> None:
        self.replies = replies
        self.source = source
        self.requests: list[ModelRequest] = []

    @classmethod
    def from_file(cls, path: Path | str) -> ScriptedBackend:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ModelUnavailable(f"cannot read scripted replies from {path}: {error}") from None
        parts = SEPARATOR.split(text)
        if len(parts) < 2:
            raise ModelUnavailable(f"{path} holds no replies: start each one with a line '--- reply ---'")
        return cls([part.strip("\n") for part in parts[1:]], source=str(path))

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        if len(self.requests) >= len(self.replies):
            raise ModelUnavailable(f"the scripted replies in {self.source} ran out after {len(self.replies)}")
        text = self.replies[len(self.requests)]
        self.requests.append(request)
        if on_text is not None:
            for line in text.splitlines(keepends=True):
                on_text(line)
        return ModelReply(text=text, completion_tokens=len(text.split()))
