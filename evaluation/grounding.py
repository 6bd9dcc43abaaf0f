"""``run_agent.py ground-eval FOLDER``: does the model point inside the right box?

Reads ScreenSpot-style annotation files (every ``*.json`` under the folder holding a list of
records with ``img_filename``, ``bbox`` and ``instruction``); images are looked up under the
folder by the record's file name.

- ScreenSpot and ScreenSpot-v2: ``bbox`` is ``[x, y, width, height]``, ``data_type`` is text or
  icon, ``data_source`` the platform (ios, android, windows, macos, gitlab, ...); the split
  (desktop, mobile, web) is the annotation file's name.
- ScreenSpot-Pro: ``bbox`` is ``[x1, y1, x2, y2]`` (records carry ``img_size``), ``ui_type``
  is text or icon, with ``platform``, ``application`` and ``group``.

A point inside the box, edges included, is a hit; no point (unparseable answer) is a miss.
Locators: ``model`` asks the backend (``tasks.commands.ask``) in the settings' prompt profile;
``ocr`` reads the screen with Tesseract (:mod:`perception.ocr`) and points at the best match of the
instruction's text. With ``--refine zoom`` each target's first point and its refined point are both
kept, and the table shows the two hit rates side by side.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger
from PIL import Image

from agent.settings import Settings
from errors import BadInput
from evaluation.results import new_folder

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels of the image
Point = tuple[float, float]


@dataclass(frozen=True)
class Guess:
    """Where a locator points; ``first`` is its point before a refinement, where one was made."""

    point: Point | None
    first: Point | None = None


Locator = Callable[[Image.Image, str], Guess]


class GroundingError(BadInput):
    """A folder without usable annotations, or a locator that cannot run; the message says which."""


@dataclass(frozen=True)
class Target:
    """One thing to find: where it is, what it is called, and how results are grouped."""

    image: Path
    instruction: str
    box: Box
    kind: str  # text | icon
    platform: str
    group: str

    def hit(self, point: Point | None) -> bool:
        if point is None:
            return False
        x1, y1, x2, y2 = self.box
        return x1 <= point[0] <= x2 and y1 <= point[1] <= y2


def read_targets(folder: Path) -> list[Target]:
    """Every annotated target under ``folder``, in the three ScreenSpot formats."""
    if not folder.is_dir():
        raise GroundingError(f"{folder} is not a folder")
    images = _image_index(folder)
    targets: list[Target] = []
    for path in sorted(folder.rglob("*.json")):
        try:
            records = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        if not isinstance(records, list):
            continue
        for record in records:
            if isinstance(record, dict) and {"img_filename", "bbox", "instruction"} <= record.keys():
                targets.append(_target(record, path, images))
    if not targets:
        raise GroundingError(f"no ScreenSpot annotations (records with img_filename, bbox, instruction) in {folder}")
    return targets


def _target(record: dict[str, Any], annotations: Path, images: dict[str, Path]) -> Target:
    name = record["img_filename"].replace("\\", "/")
    image = images.get(name) or images.get(Path(name).name)
    if image is None:
        raise GroundingError(f"{annotations}: image {name} not found under the folder")
    a, b, c, d = (float(v) for v in record["bbox"])
    pro = "img_size" in record or "ui_type" in record
    box = (a, b, c, d) if pro else (a, b, a + c, b + d)
    split = annotations.stem.removeprefix("screenspot_").removesuffix("_v2")
    return Target(image, record["instruction"], box, record.get("ui_type") or record.get("data_type") or "?",
                  record.get("platform") or record.get("data_source") or "?", record.get("group") or split)


def _image_index(folder: Path) -> dict[str, Path]:
    """Images by every tail of their path (``a/b/c.png``, ``b/c.png``, ``c.png``)."""
    index: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            parts = path.relative_to(folder).parts
            for start in range(len(parts)):
                index.setdefault("/".join(parts[start:]), path)
    return index


def model_locator(settings: Settings) -> Locator:
    from agent.backends import make_backend
    from agent.reply import ReplyError
    from agent.profiles import load_profile
    from tasks.commands.ask import ask

    backend, sampling, zoom = make_backend(settings), settings.sampling(), settings.zoom()
    profile = load_profile(settings.profile)

    def locate(image: Image.Image, instruction: str) -> Guess:
        try:
            answer = ask(backend, image, instruction, sampling, point=True, profile=profile, zoom=zoom)
        except ReplyError as error:
            logger.debug("no point: {}", error)
            return Guess(None)
        return Guess(answer.point, answer.first_point)

    return locate


def ocr_locator() -> Locator:
    try:
        from perception import ocr
    except ImportError as error:
        raise GroundingError(f"the ocr locator needs perception.ocr: {error}") from None

    readings: dict[str, list] = {}  # one OCR pass per image, however many targets it has

    def locate(image: Image.Image, instruction: str) -> Guess:
        key = hashlib.sha1(image.tobytes()).hexdigest()
        if key not in readings:
            readings[key] = ocr.read(image)
        found = ocr.find(readings[key], instruction)
        return Guess(found[0].center if found else None)

    return locate


def run_grounding(settings: Settings, folder: Path, locator: str = "model", limit: int | None = None) -> Path:
    """Locate every target, write ``ground.jsonl`` and ``summary.json``, print the table; the output folder."""
    targets = read_targets(folder)[:limit]
    locate = ocr_locator() if locator == "ocr" else model_locator(settings)
    out = new_folder(settings.runs_dir, "ground")
    records = []
    with open(out / "ground.jsonl", "w", encoding="utf-8") as lines:
        for number, target in enumerate(targets, 1):
            started = time.monotonic()
            with Image.open(target.image) as picture:
                guess = locate(picture.convert("RGB"), target.instruction)
            record = {"image": str(target.image.relative_to(folder)), "instruction": target.instruction,
                      "box": list(target.box), "kind": target.kind, "platform": target.platform,
                      "group": target.group, "point": list(guess.point) if guess.point else None,
                      "hit": target.hit(guess.point), "seconds": round(time.monotonic() - started, 3)}
            if guess.first is not None:
                record |= {"first_point": list(guess.first), "first_hit": target.hit(guess.first)}
            records.append(record)
            lines.write(json.dumps(record, ensure_ascii=False) + "\n")
            logger.debug("[{}/{}] {}: {}", number, len(targets), target.instruction, "hit" if record["hit"] else "miss")
    summary = {"source": str(folder), "locator": locator, "profile": settings.profile, "refine": settings.refine,
               "targets": len(records), **accuracy(records)}
    if settings.refine != "none" and locator == "model":
        summary["one_look"] = accuracy([{**r, "hit": r.get("first_hit", r["hit"])} for r in records])
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    print(accuracy_table(summary))
    print(f"Results: {out / 'ground.jsonl'}")
    return out


def accuracy(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Hit rate overall and by kind (text/icon), platform and group."""
    def rate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        return {"n": len(rows), "accuracy": sum(r["hit"] for r in rows) / len(rows) if rows else 0.0}

    return {"overall": rate(records), **{key: {value: rate([r for r in records if r[key] == value])
                                               for value in sorted({r[key] for r in records})}
                                         for key in ("kind", "platform", "group")}}


def accuracy_table(summary: dict[str, Any]) -> str:
    """Hit rates per row; with a refinement, the one-look rate beside the refined one."""
    before = summary.get("one_look")
    rows = [("overall", summary["overall"], before and before["overall"])]
    for key in ("kind", "platform", "group"):
        rows += [(f"{key} {value}", figures, before and before[key][value]) for value, figures in summary[key].items()]
    lines = [f"{'':<28} {'one look':>9} {summary['refine']:>9}"] if before else []
    for label, figures, first in rows:
        first_rate = f"{first['accuracy']:>9.1%} " if first else ""
        lines.append(f"{label:<28} {first_rate}{figures['accuracy']:>8.1%}  (n={figures['n']})")
    return "\n".join(lines)
