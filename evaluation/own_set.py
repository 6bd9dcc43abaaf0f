"""A ScreenSpot-v2-format grounding set made from the suite's own mini-apps.

Each app is shown on a virtual display, its controls' boxes come from the toolkit (Tk's
``winfo_rootx`` and friends, see ``suites/builtin/apps/miniapp.py``), and the screenshot and
``own_apps.json`` (records with ``img_filename``, ``bbox`` as ``[x, y, w, h]``,
``instruction``, ``data_type``, ``data_source``) are written to the output folder. Grounding
regressions can then be measured here with ``run_agent.py ground-eval FOLDER``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from desktop.virtual import DesktopError, VirtualDesktop
from evaluation.suite import ROOT

APPS = [("buttons", 0), ("buttons", 1), ("choices", 0), ("choices", 1), ("signup", 0), ("order", 0),
        ("settings", 0), ("basket", 0), ("people", 0)]
CLASSES = {"Button", "Checkbutton", "Radiobutton"}  # controls that show their own text


def make_own_set(out: Path, apps: list[tuple[str, int]] = APPS) -> int:
    """Write the set of ``apps`` (module, seed) into ``out``; return how many targets it has."""
    import mss
    import mss.tools

    out.mkdir(parents=True, exist_ok=True)
    records = []
    with tempfile.TemporaryDirectory() as scratch, VirtualDesktop() as desktop:
        for app, seed in apps:
            boxes = Path(scratch) / f"{app}-{seed}.json"
            process = desktop.launch([sys.executable, "-m", f"suites.builtin.apps.{app}", "--seed", str(seed),
                                      "--state", str(Path(scratch) / "state.json"), "--boxes", str(boxes)],
                                     quiet=True, cwd=ROOT)
            controls = _wait_for(boxes)
            name = f"{app}-{seed}.png"
            with mss.MSS(display=desktop.display) as screen:
                shot = screen.grab(screen.monitors[1])
                mss.tools.to_png(shot.rgb, shot.size, output=str(out / name))
            process.terminate()
            process.wait(timeout=5)
            records += [{"img_filename": name, "bbox": c["bbox"], "instruction": c["text"], "data_type": c["kind"],
                         "data_source": "tk"} for c in controls if c["class"] in CLASSES]
    (out / "own_apps.json").write_text(json.dumps(records, indent=1, ensure_ascii=False), encoding="utf-8")
    return len(records)


def _wait_for(boxes: Path, timeout: float = 15.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while not boxes.exists():
        if time.monotonic() > deadline:
            raise DesktopError(f"the app did not report its controls within {timeout:g} s")
        time.sleep(0.05)
    time.sleep(0.2)  # the boxes are written once the window is drawn; let the last paint land
    return json.loads(boxes.read_text(encoding="utf-8"))
