"""Buttons: six labelled buttons in a seeded order; the state lists the clicks."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

LABELS = ["Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot"]


class Buttons(MiniApp):
    title = "Buttons"

    def build(self) -> None:
        self.clicks: list[str] = []
        labels = self.rng.sample(LABELS, len(LABELS))
        for index, label in enumerate(labels):
            button = tk.Button(self.root, text=label, font=FONT, command=lambda label=label: self.click(label))
            self.place(self.control(label, button, label), 60 + (index % 3) * 180, 80 + (index // 3) * 120, 150, 60)
        self.shown = tk.Label(self.root, text="No clicks yet", font=FONT, anchor="w")
        self.place(self.shown, 60, 360, 500)

    def click(self, label: str) -> None:
        self.clicks.append(label)
        self.shown.config(text=f"Clicked: {', '.join(self.clicks)}")

    def state(self) -> dict[str, Any]:
        return {"clicks": self.clicks}


if __name__ == "__main__":
    run(Buttons)
