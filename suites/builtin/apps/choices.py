"""Choices: fruit checkboxes, shipping radio buttons and an OK button that submits them."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

FRUITS = ["Apple", "Banana", "Cherry", "Grape"]
SHIPPING = ["Standard", "Express", "Pickup"]


class Choices(MiniApp):
    title = "Choices"

    def build(self) -> None:
        self.ticked = {f: tk.BooleanVar(value=False) for f in FRUITS}
        self.shipping = tk.StringVar(value="Standard")
        self.submitted: dict[str, Any] | None = None
        for row, fruit in enumerate(self.rng.sample(FRUITS, len(FRUITS))):
            box = tk.Checkbutton(self.root, text=fruit, variable=self.ticked[fruit], font=FONT, anchor="w")
            self.place(self.control(fruit, box, fruit), 60, 50 + row * 50, 200)
        for row, way in enumerate(SHIPPING):
            radio = tk.Radiobutton(self.root, text=way, value=way, variable=self.shipping, font=FONT, anchor="w")
            self.place(self.control(way, radio, way), 340, 50 + row * 50, 200)
        ok = tk.Button(self.root, text="OK", font=FONT, command=self.submit)
        self.place(self.control("OK", ok, "OK"), 260, 330, 120, 44)

    def submit(self) -> None:
        self.submitted = self.values()

    def values(self) -> dict[str, Any]:
        return {"fruits": sorted(f for f, v in self.ticked.items() if v.get()), "shipping": self.shipping.get()}

    def state(self) -> dict[str, Any]:
        return {**self.values(), "submitted": self.submitted}


if __name__ == "__main__":
    run(Choices)
