"""The demos: the bundled contact form on a virtual display, filled by the agent, or from a CSV file.

The agent demo runs with the scripted backend and the form demo with OCR, so neither needs a
GPU or model weights. They never touch the desktop you are sitting at: each starts its own Xvfb
display and window manager.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from desktop.virtual import VirtualDesktop, app_path

INSTRUCTION = (
    "Fill the contact form with Ada Lovelace, ada@analytical-engine.org, city 'Zürich – 東京', "
    "a two-line note, subscribe her to the newsletter, and save it."
)
SCRIPT = Path(__file__).parent / "demos" / "contact_form.replies"
FORM, CONTACTS = Path(__file__).parent / "forms" / "contact.yaml", Path(__file__).parent / "forms" / "contacts.csv"


@contextmanager
def contact_form(out: TextIO, what: str) -> Iterator[Callable[[], list[dict]]]:
    """The contact form on a virtual display of its own; yields what it has saved so far."""
    with tempfile.TemporaryDirectory() as scratch, VirtualDesktop(set_environment=True) as desktop:
        state_file = Path(scratch) / "contact_form.json"
        desktop.launch([sys.executable, str(app_path("contact_form")), "--state", str(state_file)])
        desktop.wait_for_window("Contact")
        out.write(f"Started the contact form on virtual display {desktop.display}; {what}.\n")
        out.flush()

        def saved() -> list[dict]:
            state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
            return state.get("submissions", [])

        yield saved


def run_demo(runs_dir: Path, out: TextIO = sys.stdout) -> int:
    from agent.settings import Settings

    with contact_form(out, "the agent takes over") as saved:
        # imports the input stack, now that DISPLAY is set
        from tasks.commands.run import run_command

        settings = Settings(backend="scripted", script=SCRIPT, confirm="deny", runs_dir=runs_dir)
        result = run_command(settings, INSTRUCTION)
        out.write(f"\nThe run ended with status '{result.status.value}' after {result.steps} steps.\n")
        out.write("What the contact form saved:\n")
        out.write(json.dumps(saved(), ensure_ascii=False, indent=2) + "\n")
        last = sorted(result.folder.glob("step-*-action.png"))
        out.write(f"Run folder: {result.folder}" + (f" (last screen: {last[-1].name})" if last else "") + "\n")
        return result.exit_code if saved() else 1


def run_fill_demo(runs_dir: Path, out: TextIO = sys.stdout) -> int:
    """``run_agent.py demo --fill``: the contact form filled from ``tasks/forms/contacts.csv``."""
    from agent.settings import Settings

    with contact_form(out, f"filling it from {CONTACTS}") as saved:
        # imports the input stack, now that DISPLAY is set
        from tasks.forms.fill import fill_form
        from tasks.forms.form import FormSpec, load_rows

        spec = FormSpec.load(FORM)
        settings = Settings(confirm="allow", runs_dir=runs_dir)  # on its own display, submitting needs no approval
        result = fill_form(settings, spec, load_rows(spec, CONTACTS), spec_name=FORM.stem, locator="ocr")
        out.write("\n" + "\n".join(f"row {r.number}: {r.status} in {r.seconds:.1f} s{' - ' + r.reason if r.reason else ''}"
                                   for r in result.rows) + "\n")
        out.write("What the contact form saved:\n")
        out.write(json.dumps(saved(), ensure_ascii=False, indent=2) + "\n")
        out.write(f"Run folder: {result.folder} (results.csv, and every action's screenshot)\n")
        return result.exit_code
