"""Volume: a slider from 0 to 100."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run


class Volume(MiniApp):
    title = "Volume"

    def build(self) -> None:
        self.place(tk.Label(self.root, text="Volume (0-100)", font=FONT, anchor="w"), 60, 60, 300)
        self.volume = tk.Scale(self.root, from_=0, to=100, orient="horizontal", length=500, font=FONT,
                               sliderlength=30, showvalue=True)
        self.volume.set(self.rng.choice([20, 30]))
        self.place(self.control("volume", self.volume, "Volume"), 60, 110, 520, 70)

    def state(self) -> dict[str, Any]:
        return {"volume": self.volume.get()}


if __name__ == "__main__":
    run(Volume)
