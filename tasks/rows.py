"""Data rows from a file, one fill or replay per row: CSV (its first line names the columns, a
quoted cell may span lines) or JSON lines (``.jsonl``, ``.ndjson``: one object per line)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from errors import BadInput


class RowsError(BadInput):
    """A data file that cannot be read as rows; the message names the file (and line)."""


def read_rows(path: Path) -> list[dict[str, str]]:
    """The file's rows, every value a string (an empty CSV cell or a JSON null is "")."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise RowsError(f"cannot read the data file {path}: {error.strerror or error}") from None
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise RowsError(f"{path}, line {number}: not JSON ({error.msg})") from None
            if not isinstance(row, dict):
                raise RowsError(f"{path}, line {number}: a row must be a JSON object, not {type(row).__name__}")
            rows.append({str(k): cell(v) for k, v in row.items()})
        return rows
    reader = csv.DictReader(io.StringIO(text, newline=""))
    if not reader.fieldnames:
        raise RowsError(f"{path} is empty (its first line must name the columns)")
    return [{k: v or "" for k, v in row.items() if k is not None} for row in reader]


def cell(value: object) -> str:
    """A JSON or YAML value as the text it fills in: true/false as yes/no, null as nothing."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
