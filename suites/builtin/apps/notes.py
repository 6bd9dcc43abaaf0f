"""Notes: a tiny editor of ``~/notes.txt``; ctrl+s saves it."""

from __future__ import annotations

import tkinter as tk
from pathlib import Path
from typing import Any

from suites.builtin.apps.miniapp import MiniApp, run

TEXTS = ["The quick brown fox jumps over the lazy cat.\n", "A stitch in time saves nine cats.\n"]


class Notes(MiniApp):
    title = "Notes"

    def build(self) -> None:
        self.file = Path.home() / "notes.txt"
        self.saves = 0
        self.text = tk.Text(self.root, font=("DejaVu Sans Mono", 13), wrap="word", undo=True)
        self.text.insert("1.0", self.file.read_text(encoding="utf-8") if self.file.exists() else self.rng.choice(TEXTS))
        self.place(self.control("text", self.text, "Text"), 10, 10, 620, 460)
        self.text.bind("<Control-s>", self.save)
        self.text.focus_set()

    def save(self, event: object = None) -> str:
        self.file.write_text(self.text.get("1.0", "end-1c"), encoding="utf-8")
        self.saves += 1
        return "break"

    def state(self) -> dict[str, Any]:
        return {"text": self.text.get("1.0", "end-1c"), "saves": self.saves}


if __name__ == "__main__":
    run(Notes)
