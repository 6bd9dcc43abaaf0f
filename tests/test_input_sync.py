"""Input arrives where it was aimed: a click after Unicode text, and the keymap given back.

Typing a character the keymap lacks changes the keymap; the window manager then re-grabs its
keys and buttons and, meanwhile, holds a click back while keys go on. Without the executor's
wait for the click to reach the app, the next field's first keys landed in the previous one.
"""

from __future__ import annotations

import subprocess
import sys
import time

from actions.executor import Executor
from actions.schema import parse_action
from tests.replies import CITY, NAME, NOTES


def at(grid: list[int]) -> tuple[int, int]:
    return round(grid[0] / 1000 * 1280), round(grid[1] / 1000 * 800)


def test_keys_after_a_click_that_follows_unicode_text_reach_the_clicked_field(contact_form):
    executor = Executor()
    for round_ in range(3):
        fresh = chr(0x4E00 + 40 * round_ + 7) + chr(0x4E00 + 40 * round_ + 8)  # new characters: a keymap change
        executor.execute(parse_action({"action": "triple_click", "coordinate": CITY}), at(CITY))
        executor.execute(parse_action({"action": "type", "text": f"Zürich – {fresh}"}), None)
        # at once; the click puts the cursor after the (short) notes so far
        executor.execute(parse_action({"action": "left_click", "coordinate": NOTES}), at(NOTES))
        executor.execute(parse_action({"action": "type", "text": f"Notes{round_} "}), None)
        notes = "".join(f"Notes{n} " for n in range(round_ + 1))
        state = contact_form.wait_for(lambda s: s["fields"]["notes"] == notes)
        assert state["fields"]["city"] == f"Zürich – {fresh}"


def test_keycodes_bound_for_unicode_are_given_back_when_the_process_ends(desktop, contact_form):
    code = ("from actions.executor import Executor, _bound_keys; from actions.schema import parse_action; "
            f"e = Executor(); e.execute(parse_action({{'action': 'left_click', 'coordinate': {NAME}}}), {at(NAME)}); "
            "e.execute(parse_action({'action': 'type', 'text': 'ÅŒ東京🚀'}), None); "
            "print(sorted(_bound_keys()._bound.values()))")
    typed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=desktop.env, timeout=30)
    assert typed.returncode == 0, typed.stderr
    bound = [int(n) for n in typed.stdout.strip().strip("[]").split(",")]
    assert len(bound) == 5
    keymap = desktop_keymap(desktop)
    assert all(keymap.get(n, "") == "" for n in bound), {n: keymap.get(n) for n in bound}
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == "ÅŒ東京🚀")


def desktop_keymap(desktop) -> dict[int, str]:
    """Keycode -> its keysyms as ``xmodmap -pke`` prints them ("" for none)."""
    listing = subprocess.run(["xmodmap", "-pke"], capture_output=True, text=True, env=desktop.env, check=True).stdout
    keymap = {}
    for line in listing.splitlines():
        left, _, right = line.partition("=")
        keymap[int(left.split()[1])] = right.strip()
    return keymap


def test_more_distinct_characters_than_keycodes_held_all_arrive(contact_form):
    from actions.executor import MAX_BOUND

    text = "".join(chr(0x4E00 + 300 + n) for n in range(3 * MAX_BOUND)) + " Ünïcødé ÉCOLE Ω 🚀"
    executor = Executor()
    executor.execute(parse_action({"action": "left_click", "coordinate": NOTES}), at(NOTES))
    executor.execute(parse_action({"action": "type", "text": text}), None)
    assert contact_form.wait_for(lambda s: s["fields"]["notes"] == text)


def test_bound_keycodes_are_given_back_after_a_quiet_spell(desktop, contact_form):
    from actions.executor import RELEASE_AFTER, _bound_keys

    executor = Executor()
    executor.execute(parse_action({"action": "left_click", "coordinate": NAME}), at(NAME))
    executor.execute(parse_action({"action": "type", "text": "Ørsted"}), None)
    code = _bound_keys()._bound["Ø"]  # an earlier test's characters may still be bound too
    assert desktop_keymap(desktop)[code].startswith("Oslash")
    time.sleep(RELEASE_AFTER + 0.3)
    assert desktop_keymap(desktop)[code] == "" and not _bound_keys()._bound
    assert contact_form.wait_for(lambda s: s["fields"]["name"] == "Ørsted")
