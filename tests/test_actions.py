"""The action schema (what the model may ask for) and key-name mapping. Pure: no display."""

from __future__ import annotations

import json

import pytest

from actions import schema
from actions.keys import MODIFIERS, key_combo, key_name
from actions.schema import (
    ACTION_NAMES,
    FINAL_ACTIONS,
    GRID,
    POINTER_ACTIONS,
    InvalidAction,
    parse_action,
    tool_schema,
)

ALL_ACTIONS = {
    "key", "type", "mouse_move", "left_click", "left_click_drag", "right_click", "middle_click",
    "double_click", "triple_click", "scroll", "hscroll", "wait", "terminate", "answer",
}
CLICKS = ["mouse_move", "left_click", "left_click_drag", "right_click", "middle_click", "double_click",
          "triple_click"]

# One example of every action, exactly as the model writes the tool-call arguments (JSON).
MODEL_ARGUMENTS = {
    "key": '{"action": "key", "keys": ["ctrl", "s"]}',
    "type": '{"action": "type", "text": "Zürich – 東京"}',
    "mouse_move": '{"action": "mouse_move", "coordinate": [500, 500]}',
    "left_click": '{"action": "left_click", "coordinate": [337, 146]}',
    "left_click_drag": '{"action": "left_click_drag", "coordinate": [900, 100.5]}',
    "right_click": '{"action": "right_click", "coordinate": [0, 0]}',
    "middle_click": '{"action": "middle_click", "coordinate": [1000, 1000]}',
    "double_click": '{"action": "double_click", "coordinate": [12, 34]}',
    "triple_click": '{"action": "triple_click", "coordinate": [56, 78]}',
    "scroll": '{"action": "scroll", "pixels": -300}',
    "hscroll": '{"action": "hscroll", "pixels": 120, "coordinate": [400, 600]}',
    "wait": '{"action": "wait", "time": 1.5}',
    "terminate": '{"action": "terminate", "status": "success"}',
    "answer": '{"action": "answer", "text": "42"}',
}


def test_the_fourteen_actions_are_all_known():
    assert set(ACTION_NAMES) == ALL_ACTIONS
    assert len(ACTION_NAMES) == 14
    assert set(MODEL_ARGUMENTS) == ALL_ACTIONS
    assert FINAL_ACTIONS == {"terminate", "answer"}
    assert POINTER_ACTIONS == set(CLICKS) | {"scroll", "hscroll"}


@pytest.mark.parametrize("name", sorted(MODEL_ARGUMENTS))
def test_every_action_validates_from_the_models_json(name):
    arguments = json.loads(MODEL_ARGUMENTS[name])
    action = parse_action(arguments)
    assert action.action == name
    assert action.name == name
    # Round trip: the action written back as arguments is what the model wrote.
    written = action.arguments()
    assert written["action"] == name
    assert parse_action(written) == action
    for field, value in arguments.items():
        expected = list(value) if isinstance(value, list) else value
        got = list(written[field]) if isinstance(written[field], (list, tuple)) else written[field]
        assert got == expected, field


def test_parsed_values():
    click = parse_action({"action": "left_click", "coordinate": [337, 146]})
    assert click.coordinate == (337.0, 146.0)
    assert click.point == (337.0, 146.0)
    scroll = parse_action({"action": "scroll", "pixels": -300})
    assert scroll.pixels == -300 and scroll.coordinate is None and scroll.point is None
    assert scroll.arguments() == {"action": "scroll", "pixels": -300}  # no coordinate: None left out
    hscroll = parse_action({"action": "hscroll", "pixels": 120, "coordinate": [400, 600]})
    assert hscroll.point == (400.0, 600.0)
    assert parse_action({"action": "key", "keys": ["ctrl", "s"]}).keys == ["ctrl", "s"]
    assert parse_action({"action": "type", "text": "Zürich – 東京"}).text == "Zürich – 東京"
    assert parse_action({"action": "wait", "time": 1.5}).time == 1.5
    assert parse_action({"action": "terminate", "status": "failure"}).status == "failure"
    assert parse_action({"action": "answer", "text": "42"}).point is None


def test_actions_are_frozen_and_compare_by_value():
    a = parse_action({"action": "left_click", "coordinate": [1, 2]})
    b = parse_action({"action": "left_click", "coordinate": [1.0, 2.0]})
    assert a == b
    assert a != parse_action({"action": "right_click", "coordinate": [1, 2]})
    with pytest.raises(Exception):
        a.coordinate = (3, 4)  # type: ignore[misc]


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"action": "left_click", "coordinate": [1, 2], "button": "left"}, ["left_click", "button", "Extra inputs"]),
        ({"action": "type", "text": "hi", "coordinate": [1, 2]}, ["type", "coordinate", "Extra inputs"]),
        ({"action": "terminate", "status": "success", "answer": "x"}, ["terminate", "answer", "Extra inputs"]),
    ],
)
def test_unknown_fields_are_rejected(arguments, words):
    with pytest.raises(InvalidAction) as error:
        parse_action(arguments)
    for word in words:
        assert word in str(error.value)


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"action": "scroll", "pixels": "lots"}, ["scroll", "pixels", "integer"]),
        ({"action": "scroll", "pixels": 1.5}, ["scroll", "pixels", "integer"]),
        ({"action": "type", "text": 123}, ["type", "text", "string"]),
        ({"action": "key", "keys": "ctrl"}, ["key", "keys", "list"]),
        ({"action": "key", "keys": []}, ["key", "keys"]),
        ({"action": "key", "keys": [""]}, ["key", "keys"]),
        ({"action": "left_click", "coordinate": "12,34"}, ["left_click", "coordinate", "tuple"]),
        ({"action": "left_click", "coordinate": [12]}, ["left_click", "coordinate"]),
        ({"action": "left_click", "coordinate": [1, 2, 3]}, ["left_click", "coordinate"]),
        ({"action": "wait", "time": 0}, ["wait", "time", "greater than 0"]),
        ({"action": "wait", "time": 61}, ["wait", "time", "60"]),
        ({"action": "terminate", "status": "done"}, ["terminate", "status", "'success' or 'failure'"]),
        ({"action": "type", "text": ""}, ["type", "text"]),
        ({"action": "answer", "text": ""}, ["answer", "text"]),
    ],
)
def test_wrong_types_and_values_are_rejected(arguments, words):
    with pytest.raises(InvalidAction) as error:
        parse_action(arguments)
    message = str(error.value)
    assert message.startswith(f"invalid {arguments['action']} action: ")
    for word in words:
        assert word in message


@pytest.mark.parametrize("name", CLICKS)
def test_pointer_actions_need_a_coordinate(name):
    with pytest.raises(InvalidAction) as error:
        parse_action({"action": name})
    assert str(error.value) == f"invalid {name} action: coordinate: Field required"


@pytest.mark.parametrize(
    "arguments, missing",
    [
        ({"action": "key"}, "keys"),
        ({"action": "type"}, "text"),
        ({"action": "scroll"}, "pixels"),
        ({"action": "hscroll", "coordinate": [1, 2]}, "pixels"),
        ({"action": "wait"}, "time"),
        ({"action": "terminate"}, "status"),
        ({"action": "answer"}, "text"),
    ],
)
def test_missing_required_fields_are_named(arguments, missing):
    with pytest.raises(InvalidAction) as error:
        parse_action(arguments)
    assert f"{missing}: Field required" in str(error.value)


def test_several_problems_are_all_reported():
    with pytest.raises(InvalidAction) as error:
        parse_action({"action": "left_click", "coordinate": "x", "extra": 1})
    message = str(error.value)
    assert "coordinate:" in message and "extra:" in message and "; " in message


@pytest.mark.parametrize("name", ["click", "fly", "LEFT_CLICK", "screenshot", "", None, 3])
def test_unknown_action_names(name):
    with pytest.raises(InvalidAction) as error:
        parse_action({"action": name, "coordinate": [1, 2]})
    message = str(error.value)
    assert message.startswith(f"unknown action {name!r}")
    for known in ALL_ACTIONS:  # the model is told what it may use
        assert known in message


def test_missing_action_name():
    with pytest.raises(InvalidAction, match=r"unknown action None"):
        parse_action({"coordinate": [1, 2]})


@pytest.mark.parametrize("arguments", [[1, 2], "left_click", None, 5])
def test_arguments_must_be_an_object(arguments):
    with pytest.raises(InvalidAction) as error:
        parse_action(arguments)
    assert str(error.value) == f"tool arguments must be a JSON object, got {type(arguments).__name__}"


def test_invalid_action_is_a_value_error():
    assert issubclass(InvalidAction, ValueError)


def test_numbers_written_as_strings_are_read_as_numbers():
    assert parse_action({"action": "scroll", "pixels": "5"}).pixels == 5
    assert parse_action({"action": "left_click", "coordinate": ["10", "20"]}).coordinate == (10.0, 20.0)
    with pytest.raises(InvalidAction, match="coordinate"):
        parse_action({"action": "left_click", "coordinate": ["ten", "20"]})


# ---- tool_schema ------------------------------------------------------------------------


def test_tool_schema_shape():
    tool = tool_schema()
    assert tool["name"] == "computer_use"
    assert f"{GRID}x{GRID}" in tool["description"]
    parameters = tool["parameters"]
    assert parameters["type"] == "object"
    assert parameters["required"] == ["action"]
    properties = parameters["properties"]
    assert set(properties) == {"action", "keys", "text", "coordinate", "pixels", "time", "status"}
    assert properties["action"]["type"] == "string"
    assert properties["action"]["enum"] == list(ACTION_NAMES)
    assert set(properties["action"]["enum"]) == ALL_ACTIONS
    for name in ALL_ACTIONS:  # every action is explained to the model
        assert f"* `{name}`: " in properties["action"]["description"]
    json.dumps(tool)  # JSON-ready, as it goes into the prompt


def test_tool_schema_has_no_pydantic_noise():
    text = json.dumps(tool_schema())
    assert "anyOf" not in text
    assert '"title":' not in text
    assert '"default":' not in text
    assert "prefixItems" not in text
    assert "$defs" not in text


def test_tool_schema_coordinate_required_by_clicks_optional_for_scroll():
    coordinate = tool_schema()["parameters"]["properties"]["coordinate"]
    assert coordinate["type"] == "array"
    assert coordinate["items"] == {"type": "number"}
    assert coordinate["minItems"] == 2 and coordinate["maxItems"] == 2
    description = coordinate["description"]
    required, _, optional = description.partition("Optional for")
    assert "Required only by" in required
    for name in CLICKS:
        assert f"`action={name}`" in required
        assert f"`action={name}`" not in optional
    for name in ("scroll", "hscroll"):
        assert f"`action={name}`" in optional
        assert f"`action={name}`" not in required
    for name in ("key", "type", "wait", "terminate", "answer"):
        assert f"`action={name}`" not in description


def test_tool_schema_other_fields():
    properties = tool_schema()["parameters"]["properties"]
    assert properties["status"]["enum"] == ["success", "failure"]
    assert "Required only by `action=terminate`." in properties["status"]["description"]
    assert properties["pixels"]["type"] == "integer"
    assert "`action=scroll`" in properties["pixels"]["description"]
    assert "`action=hscroll`" in properties["pixels"]["description"]
    assert "Optional" not in properties["pixels"]["description"]
    assert properties["keys"]["type"] == "array"
    assert "Required only by `action=key`." in properties["keys"]["description"]
    assert "`action=type`, `action=answer`" in properties["text"]["description"]
    assert properties["time"]["maximum"] == 60


def test_tool_schema_is_stable():
    assert tool_schema() == tool_schema()
    assert schema.tool_schema() is not schema.tool_schema()  # a fresh dict each time: callers may mutate


# ---- key names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, expected",
    [
        ("Return", "enter"), ("enter", "enter"), ("ENTER", "enter"), ("KP_Enter", "enter"),
        ("cmd", "win"), ("super", "win"), ("win", "win"), ("Meta", "win"), ("command", "win"),
        ("ctrl", "ctrl"), ("control", "ctrl"), ("Ctrl", "ctrl"),
        ("alt", "alt"), ("option", "alt"), ("shift", "shift"),
        ("ArrowUp", "up"), ("arrow_down", "down"), ("Left", "left"), ("right", "right"),
        ("F5", "f5"), ("f12", "f12"), ("F24", "f24"),
        ("Escape", "esc"), ("esc", "esc"), ("Tab", "tab"), ("space", "space"),
        ("BackSpace", "backspace"), ("Delete", "delete"), ("del", "delete"),
        ("Page_Down", "pagedown"), ("PageUp", "pageup"), ("Home", "home"), ("End", "end"),
        ("a", "a"), ("A", "a"), ("7", "7"), ("/", "/"), ("+", "+"), ("plus", "+"),
    ],
)
def test_key_name_aliases(name, expected):
    assert key_name(name) == expected


@pytest.mark.parametrize(
    "keys, expected",
    [
        (["ctrl+c"], ["ctrl", "c"]),
        (["Ctrl+Shift+T"], ["ctrl", "shift", "t"]),
        (["ctrl", "c"], ["ctrl", "c"]),
        (["control", "alt", "Delete"], ["ctrl", "alt", "delete"]),
        (["cmd", "space"], ["win", "space"]),
        (["super+l"], ["win", "l"]),
        (["Return"], ["enter"]),
        (["ArrowUp"], ["up"]),
        (["F5"], ["f5"]),
        (["x"], ["x"]),
        (["+"], ["+"]),
        (["ctrl", "+"], ["ctrl", "+"]),
        (["ctrl + alt + delete"], ["ctrl", "alt", "delete"]),
    ],
)
def test_key_combo(keys, expected):
    assert key_combo(keys) == expected


def test_spaced_combo_with_a_single_character():
    assert key_combo(["ctrl + c"]) == ["ctrl", "c"]


@pytest.mark.parametrize("keys", [["hyper"], ["ctrl", "banana"], ["ctrl+banana"], ["é"], ["Ω"], [" "], ["F25"]])
def test_unknown_keys_raise(keys):
    with pytest.raises(InvalidAction) as error:
        key_combo(keys)
    assert "unknown key" in str(error.value)


def test_unknown_key_message_names_the_key_and_suggests_names():
    with pytest.raises(InvalidAction) as error:
        key_name("banana")
    message = str(error.value)
    assert "'banana'" in message
    assert "ctrl" in message and "enter" in message


def test_single_non_ascii_character_points_to_the_type_action():
    with pytest.raises(InvalidAction, match="use the type action"):
        key_name("ü")


def test_modifiers_are_pyautogui_names():
    assert {key_name(k) for k in ("ctrl", "shift", "alt", "super")} <= MODIFIERS
    assert "enter" not in MODIFIERS


# ---- bounds: an absurd amount is the model's error, refused before anything moves ----------


@pytest.mark.parametrize(
    "arguments, words",
    [
        ({"action": "scroll", "pixels": 10001}, ["scroll", "pixels", "less than or equal to 10000"]),
        ({"action": "scroll", "pixels": -10**12}, ["scroll", "pixels", "greater than or equal to -10000"]),
        ({"action": "hscroll", "pixels": 50000}, ["hscroll", "pixels", "10000"]),
        ({"action": "type", "text": "x" * 4001}, ["type", "text", "at most 4000 characters"]),
        ({"action": "key", "keys": ["a"] * 9}, ["key", "keys", "at most 8"]),
        ({"action": "key", "keys": ["ctrl+alt+shift+win+a+b+c+d+e"]}, ["key", "keys", "9 keys", "at most 8"]),
    ],
)
def test_amounts_beyond_the_bounds_are_invalid(arguments, words):
    with pytest.raises(InvalidAction) as error:
        parse_action(arguments)
    message = str(error.value)
    assert message.startswith(f"invalid {arguments['action']} action: ")
    for word in words:
        assert word in message


def test_amounts_at_the_bounds_are_valid():
    assert parse_action({"action": "scroll", "pixels": -schema.MAX_SCROLL_PIXELS}).pixels == -10000
    assert parse_action({"action": "hscroll", "pixels": schema.MAX_SCROLL_PIXELS}).pixels == 10000
    assert len(parse_action({"action": "type", "text": "é" * schema.MAX_TYPE_CHARACTERS}).text) == 4000
    assert len(parse_action({"action": "key", "keys": ["ctrl", "alt", "shift", "win", "a", "b", "c", "d"]}).keys) == 8


def test_the_model_is_shown_the_bounds():
    properties = tool_schema()["parameters"]["properties"]
    assert properties["pixels"]["minimum"] == -10000 and properties["pixels"]["maximum"] == 10000
    assert properties["text"]["maxLength"] == 4000
    assert properties["keys"]["maxItems"] == 8
    assert "at most 10000" in properties["pixels"]["description"]
    assert "at most 4000 characters" in properties["text"]["description"]
