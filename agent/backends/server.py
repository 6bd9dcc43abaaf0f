"""Any OpenAI-compatible chat-completions server as the model: vLLM, SGLang, Ollama, LM Studio.

The tool is described in the system prompt in Qwen's Hermes format and no ``tools`` parameter
is sent, so the model writes an inline ``<tool_call>`` block, which works on every server.
A server started with a tool parser hands the call back as a structured ``tool_calls`` field
instead; those calls are passed on and :func:`agent.reply.parse_reply` reads either. A server
started with a reasoning parser sends the thought apart (``reasoning_content`` or
``reasoning``); the reply text is put back together in the model's own format,
``thought </think> answer``, so everything downstream sees one shape; ``on_text`` receives that
text as it streams.

Thinking budget: with ``Sampling.thinking_budget`` set (and below ``max_new_tokens``), the
first request may generate only that many tokens. A reply that stops there ("length") before
``</think>`` is continued by a second request: the chat ends with an assistant message holding
the thought so far plus :func:`agent.prompt.thought_cutoff` (which closes the thought), sent
with ``continue_final_message`` and without a generation prompt (vLLM and SGLang support both),
and it may generate the rest of ``max_new_tokens`` (at least 64 tokens). A server that refuses
this (HTTP 4xx) gets the cut-off reply returned as it is; the reply parser then tells the model
it thought too long. This project's own server (``run_agent.py serve``: its models are owned by
:data:`OWNER`) closes the thought itself, as the in-process model does: it is sent the budget
as ``thinking_budget`` in one request.

Failures: refused connections, timeouts, broken connections, HTTP 429 and 5xx and malformed
answers are tried again ``retries`` times, waiting ``backoff``, 2x, 4x... seconds in between (or
what a Retry-After header asks, up to a minute), then raise :class:`ModelUnavailable` naming
the server and what happened. Other HTTP 4xx mean the request itself is wrong (API key, model
name, URL) and raise :class:`RequestRefused` at once. A retried stream is sent to ``on_text``
again from its start.
"""

from __future__ import annotations

import base64
import io
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from loguru import logger
from pydantic import BaseModel, ValidationError

from agent.model import Message, ModelReply, ModelRequest, ModelUnavailable, Part, Sampling, TextSink
from agent.prompt import thought_cutoff

MAX_RETRY_AFTER = 60.0
MIN_CONTINUATION_TOKENS = 64
OWNER = "desktop-agent"
"""The ``owned_by`` of this project's server's models: a server that takes ``thinking_budget``."""


class RequestRefused(ModelUnavailable):
    """The server understood the request and refused it (HTTP 4xx): asking again will not help."""


class _Transient(Exception):
    """A failure that may pass, so the request is tried again; ``retry_after`` is the server's wish."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Function(BaseModel):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(BaseModel):
    index: int | None = None  # set in streams; a whole message's calls are told apart by position
    id: str | None = None
    type: str | None = None
    function: _Function = _Function()


class _Delta(BaseModel):
    """A stream's ``delta`` or a whole answer's ``message``: the same fields."""

    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(BaseModel):
    delta: _Delta | None = None
    message: _Delta | None = None
    finish_reason: str | None = None


class _Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Chunk(BaseModel):
    """One server-sent event of a stream, or a whole non-streamed answer."""

    choices: list[_Choice] = []
    usage: _Usage | None = None


@dataclass
class _Assembly:
    """One answer put together from its chunks, as text in the model's raw format.

    ``closed`` means the thought is over: separately sent reasoning is then plain text (a
    continuation starts closed, its thought having been closed by the cut-off text).
    """

    on_text: TextSink | None
    closed: bool = False
    thinking: bool = False
    answered: bool = False
    text: str = ""
    calls: dict[int, dict[str, Any]] = field(default_factory=dict)
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def add(self, chunk: _Chunk) -> None:
        if chunk.usage is not None:
            self.prompt_tokens, self.completion_tokens = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
        for choice in chunk.choices[:1]:
            self.answered = True
            part = choice.delta or choice.message or _Delta()
            reasoning = part.reasoning_content or part.reasoning
            if reasoning:
                self.thinking = self.thinking or not self.closed
                self._emit(reasoning)
            if part.content:
                self.close_thought()
                self._emit(part.content)
            for position, call in enumerate(part.tool_calls or ()):
                self.close_thought()
                self._merge(position if call.index is None else call.index, call)
            self.finish_reason = choice.finish_reason or self.finish_reason

    def close_thought(self) -> None:
        """The reasoning is over: write the ``</think>`` the reasoning parser took away."""
        if self.thinking and not self.closed:
            self._emit("\n</think>\n\n")
        self.closed = True

    def cut_in_thought(self) -> bool:
        return self.finish_reason == "length" and "</think>" not in self.text and not self.calls

    def reply(self) -> ModelReply:
        return ModelReply(
            text=self.text,
            tool_calls=tuple(self.calls[index] for index in sorted(self.calls)),
            finish_reason="length" if self.finish_reason == "length" else "stop",
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
        )

    def _emit(self, piece: str) -> None:
        self.text += piece
        if self.on_text is not None:
            self.on_text(piece)

    def _merge(self, index: int, fragment: _ToolCall) -> None:
        call = self.calls.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        call["id"] = fragment.id or call["id"]
        call["type"] = fragment.type or call["type"]
        call["function"]["name"] = fragment.function.name or call["function"]["name"]
        call["function"]["arguments"] += fragment.function.arguments or ""


class OpenAIBackend:
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint, streamed."""

    name = "openai"
    concurrency = 8
    """Requests in flight at once (the server batches them)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if httpx.URL(self.base_url).scheme not in ("http", "https"):
            raise ModelUnavailable(f"the model server URL must start with http:// or https://, not {base_url!r}")
        self.model = model
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self._server = f"the model server at {self.base_url}"
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(timeout=timeout, headers=headers)
        self._closes_thoughts: bool | None = None  # whether the server takes thinking_budget; asked once

    def served_models(self) -> list[dict[str, Any]]:
        """The models the server answers to (``GET /models``): their ``id`` and ``owned_by``."""
        try:
            response = self._http.get(f"{self.base_url}/models")
            response.raise_for_status()
            return [{"id": entry["id"], "owned_by": entry.get("owned_by")} for entry in response.json()["data"]]
        except (httpx.HTTPError, ValueError, LookupError, TypeError, AttributeError) as error:
            raise ModelUnavailable(f"cannot list the models of {self._server}: {error}") from None

    def closes_thoughts(self) -> bool:
        """Whether the server closes a thought at a ``thinking_budget`` itself (this project's server does)."""
        if self._closes_thoughts is None:
            try:
                self._closes_thoughts = any(model["owned_by"] == OWNER for model in self.served_models())
            except ModelUnavailable:
                return False  # asked again next time: the server may not be up yet
        return self._closes_thoughts

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        sampling = request.sampling
        messages = [_message(message) for message in request.messages]
        budget = sampling.thinking_budget
        if budget is None or budget >= sampling.max_new_tokens:
            return self._exchange(self._body(messages, sampling, sampling.max_new_tokens), on_text).reply()
        if self.closes_thoughts():
            body = self._body(messages, sampling, sampling.max_new_tokens) | {"thinking_budget": budget}
            return self._exchange(body, on_text).reply()
        first = self._exchange(self._body(messages, sampling, budget), on_text)
        if not first.cut_in_thought():
            return first.reply()
        cutoff = thought_cutoff()
        prefix = first.text + cutoff
        body = self._body([*messages, {"role": "assistant", "content": prefix}], sampling,
                          max(sampling.max_new_tokens - budget, MIN_CONTINUATION_TOKENS))
        body |= {"continue_final_message": True, "add_generation_prompt": False}
        if on_text is not None:
            on_text(cutoff)
        try:
            rest = self._exchange(body, on_text, closed=True)
        except RequestRefused as refusal:
            logger.warning("the model server would not continue a thought past its budget, so the reply "
                           "stays cut off: {}", refusal)
            return first.reply()
        whole = rest.reply()
        return ModelReply(
            text=prefix + whole.text,
            tool_calls=whole.tool_calls,
            finish_reason=whole.finish_reason,
            prompt_tokens=first.prompt_tokens + whole.prompt_tokens,
            completion_tokens=first.completion_tokens + whole.completion_tokens,
        )

    def _body(self, messages: list[dict[str, Any]], sampling: Sampling, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "top_k": sampling.top_k,  # not OpenAI's, but vLLM and SGLang read it
            "presence_penalty": sampling.presence_penalty,
        }

    def _exchange(self, body: dict[str, Any], on_text: TextSink | None, closed: bool = False) -> _Assembly:
        """One answer, trying again after failures that may pass."""
        failures = 0
        while True:
            try:
                return self._attempt(body, _Assembly(on_text, closed=closed))
            except _Transient as problem:
                failures += 1
                if failures > self.retries:
                    raise ModelUnavailable(f"{problem} (tried {failures} times)") from None
                wait = self.backoff * 2 ** (failures - 1) if problem.retry_after is None else problem.retry_after
                logger.warning("{}; trying again in {:g} s", problem, wait)
                time.sleep(wait)

    def _attempt(self, body: dict[str, Any], assembly: _Assembly) -> _Assembly:
        server = self._server
        try:
            with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    raise self._failure(response)
                if response.headers.get("content-type", "").startswith("application/json"):
                    assembly.add(self._chunk(response.read().decode("utf-8", "replace")))
                else:
                    for line in response.iter_lines():
                        data = line.removeprefix("data:").strip()
                        if not line.startswith("data:") or not data:
                            continue  # comments, event names, keep-alives
                        if data == "[DONE]":
                            break
                        assembly.add(self._chunk(data))
        except httpx.ConnectError:
            raise _Transient(f"cannot connect to {server}: is it running, and is the URL right?") from None
        except httpx.TimeoutException:
            raise _Transient(f"{server} did not answer within {self.timeout:g} s") from None
        except httpx.TransportError as error:
            raise _Transient(f"the connection to {server} broke: {error}") from None
        if not assembly.answered:
            raise _Transient(f"{server} sent malformed JSON: an answer without choices")
        if assembly.finish_reason != "length":
            assembly.close_thought()
        return assembly

    def _chunk(self, data: str) -> _Chunk:
        try:
            return _Chunk.model_validate_json(data)
        except ValidationError as error:
            raise _Transient(f"{self._server} sent malformed JSON "
                             f"({error.errors()[0]['msg']}): {data[:200]}") from None

    def _failure(self, response: httpx.Response) -> Exception:
        """What an HTTP error status means, as the exception to raise."""
        server = self._server
        code = response.status_code
        said = f"HTTP {code}: {_server_message(response)}"
        if code == 429 or code >= 500:
            return _Transient(f"{server} answered {said}", _retry_after(response))
        if code in (401, 403):
            return RequestRefused(f"{server} wants a valid API key ({said}): set it in AGENT_API_KEY")
        if code == 404:
            try:
                served = f"; it serves {', '.join(model['id'] for model in self.served_models())}"
            except ModelUnavailable:
                served = ""
            return RequestRefused(f"{server} has no such model or endpoint ({said}): check the base URL "
                                  f"(it usually ends in /v1) and the model name {self.model!r}{served}")
        return RequestRefused(f"{server} rejected the request ({said})")


def _message(message: Message) -> dict[str, Any]:
    if all(isinstance(part, str) for part in message.content):
        return {"role": message.role, "content": message.text}
    return {"role": message.role, "content": [_part(part) for part in message.content]}


def _part(part: Part) -> dict[str, Any]:
    if isinstance(part, str):
        return {"type": "text", "text": part}
    png = io.BytesIO()
    part.save(png, format="PNG")
    encoded = base64.b64encode(png.getvalue()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{encoded}"}}


def _server_message(response: httpx.Response) -> str:
    """The error message in the body (OpenAI's, vLLM's and Ollama's shapes), else the body itself."""
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message", error) if isinstance(error, dict) else error
    except ValueError:
        message = response.text
    return str(message).strip()[:200] or response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds a Retry-After header asks for, capped; None when absent or given as a date."""
    try:
        return min(max(float(response.headers["retry-after"]), 0.0), MAX_RETRY_AFTER)
    except (KeyError, ValueError):
        return None
