"""Task files in OSWorld's JSON format, and finding them in a suite folder.

A task is ``{"id", "instruction", "config": [setup steps], "evaluator": {...}}``, as in OSWorld's
``evaluation_examples/examples/<domain>/<id>.json``; the domain is the name of the task's
folder. Fields of ours start with ``x_`` (OSWorld ignores them):

- ``x_reference``: the reference solution, a reply file in the model's own format (default: a
  ``<id>.replies`` file beside the task, if there is one);
- ``x_timeout``: seconds the whole task may take, setup and scoring included (default 300); a task
  that overruns is stopped with everything it started and scores 0.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from errors import BadInput

DEFAULT_TIMEOUT = 300.0


class TaskError(BadInput):
    """A task file that cannot be read as a task; the message names the file and the problem."""


@dataclass(frozen=True)
class Task:
    id: str
    instruction: str
    domain: str
    path: Path
    config: list[dict[str, Any]] = field(default_factory=list)
    evaluator: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # the x_ fields

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def reference(self) -> Path | None:
        """The reference solution's reply file, if the task has one."""
        named = self.extra.get("x_reference")
        path = self.folder / (named or f"{self.id}.replies")
        return path if named or path.is_file() else None

    @property
    def timeout(self) -> float:
        return float(self.extra.get("x_timeout", DEFAULT_TIMEOUT))


def load_task(path: Path, domain: str | None = None) -> Task:
    """The task in ``path``; its domain is its folder's name unless given."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TaskError(f"{path}: not a readable JSON file ({error})") from None
    if not isinstance(data, dict):
        raise TaskError(f"{path}: a task is a JSON object, this is a {type(data).__name__}")
    missing = [k for k in ("id", "instruction") if not isinstance(data.get(k), str) or not data[k]]
    if missing:
        raise TaskError(f"{path}: the task has no {' or '.join(missing)}")
    config = data.get("config") or []
    evaluator = data.get("evaluator") or {}
    if not isinstance(config, list) or not all(isinstance(s, dict) for s in config):
        raise TaskError(f"{path}: 'config' must be a list of setup steps")
    if not isinstance(evaluator, dict):
        raise TaskError(f"{path}: 'evaluator' must be an object")
    extra = {k: v for k, v in data.items() if k.startswith("x_")}
    return Task(data["id"], data["instruction"], domain or path.parent.name, path, config, evaluator, extra)


def is_task_file(path: Path) -> bool:
    """Whether a JSON file looks like a task (OSWorld keeps other JSON, e.g. test_all.json, nearby)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return '"instruction"' in text


def find_tasks(source: Path, only: Iterable[str] = (), shard: tuple[int, int] | None = None) -> list[Path]:
    """Task files under ``source`` (a task file, or a folder of domain folders), sorted.

    ``only`` keeps the tasks whose domain or id is listed; ``shard`` (K, N) keeps every N-th from
    the K-th on, so that N machines can share a suite.
    """
    if not source.exists():
        raise TaskError(f"{source} does not exist")
    paths = [source] if source.is_file() else sorted(p for p in source.rglob("*.json") if is_task_file(p))
    wanted = set(only)
    if wanted:
        paths = [p for p in paths if p.parent.name in wanted or p.stem in wanted]
    if not paths:
        raise TaskError(f"no task files in {source}" + (f" for {', '.join(sorted(wanted))}" if wanted else ""))
    return paths if shard is None else paths[shard[0] - 1::shard[1]]
