"""Talking to the model over HTTP: the page's chat, the seed's ``/api/predict``, and OpenAI's API.

All three turn their request into the agent's own :class:`agent.model.Message` list (uploads
checked by :mod:`webui.uploads`) and answer through :func:`webui.chat.respond`, so they share the
one model and its queue. Streams are server-sent events; a client that goes away ends its
generation at the next token. Every answer's ``usage`` has OpenAI's token counts and this server's
timing: ``first_token_seconds``, ``seconds`` and ``tokens_per_second`` (:mod:`webui.speed`).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from agent.backends.server import OWNER
from agent.model import Message, Mode, Part
from webui.chat import ChatError, Emit, Reply, respond
from webui.model_host import ModelHost
from webui.schemas import ChatCompletionRequest, ChatRequest, ChatTurn, OpenAIMessage, PredictRequest
from webui.uploads import load_image, video_frames

router = APIRouter()
Event = tuple[str, Any]  # ("thought" | "answer", text), ("done", Reply) or ("error", message)


class _Gone(Exception):
    """The client stopped listening: generation ends at the next token."""


def host_of(request: Request) -> ModelHost:
    return request.app.state.host


def sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def generate(produce: Callable[[Emit], Reply]) -> Iterator[Event]:
    """Run ``produce`` in a worker and yield its text as it comes, then its reply (or its error)."""
    events: queue.Queue[Event] = queue.Queue()
    gone = threading.Event()

    def emit(kind: str, text: str) -> None:
        if gone.is_set():
            raise _Gone
        events.put((kind, text))

    def work() -> None:
        try:
            events.put(("done", produce(emit)))
        except _Gone:
            pass
        except Exception as error:  # the model's or the request's trouble, told to the client
            events.put(("error", str(error) or type(error).__name__))

    threading.Thread(target=work, name="chat", daemon=True).start()
    try:
        while True:
            event = events.get()
            yield event
            if event[0] in ("done", "error"):
                return
    finally:
        gone.set()


def parts_of_turn(turn: ChatTurn) -> tuple[Part, ...]:
    parts: list[Part] = []
    for number, part in enumerate(turn.content, start=1):
        if part.type == "text":
            parts.append(part.text or "")
        elif part.data is None:
            raise ChatError(f"part {number} is a {part.type} without its data")
        elif part.type == "image":
            parts.append(load_image(part.data, f"image in part {number}"))
        else:
            parts.extend(video_parts(part.data, part.fps))
    return tuple(parts)


def video_parts(data: str, fps: float) -> list[Part]:
    frames = video_frames(data, fps)
    parts: list[Part] = [f"A video, as {len(frames)} frames:"]
    for moment, frame in frames:
        parts += [f"\n{moment:.2f} s:", frame]
    return parts


def openai_parts(message: OpenAIMessage) -> tuple[Part, ...]:
    if message.content is None or isinstance(message.content, str):
        return (message.content or "",)
    parts: list[Part] = []
    for number, part in enumerate(message.content, start=1):
        kind = part.get("type")
        if kind in ("text", "input_text"):
            parts.append(str(part.get("text", "")))
        elif kind in ("image_url", "video_url"):
            source = part.get(kind)
            url = source.get("url") if isinstance(source, dict) else source
            if not isinstance(url, str):
                raise ChatError(f"content part {number}: {kind} needs a url (a data: URL or base64)")
            if kind == "image_url":
                parts.append(load_image(url, f"image in content part {number}"))
            else:
                parts.extend(video_parts(url, float(part.get("fps", 1.0))))
        else:
            raise ChatError(f"content part {number} has type {kind!r}; text, image_url and video_url are understood")
    return tuple(parts)


@router.post("/api/chat", tags=["chat"], summary="The page's chat: a streamed reply as server-sent events",
             description="Events: `thought` and `answer` ({text}) as generated, then `done` ({thought, answer, "
             "point, label, usage}) or `error` ({message}).")
def chat(body: ChatRequest, request: Request) -> StreamingResponse:
    host = host_of(request)
    if body.messages[-1].role != "user":
        raise ChatError("the conversation must end with the user's message")
    messages = [Message(turn.role, parts_of_turn(turn)) for turn in body.messages]
    mode = body.mode or host.settings.mode
    sampling = host.sampling(mode, temperature=body.temperature, top_p=body.top_p, max_new_tokens=body.max_tokens)

    def events() -> Iterator[str]:
        for kind, value in generate(lambda emit: respond(host, messages, mode, sampling, emit, body.locate)):
            if kind == "done":
                yield sse("done", {"thought": value.thought, "answer": value.answer, "point": value.point,
                                   "label": value.label, "finish_reason": value.finish_reason, "mode": mode,
                                   "usage": value.usage})
            elif kind == "error":
                yield sse("error", {"message": value})
            else:
                yield sse(kind, {"text": value})

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


@router.post("/api/predict", tags=["chat"], summary="The seed's API: one prompt, an optional image, a mode",
             description='`{"data": [prompt, image_or_null, "thinking" | "instruct"]}` returns `{"data": [answer]}` '
             '(and the reasoning as `thought`, the figures as `usage`). The image is base64 or a data: URL.')
def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    host = host_of(request)
    prompt, image, mode = (body.data + [None, None])[:3]
    if not isinstance(prompt, str) or not prompt.strip():
        raise ChatError("data[0] must be the prompt text")
    if mode is not None and mode not in ("thinking", "instruct"):
        raise ChatError(f"data[2] is the mode: 'thinking' or 'instruct', not {mode!r}")
    mode = mode or host.settings.mode
    parts: tuple[Part, ...] = (prompt,) if image is None else (load_image(image, "image (data[1])"), prompt)
    reply = respond(host, [Message("user", parts)], mode, host.sampling(mode))
    return {"data": [reply.answer], "thought": reply.thought, "usage": reply.usage}


@router.get("/v1/models", tags=["openai"], summary="The loaded model, as OpenAI's model list")
def models(request: Request) -> dict[str, Any]:
    status = host_of(request).status()
    return {"object": "list", "data": [{"id": status.model, "object": "model", "owned_by": OWNER}]}


@router.post("/v1/chat/completions", tags=["openai"], summary="OpenAI-compatible chat completions (streaming too)",
             description="Images as `image_url` parts (data: URLs), videos as `video_url` parts with an optional "
             "`fps`. The mode comes from `mode`, or from a model name containing 'thinking' or 'instruct'. "
             "The reasoning is returned as `reasoning_content`. `thinking_budget` (this server's own) closes "
             "the thought after that many tokens, so the answer can start.")
def chat_completions(body: ChatCompletionRequest, request: Request) -> Any:
    host = host_of(request)
    messages = [Message("system" if m.role in ("system", "developer") else m.role, openai_parts(m))
                for m in body.messages]
    if messages[-1].role != "user":
        raise ChatError("the conversation must end with the user's message")
    mode = body.mode or _mode_named(body.model) or host.settings.mode
    sampling = host.sampling(mode, temperature=body.temperature, top_p=body.top_p, top_k=body.top_k,
                             presence_penalty=body.presence_penalty, thinking_budget=body.thinking_budget,
                             max_new_tokens=body.max_completion_tokens or body.max_tokens)
    name = body.model or host.status().model
    ident, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if not body.stream:
        reply = respond(host, messages, mode, sampling)
        return {
            "id": ident, "object": "chat.completion", "created": created, "model": name,
            "choices": [{"index": 0, "finish_reason": reply.finish_reason, "message": {
                "role": "assistant", "content": reply.answer, "reasoning_content": reply.thought or None}}],
            "usage": reply.usage,
        }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        data = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    def chunks() -> Iterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        for kind, value in generate(lambda emit: respond(host, messages, mode, sampling, emit)):
            if kind == "done":
                yield chunk({}, value.finish_reason)
                if (body.stream_options or {}).get("include_usage"):
                    yield f"data: {json.dumps(_usage_chunk(ident, created, name, value))}\n\n"
            elif kind == "error":
                yield f"data: {json.dumps({'error': {'message': value, 'type': 'server_error'}})}\n\n"
                return
            else:
                yield chunk({"reasoning_content" if kind == "thought" else "content": value})
        yield "data: [DONE]\n\n"

    return StreamingResponse(chunks(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})


def _usage_chunk(ident: str, created: int, name: str, reply: Reply) -> dict[str, Any]:
    return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": name, "choices": [],
            "usage": reply.usage}


def _mode_named(model: str | None) -> Mode | None:
    name = (model or "").lower()
    return "thinking" if "thinking" in name else "instruct" if "instruct" in name else None
