"""People: a table of names and ages; a header click sorts by that column, Delete removes the selected row."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run

PEOPLE = [("Alice", 34), ("Bob", 27), ("Carol", 45), ("Dave", 19), ("Erin", 52)]


class People(MiniApp):
    title = "People"

    def build(self) -> None:
        style = ttk.Style()
        style.configure("Treeview", font=FONT, rowheight=30)
        style.configure("Treeview.Heading", font=FONT)
        self.table = ttk.Treeview(self.root, columns=("name", "age"), show="headings", selectmode="browse")
        for column in ("name", "age"):
            self.table.heading(column, text=column.title(), command=lambda c=column: self.sort(c))
            self.table.column(column, width=200)
        for person in self.rng.sample(PEOPLE, len(PEOPLE)):
            self.table.insert("", "end", values=person)
        self.place(self.control("table", self.table, "People"), 40, 40, 420, 240)
        delete = tk.Button(self.root, text="Delete", font=FONT, command=self.delete)
        self.place(self.control("delete", delete, "Delete"), 40, 320, 140, 44)

    def rows(self) -> list[list[Any]]:
        return [[str(v[0]), int(v[1])] for v in (self.table.item(i, "values") for i in self.table.get_children())]

    def sort(self, column: str) -> None:
        key = 0 if column == "name" else 1
        rows = sorted(self.rows(), key=lambda r: r[key])
        for item, row in zip(self.table.get_children(), rows):
            self.table.item(item, values=row)

    def delete(self) -> None:
        for item in self.table.selection():
            self.table.delete(item)

    def state(self) -> dict[str, Any]:
        return {"rows": self.rows()}


if __name__ == "__main__":
    run(People)
