"""A small contact form (Tk) for demos and tests.

Its widgets sit at fixed pixel positions (not font-dependent), so a scripted reply file's
grid coordinates stay valid on any machine. Whatever the form holds is written as JSON to
``--state FILE`` whenever it changes; Save appends the entry to ``submissions`` there.
``--ttk`` makes its fields, check box and buttons themed (ttk) widgets, which look and take the
focus differently from classic Tk ones.
Run: ``python contact_form.py --state /tmp/form.json``.
"""

from __future__ import annotations

import argparse
import tkinter as tk
from pathlib import Path
from tkinter import ttk

from app_state import StateFile

FIELDS = [("name", "Full name"), ("email", "Email"), ("city", "City")]
FONT = ("DejaVu Sans", 13)


class ContactForm:
    def __init__(self, root: tk.Tk, state_file: Path | None, buttons_x: int = 180, restyled: bool = False,
                 themed: bool = False) -> None:
        self.root = root
        kit = ttk if themed else tk
        self.state_file = StateFile(state_file)
        self.submissions: list[dict[str, object]] = []
        self.entries: dict[str, tk.Entry] = {}
        root.title("Contact")
        for row, (key, label) in enumerate(FIELDS):
            tk.Label(root, text=label, font=FONT, anchor="w").place(x=30, y=40 + row * 60, width=140, height=34)
            entry = kit.Entry(root, font=FONT)
            entry.place(x=180, y=40 + row * 60, width=420, height=34)
            self.entries[key] = entry
        tk.Label(root, text="Notes", font=FONT, anchor="w").place(x=30, y=220, width=140, height=34)
        self.notes = tk.Text(root, font=FONT, wrap="word")
        self.notes.place(x=180, y=220, width=420, height=110)
        self.newsletter = tk.BooleanVar(value=False)
        check = {} if themed else {"font": FONT, "anchor": "w"}
        kit.Checkbutton(root, text="Send me the newsletter", variable=self.newsletter,
                        **check).place(x=176, y=350, width=300, height=34)
        # a restyled version: the buttons in another font and colours, as after an app update
        look = ({} if themed else {"font": ("DejaVu Serif", 15, "bold"), "bg": "#1f4e9e", "fg": "white"} if restyled
                else {"font": FONT})
        kit.Button(root, text="Save", command=self.save, **look).place(x=buttons_x, y=410, width=120, height=40)
        kit.Button(root, text="Clear", command=self.clear, **look).place(x=buttons_x + 140, y=410, width=120,
                                                                         height=40)
        self.status = tk.Label(root, text="", font=FONT, fg="#1a7f37", anchor="w")
        self.status.place(x=180, y=470, width=420, height=34)
        root.after(100, self.publish)

    def values(self) -> dict[str, object]:
        values: dict[str, object] = {key: entry.get() for key, entry in self.entries.items()}
        values["notes"] = self.notes.get("1.0", "end-1c")
        values["newsletter"] = self.newsletter.get()
        return values

    def save(self) -> None:
        self.submissions.append(self.values())
        self.status.config(text=f"Saved ({len(self.submissions)})")
        self.publish()

    def clear(self) -> None:
        for entry in self.entries.values():
            entry.delete(0, "end")
        self.notes.delete("1.0", "end")
        self.newsletter.set(False)
        self.status.config(text="")

    def publish(self) -> None:
        """Write the form's state when it changed; polled, so typing shows up within 100 ms."""
        focus = self.root.focus_get()
        state = {"fields": self.values(), "submissions": self.submissions,
                 "focus": next((k for k, e in self.entries.items() if e is focus), None)}
        self.state_file.write(state)
        self.root.after(100, self.publish)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state", type=Path, help="write the form's state to this JSON file")
    parser.add_argument("--geometry", default="640x520+40+40")
    parser.add_argument("--buttons-x", type=int, default=180, help="where the buttons start (a changed layout)")
    parser.add_argument("--restyled", action="store_true", help="buttons in another font and colours")
    parser.add_argument("--ttk", action="store_true", help="themed (ttk) fields, check box and buttons")
    args = parser.parse_args()
    root = tk.Tk()
    root.geometry(args.geometry)
    ContactForm(root, args.state, args.buttons_x, args.restyled, args.ttk)
    root.mainloop()


if __name__ == "__main__":
    main()
