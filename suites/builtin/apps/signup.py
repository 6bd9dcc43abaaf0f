"""Sign-up form: name and email entries, a newsletter checkbox, and Submit."""

from __future__ import annotations

import tkinter as tk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run


class Signup(MiniApp):
    title = "Sign up"

    def build(self) -> None:
        self.entries: dict[str, tk.Entry] = {}
        for row, (key, label) in enumerate([("name", "Name"), ("email", "Email")]):
            self.place(tk.Label(self.root, text=label, font=FONT, anchor="w"), 40, 60 + row * 70, 120)
            entry = tk.Entry(self.root, font=FONT)
            self.entries[key] = self.place(self.control(key, entry, label), 170, 60 + row * 70, 380)
        self.newsletter = tk.BooleanVar(value=False)
        box = tk.Checkbutton(self.root, text="Newsletter", variable=self.newsletter, font=FONT, anchor="w")
        self.place(self.control("newsletter", box, "Newsletter"), 166, 200, 200)
        self.submitted: dict[str, Any] | None = None
        submit = tk.Button(self.root, text="Submit", font=FONT, command=self.submit)
        self.place(self.control("submit", submit, "Submit"), 170, 270, 140, 44)

    def values(self) -> dict[str, Any]:
        return {**{k: e.get() for k, e in self.entries.items()}, "newsletter": self.newsletter.get()}

    def submit(self) -> None:
        self.submitted = self.values()

    def state(self) -> dict[str, Any]:
        return {"fields": self.values(), "submitted": self.submitted}


if __name__ == "__main__":
    run(Signup)
