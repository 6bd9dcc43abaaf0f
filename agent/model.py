"""The seam between the agent and a vision-language model.

A backend takes a :class:`ModelRequest` (chat messages with screenshots, the tool
description, sampling settings) and returns a :class:`ModelReply` (the raw text in the
model's own format, plus structured tool calls where a server parses them). Backends:
``scripted`` (replies from a file, for demos and tests), ``transformers`` (Qwen3-VL in
this process) and ``openai`` (any OpenAI-compatible chat-completions server).
"""

from __future__ import annotations

from errors import SystemFailure
from collections.abc import Callable
from dataclasses import dataclass, field, replace
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


Mode = Literal["instruct", "thinking"]


@dataclass(frozen=True)
class Sampling:
    """Decoding settings; the defaults are the Qwen3-VL Instruct model card's.

    ``max_new_tokens`` caps the whole reply. ``thinking_budget`` caps the reasoning of a
    Thinking model: when it is spent, the backend closes the thought and lets the model
    name its action (None: no cap).
    """

    temperature: float = 0.7
    top_p: float = 0.8
    top_k: int = 20
    presence_penalty: float = 1.5
    max_new_tokens: int = 1024
    thinking_budget: int | None = None

    @classmethod
    def for_mode(cls, mode: Mode, **overrides: Any) -> Sampling:
        """The model card's settings for ``mode``, with the given non-None values instead."""
        defaults = cls() if mode == "instruct" else cls(
            temperature=0.6, top_p=0.95, top_k=20, presence_penalty=0.0, max_new_tokens=1536, thinking_budget=1024,
        )
        return replace(defaults, **{k: v for k, v in overrides.items() if v is not None})


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


class ModelUnavailable(SystemFailure):
    """The backend cannot answer at all (no weights, server down, script used up)."""


TextSink = Callable[[str], None]
"""Receives reply text as it is generated (streaming to a progress view or web page)."""


class ModelBackend(Protocol):
    name: str

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        """Answer one request; stream the text to ``on_text`` as it comes, if given."""
        ...
