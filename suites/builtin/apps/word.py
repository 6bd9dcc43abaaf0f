"""Word: one word, changed through the Edit menu or the word's right-click menu."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

WORDS = ["meadow", "lantern", "harbour", "velvet"]
COMMANDS = {"Uppercase": str.upper, "Lowercase": str.lower, "Reverse": lambda w: w[::-1]}


class Word(MiniApp):
    title = "Word"

    def build(self) -> None:
        self.word = tk.StringVar(value=self.rng.choice(WORDS))
        self.history: list[str] = []
        menubar = tk.Menu(self.root, font=FONT)
        edit = tk.Menu(menubar, tearoff=False, font=FONT)
        for name, change in COMMANDS.items():
            edit.add_command(label=name, command=lambda n=name, c=change: self.apply(n, c))
        menubar.add_cascade(label="Edit", menu=edit)
        self.root.config(menu=menubar)
        label = tk.Label(self.root, textvariable=self.word, font=("DejaVu Sans", 28), relief="groove")
        self.place(self.control("word", label, self.word.get()), 120, 120, 400, 100)
        popup = tk.Menu(self.root, tearoff=False, font=FONT)
        popup.add_command(label="Clear", command=lambda: self.apply("Clear", lambda w: ""))
        popup.add_command(label="Duplicate", command=lambda: self.apply("Duplicate", lambda w: w + w))
        label.bind("<Button-3>", lambda event: popup.tk_popup(event.x_root, event.y_root))

    def apply(self, name: str, change: Any) -> None:
        self.word.set(change(self.word.get()))
        self.history.append(name)

    def state(self) -> dict[str, Any]:
        return {"word": self.word.get(), "history": self.history}


if __name__ == "__main__":
    run(Word)
