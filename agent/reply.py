"""Reading a model reply: its thought and the one action it asks for. Pure; nothing is run.

Qwen3-VL Thinking replies start inside the thought (the chat template opens ``<think>``),
so the text is ``reasoning </think> <tool_call>{...}</tool_call>``. The thought ends at the
LAST ``</think>``; nothing inside the reasoning is ever taken as the call. Instruct replies
have no thought tags. A server may hand the call over as a structured ``tool_calls`` entry
instead (OpenAI ``{"function": {"name", "arguments"}}`` or flat ``{"name", "arguments"}``);
then it wins over the text.

Tolerated, because models write them and their meaning is plain: surrounding whitespace,
a missing ``</tool_call>``, code fences inside or around the block, an ``Action:`` preface,
and, only where the answer has no ``<tool_call>`` at all, the call as a fenced JSON block or
as a JSON object after ``Action:``. Arguments may be a JSON string, numbers may be quoted,
and a coordinate may be one string ``"[337, 146]"`` or ``"337, 146"`` (two numbers, comma
between, brackets optional; anything else in it is reported like any other bad number).

Rejected, as a :class:`ReplyError` whose message tells the model what to do instead (the
loop feeds it back and bounds the retries): more than one call, or call markup left outside
the one call, since a second action would silently be dropped, and the system prompt asks
for exactly one action per reply; a reply the token limit truly cut off (told apart: cut while
still thinking, or after the thought, before its call was whole); and anything that is not a
valid ``computer_use`` call. A reply that ends with a whole call is acted on whatever its
``finish_reason`` says: a model often stops right at the limit after ``</tool_call>``. Structured
``tool_calls`` are taken even from a cut-off reply: the server only reports calls it read whole.

Profiles whose models answer in their own syntax are read by their own module
(:mod:`agent.venus` for UI-Venus); a profile's ``aliases`` rename a model's own action names to ours.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from actions.schema import Action, InvalidAction, parse_action
from agent.model import ModelReply
from agent.profiles import Profile, load_profile
from errors import ModelMistake

TOOL_NAME = "computer_use"
_EXAMPLE = '<tool_call>{"name": "computer_use", "arguments": {"action": ...}}</tool_call>'
_TAG = re.compile(r"<tool_call>(.*?)(?:</tool_call>|(?=<tool_call>)|\Z)", re.DOTALL)
_BARE = re.compile(r"```(?:json)?\s*(\{.*?)(?:```|\Z)|Action:\s*(\{.*)", re.DOTALL)
_MARKUP = re.compile(r"</?tool_call>|```|Action:\s*\{|\{\s*[\"']?name[\"']?\s*:")
_MANY = "the reply holds {} tool calls: ask for exactly one action per reply; the next screenshot shows its effect"


class ReplyError(ModelMistake):
    """The reply holds no valid action. The message is written for the model to act on."""


@dataclass(frozen=True)
class Decision:
    """The model's reasoning and the action it chose."""

    thought: str
    action: Action


def split_thought(text: str) -> tuple[str, str]:
    """(thought, answer): split at the last ``</think>``; an unclosed ``<think>`` is all thought."""
    head, tag, tail = text.rpartition("</think>")
    if tag:
        return head.replace("<think>", "", 1).strip(), tail.strip()
    if "<think>" in text:
        return text.replace("<think>", "", 1).strip(), ""
    return "", text.strip()


def parse_reply(reply: ModelReply, profile: Profile | None = None) -> Decision:
    """The thought and the one action of ``reply``, or a :class:`ReplyError` saying what to fix."""
    profile = profile or load_profile()
    thought, answer = split_thought(reply.text)
    if reply.tool_calls:
        if len(reply.tool_calls) > 1:
            raise ReplyError(_MANY.format(len(reply.tool_calls)))
        return Decision(thought or answer, _action(reply.tool_calls[0], profile.aliases))
    if profile.reply == "venus":
        from agent.venus import venus_action

        return Decision(*venus_action(reply.text, cut_off=reply.finish_reason == "length"))
    if reply.finish_reason == "length" and not answer.endswith("</tool_call>"):  # the rest is unknown: act on none
        if "</think>" not in reply.text:
            raise ReplyError("the reply was cut off by the token limit while still thinking, before it named an "
                             f"action: think more briefly, close the thought with </think> and call {TOOL_NAME}")
        raise ReplyError("the reply was cut off by the token limit after the thought, before it ended: "
                         "after </think>, write only one short <tool_call> block and stop")
    body, before = _find_call(answer)
    return Decision(thought or before, _action(_load_json(body, "the tool call"), profile.aliases))


def _find_call(answer: str) -> tuple[str, str]:
    """The text of the answer's one call, and the text before it."""
    found = list(_TAG.finditer(answer)) or list(_BARE.finditer(answer))
    if len(found) > 1:
        raise ReplyError(_MANY.format(len(found)))
    if not found:
        if not answer:
            raise ReplyError(f"the reply ended after the thought without an action: after </think>, write {_EXAMPLE}")
        raise ReplyError(f"the reply has no <tool_call> block: answer with exactly one call, {_EXAMPLE}")
    match = found[0]
    # Fences and "Action:" prefaces may wrap the call; any other markup could be a second call.
    before, after = answer[: match.start()], answer[match.end() :].lstrip().removeprefix("```")
    while (unwrapped := before.rstrip().removesuffix("Action:").removesuffix("```json").removesuffix("```")) != before:
        before = unwrapped
    if _MARKUP.search(before) or _MARKUP.search(after):
        raise ReplyError("the reply has tool-call markup outside its one call (a second call, a stray tag or fence): "
                         f"ask for exactly one action per reply, written once as {_EXAMPLE}")
    return match.group(match.lastindex or 0), before


def _action(call: Any, aliases: dict[str, str]) -> Action:
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        call = call["function"]
    if not isinstance(call, dict):
        raise ReplyError(f"the tool call must be a JSON object with 'name' and 'arguments': write {_EXAMPLE}")
    name, arguments = call.get("name"), call.get("arguments")
    if name != TOOL_NAME:
        raise ReplyError(f"unknown tool {name!r:.40}: call the {TOOL_NAME} tool, as {_EXAMPLE}")
    if isinstance(arguments, str):
        arguments = _load_json(arguments, "the tool-call arguments")
    if isinstance(arguments, dict) and isinstance(arguments.get("action"), str) and arguments["action"] in aliases:
        arguments = {**arguments, "action": aliases[arguments["action"]]}
    if isinstance(arguments, dict) and isinstance(arguments.get("coordinate"), str):
        # "[337, 146]" or "337, 146": its parts are then judged like any quoted numbers
        arguments = {**arguments, "coordinate": arguments["coordinate"].strip().strip("[]()").split(",")}
    try:
        return parse_action(arguments)
    except InvalidAction as error:
        raise ReplyError(f"{error}; fix the arguments and call {TOOL_NAME} again") from None


def _load_json(text: str, what: str) -> Any:
    text = text.strip()
    if text.startswith("```"):
        text = text[3:].removeprefix("json")
    try:
        return json.loads(text.removesuffix("```"))
    except json.JSONDecodeError as error:
        problem = f"{error.msg} at character {error.pos}"
    except (ValueError, RecursionError):  # a number too long or nesting too deep to read
        problem = "too large to read"
    raise ReplyError(f"{what} is not valid JSON ({problem}): write one JSON object, "
                     "with double quotes around every key and string")
