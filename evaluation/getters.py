"""Getters: what the evaluator compares, read from the task's machine after the run.

The getters of OSWorld's evaluator, by their ``type``:

- ``vm_file`` {path, dest[, multi, gives]}: a copy of a file from the machine (None if missing);
- ``vm_command_line`` {command[, shell]}: what a command prints (None if it cannot run);
- ``rule`` {rules}: the rules themselves;
- ``cache_file`` {path}: a file in the task's cache folder;
- ``x_task_file`` {path} (ours): a file beside the task file, e.g. an expected result.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from evaluation.machine import Machine, SetupFailed, Unsupported

Getter = Callable[[Machine, dict[str, Any]], Any]


def get(machine: Machine, spec: dict[str, Any]) -> Any:
    """The value a getter spec names; FileNotFoundError where OSWorld's getter raises it."""
    return getter(spec)(machine, spec)


def getter(spec: Any) -> Getter:
    kind = spec.get("type") if isinstance(spec, dict) else None
    if kind not in GETTERS:
        raise Unsupported(f"getter {kind!r} is not supported here")
    return GETTERS[kind]


def vm_file(machine: Machine, spec: dict[str, Any]) -> str | None | list[str | None]:
    multi = spec.get("multi", False)
    paths = spec["path"] if multi else [spec["path"]]
    dests = spec["dest"] if multi else [spec["dest"]]
    gives = set(spec.get("gives", [0]))
    copies: list[str | None] = []
    for index, (path, dest) in enumerate(zip(paths, dests)):
        source, copy = machine.path(path), machine.cache_dir / dest
        if source.is_file():
            shutil.copyfile(source, copy)
        if index in gives:
            copies.append(str(copy) if source.is_file() else None)
    return copies[0] if len(copies) == 1 else copies


def vm_command_line(machine: Machine, spec: dict[str, Any]) -> str | None:
    try:
        return machine.run(spec["command"], spec.get("shell", False)).stdout
    except SetupFailed as error:  # OSWorld's getter gives None when the command cannot be run
        logger.warning("vm_command_line: {}", error)
        return None


def rule(machine: Machine, spec: dict[str, Any]) -> Any:
    return spec["rules"]


def cache_file(machine: Machine, spec: dict[str, Any]) -> str:
    path = machine.cache_dir / spec["path"]
    if not path.exists():
        raise FileNotFoundError(path)
    return str(path)


def x_task_file(machine: Machine, spec: dict[str, Any]) -> str:
    path = Path(machine.task_folder) / spec["path"]
    if not path.is_file():
        raise FileNotFoundError(path)
    return str(path)


GETTERS: dict[str, Getter] = {g.__name__: g for g in (vm_file, vm_command_line, rule, cache_file, x_task_file)}
