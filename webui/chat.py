"""Chat with the shared model: a conversation of text, images and video frames in, a streamed reply out.

The reply is streamed as two kinds of text: ``thought`` (a Thinking model's reasoning, up to its
``</think>``) and ``answer``. When the stream ends the whole reply is split once more the agent's
way (:func:`agent.reply.split_thought`), which is the final word. "Locate" asks the model where
something is in the last image, the way ``run_agent.py ask --point`` does, and returns the point in
pixels of that image, with the label the model gave it. Every reply comes with its figures (tokens,
first-token latency, tokens per second: :mod:`webui.speed`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from agent.model import Message, Mode, ModelRequest, Sampling
from agent.reply import split_thought
from tasks.commands.ask import ask
from webui.model_host import ModelHost
from webui.speed import reply_speed

END_THINK = "</think>"
Emit = Callable[[str, str], None]
"""Receives ("thought" or "answer", text) as the reply is generated."""


class ChatError(ValueError):
    """A chat request that cannot be answered as asked; the message says what is missing."""


@dataclass(frozen=True)
class Reply:
    thought: str
    answer: str
    point: tuple[int, int] | None = None  # locate: pixels of the last image
    label: str | None = None  # locate: what the model called the thing it found
    finish_reason: str = "stop"
    usage: dict[str, Any] = field(default_factory=dict)  # webui.speed's figures


class ThoughtStream:
    """Passes streamed text on as thought or answer; a Thinking reply is thought until its ``</think>``."""

    def __init__(self, emit: Emit, thinking: bool) -> None:
        self.emit = emit
        self.in_thought = thinking
        self.held = ""  # the end of the text that may be the start of a split "</think>"
        self.answering = False  # the answer's first words were sent (blank lines before them are not)

    def __call__(self, text: str) -> None:
        text, self.held = self.held + text, ""
        if self.in_thought:
            head, tag, tail = text.partition(END_THINK)
            if not tag:
                keep = next((n for n in range(len(END_THINK) - 1, 0, -1) if text.endswith(END_THINK[:n])), 0)
                text, self.held = text[:len(text) - keep], text[len(text) - keep:]
                self._send("thought", text.replace("<think>", ""))
                return
            self._send("thought", head.replace("<think>", ""))
            self.in_thought, text = False, tail
        if not self.answering:
            text = text.lstrip()
            self.answering = bool(text)
        self._send("answer", text)

    def close(self) -> None:
        """Send what was held back: the reply ended in the middle of what looked like a ``</think>``."""
        self._send("thought" if self.in_thought else "answer", self.held)
        self.held = ""

    def _send(self, kind: str, text: str) -> None:
        if text:
            self.emit(kind, text)


def respond(host: ModelHost, messages: list[Message], mode: Mode, sampling: Sampling,
            emit: Emit | None = None, locate: bool = False) -> Reply:
    """The model's reply to a conversation whose last message is the user's."""
    stream = ThoughtStream(emit or (lambda kind, text: None), thinking=mode == "thinking")
    with host.use(mode) as model:
        if locate:
            image, question = _last_image_and_question(messages)
            answer = ask(model, image, question, sampling, point=True, on_text=stream)
            stream.close()
            return Reply(answer.thought, answer.text, answer.point, _label(answer.text),
                         usage=reply_speed(model.last) if model.last else {})
        reply = model.complete(ModelRequest(tuple(messages), sampling=sampling), stream)
    stream.close()
    thought, answer = split_thought(reply.text)
    return Reply(thought, answer, None, None, reply.finish_reason, reply_speed(reply))


def _label(answer: str) -> str | None:
    """The ``label`` of a located point's JSON (``{"point_2d": [x, y], "label": "..."}``), if it has one."""
    match = re.search(r'"label"\s*:\s*("(?:[^"\\]|\\.)*")', answer)
    return json.loads(match.group(1)) if match else None


def _last_image_and_question(messages: list[Message]) -> tuple[Image.Image, str]:
    last = messages[-1]
    images = [part for message in messages for part in message.content if isinstance(part, Image.Image)]
    if not images:
        raise ChatError("locate needs an image: attach the picture to find things in")
    question = last.text.strip()
    if not question:
        raise ChatError("locate needs a description of the thing to find")
    return images[-1], question
