"""Reading a model reply: its thought and the one action it asks for. Pure; nothing is run.

Qwen3-VL Thinking replies start inside the thought (the chat template opens ``<think>``),
so the text is ``reasoning </think> <tool_call>{...}</tool_call>``. The thought ends at the
LAST ``</think>``; a ``<tool_call>`` inside the reasoning is never taken. Instruct replies
have no thought tags. Servers may also hand the call over as a structured ``tool_calls``
field. Anything else is a :class:`ReplyError` whose message is fed back to the model.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from actions.schema import Action, InvalidAction, parse_action
from agent.model import ModelReply

TOOL_NAME = "computer_use"
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|$)", re.DOTALL)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class ReplyError(ValueError):
    """The reply holds no valid action. The message is written for the model to act on."""


@dataclass(frozen=True)
class Decision:
    """The model's reasoning and the action it chose."""

    thought: str
    action: Action


def split_thought(text: str) -> tuple[str, str]:
    """(thought, answer): split at the last ``</think>``; no tag means no separate thought."""
    head, tag, tail = text.rpartition("</think>")
    if not tag:
        return "", text.strip()
    return head.replace("<think>", "", 1).strip(), tail.strip()


def parse_reply(reply: ModelReply) -> Decision:
    thought, answer = split_thought(reply.text)
    if not thought and "<think>" in reply.text and "</think>" not in reply.text:
        thought = reply.text.split("<think>", 1)[1].strip()
        answer = ""
    if reply.tool_calls:
        call = reply.tool_calls[0]
        name = call.get("name", call.get("function", {}).get("name"))
        arguments = call.get("arguments", call.get("function", {}).get("arguments"))
    else:
        call_text = _find_call(answer, reply)
        call = _load_json(call_text, "the <tool_call> block")
        if not isinstance(call, dict):
            raise ReplyError("the <tool_call> block must hold a JSON object with 'name' and 'arguments'")
        name, arguments = call.get("name"), call.get("arguments")
        if not thought:
            thought = answer[: answer.find("<tool_call>")].strip() if "<tool_call>" in answer else ""
    if name != TOOL_NAME:
        raise ReplyError(f"unknown tool {name!r}: call the {TOOL_NAME} tool")
    if isinstance(arguments, str):
        arguments = _load_json(arguments, "the tool-call arguments")
    try:
        action = parse_action(arguments)
    except InvalidAction as error:
        raise ReplyError(str(error)) from None
    return Decision(thought=thought, action=action)


def _find_call(answer: str, reply: ModelReply) -> str:
    match = _CALL.search(answer)
    if match:
        return match.group(1)
    if reply.finish_reason == "length":
        raise ReplyError("the reply was cut off by the token limit before it named an action; think less, then act")
    if not answer:
        raise ReplyError("the reply ended after the thought without an action: answer with one <tool_call>")
    raise ReplyError("the reply has no <tool_call> block: answer with exactly one computer_use tool call")


def _load_json(text: str, what: str) -> Any:
    cleaned = _FENCE.sub("", text.strip())
    try:
        return json.loads(cleaned)
    except json.JSONDecodeError as error:
        raise ReplyError(f"{what} is not valid JSON ({error.msg} at character {error.pos})") from None
