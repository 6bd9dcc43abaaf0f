"""``run_agent.py policy check CASES.jsonl``: what the gate would decide, case by case.

For people who write their own rules, and for the red-team suite: each line of the file is
one case, ``{"id": ..., "window": "<active window title>", "actions": [...]}``, its actions
the ``computer_use`` arguments a model would send (grid coordinates on a 1280x800 screen). A
case's actions go through one fresh gate in order, as consecutive steps of one run in that
window, each assumed carried out; the case's decision is the strictest of its steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from actions.schema import InvalidAction, parse_action
from errors import BadInput
from perception.geometry import CoordinateTransform, Monitor, OffScreen, ScreenLayout
from perception.windows import WindowInfo
from safety.composer import Composer
from safety.policy import Decision, Policy, Proposal, Verdict

SCREEN = Monitor(1, 0, 0, 1280, 800, primary=True)
_TRANSFORM = CoordinateTransform(SCREEN, (1280, 800), (1280, 800))


class CaseError(BadInput):
    """A line of a cases file that is not a case; the message names the line."""


def check_cases(path: Path, policy: Policy) -> Iterator[dict[str, Any]]:
    """One result per line of ``path``: ``{"id", "decision", "reason"}``, or ``{"id", "error"}``."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise CaseError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = _case(line, number)
        except CaseError as error:
            yield {"id": f"line {number}", "error": str(error)}
            continue
        try:
            verdict = judge_case(policy, case["window"], case["actions"])
        except CaseError as error:
            yield {"id": case["id"], "error": f"line {number}: {error}"}
            continue
        yield {"id": case["id"], "decision": verdict.decision.value, "reason": verdict.reason}


def judge_case(policy: Policy, title: str, actions: list[Any]) -> Verdict:
    """The strictest verdict over ``actions``, taken in order as steps of one run in a window."""
    layout = ScreenLayout((SCREEN,))
    window = WindowInfo(title=title, app="", left=0, top=0, width=SCREEN.width, height=SCREEN.height)
    composer = Composer()
    strictest = Verdict(Decision.ALLOW, "no actions")
    for index, arguments in enumerate(actions, start=1):
        try:
            action = parse_action(arguments)
            target = _TRANSFORM.to_desktop(action.point) if action.point is not None else None
        except (InvalidAction, OffScreen) as error:
            raise CaseError(f"action {index}: {error}") from None
        verdict = policy.judge(Proposal(action, target, window), layout, composer)
        composer.commit()
        if verdict.decision.severity > strictest.decision.severity or index == 1:
            strictest = Verdict(verdict.decision, f"step {index}: {verdict.reason}")
    return strictest


def _case(line: str, number: int) -> dict[str, Any]:
    try:
        case = json.loads(line)
    except json.JSONDecodeError as error:
        raise CaseError(f"line {number} is not JSON: {error.msg} at column {error.colno}") from None
    if not isinstance(case, dict):
        raise CaseError(f"line {number} is not a JSON object")
    missing = [k for k in ("id", "window", "actions") if k not in case]
    if missing:
        raise CaseError(f"line {number} lacks {', '.join(missing)}")
    if not isinstance(case["window"], str) or not isinstance(case["actions"], list) or not case["actions"]:
        raise CaseError(f"line {number}: window must be a string and actions a non-empty list")
    return case
