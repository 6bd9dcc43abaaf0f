"""Reading model replies, fuzzed: whatever the model writes, parse_reply returns the one action
the reply's answer asked for, or raises a ReplyError that tells the model what to do. Pure.

Replies are built from parts whose action is known: reasoning (with decoy calls in it), the
``</think>`` that ends it, the call in every accepted form, and text around it. They are then
broken the ways models break them: tags dropped or doubled, cut off by the token limit, noise
inserted, quotes swapped, fences and ``Action:`` prefaces added.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actions.schema import ACTION_NAMES, GRID, parse_action
from agent.model import ModelReply
from agent.reply import Decision, ReplyError, parse_reply


def fuzz(examples: int) -> settings:
    """Settings for one property: ``examples`` replies, no per-example deadline."""
    return settings(max_examples=examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


MARKERS = ("</think>", "<think>", "<tool_call>", "</tool_call>", "```", "Action:")
"""Markup the parser reads; text the model types or answers never holds it in these tests,
since a call typing "</tool_call>" is ambiguous in the model's own format."""

# What a helpful message looks like: the problem, then (after ':' or ';') what to do about it.
DIRECTIVE = re.compile(r"[:;] (after </think>, )?(ask|think|write|answer|call|fix)\b")

# ---- actions, as the model may write their arguments ---------------------------------------------

free_text = st.text(min_size=1, max_size=40).filter(lambda t: not any(m in t for m in MARKERS))
tenths = st.integers(0, GRID * 10).map(lambda n: n / 10)
grid_value = st.one_of(st.integers(0, GRID), tenths, st.floats(0, GRID))
KEYS = ["ctrl", "shift", "alt", "super", "enter", "Return", "tab", "esc", "F5", "a", "s", "7", "/", "ArrowUp",
        "ctrl+c", "Page_Down", "cmd"]


@st.composite
def coordinate(draw: st.DrawFn) -> tuple[Any, tuple[float, float]]:
    """(what the model writes, the grid point it means)."""
    form = draw(st.sampled_from(["numbers", "strings", "bracketed", "pair"]))
    if form == "numbers":
        x, y = draw(grid_value), draw(grid_value)
        return [x, y], (float(x), float(y))
    x, y = (f"{v:g}" if draw(st.booleans()) else f"{v:.1f}" for v in (draw(tenths), draw(tenths)))
    written = {"strings": [x, y], "bracketed": f"[{x}, {y}]", "pair": f"{x}, {y}"}[form]
    return written, (float(x), float(y))


@st.composite
def action_arguments(draw: st.DrawFn) -> tuple[dict[str, Any], Any]:
    """(arguments as the model writes them, the Action they mean)."""
    name = draw(st.sampled_from(ACTION_NAMES))
    written: dict[str, Any] = {"action": name}
    meant: dict[str, Any] = {"action": name}
    if name == "key":
        written["keys"] = meant["keys"] = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=3))
    elif name in ("type", "answer"):
        written["text"] = meant["text"] = draw(free_text)
    elif name in ("scroll", "hscroll"):
        written["pixels"] = meant["pixels"] = draw(st.integers(-5000, 5000))
    elif name == "wait":
        written["time"] = meant["time"] = draw(st.one_of(st.integers(1, 60), st.floats(0.01, 60)))
    elif name == "terminate":
        written["status"] = meant["status"] = draw(st.sampled_from(["success", "failure"]))
    if name in ("scroll", "hscroll") and draw(st.booleans()) or "click" in name or name == "mouse_move":
        written["coordinate"], meant["coordinate"] = draw(coordinate())
    return written, parse_action(meant)


@st.composite
def call_json(draw: st.DrawFn, arguments: dict[str, Any]) -> str:
    """The call object as JSON text, arguments nested or as a JSON string."""
    if draw(st.booleans()):
        arguments = json.dumps(arguments, ensure_ascii=draw(st.booleans()))  # type: ignore[assignment]
    return json.dumps({"name": "computer_use", "arguments": arguments},
                      ensure_ascii=draw(st.booleans()), indent=draw(st.sampled_from([None, 2])))


@st.composite
def written_call(draw: st.DrawFn, body: str) -> tuple[str, str, str]:
    """The call in one of the accepted text forms: (opening, body, closing)."""
    space = draw(st.sampled_from(["", "\n", " ", "\n\n", " \t\n"]))
    preface = draw(st.sampled_from(["", "Action: ", "Action:\n"]))
    form = draw(st.sampled_from(["tag", "tag", "fence", "action"]))
    if form == "tag":
        fence = draw(st.sampled_from([("", ""), ("```json\n", "\n```"), ("```\n", "```")]))
        outer = draw(st.sampled_from([("", ""), ("```json\n", "\n```"), ("```\n", "\n```")]))
        close = draw(st.sampled_from(["</tool_call>", "</tool_call>", ""]))
        return (outer[0] + preface + "<tool_call>" + space + fence[0], body,
                fence[1] + space + close + (outer[1] if close else ""))
    if form == "fence":
        return preface + draw(st.sampled_from(["```json\n", "```\n", "```json"])), body, draw(
            st.sampled_from(["\n```", "```", ""]))
    return "Action:" + draw(st.sampled_from([" ", "", "\n"])), body, space


# ---- replies -----------------------------------------------------------------------------------

prose = st.text(st.characters(exclude_characters="<`{", exclude_categories=("Cs",)), max_size=30)
reasoning = st.text(max_size=60).filter(lambda t: "think>" not in t)


@dataclass
class Case:
    """A reply built from parts, with the action its answer holds."""

    parts: list[str]  # the call's JSON is parts[CALL]; every other part is text around it
    meant: Any
    thought: str | None  # the thought the parser must report, where it is known
    tool_calls: tuple[Any, ...] = ()
    finish_reason: str = "stop"

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def reply(self) -> ModelReply:
        return ModelReply(self.text, self.tool_calls, self.finish_reason)  # type: ignore[arg-type]


CALL = -3  # parts: ... opening, call JSON, closing, after


@st.composite
def decoy(draw: st.DrawFn, meant: Any) -> str:
    """A whole call, of another action, as it may appear inside the reasoning."""
    arguments, _ = draw(action_arguments().filter(lambda pair: pair[1] != meant))
    opening, body, closing = draw(written_call(draw(call_json(arguments))))
    return opening + body + closing


@st.composite
def well_formed(draw: st.DrawFn, text_only: bool = False) -> Case:
    arguments, meant = draw(action_arguments())
    parts: list[str] = []
    thought = ""
    if draw(st.booleans()):  # a Thinking reply: reasoning, maybe with calls in it, then </think>
        pieces = draw(st.lists(st.one_of(reasoning, decoy(meant), st.just("</think>")), max_size=4))
        opened = draw(st.sampled_from(["", "<think>\n", "<think>"]))
        parts += [opened + "".join(pieces), draw(st.sampled_from(["</think>", "\n</think>\n\n"]))]
        thought = "".join(pieces).strip()
    if not text_only and draw(st.integers(0, 3)) == 0:  # a server's structured call
        call = {"name": "computer_use", "arguments": arguments if draw(st.booleans()) else json.dumps(arguments)}
        if draw(st.booleans()):
            call = {"id": "call_0", "type": "function", "function": call}
        after = draw(st.one_of(prose, decoy(meant)))  # the text, even with a call in it, is not read
        return Case(parts + [after], meant, thought or after.strip(), tool_calls=(call,))
    before = draw(prose)
    opening, body, closing = draw(written_call(draw(call_json(arguments))))
    ended = "</tool_call>" in closing or "<tool_call>" not in opening and closing.strip().endswith("```")
    after = draw(prose) if ended else ""  # an unclosed call runs to the end of the reply
    # Without a thought, the text before the call is the thought (less a trailing "Action:").
    expected = thought or (None if "Action:" in before else before.strip())
    return Case(parts + [before, opening, body, closing, after], meant, expected)


def outcome(reply: ModelReply) -> Decision | None:
    """The parser's decision, checked to be valid, or None for a ReplyError checked to be helpful.

    Any other exception escapes and fails the test."""
    try:
        decision = parse_reply(reply)
    except ReplyError as error:
        message = str(error)
        assert len(message.split()) >= 8, message
        assert DIRECTIVE.search(message), message
        return None
    action = decision.action
    assert parse_action(action.model_dump()) == action
    if action.point is not None:
        assert all(0 <= v <= GRID for v in action.point), action
    return decision


@fuzz(700)
@given(well_formed())
def test_well_formed_replies_give_the_action_of_their_answer(case: Case):
    decision = outcome(case.reply())
    assert decision is not None, case.text
    assert decision.action == case.meant  # never a decoy from the reasoning
    if case.thought is not None:
        assert decision.thought == case.thought


# ---- mutations: the reply's action, or a ReplyError; never another action ---------------------


markup_noise = st.one_of(
    st.text(max_size=12),
    st.lists(st.sampled_from([*MARKERS, "{", "}", '"', "'", ":", "\n", " ", "[1, 2]", '"name": ', "computer_use"]),
             min_size=1, max_size=4).map("".join),
)


@st.composite
def mutated(draw: st.DrawFn) -> Case:
    case = draw(well_formed(text_only=True))
    # Noise goes anywhere but inside the call's JSON: noise inside a JSON string is just other text.
    # It is markup, or a whole call of another action, never both: "</think>" and then a whole
    # call is a well-formed reply of that other action.
    noise = draw(st.sampled_from([markup_noise, decoy(case.meant)]))
    for _ in range(draw(st.integers(0, 2))):
        index = draw(st.sampled_from([i for i in range(len(case.parts)) if i != len(case.parts) + CALL]))
        part = case.parts[index]
        at = draw(st.integers(0, len(part)))
        case.parts[index] = part[:at] + draw(noise) + part[at:]
    text = case.text
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["drop", "double", "cut", "quotes", "fence", "action"]))
        if kind in ("drop", "double"):
            spans = [m.span() for marker in MARKERS for m in re.finditer(re.escape(marker), text)]
            if not spans:
                continue
            start, end = draw(st.sampled_from(spans))
            text = text[:start] + (text[start:end] * 2 if kind == "double" else "") + text[end:]
        elif kind == "cut":  # anywhere, or just after a call (or what looks like the end of one)
            ends = [m.end() for m in re.finditer(r"</tool_call>|```|}", text)]
            at = draw(st.integers(0, len(text)) | st.sampled_from(ends or [len(text)]))
            text, case.finish_reason = text[:at], "length"
        elif kind == "quotes":
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, len(text)))
            text = text[:start] + text[start:end].replace('"', "'") + text[end:]
        elif kind == "fence":
            start = draw(st.integers(0, len(text)))
            end = draw(st.integers(start, len(text)))
            opening = draw(st.sampled_from(["```json\n", "```\n"]))
            text = text[:start] + opening + text[start:end] + "\n```" + text[end:]
        else:  # an Action: preface at a line start (never inside a JSON string) or before a tag
            starts = [0] + [m.end() for m in re.finditer(r"\n|(?=<tool_call>)", text)]
            at = draw(st.sampled_from(starts))
            text = text[:at] + draw(st.sampled_from(["Action: ", "Action:\n"])) + text[at:]
    case.parts = [text]
    return case


@fuzz(1500)
@given(mutated())
def test_broken_replies_give_the_same_action_or_a_reply_error(case: Case):
    reply = case.reply()
    decision = outcome(reply)
    if decision is None:
        return
    if reply.finish_reason == "length" and reply.text.rstrip().endswith("</tool_call>"):
        # cut right after a whole call: read as that reply complete, whatever the call is
        assert decision == outcome(replace(reply, finish_reason="stop")), case.text
    else:
        assert decision.action == case.meant, case.text


# ---- anything at all: never a crash ------------------------------------------------------------

json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)
    | st.sampled_from(["computer_use", *ACTION_NAMES, "[337, 146]", "337, 146", "success"]),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["name", "arguments", "action", "coordinate", "text", "keys", "pixels",
                                       "time", "status", "function", "id", "type"]) | st.text(max_size=5),
                      inner, max_size=4),
    max_leaves=12,
)
finish_reason = st.sampled_from(["stop", "length"]) | st.text(max_size=8) | st.none()
fragment_text = st.lists(
    st.sampled_from([*MARKERS, "\n", " ", "{", "}", "[", "]", '"', "'", ",", ":", "name", "arguments", "computer_use",
                     '"name": "computer_use"', '"arguments": ', '{"action": "left_click", "coordinate": [5, 5]}',
                     "NaN", "1e999", "-0", "\\u0000", "\\"]) | st.text(max_size=5),
    max_size=25,
).map("".join)


@fuzz(800)
@given(st.one_of(st.text(), fragment_text), finish_reason)
def test_any_text_gives_a_valid_action_or_a_reply_error(text: str, finish: Any):
    outcome(ModelReply(text, finish_reason=finish))


@fuzz(800)
@given(json_value, st.sampled_from(["<tool_call>{}</tool_call>", "Action: {}", "```json\n{}\n```", "<tool_call>{}"]),
       reasoning, finish_reason)
def test_any_json_in_the_call_gives_a_valid_action_or_a_reply_error(value: Any, form: str, thought: str, finish: Any):
    call = json.dumps(value) if not isinstance(value, dict) or "name" in value else json.dumps(
        {"name": "computer_use", "arguments": value})
    outcome(ModelReply(f"{thought}</think>" + form.replace("{}", call), finish_reason=finish))


@fuzz(800)
@given(st.lists(json_value | st.builds(lambda f, a: {"function": {"name": "computer_use", "arguments": f(a)}},
                                       st.sampled_from([json.dumps, lambda a: a]), json_value),
                min_size=1, max_size=3).map(tuple),
       st.text(max_size=20), finish_reason)
def test_any_tool_calls_give_a_valid_action_or_a_reply_error(calls: tuple[Any, ...], text: str, finish: Any):
    outcome(ModelReply(text, calls, finish))
