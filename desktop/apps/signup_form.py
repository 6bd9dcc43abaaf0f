"""A sign-up form (Tk) with every kind of field a form filler meets.

Text, e-mail, password, a country combo box, plan radio buttons, a birthday in DD.MM.YYYY, notes
on several lines, a newsletter check box, Save and a status line. Its layout follows the fonts
(grid geometry), as a real app's does. Whatever it holds is written as JSON to ``--state FILE``
whenever it changes; Save appends the entry to ``submissions`` there and shows "Saved (N)",
unless the birthday is not a date, when it shows "Birthday must be DD.MM.YYYY".
Run: ``python signup_form.py --state /tmp/signup.json``.
"""

from __future__ import annotations

import tkinter as tk
from datetime import datetime
from pathlib import Path
from tkinter import ttk

from app_state import StateFile, publish_tk, run_tk

COUNTRIES = ["Brazil", "France", "Germany", "Japan", "Switzerland", "United Kingdom"]
PLANS = ["Basic", "Pro", "Team"]
FONT = ("DejaVu Sans", 12)


class SignupForm:
    def __init__(self, root: tk.Tk, state_file: Path | None) -> None:
        self.root = root
        self.state_file = StateFile(state_file)
        self.submissions: list[dict[str, object]] = []
        root.title("Sign up")
        root.option_add("*Font", FONT)
        frame = tk.Frame(root, padx=24, pady=20)
        frame.pack(fill="both", expand=True)
        self.entries: dict[str, tk.Entry] = {}
        row = 0
        for key, label, show in [("name", "Full name", ""), ("email", "Email", ""), ("password", "Password", "•")]:
            self.entries[key] = self._entry(frame, row, label, show)
            row += 1
        tk.Label(frame, text="Country").grid(row=row, column=0, sticky="w", pady=6)
        self.country = tk.StringVar()
        ttk.Combobox(frame, textvariable=self.country, values=COUNTRIES, state="readonly", font=FONT,
                     width=28).grid(row=row, column=1, sticky="w", pady=6)
        row += 1
        tk.Label(frame, text="Plan").grid(row=row, column=0, sticky="w", pady=6)
        self.plan = tk.StringVar(value="")
        plans = tk.Frame(frame)
        plans.grid(row=row, column=1, sticky="w")
        for plan in PLANS:
            tk.Radiobutton(plans, text=plan, value=plan, variable=self.plan).pack(side="left", padx=(0, 18))
        row += 1
        self.entries["birthday"] = self._entry(frame, row, "Birthday", "")
        row += 1
        tk.Label(frame, text="Notes").grid(row=row, column=0, sticky="nw", pady=6)
        self.notes = tk.Text(frame, width=32, height=3, wrap="word")
        self.notes.grid(row=row, column=1, sticky="w", pady=6)
        row += 1
        self.newsletter = tk.BooleanVar(value=False)
        tk.Checkbutton(frame, text="Send me the newsletter", variable=self.newsletter).grid(
            row=row, column=1, sticky="w", pady=6)
        row += 1
        tk.Button(frame, text="Save", width=10, command=self.save).grid(row=row, column=1, sticky="w", pady=10)
        row += 1
        self.status = tk.Label(frame, text="", fg="#1a7f37")
        self.status.grid(row=row, column=1, sticky="w")
        publish_tk(root, self.state_file, self.state)

    def _entry(self, frame: tk.Frame, row: int, label: str, show: str) -> tk.Entry:
        tk.Label(frame, text=label).grid(row=row, column=0, sticky="w", padx=(0, 16), pady=6)
        entry = tk.Entry(frame, width=30, show=show)
        entry.grid(row=row, column=1, sticky="w", pady=6)
        return entry

    def values(self) -> dict[str, object]:
        values: dict[str, object] = {key: entry.get() for key, entry in self.entries.items()}
        values.update(country=self.country.get(), plan=self.plan.get(), notes=self.notes.get("1.0", "end-1c"),
                      newsletter=self.newsletter.get())
        return values

    def save(self) -> None:
        try:
            datetime.strptime(self.entries["birthday"].get(), "%d.%m.%Y")
        except ValueError:
            self.status.config(text="Birthday must be DD.MM.YYYY", fg="#b42318")
            return
        self.submissions.append(self.values())
        self.status.config(text=f"Saved ({len(self.submissions)})", fg="#1a7f37")
        self.state_file.write(self.state())

    def state(self) -> dict[str, object]:
        return {"fields": self.values(), "submissions": self.submissions}


if __name__ == "__main__":
    run_tk(SignupForm, __doc__)
