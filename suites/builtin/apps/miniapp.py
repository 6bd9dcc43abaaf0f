"""What every mini-app shares: a fixed window, a seeded choice, its state published as JSON.

The window has a fixed size and place, and widgets sit at fixed pixels, so a reference
solution's grid coordinates hold on any machine. The state (what the app holds now) is written
to ``--state`` (default ``~/state.json``) whenever it changes, checked every 100 ms; a task's
evaluator reads it with ``cat``. ``--boxes FILE`` writes where each control is on the screen,
what it says and whether it shows text or an icon: the grounding set is made from that.
"""

from __future__ import annotations

import argparse
import json
import random
import tkinter as tk
from pathlib import Path
from typing import Any

FONT = ("DejaVu Sans", 13)
GEOMETRY = "640x480+40+40"


class MiniApp:
    """Subclasses build their widgets in ``build`` and say what they hold in ``state``."""

    title = "Mini app"

    def __init__(self, root: tk.Tk, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.controls: dict[str, tuple[tk.Widget, str, str]] = {}  # name -> (widget, its text, "text" | "icon")
        root.title(self.title)
        self.build()

    def build(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        raise NotImplementedError

    def control(self, name: str, widget: tk.Widget, text: str, kind: str = "text") -> tk.Widget:
        """Note a control for the grounding set; returns it."""
        self.controls[name] = (widget, text, kind)
        return widget

    def place(self, widget: tk.Widget, x: int, y: int, width: int, height: int = 34) -> tk.Widget:
        widget.place(x=x, y=y, width=width, height=height)
        return widget

    def boxes(self) -> list[dict[str, Any]]:
        """Each visible control: its text, kind, Tk class, and box [x, y, w, h] in screen pixels."""
        self.root.update_idletasks()
        found = []
        for name, (widget, text, kind) in self.controls.items():
            if widget.winfo_ismapped():
                found.append({"name": name, "text": text, "kind": kind, "class": widget.winfo_class(), "bbox": [
                    widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(), widget.winfo_height()]})
        return found


def run(app: type[MiniApp]) -> None:
    """The command line of a mini-app module."""
    parser = argparse.ArgumentParser(description=app.__doc__)
    parser.add_argument("--seed", type=int, default=0, help="picks the app's variant")
    parser.add_argument("--state", type=Path, default=Path.home() / "state.json", help="where the state goes")
    parser.add_argument("--boxes", type=Path, help="write the controls' screen boxes here once shown")
    args = parser.parse_args()
    root = tk.Tk()
    root.geometry(GEOMETRY)
    root.resizable(False, False)
    instance = app(root, random.Random(args.seed))
    last = ""

    def publish() -> None:
        nonlocal last
        text = json.dumps(instance.state(), ensure_ascii=False)
        if text != last:
            temporary = args.state.with_suffix(".tmp")
            temporary.write_text(text, encoding="utf-8")
            temporary.replace(args.state)
            last = text
        root.after(100, publish)

    def write_boxes() -> None:
        args.boxes.write_text(json.dumps(instance.boxes(), ensure_ascii=False), encoding="utf-8")

    publish()
    if args.boxes:
        root.after(500, write_boxes)
    root.mainloop()
