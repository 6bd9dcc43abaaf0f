"""The seam between the agent and a vision-language model.

A backend takes a :class:`ModelRequest` (chat messages with screenshots, the tool
description, sampling settings) and returns a :class:`ModelReply` (the raw text in the
model's own format, plus structured tool calls where a server parses them). Backends:
``scripted`` (replies from a file, for demos and tests); in-process transformers and
OpenAI-compatible servers plug in behind the same protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from PIL import Image

Part = str | Image.Image
"""A piece of message content: text, or an image the model looks at."""


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant"]
    content: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p for p in self.content if isinstance(p, str))


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; the defaults are the Qwen3-VL Instruct model card's."""

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    presence_penalty: float = 1.5
    max_new_tokens: int = 2048


@dataclass(frozen=True)
class ModelRequest:
    messages: tuple[Message, ...]
    tools: tuple[dict[str, Any], ...] = ()
    sampling: Sampling = field(default_factory=Sampling)


@dataclass(frozen=True)
class ModelReply:
    """What the model said. ``finish_reason`` is "length" when the token limit cut it off."""

    text: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ModelUnavailable(RuntimeError):
    """The backend cannot answer at all (no weights, server down, script used up)."""


TextSink = Callable[[str], None]
"""Receives reply text as it is generated (streaming to a progress view or web page)."""


class ModelBackend(Protocol):
    name: str

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        """Answer one request; stream the text to ``on_text`` as it comes, if given."""
        ...
