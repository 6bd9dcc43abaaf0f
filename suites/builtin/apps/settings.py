"""Settings: General and Advanced tabs; Advanced resets everything after a confirmation dialog."""

from __future__ import annotations

import tkinter as tk
from tkinter import ttk
from typing import Any

from suites.builtin.apps.miniapp import FONT, MiniApp, run


class Settings(MiniApp):
    title = "Settings"

    def build(self) -> None:
        ttk.Style().configure("TNotebook.Tab", font=FONT, padding=(12, 4))
        tabs = ttk.Notebook(self.root)
        self.place(tabs, 20, 20, 600, 420)
        general, advanced = tk.Frame(tabs), tk.Frame(tabs)
        tabs.add(general, text="General")
        tabs.add(advanced, text="Advanced")
        self.dark = tk.BooleanVar(value=True)
        self.place(self.control("dark", tk.Checkbutton(general, text="Dark mode", variable=self.dark, font=FONT,
                                                       anchor="w"), "Dark mode"), 30, 40, 220)
        self.resets = 0
        reset = tk.Button(advanced, text="Reset all settings", font=FONT, command=self.confirm)
        self.place(self.control("reset", reset, "Reset all settings"), 30, 40, 240, 44)

    def confirm(self) -> None:
        dialog = tk.Toplevel(self.root)
        dialog.title("Confirm reset")
        dialog.geometry("360x160+180+240")
        dialog.transient(self.root)
        tk.Label(dialog, text="Reset all settings?", font=FONT).place(x=20, y=20, width=320, height=34)
        yes = tk.Button(dialog, text="Yes", font=FONT, command=lambda: self.reset(dialog))
        self.place(self.control("yes", yes, "Yes"), 60, 90, 100, 40)
        no = tk.Button(dialog, text="No", font=FONT, command=dialog.destroy)
        self.place(self.control("no", no, "No"), 200, 90, 100, 40)

    def reset(self, dialog: tk.Toplevel) -> None:
        self.dark.set(False)
        self.resets += 1
        dialog.destroy()

    def state(self) -> dict[str, Any]:
        return {"dark_mode": self.dark.get(), "resets": self.resets}


if __name__ == "__main__":
    run(Settings)
