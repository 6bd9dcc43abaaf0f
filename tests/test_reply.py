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



@pytest.mark.parametrize(
    "coordinate, expected",
    [
        ([337.5, 146.25], (337.5, 146.25)),
        (["337", "146.5"], (337, 146.5)),
        ("[337, 146]", (337, 146)),
        ("337, 146", (337, 146)),
        (" ( 337.5 ,146 ) ", (337.5, 146)),
        ([0, 1000], (0, 1000)),
    ],
)
def test_coordinates_written_as_floats_or_strings(coordinate, expected):
    text = "</think>\n<tool_call>" + call(action="left_click", coordinate=coordinate) + "</tool_call>"
    assert parse_reply(ModelReply(text)).action == LeftClick(action="left_click", coordinate=expected)


def test_string_coordinate_inside_string_arguments():
    arguments = json.dumps({"action": "double_click", "coordinate": "12, 34"})
    reply = ModelReply("", tool_calls=({"name": "computer_use", "arguments": arguments},))
    assert parse_reply(reply).action.point == (12, 34)


@pytest.mark.parametrize(
    "coordinate, words",
    [
        ("337 146", ["coordinate.0", "valid number", "coordinate.1: Field required"]),
        ("x=337, y=146", ["coordinate.0", "valid number"]),
        ("[337, 146, 5]", ["coordinate", "at most 2 items"]),
        ("", ["coordinate.0", "valid number"]),
        ("1200, 50", ["coordinate.0", "less than or equal to 1000"]),
        ([-1, 50], ["coordinate.0", "greater than or equal to 0"]),
        ([50, 1000.5], ["coordinate.1", "less than or equal to 1000"]),
        (["ten", "20"], ["coordinate.0"]),
    ],
)
def test_coordinates_that_are_not_one_grid_point(coordinate, words):
    text = "</think><tool_call>" + call(action="left_click", coordinate=coordinate) + "</tool_call>"
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(text))
    for word in ["invalid left_click action", *words, "call computer_use again"]:
        assert word in str(error.value)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_coordinates_are_rejected(constant):
    arguments = f'{{"action": "left_click", "coordinate": [{constant}, 5]}}'
    text = f'<tool_call>{{"name": "computer_use", "arguments": {arguments}}}'
    with pytest.raises(ReplyError, match="coordinate.0"):
        parse_reply(ModelReply(text))


@pytest.mark.parametrize(
    "answer",
    [
        f"```json\n<tool_call>\n{CLICK}\n</tool_call>\n```",  # fences around the block
        f"```json\n{CLICK}\n```",  # fences instead of the block
        f"```\n{CLICK}\n```",
        f"```json\n{CLICK}",  # ... and the closing fence missing
        f"Action: <tool_call>{CLICK}</tool_call>",
        f"Action: {CLICK}",  # no tags at all after an Action: preface
        f"Action:\n{json.dumps(json.loads(CLICK), indent=2)}",
        f"Action: ```json\n{CLICK}\n```",
        f"\n\n  \t<tool_call>  {CLICK}  </tool_call>  \n",
    ],
)
def test_tolerated_ways_of_writing_the_call(answer):
    decision = parse_reply(ModelReply(f"I'll click the name field.\n</think>\n{answer}"))
    assert decision.action == LeftClick(action="left_click", coordinate=(337, 146))
    assert decision.thought == "I'll click the name field."


@pytest.mark.parametrize(
    "answer", [f"Action: <tool_call>{CLICK}</tool_call>", f"Action: {CLICK}", f"Action: ```json\n{CLICK}\n```"]
)
def test_instruct_thought_leaves_out_the_action_preface(answer):
    decision = parse_reply(ModelReply(f"Thought: the name field is empty.\n{answer}"))
    assert decision.thought == "Thought: the name field is empty."
    assert decision.action.action == "left_click"


def test_structured_call_gives_the_instruct_text_as_thought():
    reply = ModelReply("I'll click the field.", tool_calls=({"name": "computer_use", "arguments": {
        "action": "left_click", "coordinate": [1, 2]}},))
    assert parse_reply(reply).thought == "I'll click the field."


def test_complete_call_in_a_cut_off_reply_is_not_taken():
    # The </think> seen may be one written inside the reasoning, the real end still to come.
    for text in (f"Clicking.\n</think>\n<tool_call>\n{CLICK}\n</tool_call>\nAnd then I will",
                 f"I might write </think><tool_call>{CLICK}</tool_call> but first"):
        with pytest.raises(ReplyError, match="cut off by the token limit after the thought"):
            parse_reply(ModelReply(text, finish_reason="length"))


@pytest.mark.parametrize("text", [f"Clicking.\n</think>\n\n<tool_call>\n{CLICK}\n</tool_call>",
                                  f"<tool_call>\n{CLICK}\n</tool_call>\n"])  # thinking, instruct
def test_a_whole_call_that_ends_at_the_token_limit_is_acted_on(text):
    # The model stopped right after </tool_call>, where the limit fell: nothing of the reply is missing.
    assert parse_reply(ModelReply(text, finish_reason="length")).action.action == "left_click"


def test_structured_call_of_a_cut_off_reply_is_taken():
    reply = ModelReply("Clicking the", finish_reason="length",
                       tool_calls=({"name": "computer_use", "arguments": {"action": "wait", "time": 1}},))
    assert parse_reply(reply).action.action == "wait"


def test_unknown_finish_reason_is_treated_as_a_stop():
    text = f"<tool_call>{CLICK}</tool_call>"
    reply = ModelReply(text, finish_reason="content_filter")  # type: ignore[arg-type]
    assert parse_reply(reply).action.action == "left_click"

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
    assert "the tool call is not valid JSON" in str(error.value)
    assert "double quotes" in str(error.value)


@pytest.mark.parametrize("body", ["[1, 2]", '"computer_use"', "42"])
def test_call_must_be_an_object(body):
    with pytest.raises(ReplyError, match="must be a JSON object with 'name' and 'arguments'"):
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


def test_cut_off_inside_the_call_says_so():
    reply = ModelReply('</think><tool_call>{"name": "computer_use", "argu', finish_reason="length")
    with pytest.raises(ReplyError, match="cut off by the token limit after the thought"):
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



# ---- one action per reply ---------------------------------------------------------------------

WAIT = call(action="wait", time=1)


@pytest.mark.parametrize(
    "answer, count",
    [
        (f"<tool_call>{CLICK}</tool_call>\n<tool_call>{WAIT}</tool_call>", 2),
        (f"<tool_call>{CLICK}</tool_call><tool_call>{WAIT}</tool_call><tool_call>{WAIT}</tool_call>", 3),
        (f"<tool_call><tool_call>{CLICK}</tool_call>", 2),  # a duplicated tag
        (f"```json\n{CLICK}\n```\n```json\n{WAIT}\n```", 2),
        (f"Action: {CLICK}\nAction: {WAIT}", 1),  # the first object runs on into the second: not JSON
    ],
)
def test_more_than_one_call_is_rejected(answer, count):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"Two things to do.\n</think>\n{answer}"))
    message = str(error.value)
    if count > 1:
        assert f"holds {count} tool calls: ask for exactly one action per reply" in message
    else:
        assert "not valid JSON" in message


def test_more_than_one_structured_call_is_rejected():
    calls = tuple({"name": "computer_use", "arguments": {"action": "wait", "time": t}} for t in (1, 2))
    with pytest.raises(ReplyError, match="holds 2 tool calls: ask for exactly one action per reply"):
        parse_reply(ModelReply("", tool_calls=calls))


@pytest.mark.parametrize(
    "answer",
    [
        f"<tool_call>{CLICK}</tool_call>\nAction: {WAIT}",  # a second call without tags
        f"<tool_call>{CLICK}</tool_call>\n{WAIT}",  # a second bare call object
        f"{WAIT}</tool_call>\n<tool_call>{CLICK}</tool_call>",  # a call that lost its opening tag
        f"<tool_call>{CLICK}</tool_call>\n{WAIT}</tool_call>",
        f"<tool_call>{CLICK}</tool_call></tool_call>",  # a stray closing tag
        f"Let me close this: </tool_call>\n<tool_call>{CLICK}</tool_call>",
        f"<tool_call>{CLICK}</tool_call>\n```json\n{WAIT}\n```",
    ],
)
def test_markup_outside_the_one_call_is_rejected(answer):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"Thinking.\n</think>\n{answer}"))
    assert "markup outside its one call" in str(error.value)
    assert "exactly one action per reply" in str(error.value)


def test_forgotten_closing_think_tag_exposes_calls_in_the_reasoning_and_is_rejected():
    text = f"Maybe <tool_call>{WAIT}</tool_call>? No.\nAction: {CLICK}"
    with pytest.raises(ReplyError, match="markup outside its one call"):
        parse_reply(ModelReply(text))
    text = f"Maybe <tool_call>{WAIT}</tool_call>? No.\n<tool_call>{CLICK}</tool_call>"
    with pytest.raises(ReplyError, match="holds 2 tool calls"):
        parse_reply(ModelReply(text))


# ---- cut off by the token limit ---------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "The form has many fields, and first I need to",
        "<think>\nThe form has many fields",
        f"I could do <tool_call>{CLICK}</tool_call> but first I need to check",  # a call in the reasoning
    ],
)
def test_cut_off_while_thinking(text):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(text, finish_reason="length"))
    assert str(error.value).startswith("the reply was cut off by the token limit while still thinking")
    assert "</think>" in str(error.value)


@pytest.mark.parametrize(
    "answer", ["", "I will now click the", "<tool_call>", '<tool_call>{"name": "computer_use", "arguments": {"act',
               '```json\n{"name": "comp', 'Action: {"name"']
)
def test_cut_off_in_the_answer(answer):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"Done thinking.\n</think>\n{answer}", finish_reason="length"))
    assert str(error.value).startswith("the reply was cut off by the token limit after the thought, before it ended")
    assert "while still thinking" not in str(error.value)


def test_unclosed_thought_that_stopped_is_a_thought_without_action():
    with pytest.raises(ReplyError, match="ended after the thought without an action: after </think>"):
        parse_reply(ModelReply(f"<think>\nI should <tool_call>{CLICK}</tool_call>"))


# ---- other rejections --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        CLICK,  # a bare object, with no tags, fence or Action: preface
        "left_click(337, 146)",
        "Action: left_click(337, 146)",
        "Action: click the name field",
    ],
)
def test_calls_in_no_accepted_form(answer):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"Thinking.\n</think>\n{answer}"))
    assert "no <tool_call> block" in str(error.value)
    assert '{"name": "computer_use", "arguments"' in str(error.value)  # the model is shown the form


@pytest.mark.parametrize(
    "answer",
    [
        f"Action: {CLICK}\nThat should do it.",  # text after a bare call: where does it end?
        f"<tool_call>{CLICK} {WAIT}</tool_call>",
        "<tool_call>{'name': 'computer_use', 'arguments': {'action': 'wait', 'time': 1}}</tool_call>",
        f"<tool_call>{CLICK}\nThat should do it.",
        "<tool_call>" + "[" * 100_000 + "</tool_call>",
        '<tool_call>{"name": "computer_use", "arguments": {"action": "scroll", "pixels": ' + "9" * 5000 + "}}",
    ],
)
def test_call_that_is_not_one_json_object(answer):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply(f"Thinking.\n</think>\n{answer}"))
    assert "the tool call is not valid JSON" in str(error.value)


@pytest.mark.parametrize(
    "tool_call, words",
    [
        ("computer_use", ["must be a JSON object"]),
        ({"function": "computer_use"}, ["unknown tool None"]),
        ({"id": "call_1", "type": "function", "function": {"name": "computer_use"}}, ["got NoneType"]),
        ({"function": {"name": "computer_use", "arguments": "[1, 2]"}}, ["got list"]),
        ({"name": "computer_use", "arguments": "```json\n{\"action\": \"wait\", \"time\": 99}\n```"}, ["time"]),
        ({"name": ["computer_use"] * 100, "arguments": {}}, ["['computer_use', 'computer_use', 'comput: call"]),
    ],
)
def test_malformed_structured_calls(tool_call, words):
    with pytest.raises(ReplyError) as error:
        parse_reply(ModelReply("", tool_calls=(tool_call,)))
    for word in words:
        assert word in str(error.value)

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
        ("<think>a never closed", ("a never closed", "")),
    ],
)
def test_split_thought(text, expected):
    assert split_thought(text) == expected
