"""Order: a country combo box, a quantity spin box, and Apply."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

COUNTRIES = ["Austria", "Brazil", "Canada", "Denmark", "Egypt", "France"]


class Order(MiniApp):
    title = "Order"

    def build(self) -> None:
        self.root.option_add("*TCombobox*Listbox.font", FONT)
        self.place(tk.Label(self.root, text="Country", font=FONT, anchor="w"), 40, 60, 120)
        self.country = ttk.Combobox(self.root, values=COUNTRIES, state="readonly", font=FONT)
        self.country.set(self.rng.choice(["Austria", "France"]))
        self.place(self.control("country", self.country, "Country"), 170, 60, 260)
        self.place(tk.Label(self.root, text="Quantity", font=FONT, anchor="w"), 40, 140, 120)
        self.quantity = tk.Spinbox(self.root, from_=1, to=9, font=FONT, state="readonly")
        self.place(self.control("quantity", self.quantity, "Quantity"), 170, 140, 120)
        self.applied: dict[str, Any] | None = None
        apply = tk.Button(self.root, text="Apply", font=FONT, command=self.apply)
        self.place(self.control("apply", apply, "Apply"), 170, 230, 140, 44)

    def values(self) -> dict[str, Any]:
        return {"country": self.country.get(), "quantity": int(self.quantity.get())}

    def apply(self) -> None:
        self.applied = self.values()

    def state(self) -> dict[str, Any]:
        return {**self.values(), "applied": self.applied}


if __name__ == "__main__":
    run(Order)
