"""The actions a model may ask for: the Qwen3-VL ``computer_use`` tool as typed models.

One strict pydantic model per action, joined into the discriminated union
:data:`Action`. The tool description shown to the model (:func:`tool_schema`) and the
validator that reads its replies (:func:`parse_action`) both come from these types, so
they cannot drift apart. Coordinates are on the model's 0-1000 grid over the image it
was shown; :mod:`perception.geometry` maps them to the screen.

Importing this module needs pydantic only: no screen, no input devices, no torch.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from errors import ModelMistake

GRID = 1000
"""Qwen3-VL's coordinate grid: 0..1000 across the width and the height of the image."""
MAX_SCROLL_PIXELS = 10_000
MAX_TYPE_CHARACTERS = 4_000
MAX_CHORD_KEYS = 8
"""Bounds on what one action may ask for: an absurd amount is the model's error, refused before
anything moves (and a long action stays short enough to stop; see actions.executor)."""

_GridValue = Annotated[float, Field(ge=0, le=GRID)]
GridPoint = Annotated[
    tuple[_GridValue, _GridValue],
    Field(
        description=(
            f"(x, y) on a {GRID}x{GRID} grid laid over the screenshot: x from the left edge, "
            f"y from the top edge, both 0..{GRID}."
        )
    ),
]


class _Action(BaseModel):
    """Common settings: no unknown fields. Numbers written as strings ("412") are accepted,
    as models sometimes quote them; anything that is not a number is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @property
    def name(self) -> str:
        return self.action  # type: ignore[attr-defined]

    @property
    def point(self) -> tuple[float, float] | None:
        """The grid point this action targets, if it targets one."""
        return getattr(self, "coordinate", None)

    def arguments(self) -> dict[str, Any]:
        """The action as the tool-call arguments a model would write."""
        return self.model_dump(mode="json", exclude_none=True)


class Key(_Action):
    """Press keys together: pressed in the order given, released in reverse (e.g. ["ctrl", "s"])."""

    action: Literal["key"]
    keys: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=MAX_CHORD_KEYS,
        description=f"Key names, pressed in order and released in reverse; at most {MAX_CHORD_KEYS}.",
    )

    @field_validator("keys")
    @classmethod
    def _known_keys(cls, keys: list[str]) -> list[str]:
        from actions.keys import key_combo  # keys.py builds on this module

        try:
            names = key_combo(keys)
        except InvalidAction as error:
            raise ValueError(str(error)) from None
        if len(names) > MAX_CHORD_KEYS:
            raise ValueError(f"{len(names)} keys pressed together; at most {MAX_CHORD_KEYS}")
        return keys


class Type(_Action):
    """Type a string of text on the keyboard, any Unicode included."""

    action: Literal["type"]
    text: str = Field(
        min_length=1, max_length=MAX_TYPE_CHARACTERS,
        description=f"The text to type, at most {MAX_TYPE_CHARACTERS} characters at a time "
                    "(or the answer, for answer).",
    )


class MouseMove(_Action):
    """Move the pointer to a point without clicking."""

    action: Literal["mouse_move"]
    coordinate: GridPoint


class LeftClick(_Action):
    """Click the left mouse button at a point."""

    action: Literal["left_click"]
    coordinate: GridPoint


class LeftClickDrag(_Action):
    """Press the left button at the current pointer position, drag to a point and release."""

    action: Literal["left_click_drag"]
    coordinate: GridPoint


class RightClick(_Action):
    """Click the right mouse button at a point."""

    action: Literal["right_click"]
    coordinate: GridPoint


class MiddleClick(_Action):
    """Click the middle mouse button at a point."""

    action: Literal["middle_click"]
    coordinate: GridPoint


class DoubleClick(_Action):
    """Double-click the left mouse button at a point."""

    action: Literal["double_click"]
    coordinate: GridPoint


class TripleClick(_Action):
    """Triple-click the left mouse button at a point (selects a line or paragraph)."""

    action: Literal["triple_click"]
    coordinate: GridPoint


_Pixels = Annotated[int, Field(ge=-MAX_SCROLL_PIXELS, le=MAX_SCROLL_PIXELS)]


class Scroll(_Action):
    """Scroll vertically; positive pixels scroll up, negative down. At a point, if given."""

    action: Literal["scroll"]
    pixels: _Pixels = Field(description=f"Amount to scroll: positive scrolls up (or left, for hscroll); "
                                        f"at most {MAX_SCROLL_PIXELS} either way.")
    coordinate: GridPoint | None = None


class HScroll(_Action):
    """Scroll horizontally; positive pixels scroll left, negative right. At a point, if given."""

    action: Literal["hscroll"]
    pixels: _Pixels
    coordinate: GridPoint | None = None


class Wait(_Action):
    """Wait for the screen to change (an app starting, a page loading)."""

    action: Literal["wait"]
    time: float = Field(gt=0, le=60, description="Seconds to wait.")


class Terminate(_Action):
    """End the task, saying whether it succeeded."""

    action: Literal["terminate"]
    status: Literal["success", "failure"] = Field(description="How the task ended.")


class Answer(_Action):
    """End the task with an answer to the user's question."""

    action: Literal["answer"]
    text: str = Field(min_length=1)


Action = Annotated[
    Union[
        Key,
        Type,
        MouseMove,
        LeftClick,
        LeftClickDrag,
        RightClick,
        MiddleClick,
        DoubleClick,
        TripleClick,
        Scroll,
        HScroll,
        Wait,
        Terminate,
        Answer,
    ],
    Field(discriminator="action"),
]
"""Any one action; ``action`` names which."""

ACTION_TYPES: tuple[type[_Action], ...] = Action.__origin__.__args__  # type: ignore[attr-defined]
ACTION_NAMES: tuple[str, ...] = tuple(
    t.model_fields["action"].annotation.__args__[0] for t in ACTION_TYPES  # type: ignore[union-attr]
)
FINAL_ACTIONS = frozenset({"terminate", "answer"})
INPUT_ACTIONS = frozenset(ACTION_NAMES) - FINAL_ACTIONS - {"wait"}
"""Actions that send mouse or keyboard input."""
POINTER_ACTIONS = frozenset(
    n for n, t in zip(ACTION_NAMES, ACTION_TYPES) if "coordinate" in t.model_fields
)

_adapter: TypeAdapter[Action] = TypeAdapter(Action)


class InvalidAction(ModelMistake):
    """The model asked for an action that does not exist or is malformed.

    The message is written for the model: it is fed back so the model can correct itself.
    """


def parse_action(arguments: Any) -> Action:
    """Validate tool-call arguments into an :data:`Action`, or raise :class:`InvalidAction`."""
    if not isinstance(arguments, dict):
        raise InvalidAction(f"tool arguments must be a JSON object, got {type(arguments).__name__}")
    name = arguments.get("action")
    if name not in ACTION_NAMES:
        raise InvalidAction(f"unknown action {name!r}; use one of: {', '.join(ACTION_NAMES)}")
    try:
        return _adapter.validate_python(arguments)
    except ValidationError as error:
        problems = []
        for e in error.errors():
            where = ".".join(str(p) for p in e["loc"][1:]) or "arguments"
            problems.append(f"{where}: {e['msg']}")
        raise InvalidAction(f"invalid {name} action: " + "; ".join(problems)) from None


def tool_schema() -> dict[str, Any]:
    """The ``computer_use`` function as Qwen3-VL was trained to see it, built from the types.

    The model knows one flat parameter object (``action`` plus optional arguments, each
    "required only by" some actions), so the union is folded into that shape.
    """
    names = list(ACTION_NAMES)
    action_help = "\n".join(f"* `{n}`: {t.__doc__}" for n, t in zip(names, ACTION_TYPES))
    properties: dict[str, Any] = {
        "action": {
            "description": "The action to perform. The available actions are:\n" + action_help,
            "enum": names,
            "type": "string",
        }
    }
    for name, model in zip(names, ACTION_TYPES):
        schema = model.model_json_schema()
        for field, spec in schema["properties"].items():
            if field == "action":
                continue
            prop = properties.setdefault(field, _flatten(spec, schema.get("$defs", {})))
            prop.setdefault("_used_by", []).append(name)
            if field in schema.get("required", []):
                prop.setdefault("_required_by", []).append(name)
    for prop in properties.values():
        used_by, required_by = prop.pop("_used_by", None), prop.pop("_required_by", [])
        if used_by is None:
            continue
        optional_by = [n for n in used_by if n not in required_by]
        notes = [prop.get("description", "").rstrip(".")]
        if required_by:
            notes.append("Required only by " + ", ".join(f"`action={n}`" for n in required_by))
        if optional_by:
            notes.append("Optional for " + ", ".join(f"`action={n}`" for n in optional_by))
        prop["description"] = ". ".join(n for n in notes if n) + "."
    return {
        "name": "computer_use",
        "description": (
            "Use a mouse and keyboard to interact with a computer, and take screenshots. "
            f"Screen coordinates are given on a {GRID}x{GRID} grid over the screenshot."
        ),
        "parameters": {"properties": properties, "required": ["action"], "type": "object"},
    }


def _flatten(spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A field's JSON schema without pydantic's ``anyOf null`` and ``title`` noise."""
    options = [s for s in spec.get("anyOf", [spec]) if s.get("type") != "null"]
    flat = {k: v for k, v in options[0].items() if k not in ("title", "default")}
    if "description" in spec:
        flat["description"] = spec["description"]
    if flat.get("type") == "array" and "prefixItems" in flat:
        flat = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2, **{
            k: v for k, v in flat.items() if k == "description"}}
    return flat
