"""Reading run folders for the page: the list of runs, one run's record, its pictures.

The web UI is one more reader of the folders every run leaves (see :mod:`agent.trajectory`):
what it shows of a run is what is on disk, so a reload, a restart or a run started elsewhere
look the same. Only names of folders directly inside the runs directory, and only the step
pictures their records name, can be asked for.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from agent.trajectory import read_steps

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
STEP_PICTURE = re.compile(r"^step-\d{3,}(-action)?\.png$")


class RunNotFound(LookupError):
    """No run folder of that name (or a name that is not one)."""


def run_folder(runs_dir: Path, run_id: str) -> Path:
    if not RUN_ID.match(run_id) or not (Path(runs_dir) / run_id / "run.json").is_file():
        raise RunNotFound(f"there is no run {run_id!r} in {runs_dir}")
    return Path(runs_dir) / run_id


def step_picture(folder: Path, name: str) -> bytes | None:
    """The picture's bytes once a step's record names it (and so it is whole: see
    :mod:`agent.trajectory`); None before. Read at once, so what is sent is what its length says."""
    if not STEP_PICTURE.match(name):
        raise RunNotFound(f"{name!r} is not a step picture")
    if not any(name in (r.get("screenshot"), r.get("annotated")) for r in read_steps(folder)):
        return None
    try:
        return (folder / name).read_bytes()
    except OSError:
        return None  # named by a record, yet gone: deleted by hand


def run_ids(runs_dir: Path) -> list[str]:
    """Names of the run folders, newest first."""
    root = Path(runs_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if RUN_ID.match(p.name) and (p / "run.json").is_file()]
    return [p.name for p in sorted(found, key=lambda p: (p / "run.json").stat().st_mtime, reverse=True)]


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # not written yet, or half-written by a run that crashed


def run_overview(folder: Path) -> dict[str, Any]:
    """One line of the run list: what was asked, when, and how it ended (None while unfinished)."""
    run = read_json(folder / "run.json") or {}
    summary = read_json(folder / "summary.json")
    return {
        "id": folder.name,
        "instruction": run.get("instruction", ""),
        "started": run.get("started", ""),
        "status": summary.get("status", "finished") if summary else None,  # a form fill reports rows instead
        "steps": summary.get("steps") if summary else None,
    }
