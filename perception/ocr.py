"""Text on the screen and where it is: Tesseract OCR, offline.

Tesseract comes from the distribution's packages (``tesseract-ocr``, 23 MB with English) and
needs no network or model download. It reads UI text reliably once the picture is upscaled
(at 96 dpi a 9-point label is only 12 pixels high) and light-on-dark areas are inverted (dark
themes, selected rows), which it otherwise mostly misses. ``bench/ocr.py`` measures it
against RapidOCR (PyPI, ONNX models in the wheel) on labels in six fonts on four backgrounds;
docs/FORMS.md has the numbers and why Tesseract was chosen.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from difflib import SequenceMatcher

import cv2
import numpy as np
from PIL import Image, ImageOps

from errors import SystemFailure
from perception.geometry import Box, center, overlap, span

SCALE = 2  # upscaling before OCR (see the module docstring)
TIMEOUT = 30.0  # seconds for one OCR pass
MARGIN = 16  # pixels of the picture's edge colour added around it before OCR
FRAME_LENGTH = 40  # pixels: a straight line at least this long (half as tall) is a frame, not a letter
FRAME_THICKNESS = 6  # pixels: thicker than this, it is a filled block (a button), left alone
FRAME_CONTRAST = 40  # grey levels a frame differs from the background by


class OcrUnavailable(SystemFailure):
    """Tesseract is not installed or failed on the image."""


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    confidence: float  # 0..100, Tesseract's


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    @property
    def box(self) -> Box:
        return span(w.box for w in self.words)


@dataclass(frozen=True)
class Found:
    """Where a phrase was read, and how well the reading matches it (1.0: exactly, ignoring case and punctuation)."""

    text: str
    box: Box
    score: float

    @property
    def center(self) -> tuple[int, int]:
        return center(self.box)


def read(image: Image.Image, scale: int = SCALE) -> list[Line]:
    """The lines of text in ``image``, with boxes in the image's own pixels."""
    if shutil.which("tesseract") is None:
        raise OcrUnavailable("tesseract is not installed: run scripts/setup.sh (Debian package tesseract-ocr)")
    picture = _dark_on_light(image)
    if scale != 1:
        picture = picture.resize((picture.width * scale, picture.height * scale), Image.Resampling.LANCZOS)
    # a margin of the picture's own edge colour: Tesseract misses words that touch the edge
    # (a window cut out just left of its first label)
    edge = np.concatenate([np.asarray(picture)[[0, -1]].ravel(), np.asarray(picture)[:, [0, -1]].ravel()])
    picture = ImageOps.expand(picture, border=MARGIN, fill=int(np.median(edge)))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    try:
        # psm 11: sparse text, as labels and buttons are scattered over a window, not a page;
        # Sauvola's local threshold, as one global threshold loses grey-on-grey text next to white fields
        result = subprocess.run(["tesseract", "-", "-", "--psm", "11", "-c", "thresholding_method=2", "tsv"], input=buffer.getvalue(),
                                capture_output=True, timeout=TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise OcrUnavailable(f"tesseract took longer than {TIMEOUT:g} s") from None
    if result.returncode != 0:
        raise OcrUnavailable(f"tesseract failed: {result.stderr.decode(errors='replace').strip()[-300:]}")
    lines: dict[tuple[str, str, str], list[Word]] = {}
    rows = csv.DictReader(io.StringIO(result.stdout.decode("utf-8", errors="replace")), delimiter="\t",
                          quoting=csv.QUOTE_NONE)
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text or float(row["conf"]) < 0:
            continue
        left, top = (int(row["left"]) - MARGIN) // scale, (int(row["top"]) - MARGIN) // scale
        box = (left, top, left + -(-int(row["width"]) // scale), top + -(-int(row["height"]) // scale))
        lines.setdefault((row["block_num"], row["par_num"], row["line_num"]), []).append(
            Word(text, box, float(row["conf"])))
    return [Line(tuple(words)) for words in lines.values()]


def find(lines: list[Line], phrase: str, minimum: float = 0.6) -> list[Found]:
    """Where ``phrase`` was read, best first: runs of words within one line, matched loosely
    (case, punctuation such as a label's colon or asterisk, and small misreadings do not matter)."""
    wanted = normalize(phrase)
    if not wanted:
        return []
    size = len(wanted.split())
    found = []
    for line in lines:
        words = line.words
        for start in range(len(words)):
            for end in range(start + 1, min(len(words), start + size + 1) + 1):
                run = words[start:end]
                if not (normalize(run[0].text) and normalize(run[-1].text)):
                    continue  # a check box read as "!" or "©" is no part of its label
                text = normalize(" ".join(w.text for w in run))
                score = SequenceMatcher(None, text, wanted).ratio()
                if score >= minimum:
                    found.append(Found(" ".join(w.text for w in run), span(w.box for w in run), score))
    found.sort(key=lambda f: -f.score)
    return _distinct(found)


def _dark_on_light(image: Image.Image) -> Image.Image:
    """Grey levels with light-on-dark areas (dark themes, selected rows) inverted: Tesseract reads
    dark text on a light ground, and misses most of the rest."""
    gray = np.asarray(image.convert("L"))
    # dark areas wider than a text stroke, with the light text inside them filled in
    dark = cv2.morphologyEx((gray < 100).astype(np.uint8), cv2.MORPH_OPEN, np.ones((7, 7), np.uint8))
    dark = cv2.morphologyEx(dark, cv2.MORPH_CLOSE, np.ones((25, 25), np.uint8))
    return Image.fromarray(_without_frames(np.where(dark > 0, 255 - gray, gray).astype(np.uint8)))


def _without_frames(gray: np.ndarray) -> np.ndarray:
    """The thin straight lines of control frames painted over with the background: a field's
    frame (GTK's focus ring above all) makes Tesseract drop the label on its line."""
    ground = int(np.median(gray))
    ink = (np.abs(gray.astype(np.int16) - ground) > FRAME_CONTRAST).astype(np.uint8)
    frames = np.zeros_like(ink)
    for long, thick in (((1, FRAME_LENGTH), (FRAME_THICKNESS, FRAME_LENGTH)),
                        ((FRAME_LENGTH // 2, 1), (FRAME_LENGTH // 2, FRAME_THICKNESS))):
        lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones(long, np.uint8))
        blocks = cv2.dilate(cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones(thick, np.uint8)), np.ones((3, 3), np.uint8))
        frames |= lines & (1 - blocks)
    frames = cv2.dilate(frames, np.ones((3, 3), np.uint8))
    return np.where(frames > 0, ground, gray).astype(np.uint8)


def similarity(a: str, b: str) -> float:
    """How alike two texts read, 0..1, as :func:`find` judges them."""
    return SequenceMatcher(None, normalize(a), normalize(b)).ratio()


def normalize(text: str) -> str:
    """Lower case, accents kept, punctuation and repeated spaces dropped."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.sub(r"[^\w@.+-]+", " ", text).split()).strip(".")


def _distinct(found: list[Found]) -> list[Found]:
    """The best reading of each place: overlapping runs ("Full", "Full name") keep the better one."""
    kept: list[Found] = []
    for candidate in found:
        if not any(overlap(candidate.box, k.box) for k in kept):
            kept.append(candidate)
    return kept

