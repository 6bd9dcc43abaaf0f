"""The HTML report of an evaluation, one self-contained file (pictures inlined).

``write(folder)``: per-domain figures, then every task with its instruction, score, how it
ended and each step: the screenshot with the action drawn on it, the action, the gate's word
and the model's thought. ``write_comparison(a, b, out)``: two evaluations side by side, per
domain and per task.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from agent.trajectory import read_steps
from evaluation import results
from evaluation.results import COLUMNS, Record, show

WIDTH = 800  # pixels of an inlined screenshot
STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
details { border: 1px solid #ddd; border-radius: 4px; margin: 6px 0; padding: 4px 10px; }
summary { cursor: pointer; }
.score { display: inline-block; min-width: 3em; font-weight: bold; }
.pass { color: #1a7f37; } .fail { color: #c62828; } .none { color: #888; }
.step { margin: 1em 0; } .step img { max-width: 100%; border: 1px solid #ccc; }
pre { white-space: pre-wrap; background: #f6f6f6; padding: 6px; }
"""


def write(folder: Path, out: Path | None = None) -> Path:
    """Write ``report.html`` (or ``out``) for the evaluation in ``folder``; return its path."""
    records = results.load(folder)
    meta = _meta(folder)
    parts = [f"<h1>Evaluation {html.escape(folder.name)}</h1>",
             "<p>" + ", ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in meta.items()) + "</p>",
             _domain_table([results.by_domain(records)], [""]), "<h2>Tasks</h2>"]
    parts += [_task(folder, r) for r in sorted(records, key=lambda r: (r["domain"], r["task"]))]
    return _save(out or folder / "report.html", f"Evaluation {folder.name}", parts)


def write_comparison(a: Path, b: Path, out: Path) -> Path:
    """Write a side-by-side report of two evaluations (A and B) to ``out``."""
    first, second = results.load(a), results.load(b)
    parts = [f"<h1>A: {html.escape(a.name)} &nbsp; B: {html.escape(b.name)}</h1>",
             "<p>A: " + html.escape(json.dumps(_meta(a))) + "<br>B: " + html.escape(json.dumps(_meta(b))) + "</p>",
             _domain_table([results.by_domain(first), results.by_domain(second)], ["A", "B"]),
             "<h2>Tasks</h2>", _task_table(first, second)]
    return _save(out, f"{a.name} vs {b.name}", parts)


def _meta(folder: Path) -> dict[str, Any]:
    path = folder / "eval.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _domain_table(tables: list[dict[str, dict[str, Any]]], names: list[str]) -> str:
    domains = sorted({d for t in tables for d in t}, key=lambda d: (d == "all", d))
    head = "".join(f"<th>{html.escape(title)}{' ' + n if n else ''}</th>" for _, title, _ in COLUMNS for n in names)
    rows = []
    for domain in domains:
        cells = "".join(f"<td>{show(k, t.get(domain, {}).get(k))}</td>" for k, _, _ in COLUMNS for t in tables)
        rows.append(f"<tr><td>{html.escape(domain)}</td>{cells}</tr>")
    return f"<table><tr><th>domain</th>{head}</tr>{''.join(rows)}</table>"


TASK_COLUMNS: list[tuple[str, Any]] = [
    ("score", lambda r: r.get("score")),
    ("status", lambda r: r.get("status")),
    ("steps", lambda r: r.get("steps")),
    ("s/step", lambda r: round(r["agent_seconds"] / r["steps"], 2) if r.get("steps") else None),
    ("first text s", lambda r: r.get("first_text_seconds")),
    ("tokens out", lambda r: r.get("completion_tokens")),
    ("peak MiB", lambda r: r.get("peak_gpu_memory_mb", r.get("peak_memory_mb"))),
    ("invalid", lambda r: r.get("invalid")),
    ("blocked", lambda r: r.get("blocked")),
]


def _task_table(first: list[Record], second: list[Record]) -> str:
    a, b = {(r["domain"], r["task"]): r for r in first}, {(r["domain"], r["task"]): r for r in second}
    head = "".join(f"<th>{t} A</th><th>{t} B</th>" for t, _ in TASK_COLUMNS)
    rows = []
    for key in sorted(set(a) | set(b)):
        cells = "".join(f"<td>{_cell(value(a.get(key, {})))}</td><td>{_cell(value(b.get(key, {})))}</td>"
                        for _, value in TASK_COLUMNS)
        rows.append(f"<tr><td>{html.escape('/'.join(key))}</td>{cells}</tr>")
    return f"<table><tr><th>task</th>{head}</tr>{''.join(rows)}</table>"


def _cell(value: Any) -> str:
    return "-" if value is None else html.escape(str(value))


def _task(folder: Path, record: Record) -> str:
    score = record.get("score")
    badge = "none" if score is None else "pass" if score >= 1 else "fail"
    facts = f"{record['status']}" + (f", {record['steps']} steps, {record['seconds']} s" if "steps" in record else "")
    head = (f"<summary><span class='score {badge}'>{_cell(score)}</span> {html.escape(record['domain'])}/"
            f"{html.escape(record['task'])} <small>({html.escape(facts)})</small></summary>")
    body = [f"<p><b>{html.escape(record.get('instruction', ''))}</b></p>",
            f"<p>{html.escape(record.get('reason', ''))}</p>"]
    if record.get("run"):
        body += [_step(folder / record["run"], step) for step in read_steps(folder / record["run"])]
    return f"<details>{head}{''.join(body)}</details>"


def _step(run: Path, step: dict[str, Any]) -> str:
    action = json.dumps(step.get("action"), ensure_ascii=False) if step.get("action") else "(no action)"
    verdict = step.get("verdict") or {}
    text = (f"<p><b>Step {step['step']}</b>: {html.escape(action)} &rarr; {html.escape(str(step.get('outcome')))}"
            f" ({html.escape(step.get('detail', ''))}){' — gate: ' + html.escape(verdict['reason']) if verdict.get('reason') else ''}</p>")
    thought = f"<pre>{html.escape(step['thought'])}</pre>" if step.get("thought") else ""
    image = run / step.get("annotated", "")
    picture = f"<img src='data:image/jpeg;base64,{_inline(image)}'>" if image.is_file() else ""
    return f"<div class='step'>{text}{thought}{picture}</div>"


def _inline(path: Path) -> str:
    with Image.open(path) as image:
        picture = image.convert("RGB")
    picture.thumbnail((WIDTH, WIDTH))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode()


def _save(out: Path, title: str, parts: list[str]) -> Path:
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")
    out.write_text(page, encoding="utf-8")
    return out
