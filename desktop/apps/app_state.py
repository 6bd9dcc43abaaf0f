"""How the bundled apps show tests what they hold: a JSON file, rewritten atomically when it changes."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


class StateFile:
    """``write(state)`` replaces the file's content in one step, and only when the state changed."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._last = ""

    def write(self, state: dict[str, Any]) -> None:
        text = json.dumps(state, ensure_ascii=False, indent=2)
        if self.path is None or text == self._last:
            return
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(self.path)
        self._last = text


def publish_tk(root: Any, state_file: StateFile, state: Callable[[], dict[str, Any]]) -> None:
    """Write ``state()`` whenever it changed; polled every 100 ms, so typing shows up at once."""
    state_file.write(state())
    root.after(100, publish_tk, root, state_file, state)


def run_tk(form: Callable[[Any, Path | None], object], description: str | None) -> None:
    """A Tk form app's command line: ``--state FILE`` and ``--geometry``, then its window."""
    import tkinter as tk

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--state", type=Path, help="write the form's state to this JSON file")
    parser.add_argument("--geometry", default="+60+40", help="where the window goes (X geometry)")
    args = parser.parse_args()
    root = tk.Tk()
    root.geometry(args.geometry)
    form(root, args.state)
    root.mainloop()
