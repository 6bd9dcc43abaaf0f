"""The demo: the bundled contact form on a virtual display, filled by the agent.

Runs with the scripted backend, so it needs no GPU and no model weights. It never touches
the desktop you are sitting at: it starts its own Xvfb display and window manager.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from desktop.virtual import VirtualDesktop, app_path

INSTRUCTION = (
    "Fill the contact form with Ada Lovelace, ada@analytical-engine.org, city 'Zürich – 東京', "
    "a two-line note, subscribe her to the newsletter, and save it."
)
SCRIPT = Path(__file__).parent / "demos" / "contact_form.replies"


def run_demo(runs_dir: Path, out=sys.stdout) -> int:
    from agent.settings import Settings

    with tempfile.TemporaryDirectory() as scratch, VirtualDesktop(set_environment=True) as desktop:
        state_file = Path(scratch) / "contact_form.json"
        desktop.launch([sys.executable, str(app_path("contact_form")), "--state", str(state_file)])
        desktop.wait_for_window("Contact")
        out.write(f"Started the contact form on virtual display {desktop.display}; the agent takes over.\n")
        out.flush()
        from tasks.command import run_command  # imports the input stack, now that DISPLAY is set

        settings = Settings(backend="scripted", script=SCRIPT, confirm="deny", runs_dir=runs_dir)
        result = run_command(settings, INSTRUCTION)
        state = json.loads(state_file.read_text(encoding="utf-8")) if state_file.exists() else {}
        saved = state.get("submissions", [])
        out.write(f"\nThe run ended with status '{result.status.value}' after {result.steps} steps.\n")
        out.write("What the contact form saved:\n")
        out.write(json.dumps(saved, ensure_ascii=False, indent=2) + "\n")
        last = sorted(result.folder.glob("step-*-action.png"))
        out.write(f"Run folder: {result.folder}" + (f" (last screen: {last[-1].name})" if last else "") + "\n")
        return result.exit_code if saved else 1
