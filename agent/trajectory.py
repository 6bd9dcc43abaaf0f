"""The run folder: what replay, evaluation and debugging read afterwards.

``<runs-dir>/<run-id>/`` holds ``run.json`` (written first: the task, settings and screen
transform), ``steps.jsonl`` (one line per step, flushed and synced as it happens, so a crash
loses no finished step), ``step-NNN.png`` (the screenshot the model saw) with
``step-NNN-action.png`` (the action drawn on it), and ``summary.json`` at the end.
Secrets are redacted before anything is written.
"""

from __future__ import annotations

import json
import os
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image, ImageDraw, ImageFont

from actions.schema import GRID
from agent.task import Outcome, Step
from safety.secrets import Redactor, looks_like_secret


class Trajectory:
    """Writes one run folder, step by step."""

    def __init__(self, runs_dir: Path, instruction: str, redactor: Redactor, meta: dict[str, Any]) -> None:
        self.redact = redactor
        for word in instruction.split():
            if looks_like_secret(word.strip(".,;:'\"")):
                redactor.add(word.strip(".,;:'\""))
        slug = re.sub(r"[^a-z0-9]+", "-", instruction.lower())[:40].strip("-") or "run"
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.folder = _unique(Path(runs_dir) / f"{stamp}-{slug}")
        self.folder.mkdir(parents=True)
        self._write_json("run.json", {"instruction": self.redact(instruction), "started": stamp, **meta})
        self._steps = open(self.folder / "steps.jsonl", "a", encoding="utf-8")
        # PNG encoding takes tens of milliseconds a step: a worker does it while the loop goes on
        self._images = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trajectory-images")
        self._saved: list[Future[None]] = []

    def on_step(self, step: Step, task: object = None) -> None:
        if step.action is not None and step.action.action == "type" and looks_like_secret(step.action.text):
            self.redact.add(step.action.text)
        name = f"step-{step.index:03d}"
        self._saved.append(self._images.submit(self._save_images, step, name))
        record = {"screenshot": f"{name}.png", "annotated": f"{name}-action.png", **step.to_record()}
        self._steps.write(json.dumps(_scrub(record, self.redact), ensure_ascii=False) + "\n")
        self._steps.flush()
        os.fsync(self._steps.fileno())

    def _save_images(self, step: Step, name: str) -> None:
        step.screenshot.image.save(self.folder / f"{name}.png", compress_level=1)
        annotate(step, self.redact).save(self.folder / f"{name}-action.png", compress_level=1)

    def finish(self, summary: dict[str, Any]) -> None:
        self._images.shutdown(wait=True)
        for saved in self._saved:
            if saved.exception() is not None:
                logger.warning("a step image was not saved: {}", saved.exception())
        self._steps.close()
        self._write_json("summary.json", _scrub(summary, self.redact))

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        temporary = self.folder / f".{name}.tmp"
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.folder / name)


def read_steps(folder: Path, start: int = 0) -> list[dict[str, Any]]:
    """A run folder's step records from line ``start`` on; a line still being written is left for later."""
    try:
        lines = (folder / "steps.jsonl").read_text(encoding="utf-8").split("\n")
    except OSError:
        return []
    records = []
    for line in lines[start:-1]:  # the last piece has no newline yet: unfinished or empty
        try:
            records.append(json.loads(line))
        except ValueError:
            break
    return records


def _unique(folder: Path) -> Path:
    candidate, n = folder, 1
    while candidate.exists():
        n += 1
        candidate = folder.with_name(f"{folder.name}-{n}")
    return candidate


def _scrub(value: Any, redact: Redactor) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _scrub(v, redact) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrub(v, redact) for v in value]
    return value


def annotate(step: Step, redact: Redactor) -> Image.Image:
    """The model's screenshot with the step's action drawn on it."""
    image = step.screenshot.image.convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=max(14, image.height // 50))
    refused = step.outcome in (Outcome.BLOCKED, Outcome.INVALID, Outcome.INTERRUPTED)
    color = (128, 128, 128) if refused else (230, 30, 30)
    point = step.action.point if step.action is not None else None
    if point is not None and all(0 <= v <= GRID for v in point):
        x, y = step.screenshot.transform.grid_to_image(point)
        r = max(8, image.width // 100)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=color, width=3)
        draw.line((x - 2 * r, y, x + 2 * r, y), fill=color, width=1)
        draw.line((x, y - 2 * r, x, y + 2 * r), fill=color, width=1)
    label = f"{step.index}: {step.summary()}"
    label = redact(label if len(label) < 160 else label[:157] + "...")
    box = draw.textbbox((8, 8), label, font=font)
    draw.rectangle((box[0] - 4, box[1] - 4, box[2] + 4, box[3] + 4), fill=(255, 255, 255))
    draw.text((8, 8), label, fill=color, font=font)
    return image
