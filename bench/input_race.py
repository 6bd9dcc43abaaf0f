"""The click-after-Unicode race, reproduced: does text typed after a click land in the clicked field?

    python bench/input_race.py [-n 10] [--way executor|xdotool] [--no-wm]

A Tk window with an Entry and a Text on a virtual display of its own (Xvfb + openbox). Each run
clicks the Entry, types "Zurich " and two CJK characters (new ones each run, so that each run
changes the keymap), clicks the Text at once and types "First programmer", then reads both
fields back. ``--way xdotool`` does it with bare xdotool calls (the non-ASCII
characters one at a time, as the executor used to: each one remaps a spare keycode and restores
the map); ``--way executor`` goes through :class:`actions.executor.Executor`. The app logs when
Tk saw the ButtonPress on the Text and the first key there, so a run shows how late the click
was taken. ``--no-wm`` runs without the window manager, to show it is in the path.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from desktop.virtual import VirtualDesktop

APP = r"""
import json, sys, time, tkinter as tk
root = tk.Tk(); root.title("Race"); root.geometry("500x300+100+100")
entry = tk.Entry(root, font=("DejaVu Sans", 13)); entry.place(x=20, y=20, width=460, height=34)
text = tk.Text(root, font=("DejaVu Sans", 13)); text.place(x=20, y=80, width=460, height=150)
log = []
def note(what): log.append((what, time.monotonic()))
text.bind("<ButtonPress-1>", lambda e: note("text-press"), add="+")
text.bind("<FocusIn>", lambda e: note("text-focus"), add="+")
text.bind("<KeyPress>", lambda e: note("text-key"), add="+")
entry.bind("<KeyPress>", lambda e: note("entry-key"), add="+")
def dump(*_):
    print(json.dumps({"entry": entry.get(), "text": text.get("1.0", "end-1c"), "log": log}), flush=True)
    entry.delete(0, "end"); text.delete("1.0", "end"); log.clear(); root.focus_force()
root.bind_all("<F12>", dump)
root.mainloop()
"""
ENTRY, TEXT = (100 + 200, 100 + 37), (100 + 200, 100 + 150)  # window content at 100,100 (openbox adds a frame)
ASCII, NEXT = "Zurich ", "First programmer"


def unicode_text(number: int) -> str:
    """Two CJK characters no earlier run typed: 東京, then 丂丄, 丅丆, ..."""
    return "東京" if number == 1 else chr(0x4E00 + 2 * number) + chr(0x4E01 + 2 * number)


def xdotool_way(desktop: VirtualDesktop, entry: tuple[int, int], text: tuple[int, int], unicode: str) -> float:
    x = desktop.xdotool
    x("mousemove", *map(str, entry), "click", "1")
    x("type", "--delay", "12", "--", ASCII)
    for character in unicode:
        x("type", "--delay", "40", "--", character)
    x("mousemove", *map(str, text))
    clicked = time.monotonic()
    x("click", "1")
    x("type", "--delay", "12", "--", NEXT)
    return clicked


def executor_way(executor, entry: tuple[int, int], text: tuple[int, int], unicode: str) -> float:
    from actions.schema import parse_action

    executor.execute(parse_action({"action": "left_click", "coordinate": [0, 0]}), entry)
    executor.execute(parse_action({"action": "type", "text": ASCII + unicode}), None)
    clicked = time.monotonic()
    executor.execute(parse_action({"action": "left_click", "coordinate": [0, 0]}), text)
    executor.execute(parse_action({"action": "type", "text": NEXT}), None)
    return clicked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=10)
    parser.add_argument("--way", choices=["executor", "xdotool"], default="executor")
    parser.add_argument("--no-wm", action="store_true", help="kill the window manager first")
    args = parser.parse_args()
    with VirtualDesktop(set_environment=True) as desktop:
        if args.no_wm:
            for process in desktop._processes:  # the openbox this desktop started
                if process.args[0] == "openbox":
                    process.terminate()
                    process.wait()
        app = subprocess.Popen([sys.executable, "-c", APP], env=desktop.env, stdout=subprocess.PIPE, text=True)
        window = desktop.wait_for_window("^Race$")
        geometry = desktop.xdotool("getwindowgeometry", "--shell", window)
        left, top = (int(line.split("=")[1]) for line in geometry.splitlines() if line[:2] in ("X=", "Y="))
        entry, text = (left + 200, top + 17), (left + 200, top + 80)
        executor = None
        if args.way == "executor":
            from actions.executor import Executor

            executor = Executor()
        right, lateness = 0, []
        for number in range(1, args.n + 1):
            time.sleep(0.3)
            unicode = unicode_text(number)
            way = (lambda: executor_way(executor, entry, text, unicode)) if executor else (
                lambda: xdotool_way(desktop, entry, text, unicode))
            clicked = way()
            time.sleep(0.5)
            desktop.xdotool("key", "F12")
            assert app.stdout is not None
            result = json.loads(app.stdout.readline())
            ok = result["entry"] == ASCII + unicode and result["text"] == NEXT
            right += ok
            seen = {what: at for what, at in reversed(result["log"])}
            first_key = min((at for what, at in result["log"] if what.endswith("key") and at > clicked), default=None)
            press = seen.get("text-press")
            late = None if press is None else press - clicked
            if late is not None:
                lateness.append(late)
            keys_before = sum(1 for what, at in result["log"] if what == "entry-key" and press and clicked < at < press)
            print(f"run {number}: {'right' if ok else 'WRONG'} entry={result['entry']!r} text={result['text']!r} "
                  f"press taken {late * 1000 if late is not None else float('nan'):.0f} ms after the click, "
                  f"{keys_before} keys reached the Entry before it"
                  + (f", first key {1000 * (first_key - clicked):.0f} ms" if first_key else ""), flush=True)
        print(f"{right}/{args.n} runs right ({args.way}{', no window manager' if args.no_wm else ''}); "
              f"press taken after the click: median {1000 * statistics.median(lateness):.0f} ms, "
              f"max {1000 * max(lateness):.0f} ms")
        app.terminate()
        app.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
