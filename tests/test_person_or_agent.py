"""Whose input is it? The kill switch tells a person's input from the agent's while the agent acts.

Real display, real kill switch listening, the real executor; the person is another process moving
the pointer through XTest (``xdotool``), which is how a person's mouse looks to the listener.
"""

from __future__ import annotations

import threading
import time

from actions.executor import Executor
from actions.schema import parse_action
from safety.killswitch import AgentInput, KillSwitch
from tests.replies import NAME, NOTES

LONG_TEXT = "a person may move the mouse while this is typed " * 3


def desktop_point(grid: tuple[int, int]) -> tuple[int, int]:
    return round(grid[0] / 1000 * 1280), round(grid[1] / 1000 * 800)


def person_moves_pointer(desktop, after: float, seconds: float) -> threading.Thread:
    def move() -> None:
        time.sleep(after)
        end = time.monotonic() + seconds
        step = 0
        while time.monotonic() < end:
            desktop.xdotool("mousemove", str(200 + step % 50 * 4), "600")
            step += 1
            time.sleep(0.03)

    mover = threading.Thread(target=move)
    mover.start()
    return mover


def act(executor: Executor, kill: KillSwitch, arguments: dict, target) -> None:
    kind = arguments["action"]
    sends = AgentInput(keys=kind == "type", buttons=kind.endswith(("click", "drag")), pointer_to=target)
    with kill.agent_input(sends):
        executor.execute(parse_action(arguments), target, kill.check)


def test_the_agents_own_clicks_and_drags_are_not_taken_for_a_person(desktop, contact_form, kill_switch):
    executor = Executor(sleep=kill_switch.sleep)
    started = time.monotonic()
    for grid in (NAME, NOTES, NAME):
        act(executor, kill_switch, {"action": "left_click", "coordinate": list(grid)}, desktop_point(grid))
    act(executor, kill_switch, {"action": "type", "text": "Ada"}, None)
    act(executor, kill_switch, {"action": "left_click_drag", "coordinate": list(NOTES)}, desktop_point(NOTES))
    time.sleep(kill_switch.grace + 0.1)

    assert not kill_switch.person_active_since(started)


def test_a_person_moving_the_mouse_while_the_agent_types_is_seen(desktop, contact_form, kill_switch):
    executor = Executor(sleep=kill_switch.sleep)
    act(executor, kill_switch, {"action": "left_click", "coordinate": list(NOTES)}, desktop_point(NOTES))
    started = time.monotonic()
    mover = person_moves_pointer(desktop, after=0.1, seconds=0.3)
    act(executor, kill_switch, {"action": "type", "text": LONG_TEXT}, None)
    mover.join()

    assert kill_switch.person_active_since(started)


def test_a_person_moving_the_mouse_between_the_agents_clicks_is_seen(desktop, contact_form, kill_switch):
    """Clicks back to back, each within the last one's grace: the person's pointer is elsewhere."""
    executor = Executor(sleep=kill_switch.sleep)
    started = time.monotonic()
    mover = person_moves_pointer(desktop, after=0.0, seconds=0.4)
    for _ in range(8):
        for grid in (NAME, NOTES):
            act(executor, kill_switch, {"action": "left_click", "coordinate": list(grid)}, desktop_point(grid))
    mover.join()

    assert kill_switch.person_active_since(started)
