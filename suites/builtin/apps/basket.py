"""Basket: a long list of produce (some only seen after scrolling) and a button that adds the selection."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

PRODUCE = ["Apricot", "Avocado", "Beetroot", "Broccoli", "Carrot", "Celery", "Fig", "Kale", "Leek", "Lemon",
           "Mango", "Melon", "Onion", "Papaya", "Pear", "Plum", "Radish", "Spinach", "Tomato", "Zucchini"]


class Basket(MiniApp):
    title = "Basket"

    def build(self) -> None:
        self.items = PRODUCE[:]
        self.basket: list[str] = []
        self.listbox = tk.Listbox(self.root, font=FONT, exportselection=False, activestyle="none")
        for item in self.items:
            self.listbox.insert("end", item)
        self.place(self.control("list", self.listbox, "Produce"), 40, 40, 260, 360)
        add = tk.Button(self.root, text="Add to basket", font=FONT, command=self.add)
        self.place(self.control("add", add, "Add to basket"), 340, 40, 200, 44)

    def add(self) -> None:
        self.basket += [self.items[i] for i in self.listbox.curselection()]

    def state(self) -> dict[str, Any]:
        return {"basket": self.basket}


if __name__ == "__main__":
    run(Basket)
