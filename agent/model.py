"""The seam between the agent and a vision-language model.

A backend takes a :class:`ModelRequest` (chat messages with screenshots, the tool
description, sampling settings) and returns a :class:`ModelReply` (the raw text in the
model's own format, plus structured tool calls where a server parses them). Backends:
``scripted`` (replies from a file, for demos and tests), ``transformers`` (Qwen3-VL in
this process) and ``openai`` (any OpenAI-compatible chat-completions server).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from PIL import Image

from errors import SystemFailure

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
    """What the model said. ``finish_reason`` is "length" when the token limit cut it off.

    ``first_token_seconds`` and ``seconds`` (from the request to its first streamed text, and to
    its end) are filled in where the call was timed (:class:`TimedBackend`); None elsewhere.
    """

    text: str
    tool_calls: tuple[dict[str, Any], ...] = ()
    finish_reason: Literal["stop", "length"] = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    first_token_seconds: float | None = None
    seconds: float | None = None


class ModelUnavailable(SystemFailure):
    """The backend cannot answer at all (no weights, server down, script used up)."""


TextSink = Callable[[str], None]
"""Receives reply text as it is generated (streaming to a progress view or web page)."""


class ModelBackend(Protocol):
    name: str

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        """Answer one request; stream the text to ``on_text`` as it comes, if given."""
        ...


class TimedBackend:
    """A backend whose replies say how long they took and when their first text came.

    The text is always streamed (to ``on_text`` if given), since that is how the first token is
    seen; ``on_reply`` hears of every reply, timed, and ``last`` is the latest.
    """

    def __init__(self, inner: ModelBackend, on_reply: Callable[[ModelReply], None] | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.on_reply = on_reply
        self.last: ModelReply | None = None

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        started = time.perf_counter()
        first: list[float] = []

        def sink(text: str) -> None:
            if not first:
                first.append(time.perf_counter() - started)
            if on_text is not None:
                on_text(text)

        reply = self.inner.complete(request, sink)
        reply = replace(reply, first_token_seconds=first[0] if first else None, seconds=time.perf_counter() - started)
        self.last = reply
        if self.on_reply is not None:
            self.on_reply(reply)
        return reply
