"""A vendor form in themed Tk (ttk), as a supplier portal might have it.

A company name, a read-only country list of 30 (it shows ten at a time, so most need scrolling),
"Contact by" radio buttons whose options read "E-mail" and "Telephone", and an "I accept the terms"
check box right beside the list, where its text sits next to the list's rows once it opens. Save
appends the entry to ``submissions`` in ``--state FILE`` and shows "Saved (N)".
Run: ``python vendor_form.py --state /tmp/vendor.json``.
"""

from __future__ import annotations

import tkinter as tk
from pathlib import Path
from tkinter import ttk

from app_state import StateFile, publish_tk, run_tk

COUNTRIES = ["Argentina", "Australia", "Austria", "Belgium", "Brazil", "Canada", "Chile", "China", "Denmark",
             "Egypt", "Finland", "France", "Germany", "Greece", "India", "Ireland", "Italy", "Japan", "Kenya",
             "Mexico", "Netherlands", "Norway", "Peru", "Poland", "Portugal", "Spain", "Sweden", "Switzerland",
             "Turkey", "Uruguay"]
CONTACTS = ["E-mail", "Telephone"]
FONT = ("DejaVu Sans", 12)


class VendorForm:
    def __init__(self, root: tk.Tk, state_file: Path | None) -> None:
        self.root = root
        self.state_file = StateFile(state_file)
        self.submissions: list[dict[str, object]] = []
        root.title("Vendor")
        root.option_add("*Font", FONT)
        ttk.Style(root).configure(".", font=FONT)
        frame = ttk.Frame(root, padding=(24, 20))
        frame.pack(fill="both", expand=True)
        ttk.Label(frame, text="Company").grid(row=0, column=0, sticky="w", padx=(0, 16), pady=6)
        self.company = ttk.Entry(frame, width=28)
        self.company.grid(row=0, column=1, sticky="w", pady=6)
        ttk.Label(frame, text="Country").grid(row=1, column=0, sticky="w", pady=6)
        self.country = tk.StringVar()
        ttk.Combobox(frame, textvariable=self.country, values=COUNTRIES, state="readonly", font=FONT,
                     width=20).grid(row=1, column=1, sticky="w", pady=6)
        self.terms = tk.BooleanVar(value=False)
        ttk.Checkbutton(frame, text="I accept the terms", variable=self.terms).grid(row=2, column=2, sticky="w",
                                                                                     padx=(16, 0), pady=6)
        ttk.Label(frame, text="Contact by").grid(row=2, column=0, sticky="w", pady=6)
        self.contact = tk.StringVar(value="")
        contacts = ttk.Frame(frame)
        contacts.grid(row=2, column=1, sticky="w")
        for contact in CONTACTS:
            ttk.Radiobutton(contacts, text=contact, value=contact, variable=self.contact).pack(side="left",
                                                                                               padx=(0, 18))
        ttk.Button(frame, text="Save", command=self.save).grid(row=3, column=1, sticky="w", pady=10)
        self.status = ttk.Label(frame, text="")
        self.status.grid(row=4, column=1, sticky="w")
        publish_tk(root, self.state_file, self.state)

    def values(self) -> dict[str, object]:
        return {"company": self.company.get(), "country": self.country.get(), "contact": self.contact.get(),
                "terms": self.terms.get()}

    def save(self) -> None:
        self.submissions.append(self.values())
        self.status.config(text=f"Saved ({len(self.submissions)})")
        self.state_file.write(self.state())

    def state(self) -> dict[str, object]:
        return {"fields": self.values(), "submissions": self.submissions}


if __name__ == "__main__":
    run_tk(VendorForm, __doc__)
