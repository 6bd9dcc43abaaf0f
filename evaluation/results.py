"""Result records of an evaluation, and their summaries per domain.

``results.jsonl`` holds one JSON object per task: ``task``, ``domain``, ``instruction``,
``score`` (0..1; null when the task could not run here), ``status`` (how the run ended: the
agent's ``success``, ``failure``, ``budget``, ... or the harness's ``unsupported``,
``invalid``, ``missing_file``, ``setup_failed``, ``timeout``, ``error``), ``reason``, and for tasks that ran:
``steps``, ``seconds`` (setup to score), ``agent_seconds``, ``model_seconds``, ``invalid`` and
``blocked`` actions, ``prompt_tokens``, ``completion_tokens``, ``first_text_seconds`` (mean
time to a reply's first text), ``peak_memory_mb`` (``peak_gpu_memory_mb`` on a GPU) and
``run`` (the run folder, relative to the evaluation folder).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from errors import BadInput

Record = dict[str, Any]


class ResultsError(BadInput):
    """An evaluation folder that cannot be read; the message says why."""


def new_folder(parent: Path, prefix: str) -> Path:
    """A new, empty output folder ``<parent>/<prefix>-<time>`` (``-2``, ``-3``... if taken)."""
    name = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = Path(parent) / name, 1
    while folder.exists():
        n += 1
        folder = Path(parent) / f"{name}-{n}"
    folder.mkdir(parents=True)
    return folder


def load(folder: Path) -> list[Record]:
    path = Path(folder) / "results.jsonl"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise ResultsError(f"{folder} is no evaluation folder: {error.strerror} ({path})") from None
    try:
        return [json.loads(line) for line in lines if line.strip()]
    except json.JSONDecodeError as error:
        raise ResultsError(f"{path} is damaged: {error}") from None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def figures(records: list[Record]) -> dict[str, Any]:
    """The figures the tables show, over ``records``."""
    ran = [r for r in records if "steps" in r]
    scored = [r["score"] for r in records if r.get("score") is not None]
    steps = sum(r["steps"] for r in ran)
    return {
        "tasks": len(records),
        "scored": len(scored),
        "success": _mean(scored),
        "steps": _mean([r["steps"] for r in ran]),
        "seconds": _mean([r["seconds"] for r in ran]),
        "seconds_per_step": sum(r["agent_seconds"] for r in ran) / steps if steps else None,
        "first_text_seconds": _mean([r["first_text_seconds"] for r in ran if r.get("first_text_seconds") is not None]),
        "completion_tokens": _mean([r["completion_tokens"] for r in ran]),
        "peak_memory_mb": max((r.get("peak_gpu_memory_mb", r["peak_memory_mb"]) for r in ran), default=None),
        "invalid": sum(r["invalid"] for r in ran),
        "blocked": sum(r["blocked"] for r in ran),
        "not_run": len(records) - len(scored),
    }


def by_domain(records: list[Record]) -> dict[str, dict[str, Any]]:
    """Figures per domain, then over all tasks (key ``all``)."""
    domains = sorted({r["domain"] for r in records})
    return {**{d: figures([r for r in records if r["domain"] == d]) for d in domains}, "all": figures(records)}


COLUMNS: list[tuple[str, str, Callable[[Any], str]]] = [
    ("success", "success", lambda v: f"{v:.0%}"),
    ("tasks", "tasks", str),
    ("not_run", "not run", str),
    ("steps", "steps", lambda v: f"{v:.1f}"),
    ("seconds_per_step", "s/step", lambda v: f"{v:.2f}"),
    ("first_text_seconds", "first text s", lambda v: f"{v:.3f}"),
    ("completion_tokens", "tokens out", lambda v: f"{v:.0f}"),
    ("peak_memory_mb", "peak MiB", lambda v: f"{v:.0f}"),
    ("invalid", "invalid", str),
    ("blocked", "blocked", str),
]


def show(key: str, value: Any) -> str:
    if value is None:
        return "-"
    return next(f for k, _, f in COLUMNS if k == key)(value)


def summary_table(records: list[Record]) -> str:
    """Per domain: success rate, steps, seconds per step, latency, tokens, memory, refusals."""
    rows = [["domain", *(title for _, title, _ in COLUMNS)]]
    for domain, values in by_domain(records).items():
        rows.append([domain, *(show(k, values[k]) for k, _, _ in COLUMNS)])
    return _grid(rows)


def comparison_table(a: list[Record], b: list[Record], names: tuple[str, str]) -> str:
    """Two evaluations side by side per domain: each figure as ``A | B``."""
    first, second = by_domain(a), by_domain(b)
    rows = [["domain", *(title for _, title, _ in COLUMNS)], ["", *(f"{names[0]} | {names[1]}" for _ in COLUMNS)]]
    for domain in sorted(set(first) | set(second), key=lambda d: (d == "all", d)):
        x, y = first.get(domain, {}), second.get(domain, {})
        rows.append([domain, *(f"{show(k, x.get(k))} | {show(k, y.get(k))}" for k, _, _ in COLUMNS)])
    return _grid(rows)


def _grid(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths)))
                     for row in rows)
