"""Reading model replies: thought, then exactly one computer_use call. Pure."""

from __future__ import annotations

import json

import pytest

from actions.schema import Key, LeftClick, Terminate, Type
from agent.model import ModelReply
from agent.reply import ReplyError, parse_reply, split_thought


def call(**arguments: object) -> str:
    return json.dumps({"name": "computer_use", "arguments": arguments}, ensure_ascii=False)


CLICK = call(action="left_click", coordinate=[337, 146])


def test_thinking_reply_without_opening_tag():
    text = f"The name field is empty; I'll click it.\n</think>\n\n<tool_call>\n{CLICK}\n</tool_call>"
    decision = parse_reply(ModelReply(text))
    assert decision.thought == "The name field is empty; I'll click it."
    assert decision.action == LeftClick(action="left_click", coordinate=(337, 146))


def test_thinking_reply_with_opening_tag():
    text = f"<think>\nLet me type.\n</think>\n<tool_call>{call(action='type', text='Ada')}</tool_call>"
    decision = parse_reply(ModelReply(text))
    assert decision.thought == "Let me type."
    assert decision.action == Type(action="type", text="Ada")


def test_tool_call_inside_the_reasoning_is_ignored():
    inner = call(action="terminate", status="failure")
    text = (
        f"Maybe I should give up: <tool_call>{inner}</tool_call> no, wait.\n"
        f"</think>\nI'll click instead.\n<tool_call>\n{CLICK}\n</tool_call>"
    )
    decision = parse_reply(ModelReply(text))
    assert decision.action.action == "left_click"
    assert "Maybe I should give up" in decision.thought


def test_the_last_closing_think_tag_ends_the_thought():
    text = (
        f"I recall writing </think> before; the real answer follows.\n</think>\n"
        f"<tool_call>{call(action='key', keys=['ctrl', 's'])}</tool_call>"
    )
    decision = parse_reply(ModelReply(text))
    assert decision.action == Key(action="key", keys=["ctrl", "s"])
    assert decision.thought.startswith("I recall writing </think> before")


def test_tool_call_only_in_the_reasoning_is_an_error():
    text = f"Thinking <tool_call>{CLICK}</tool_call>\n</think>\n"
    with pytest.raises(ReplyError, match="ended after the thought without an action"):
        parse_reply(ModelReply(text))


def test_instruct_reply_without_think_tags():
    text = f"I'll click the name field.\n<tool_call>\n{CLICK}\n</tool_call>"
    decision = parse_reply(ModelReply(text))
    assert decision.thought == "I'll click the name field."
    assert decision.action.action == "left_click"


def test_instruct_reply_with_only_the_call():
    decision = parse_reply(ModelReply(f"<tool_call>{CLICK}</tool_call>"))
    assert decision.thought == ""
    assert decision.action.point == (337.0, 146.0)


def test_structured_tool_calls_openai_shape():
    reply = ModelReply(
        "Clicking the field.\n</think>\n",
        tool_calls=({"id": "call_1", "type": "function", "function": {
            "name": "computer_use",
            "arguments": json.dumps({"action": "left_click", "coordinate": [10, 20]}),
        }},),
    )
    decision = parse_reply(reply)
    assert decision.thought == "Clicking the field."
    assert decision.action == LeftClick(action="left_click", coordinate=(10, 20))


def test_structured_tool_calls_flat_shape():
    reply = ModelReply("", tool_calls=({"name": "computer_use",
                                        "arguments": {"action": "terminate", "status": "success"}},))
    decision = parse_reply(reply)
    assert decision.action == Terminate(action="terminate", status="success")
    assert decision.thought == ""


def test_structured_tool_calls_win_over_the_text():
    reply = ModelReply(
        f"<tool_call>{CLICK}</tool_call>",
        tool_calls=({"name": "computer_use", "arguments": {"action": "wait", "time": 2}},),
    )
    assert parse_reply(reply).action.action == "wait"


def test_structured_call_with_the_wrong_tool():
    reply = ModelReply("", tool_calls=({"function": {"name": "browser", "arguments": "{}"}},))
    with pytest.raises(ReplyError, match="unknown tool 'browser'"):
        parse_reply(reply)


def test_structured_call_with_invalid_json_arguments():
    reply = ModelReply("", tool_calls=({"function": {"name": "computer_use", "arguments": "{'action': 1"}},))
    with pytest.raises(ReplyError, match="the tool-call arguments is not valid JSON"):
        parse_reply(reply)


def test_arguments_as_a_json_string_in_the_text():
    inner = json.dumps({"action": "type", "text": "Zürich – 東京"}, ensure_ascii=False)
    text = "</think>\n<tool_call>" + json.dumps({"name": "computer_use", "arguments": inner}) + "</tool_call>"
    assert parse_reply(ModelReply(text)).action == Type(action="type", text="Zürich – 東京")


@pytest.mark.parametrize("fence", ["```json", "```"])
def test_code_fences_inside_the_tool_call(fence):
    text = f"Done thinking.\n</think>\n<tool_call>\n{fence}\n{CLICK}\n```\n</tool_call>"
    assert parse_reply(ModelReply(text)).action.action == "left_click"


def test_missing_closing_tool_call_tag():
    text = f"Clicking.\n</think>\n<tool_call>\n{CLICK}\n"
    decision = parse_reply(ModelReply(text))
    assert decision.action.action == "left_click"
    assert decision.thought == "Clicking."


def test_text_after_the_call_is_ignored():
    text = f"</think><tool_call>{CLICK}</tool_call>\nHope that works!"
    assert parse_reply(ModelReply(text)).action.action == "left_click"


# ---- errors --------------------------------------------------------------------------------


def test_no_tool_call():
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply("I would click the name field now."))
    assert "no <tool_call> block" in str(error.value)


def test_thought_without_action():
    with pytest.raises(ReplyError, match="ended after the thought without an action"):
        parse_reply(ModelReply("Let me think about it.\n</think>\n"))


def test_wrong_tool_name():
    text = '</think><tool_call>{"name": "computer", "arguments": {"action": "wait", "time": 1}}</tool_call>'
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(text))
    assert "unknown tool 'computer'" in str(error.value)
    assert "computer_use" in str(error.value)


def test_missing_tool_name():
    text = '<tool_call>{"arguments": {"action": "wait", "time": 1}}</tool_call>'
    with pytest.raises(ReplyError, match="unknown tool None"):
        parse_reply(ModelReply(text))


@pytest.mark.parametrize(
    "body", ['{"name": "computer_use", "arguments": {"action": "left_click"', "{name: computer_use}", "", "click(3, 4)"]
)
def test_invalid_json(body):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"</think>\n<tool_call>{body}</tool_call>"))
    assert "the <tool_call> block is not valid JSON" in str(error.value)


@pytest.mark.parametrize("body", ["[1, 2]", '"computer_use"', "42"])
def test_call_must_be_an_object(body):
    with pytest.raises(ReplyError, match="must hold a JSON object"):
        parse_reply(ModelReply(f"<tool_call>{body}</tool_call>"))


def test_cut_off_reply_mentions_the_token_limit():
    reply = ModelReply("<think>\nThe form has many fields, and first I need to consider", finish_reason="length")
    with pytest.raises(ReplyError) as error:
        parse_reply(reply)
    assert "token limit" in str(error.value)


def test_cut_off_reply_without_opening_tag_mentions_the_token_limit():
    reply = ModelReply("The form has many fields, and first I need to consider", finish_reason="length")
    with pytest.raises(ReplyError, match="token limit"):
        parse_reply(reply)


def test_cut_off_inside_the_call_is_invalid_json():
    reply = ModelReply('</think><tool_call>{"name": "computer_use", "argu', finish_reason="length")
    with pytest.raises(ReplyError, match="not valid JSON"):
        parse_reply(reply)


def test_unknown_action():
    text = "</think><tool_call>" + call(action="fly", coordinate=[1, 2]) + "</tool_call>"
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(text))
    assert "unknown action 'fly'" in str(error.value)
    assert "left_click" in str(error.value)


def test_invalid_action_arguments():
    text = "</think><tool_call>" + call(action="left_click") + "</tool_call>"
    with pytest.raises(ReplyError, match="invalid left_click action: coordinate: Field required"):
        parse_reply(ModelReply(text))


def test_missing_arguments():
    with pytest.raises(ReplyError, match="must be a JSON object, got NoneType"):
        parse_reply(ModelReply('<tool_call>{"name": "computer_use"}</tool_call>'))


def test_reply_error_is_a_value_error():
    assert issubclass(ReplyError, ValueError)


# ---- split_thought ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a</think>b", ("a", "b")),
        ("<think>a</think>b", ("a", "b")),
        ("  <think> a </think>  b  ", ("a", "b")),
        ("a</think>b</think>c", ("a</think>b", "c")),
        ("no tags here", ("", "no tags here")),
        ("</think>", ("", "")),
    ],
)
def test_split_thought(text, expected):
    assert split_thought(text) == expected
