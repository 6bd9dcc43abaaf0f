"""Getters: what the evaluator compares, read from the task's machine after the run.

The getters of OSWorld's evaluator, by their ``type``:

- ``vm_file`` {path, dest[, multi, gives]}: a copy of a file from the machine (None if missing);
- ``vm_command_line`` {command[, shell]}: what a command prints (None if it cannot run);
- ``rule`` {rules}: the rules themselves;
- ``cache_file`` {path}: a file in the task's cache folder;
- ``cloud_file`` {path, dest[, multi, gives]}: a file from a URL (the expected result, usually),
  copied from the download cache (:mod:`evaluation.files`);
- ``vm_terminal_output``: the text the terminal shows (the newest one opened), or None if there is
  none: OSWorld reads it from GNOME Terminal's accessibility tree, here from what the terminal
  was sent, with the screen's control sequences applied as far as text goes (line ends, carriage
  returns, backspaces, clearing);
- ``list_directory`` {path}: the folder as a tree ``{"type": "directory", "name", "children"}``,
  files as ``{"type": "file", "name"}`` (``{"error": ...}`` if it cannot be read);
- ``x_task_file`` {path} (ours): a file beside the task file, e.g. an expected result.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from evaluation.files import MissingFile, file_pairs
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
    return _copies(machine, spec, machine.path)


def cloud_file(machine: Machine, spec: dict[str, Any]) -> str | None | list[str | None]:
    if machine.files is None:
        raise SetupFailed("cloud_file: no download cache was given (eval --files DIR)")

    def cached(url: str) -> Path:
        try:
            return machine.files.get(url)  # type: ignore[union-attr]
        except MissingFile as error:
            raise SetupFailed(str(error)) from None

    return _copies(machine, spec, cached)


def _copies(machine: Machine, spec: dict[str, Any], source_of: Callable[[str], Path]) -> str | None | list[str | None]:
    """Copies of files into the cache folder under their ``dest`` names; the ones ``gives`` names, in order
    (one alone as itself, None where a file is missing), as OSWorld's file getters return them."""
    gives = set(spec.get("gives", [0]))
    copies: list[str | None] = []
    for index, (name, dest) in enumerate(zip(*file_pairs(spec))):
        source, copy = source_of(name), machine.cache_dir / dest
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


def vm_terminal_output(machine: Machine, spec: dict[str, Any]) -> str | None:
    logs = sorted(machine.terminal_logs.glob("*.log"), key=lambda p: int(p.stem))
    return screen_text(logs[-1].read_bytes()).rstrip() if logs else None


CLEAR = re.compile(rb"\x1b\[[23]J|\x1bc")
ESCAPE = re.compile(rb"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[@-Z\\-_=>]")


def screen_text(sent: bytes) -> str:
    """The text a terminal shows after being sent ``sent``: from the last clearing on, escapes left out."""
    sent = CLEAR.split(sent)[-1]
    text = ESCAPE.sub(b"", sent).decode("utf-8", errors="replace")
    lines = []
    for line in text.replace("\r\n", "\n").split("\n"):
        line = line.rsplit("\r", 1)[-1]  # a carriage return starts the line over
        while "\x08" in line:  # a backspace takes back the character before it
            line = re.sub("[^\x08]?\x08", "", line, count=1)
        lines.append(line)
    return "\n".join(lines)


def list_directory(machine: Machine, spec: dict[str, Any]) -> dict[str, Any]:
    return _tree(machine.path(spec["path"]))


def _tree(folder: Path) -> dict[str, Any]:
    try:
        entries = os.listdir(folder)
    except OSError as error:
        return {"error": str(error)}
    children = [_tree(folder / e) if (folder / e).is_dir() else {"type": "file", "name": e} for e in entries]
    return {"type": "directory", "name": folder.name, "children": children}


def x_task_file(machine: Machine, spec: dict[str, Any]) -> str:
    path = Path(machine.task_folder) / spec["path"]
    if not path.is_file():
        raise FileNotFoundError(path)
    return str(path)


GETTERS: dict[str, Getter] = {g.__name__: g for g in (vm_file, cloud_file, vm_command_line, vm_terminal_output,
                                                      list_directory, rule, cache_file, x_task_file)}
