"""The run folder: what replay, evaluation and debugging read afterwards.

``<runs-dir>/<run-id>/`` holds ``run.json`` (written first: the task, settings and screen
transform), ``steps.jsonl`` (one line per step, flushed and synced as it happens, so a crash
loses no finished step), ``step-NNN.png`` (the screenshot the model saw) with
``step-NNN-action.png`` (the action drawn on it), and ``summary.json`` at the end.

A step's pictures are whole on disk before its line names them: each is written under a
temporary name, synced and renamed, so a run killed at any moment leaves no line that names
a missing or half-written picture. Secrets are redacted before anything is written: the values
the safety gate found in an action's text (and typed text that looks like a password or token)
become a marker in every text, and once one was typed, later pictures have it blacked out where
OCR reads it on the screen (see :func:`secret_words`).
"""

from __future__ import annotations

import json
import os
import re
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from loguru import logger
from PIL import Image, ImageDraw, ImageFont
from pydantic import BaseModel, ConfigDict, Field

from actions.schema import GRID
from agent.task import Outcome, Status, Step
from perception.geometry import Box, grow
from perception.screen import Screenshot
from safety.secrets import Redactor, looks_like_secret

if TYPE_CHECKING:
    from perception.ocr import Line

PIECE = 4  # the fewest characters of a secret in a row that are masked where OCR reads them


RowStatus = Literal["submitted", "filled", "dry run", "failed", "not run"]


class RowResult(BaseModel):
    """How one row of a form fill went."""

    number: int
    status: RowStatus
    reason: str
    seconds: float


class RunSummary(BaseModel):
    """How a run, a form fill or a replay ended, in one shape for every reader: what ``run``,
    ``fill`` and ``replay`` return, and ``summary.json`` (all of it but the folder it is in)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["run", "fill", "replay"]
    status: Status | None = None
    exit_code: int | None = None
    reason: str = ""
    steps: int | None = None
    seconds: float = 0.0
    outcomes: dict[str, int] = Field(default_factory=dict)
    instruction: str | None = None  # run
    answer: str | None = None  # run
    form: str | None = None  # fill
    rows: list[RowResult] | None = None  # fill
    stopped: str | None = None  # fill: why the rows after the last were not run
    recording: str | None = None  # replay
    folder: Path | None = Field(default=None, exclude=True)  # the run folder

    def end(self, status: Status, reason: str) -> None:
        self.status, self.exit_code, self.reason = status, status.exit_code, reason


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
        # encoding a PNG takes ~15 ms and releases the GIL: the annotated one is made alongside the plain one
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trajectory-png")
        self._typed: set[str] = set()  # secrets typed so far in this run: looked for on later screenshots
        self._read: tuple[str, int, list[Box]] | None = None  # the last screen read: its digest, secrets, boxes

    def on_step(self, step: Step, task: object = None) -> None:
        """Records the step: its pictures first, then the line that names them, each synced."""
        secrets = step.secrets
        for secret in secrets:
            self.redact.add(secret)
        record = {**self._save_pictures(step, f"step-{step.index:03d}"), **step.to_record()}
        self._steps.write(json.dumps(_scrub(record, self.redact), ensure_ascii=False) + "\n")
        self._steps.flush()
        os.fsync(self._steps.fileno())
        if step.outcome is Outcome.DONE and step.action is not None and step.action.action == "type":
            typed = step.action.text
            self._typed.update(secrets)
            if not secrets and self.redact(typed) != typed:
                self._typed.add(typed)  # a value the run was told is secret (a form's password, a parameter)

    def _save_pictures(self, step: Step, name: str) -> dict[str, str]:
        """The names of the step's pictures for its record, once both are whole on disk; none when
        they could not be written, or could not be kept without showing a secret."""
        image = self._masked(step)
        if image is None:
            return {}
        plain, annotated = f"{name}.png", f"{name}-action.png"
        try:
            drawn = self._encoder.submit(lambda: self._write_png(annotate(step, self.redact, image), annotated))
            self._write_png(image, plain)
            drawn.result()
            _sync(self.folder)  # the renames reach the disk before the line that names the pictures
        except OSError as error:
            logger.warning("step {}'s pictures were not saved: {}", step.index, error)
            return {}
        return {"screenshot": plain, "annotated": annotated}

    def _masked(self, step: Step) -> Image.Image | None:
        """The step's screenshot as it may be kept: the step's secret fields and, once a secret was
        typed in this run, every place OCR reads one, blacked out. None when OCR cannot read it."""
        shot = step.screenshot
        boxes = [_image_box(box, shot) for box in step.secret_boxes]
        if self._typed:
            from perception import ocr  # OpenCV and Tesseract only for runs that typed a secret

            started = time.monotonic()
            if self._read is None or self._read[:2] != (shot.digest, len(self._typed)):
                try:  # ~0.6 s a 1280x800 screen: a screen as it was a step ago is not read again
                    self._read = (shot.digest, len(self._typed), secret_words(ocr.read(shot.image), self._typed))
                except ocr.OcrUnavailable as error:
                    logger.warning("step {}'s pictures are left out, as a secret typed earlier may show on them "
                                   "and the screen could not be read: {}", step.index, error)
                    return None
            boxes += self._read[2]
            step.timings["mask"] = time.monotonic() - started
        if not boxes:
            return shot.image
        masked = shot.image.convert("RGB")
        draw = ImageDraw.Draw(masked)
        for left, top, right, bottom in boxes:
            draw.rectangle((left, top, right - 1, bottom - 1), fill=(0, 0, 0))
        return masked

    def _write_png(self, image: Image.Image, name: str) -> None:
        temporary = self.folder / f".{name}.tmp"
        try:
            with open(temporary, "wb") as file:
                image.save(file, format="PNG", compress_level=1)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.folder / name)
        finally:
            temporary.unlink(missing_ok=True)

    def finish(self, summary: RunSummary | dict[str, Any]) -> None:
        self._encoder.shutdown(wait=True)
        self._steps.close()
        if isinstance(summary, RunSummary):
            summary = summary.model_dump(mode="json", exclude_none=True)
        self._write_json("summary.json", _scrub(summary, self.redact))

    def _write_json(self, name: str, data: dict[str, Any]) -> None:
        temporary = self.folder / f".{name}.tmp"
        temporary.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        temporary.replace(self.folder / name)


def secret_words(lines: list[Line], secrets: set[str]) -> list[Box]:
    """Where OCR read a secret, or a piece of one, as boxes to black out (a little larger than
    the words). A word is a piece when it holds at least :data:`PIECE` of a secret's characters
    in a row, or is one misread character away from a stretch of the secret; OCR's usual
    look-alikes (O/0, l/I/1, S/5, Z/2) and case do not count as misreadings. Short neighbours of
    such a word that are in the secret too (OCR splits "a@b/c" at the symbols) go with it."""
    folded = [_fold(s) for s in secrets]
    boxes = []
    for line in lines:
        words = [_fold(w.text) for w in line.words]
        hit = {i for i, word in enumerate(words) if any(_piece(word, s) for s in folded)}
        grown = True
        while grown:
            near = {j for i in hit for j in (i - 1, i + 1) if 0 <= j < len(words) and j not in hit}
            more = {j for j in near if words[j] and any(words[j] in s for s in folded)}
            hit |= more
            grown = bool(more)
        boxes += [grow(line.words[i].box, 3, 3) for i in sorted(hit)]
    return boxes


_LOOKALIKES = str.maketrans("oil|sz", "011152")


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().translate(_LOOKALIKES).strip()


def _piece(word: str, secret: str) -> bool:
    if not word or not secret:
        return False
    run = SequenceMatcher(None, word, secret, autojunk=False).find_longest_match(0, len(word), 0, len(secret))
    if run.size >= min(PIECE, len(secret)):
        return True
    size = len(word)
    if size <= PIECE or size > len(secret) + 1:
        return False
    return any(SequenceMatcher(None, word, secret[i:i + size], autojunk=False).ratio() >= 0.8
               for i in range(len(secret) - size + 2))


def _image_box(box: Box, shot: Screenshot) -> Box:
    """A desktop box in the pixels of the image the model saw."""
    return shot.transform.desktop_box_to_image(box)


def _sync(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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


def annotate(step: Step, redact: Redactor, picture: Image.Image | None = None) -> Image.Image:
    """The model's screenshot (or ``picture``, that screenshot masked) with the step's action drawn on it."""
    image = (step.screenshot.image if picture is None else picture).convert("RGB")
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
