"""docs/EVALUATION.md's table of OSWorld's published tasks per domain stays true for the task files kept here
(tests/eval_fixtures/osworld-published: every task that OSWorld's test_all.json lists, unchanged)."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from evaluation.files import task_urls
from evaluation.scoring import problems
from evaluation.stand_ins import maker
from evaluation.task import load_task

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = Path(__file__).parent / "eval_fixtures" / "osworld-published"
TOP = 3  # blockers named per domain


def census() -> dict[str, str]:
    """Per domain, the table's row: tasks, start here, refused, lacking a stand-in, the commonest blockers."""
    index = json.loads((PUBLISHED / "test_all.json").read_text())
    rows = {}
    for domain, ids in sorted(index.items()):
        tasks = [load_task(PUBLISHED / domain / f"{task_id}.json") for task_id in ids]
        refused = [problems(task) for task in tasks]
        no_stand_in = sum(1 for task, found in zip(tasks, refused)
                          if not found and any(maker(name) is None for _, name in task_urls(task)))
        starting = len(tasks) - sum(1 for found in refused if found) - no_stand_in
        blockers = Counter(reason for found in refused for reason in set(found))
        named = ", ".join(f"{reason} ({count})" for reason, count in
                          sorted(blockers.items(), key=lambda item: (-item[1], item[0]))[:TOP])
        rows[domain] = (f"| {domain} | {len(tasks)} | {starting} | {len(tasks) - starting - no_stand_in} | "
                        f"{no_stand_in} | {named or '-'} |")
    return rows


def test_the_table_of_published_tasks_is_true() -> None:
    page = (ROOT / "docs" / "EVALUATION.md").read_text()
    table = page.split("<!-- published tasks -->", 2)[1]
    documented = {m.group(1): m.group(0) for m in re.finditer(r"^\| (\w+) \|.*\|$", table, re.M)}
    expected = census()
    assert {d: documented.get(d) for d in expected} == expected
    index = json.loads((PUBLISHED / "test_all.json").read_text())
    assert sorted(p.stem for p in PUBLISHED.rglob("*.json") if p.name != "test_all.json") == sorted(
        task_id for ids in index.values() for task_id in ids)  # the set kept here is the published set, whole
