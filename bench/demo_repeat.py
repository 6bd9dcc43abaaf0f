"""How often the agent demo saves exactly the record it was scripted to: a check on input races.

    python bench/demo_repeat.py [-n 20]

Runs ``run_agent.py demo`` N times, each on its own virtual display, and compares what the
contact form saved with the record the demo's script types (tasks/demos/contact_form.replies).
A click taken late by the window manager shows up here as text split across two fields.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = [{
    "name": "Ada Lovelace",
    "email": "ada@analytical-engine.org",
    "city": "Zürich – 東京",
    "notes": "First programmer 🚀\nNote on the Analytical Engine, 1843",
    "newsletter": True,
}]
SAVED_HEADING = "What the contact form saved:\n"


def saved_records(output: str) -> object:
    """The JSON the demo prints after its heading, or None when it printed none."""
    if SAVED_HEADING not in output:
        return None
    text = output.split(SAVED_HEADING, 1)[1]
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except json.JSONDecodeError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=20, help="how many runs (default: 20)")
    args = parser.parse_args()
    exact = 0
    with tempfile.TemporaryDirectory() as runs:
        for number in range(1, args.n + 1):
            started = time.monotonic()
            done = subprocess.run([sys.executable, str(ROOT / "run_agent.py"), "demo", "--runs-dir", runs],
                                  cwd=ROOT, capture_output=True, text=True, timeout=300)
            records = saved_records(done.stdout)
            right = done.returncode == 0 and records == EXPECTED
            exact += right
            wrong = "" if right else f": {json.dumps(records, ensure_ascii=False)}"
            print(f"run {number}: {'exact' if right else 'WRONG'} (exit {done.returncode}, "
                  f"{time.monotonic() - started:.1f} s){wrong}", flush=True)
    print(f"{exact}/{args.n} runs saved the exact expected record")
    return 0 if exact == args.n else 1


if __name__ == "__main__":
    sys.exit(main())
