"""Reading UI-Venus 1.5 replies: ``<think>...</think><action>Click(box=(x,y))</action><conclusion>...``.

The action is a call in UI-Venus's own syntax (its repository's ``parse_answer`` reads the same):
a name, then ``key=value`` arguments whose values are quoted strings, ``(x, y)`` points on the
0-1000 grid or lists of quoted keys. Values are read as Python literals, never run. They map
onto our typed actions:

=========================  ===============================================
UI-Venus                   ours
=========================  ===============================================
``Click(box=(x,y))``       ``left_click``
``DoubleClick(box=...)``   ``double_click``
``Hover(box=...)``         ``mouse_move``
``Type(content='...')``    ``type``
``Hotkey(keys=[...])``     ``key``
``PressEnter()``           ``key`` enter
``Scroll(direction=...)``  ``scroll`` / ``hscroll`` by :data:`SCROLL_PIXELS`
``Wait()``                 ``wait`` :data:`WAIT_SECONDS`
``Finished(content=...)``  ``terminate`` success
``CallUser(content=...)``  ``answer``
=========================  ===============================================

``Drag``, ``Launch``, ``LongPress`` and the phone's ``PressBack``/``PressHome``/``PressRecent`` have
no single desktop action here and are answered with a :class:`ReplyError` naming what to use.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from actions.schema import Action, InvalidAction, parse_action

SCROLL_PIXELS = 500
WAIT_SECONDS = 2.0
_ACTION = re.compile(r"<action>(.*?)(?:</action>|\Z)", re.DOTALL)
_CALL = re.compile(r"^\s*(\w+)\((.*)\)\s*$", re.DOTALL)
_ARGUMENT = re.compile(r"""(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\([^)]*\)|\[[^\]]*\]|[^,]+)""")
_SCROLLS = {"up": ("scroll", 1), "down": ("scroll", -1), "left": ("hscroll", 1), "right": ("hscroll", -1)}
_EXAMPLE = "<action>Click(box=(x,y))</action>"


def venus_action(text: str, cut_off: bool = False) -> tuple[str, Action]:
    """(thought, action) of a UI-Venus reply, or a :class:`ReplyError` saying what to fix."""
    from agent.reply import ReplyError, split_thought

    thought, answer = split_thought(text)
    thought = thought.removeprefix("<think>").strip()
    found = list(_ACTION.finditer(answer))
    if cut_off and "</action>" not in answer:
        raise ReplyError("the reply was cut off by the token limit before its action ended: "
                         f"think more briefly and write {_EXAMPLE}")
    if len(found) != 1:
        raise ReplyError(f"the reply holds {len(found)} <action> blocks: write exactly one, as {_EXAMPLE}")
    call = _CALL.match(found[0].group(1))
    if call is None:
        raise ReplyError(f"the action is not a call like Click(box=(x,y)): {found[0].group(1)[:80]!r}")
    try:
        arguments = {key: ast.literal_eval(value.strip()) for key, value in _ARGUMENT.findall(call.group(2))}
    except (ValueError, SyntaxError):
        raise ReplyError(f"the arguments of {call.group(1)} are not quoted strings, (x,y) points or lists: "
                         f"write them as in {_EXAMPLE}") from None
    try:
        return thought, parse_action(_ours(call.group(1), arguments))
    except InvalidAction as error:
        raise ReplyError(f"{error}; fix the action and write it again") from None


def _ours(name: str, given: dict[str, Any]) -> dict[str, Any]:
    """Our tool-call arguments for UI-Venus's action ``name``."""
    from agent.reply import ReplyError

    if name in ("Click", "DoubleClick", "Hover"):
        action = {"Click": "left_click", "DoubleClick": "double_click", "Hover": "mouse_move"}[name]
        return {"action": action, "coordinate": given.get("box")}
    if name == "Type":
        return {"action": "type", "text": given.get("content")}
    if name == "Hotkey":
        keys = given.get("keys")
        return {"action": "key", "keys": keys.split() if isinstance(keys, str) else keys}
    if name == "PressEnter":
        return {"action": "key", "keys": ["enter"]}
    if name == "Scroll":
        action, sign = _SCROLLS.get(str(given.get("direction", "")).strip().lower(), ("scroll", 0))
        if not sign:
            raise ReplyError("Scroll needs direction='up', 'down', 'left' or 'right'")
        return {"action": action, "pixels": sign * SCROLL_PIXELS}
    if name == "Wait":
        return {"action": "wait", "time": WAIT_SECONDS}
    if name == "Finished":
        return {"action": "terminate", "status": "success"}
    if name == "CallUser":
        return {"action": "answer", "text": given.get("content")}
    raise ReplyError(f"{name} cannot be done on this desktop in one action: use Click, DoubleClick, Hover, Type, "
                     "Hotkey, PressEnter, Scroll, Wait, Finished or CallUser")
