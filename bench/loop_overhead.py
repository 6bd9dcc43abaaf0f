"""The agent loop's own cost per step, the model and the settle wait left out (CPU only).

Runs the real loop (mss capture, resize, prompt, parse, gate, pyautogui input, settle
detection, run-folder writes) on a 1920x1080 virtual display with the bundled contact form,
answered by a scripted model that clicks the notes field and then types one letter a step,
and prints the mean and worst time per phase against the 50 ms budget::

    python bench/loop_overhead.py --steps 30
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop.virtual import VirtualDesktop, app_path  # noqa: E402

BUDGET_MS = 50.0
REPLY = ('I will {what}.\n</think>\n\n<tool_call>\n{{"name": "computer_use", "arguments": {call}}}\n</tool_call>')
NOTES = '{"action": "left_click", "coordinate": [224, 310]}'  # the notes field at pixel (431, 335)



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, VirtualDesktop(1920, 1080, set_environment=True) as desktop:
        desktop.launch([sys.executable, str(app_path("contact_form")), "--state", str(Path(scratch) / "form.json")])
        desktop.wait_for_window("Contact")
        from agent.backends.scripted import ScriptedBackend
        from agent.hands import Pacing
        from agent.settings import Settings
        from agent.trajectory import Trajectory
        from tasks.commands.run import run_command

        writes: list[float] = []
        on_step = Trajectory.on_step

        def timed_on_step(self, step, task=None):  # the run-folder write, timed from outside
            started = time.perf_counter()
            on_step(self, step, task)
            writes.append(time.perf_counter() - started)

        Trajectory.on_step = timed_on_step
        settings = Settings(runs_dir=Path(scratch) / "runs", confirm="deny", max_steps=args.steps)
        letters = [REPLY.format(what=f"type {c}", call=f'{{"action": "type", "text": "{c}"}}')
                   for c in "abcdefghijklmnopqrstuvwxyz" * (args.steps // 26 + 1)]
        model = ScriptedBackend([REPLY.format(what="click the notes", call=NOTES), *letters[:args.steps - 1]])
        result = run_command(settings, "Click the form", model=model, pacing=Pacing(settle_timeout=0.3))
        steps = [json.loads(line) for line in (result.folder / "steps.jsonl").read_text().splitlines()]
    phases = {"capture (grab + resize)": "capture", "decide (prompt + parse; scripted model)": "model",
              "gate": "gate", "act (click, or type a letter)": "act"}
    rows = {name: [s["timings"].get(key, 0.0) * 1000 for s in steps] for name, key in phases.items()}
    rows["record (steps.jsonl; PNGs in the background)"] = [w * 1000 for w in writes]
    settle = [s["timings"].get("settle", 0.0) * 1000 for s in steps]
    total = [sum(values) for values in zip(*rows.values())]
    print(f"{len(steps)} steps at 1920x1080 ({result.status.value}); settle wait (not counted): "
          f"mean {statistics.mean(settle):.0f} ms")
    print(f"{'phase':<42}{'mean':>9}{'max':>9}")
    for name, values in rows.items():
        print(f"{name:<42}{statistics.mean(values):8.1f}ms{max(values):8.1f}ms")
    print(f"{'loop overhead, all phases':<42}{statistics.mean(total):8.1f}ms{max(total):8.1f}ms   "
          f"({statistics.mean(total) / BUDGET_MS:.0%} of the {BUDGET_MS:.0f} ms budget)")


if __name__ == "__main__":
    main()
