"""A scripted OpenAI-compatible chat-completions server: vLLM's stand-in for tests.

    python tests/openai_server.py --script FILE [--port 0] [--log FILE] [--model NAME] [--api-key KEY]

prints its base URL (``http://127.0.0.1:PORT/v1``) as the first line on stdout once it
listens. Each ``POST /v1/chat/completions`` is answered with the next reply of the script,
a file in the scripted backend's format (replies in the model's raw output format, each after
a line ``--- reply ---``), streamed as server-sent events like vLLM does. Lines at the top
of a reply that start with ``!`` say how to answer it instead, so tests can provoke what real
servers do::

    !status CODE           answer HTTP CODE; the rest of the reply is the error message
    !retry-after SECONDS   send a Retry-After header along
    !sleep SECONDS         wait that long before answering
    !malformed             break the answer with text that is not JSON
    !plain                 answer with one JSON body, ignoring "stream"
    !reasoning [FIELD]     send the thought (before the last </think>, or all of it when there
                           is none) as FIELD (default reasoning_content), like a reasoning parser
    !tool_calls            send the <tool_call> JSON as a structured tool_calls field, like a
                           tool parser
    !length                stop with finish_reason "length", reporting the request's max_tokens
                           as the completion tokens

Like the real servers, it lists its one model at ``GET /v1/models``, answers 404 to a request
for another model and, with ``--api-key``, 401 to a request without that bearer key. With
``--log FILE`` every chat-completion request body is appended to FILE as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agent.backends.scripted import ScriptedBackend

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_PIECE = re.compile(r"\S+\s*|\s+")  # one word and the space after it: one event each


class Script:
    """The replies still to give, taken one per request by any of the server's threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.replies = ScriptedBackend.from_file(path).replies
        self.given = 0
        self.lock = threading.Lock()

    def next(self) -> str | None:
        with self.lock:
            if self.given == len(self.replies):
                return None
            self.given += 1
            return self.replies[self.given - 1]


def directives(reply: str) -> tuple[dict[str, str], str]:
    """({directive: argument}, text) of one scripted reply."""
    found: dict[str, str] = {}
    lines = reply.split("\n")
    while lines and lines[0].startswith("!"):
        name, _, argument = lines.pop(0)[1:].partition(" ")
        found[name] = argument.strip()
    return found, "\n".join(lines)


def answer_parts(text: str, options: dict[str, str]) -> tuple[str, str, list[dict[str, Any]]]:
    """(reasoning, content, tool_calls) as a server with the parsers that ``options`` name sends them."""
    reasoning = ""
    if "reasoning" in options:
        head, tag, tail = text.rpartition("</think>")
        reasoning, text = (head, tail) if tag else (text, "")
    calls: list[dict[str, Any]] = []
    if "tool_calls" in options:
        for number, match in enumerate(_CALL.finditer(text)):
            call = json.loads(match.group(1))
            calls.append({"id": f"call_{number}", "type": "function", "function": {
                "name": call["name"], "arguments": json.dumps(call["arguments"], ensure_ascii=False)}})
        text = _CALL.sub("", text)
    return reasoning, text, calls


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            return self.send_json(404, error(f"no route {self.path}", 404))
        self.send_json(200, {"object": "list", "data": [{"id": self.server.model, "object": "model"}]})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if self.server.log is not None:
            with self.server.log.open("a", encoding="utf-8") as log:
                log.write(json.dumps(body) + "\n")
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self.send_json(404, error(f"no route {self.path}", 404))
        if self.server.api_key and self.headers.get("Authorization") != f"Bearer {self.server.api_key}":
            return self.send_json(401, error("Invalid API key", 401))
        if body.get("model") != self.server.model:
            return self.send_json(404, error(f"The model `{body.get('model')}` does not exist.", 404))
        reply = self.server.script.next()
        if reply is None:
            message = f"the script {self.server.script.path} ran out after {len(self.server.script.replies)} replies"
            return self.send_json(500, error(message, 500))
        options, text = directives(reply)
        time.sleep(float(options.get("sleep", 0)))
        headers = {"Retry-After": options["retry-after"]} if "retry-after" in options else {}
        if "status" in options:
            code = int(options["status"])
            return self.send_json(code, error(text or f"scripted HTTP {code}", code), headers)
        if "plain" in options or not body.get("stream"):
            self.answer_plain(body, options, text)
        else:
            self.answer_stream(body, options, text)

    def answer_plain(self, body: dict[str, Any], options: dict[str, str], text: str) -> None:
        if "malformed" in options:
            return self.send_raw(200, "application/json", b"{not json")
        reasoning, content, calls = answer_parts(text, options)
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning:
            message[options["reasoning"] or "reasoning_content"] = reasoning
        if calls:
            message["tool_calls"] = calls
        reply = {"id": "chatcmpl-1", "object": "chat.completion", "model": self.server.model,
                 "choices": [{"index": 0, "message": message, "finish_reason": finish(options, calls)}],
                 "usage": usage(body, options, text)}
        self.send_json(200, reply)

    def answer_stream(self, body: dict[str, Any], options: dict[str, str], text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        reasoning, content, calls = answer_parts(text, options)
        self.event({"role": "assistant", "content": ""})
        for piece in _PIECE.findall(reasoning):
            self.event({options["reasoning"] or "reasoning_content": piece})
        if "malformed" in options:
            self.wfile.write(b"data: {not json\n\n")
            return
        for piece in _PIECE.findall(content):
            self.event({"content": piece})
        for index, call in enumerate(calls):
            arguments = call["function"]["arguments"]
            self.event({"tool_calls": [{"index": index, "id": call["id"], "type": "function",
                                        "function": {"name": call["function"]["name"], "arguments": ""}}]})
            for start in range(0, len(arguments), 10):  # fragments that only make sense together
                self.event({"tool_calls": [{"index": index, "function": {"arguments": arguments[start:start + 10]}}]})
        self.event({}, finish(options, calls))
        if body.get("stream_options", {}).get("include_usage"):
            self.send_event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [],
                             "usage": usage(body, options, text)})
        self.wfile.write(b"data: [DONE]\n\n")

    def event(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        self.send_event({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": self.server.model,
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]})

    def send_event(self, chunk: dict[str, Any]) -> None:
        self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        self.wfile.flush()

    def send_json(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.send_raw(code, "application/json", json.dumps(payload).encode(), headers)

    def send_raw(self, code: int, content_type: str, data: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the request log, not the access log."""


def error(message: str, code: int) -> dict[str, Any]:
    return {"error": {"message": message, "type": "ScriptedError", "code": code}}


def finish(options: dict[str, str], calls: list[dict[str, Any]]) -> str:
    return "length" if "length" in options else "tool_calls" if calls else "stop"


def usage(body: dict[str, Any], options: dict[str, str], text: str) -> dict[str, int]:
    """Rough counts: four characters of the prompt per token, one word of the reply per token."""
    completion = int(body.get("max_tokens", 0)) if "length" in options else len(text.split())
    prompt = len(json.dumps(body["messages"])) // 4
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class ScriptedServer(ThreadingHTTPServer):
    def __init__(self, port: int, script: Script, log: Path | None, model: str, api_key: str | None) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.script, self.log, self.model, self.api_key = script, log, model, api_key

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that gave up waiting
            super().handle_error(request, client_address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--script", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", type=Path)
    parser.add_argument("--model", default="qwen3-vl")
    parser.add_argument("--api-key")
    options = parser.parse_args()
    server = ScriptedServer(options.port, Script(options.script), options.log, options.model, options.api_key)
    print(f"http://127.0.0.1:{server.server_address[1]}/v1", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
