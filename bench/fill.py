"""Seconds per row of form filling, without a model: the first row (OCR of the form) against later ones.

    python bench/fill.py [--rows 6]

Fills six fields of the bundled sign-up form (a name, a birthday, a country from a list, a plan
from radio buttons, notes on two lines, the newsletter box) and submits, once per row, on its own
virtual display, with OCR locating the fields. Prints each row's seconds, then where a cached row's
time goes: filling, reading back, submitting and waiting for "Saved".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.trajectory import read_steps
from desktop.virtual import VirtualDesktop, app_path

SPEC = """
window: "^Sign up$"
fields:
  - {label: "Full name", value: "{name}"}
  - {label: "Birthday", kind: date, value: "{birthday}", format: "%d.%m.%Y"}
  - {label: "Country", kind: select, value: "{country}"}
  - {label: "Plan", kind: radio, value: "{plan}"}
  - {label: "Notes", kind: multiline, value: "{notes}"}
  - {label: "Send me the newsletter", kind: checkbox, value: "{newsletter}"}
submit: {label: "Save", confirm: false}
after_submit: {expect_text: "Saved"}
"""
COUNTRIES, PLANS = ["France", "Japan", "Brazil"], ["Basic", "Pro", "Team"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, VirtualDesktop(set_environment=True) as desktop:
        folder = Path(scratch)
        state = folder / "signup.json"
        desktop.launch([sys.executable, str(app_path("signup_form")), "--state", str(state)])
        desktop.wait_for_window("Sign up")
        time.sleep(0.5)
        from loguru import logger

        from agent.settings import Settings
        from tasks.forms.fill import fill_form
        from tasks.forms.form import FormSpec

        logger.remove()
        logger.add(sys.stderr, level="WARNING")
        (folder / "form.yaml").write_text(SPEC, encoding="utf-8")
        spec = FormSpec.load(folder / "form.yaml")
        rows = [{"name": f"Person {n}", "birthday": f"19{50 + n}-0{n % 9 + 1}-1{n % 9}", "country": COUNTRIES[n % 3],
                 "plan": PLANS[n % 3], "notes": f"Row {n}\nsecond line", "newsletter": "yes" if n % 2 else "no"}
                for n in range(1, args.rows + 1)]
        result = fill_form(Settings(runs_dir=folder / "runs", confirm="allow"), spec, rows,
                           locator="ocr")
        saved = json.loads(state.read_text(encoding="utf-8"))["submissions"]
        steps = read_steps(result.folder)

    print(f"{len(saved)} of {len(rows)} rows saved; 6 fields each, OCR locator, no model")
    for row in result.rows:
        print(f"  row {row.number}: {row.status:<9} {row.seconds:5.2f} s")
    cached = [r.seconds for r in result.rows[1:]]
    if cached:
        print(f"first row {result.rows[0].seconds:.2f} s, later rows {statistics.mean(cached):.2f} s on average "
              f"({result.rows[0].seconds / statistics.mean(cached):.1f}x)")
    print("where a later row's time goes (seconds per row, from the run's step times):")
    phases: dict[str, float] = {}
    times = [time.mktime(time.strptime(s["time"][:19], "%Y-%m-%dT%H:%M:%S")) + float(s["time"][19:]) for s in steps]
    for step, start, end in zip(steps, times, times[1:], strict=False):
        if not step["thought"].startswith("row 1:"):
            phase = step["thought"].split(": ", 1)[1].split(" ")[0]
            phases[phase] = phases.get(phase, 0.0) + end - start
    for phase, seconds in sorted(phases.items(), key=lambda p: -p[1]):
        print(f"  {phase:<10} {seconds / max(1, len(cached)):5.2f}")


if __name__ == "__main__":
    main()
