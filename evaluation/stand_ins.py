"""Stand-in files for the download cache, where the real ones cannot be fetched (offline, or gone).

``python -m evaluation.stand_ins SOURCE DIR`` puts a small file of the right type, judged by
the name a task gives it, under every URL of the tasks in SOURCE that DIR does not hold yet
(see :mod:`evaluation.files`): a spreadsheet for ``.xlsx``, a picture for ``.jpg``, a script
that says what it is for ``.sh``, and so on. With them every task that downloads can be set up
and scored, so a harness run shows what runs here; a model's score on stand-ins means nothing.
Types without a stand-in (documents, slides, media, archives) are left out and named.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from evaluation.files import FileCache, task_urls
from evaluation.task import find_tasks, load_task

TEXT = {".txt", ".md", ".py", ".js", ".css", ".html", ".json", ".bib", ".tex", ".srt", ".eml", ".code-workspace"}
PICTURES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".gif": "GIF", ".pdf": "PDF"}


def _spreadsheet(path: Path, name: str) -> None:
    import openpyxl

    workbook = openpyxl.Workbook()
    workbook.active.title = "Sheet1"
    for row in (["Item", "Amount"], ["stand-in", 1], [name, 2]):
        workbook.active.append(row)
    workbook.save(path)


def _picture(path: Path, name: str) -> None:
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 120, 40)).save(path, PICTURES[Path(name).suffix.lower()])


def _script(path: Path, name: str) -> None:
    path.write_text(f"#!/bin/bash\necho 'stand-in for {name}: the real file could not be fetched'\n", encoding="utf-8")


def _csv(path: Path, name: str) -> None:
    path.write_text("Item,Amount\nstand-in,1\n", encoding="utf-8")


def _text(path: Path, name: str) -> None:
    path.write_text(f"stand-in for {name}\n", encoding="utf-8")


def maker(name: str) -> Callable[[Path, str], None] | None:
    """What writes a stand-in for a file called ``name``; None for a type without one."""
    suffix = Path(name).suffix.lower()
    if suffix == ".xlsx":
        return _spreadsheet
    if suffix in PICTURES:
        return _picture
    if suffix == ".sh":
        return _script
    if suffix == ".csv":
        return _csv
    return _text if suffix in TEXT else None


def make_stand_ins(source: Path, cache: FileCache) -> tuple[int, list[str]]:
    """Stand-ins for the URLs of the tasks under ``source`` missing in ``cache``; how many, and the names skipped."""
    cache.folder.mkdir(parents=True, exist_ok=True)
    made, skipped = 0, []
    for path in find_tasks(source):
        for url, name in task_urls(load_task(path)):
            write = maker(name)
            if cache.path(url).is_file():
                continue
            if write is None:
                skipped.append(name)
                continue
            write(cache.path(url), name)
            made += 1
    return made, skipped


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m evaluation.stand_ins SOURCE DIR", file=sys.stderr)
        return 64
    made, skipped = make_stand_ins(Path(argv[0]), FileCache(Path(argv[1])))
    print(f"{made} stand-ins written to {argv[1]}; no stand-in for {len(skipped)} files"
          + (f" ({', '.join(sorted(set(Path(s).suffix or s for s in skipped)))})" if skipped else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
