"""The machine a task runs on: a fresh X display with a window manager and a throwaway home.

OSWorld runs each task in a virtual machine whose user is ``user`` (password ``password``,
with sudo). Here a task gets its own Xvfb display and openbox, a new empty home folder with
``Desktop``, ``Documents`` and ``Downloads``, and a ``bin`` folder first on its PATH, so that
task files written for that machine run unchanged:

- paths under ``/home/user`` and ``~`` mean the throwaway home;
- ``python`` is this environment's Python (pyautogui included);
- ``sudo`` runs the command with the rights of whoever runs the evaluation (the password that
  ``sudo -S`` reads is swallowed).

Setup steps (``config`` and ``postconfig``): launch, execute (or command), open, sleep,
activate_window, close_window, upload_file. Any other type is :class:`Unsupported`.
"""

from __future__ import annotations

from errors import SystemFailure
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from desktop.virtual import DesktopError, VirtualDesktop

VM_HOME = "/home/user"
COMMAND_TIMEOUT = 120.0
WINDOW_TIMEOUT = 20.0
SUDO = """#!/bin/sh
# The task's sudo: runs the command as the evaluation's own user (see evaluation/machine.py).
while [ $# -gt 0 ]; do
    case "$1" in
        -S) read -r _ || true; shift ;;
        -u|-g|-p) shift 2 ;;
        --) shift; break ;;
        -*) shift ;;
        *) break ;;
    esac
done
exec "$@"
"""


class Unsupported(Exception):
    """Something in a task this harness cannot do (a setup step, getter or metric it lacks)."""


class SetupFailed(SystemFailure):
    """A setup step ran but did not do its job (a command failed, a window never appeared)."""


class Machine:
    """``with Machine(task_folder, scratch) as machine:`` a desktop of its own for one task.

    It also sets HOME, DISPLAY and PATH of this process, so it belongs in a process of its own
    (the evaluation's worker): pyautogui and friends bind to the display when imported.
    """

    def __init__(self, task_folder: Path, scratch: Path) -> None:
        self.task_folder = task_folder
        self.scratch = scratch
        self.home = scratch / "home"
        self.cache_dir = scratch / "cache"
        self.bin = scratch / "bin"
        self.desktop = VirtualDesktop(set_environment=True)
        self.search_path = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), os.environ["PATH"]])

    def __enter__(self) -> Machine:
        for folder in (self.home / "Desktop", self.home / "Documents", self.home / "Downloads", self.cache_dir,
                       self.bin):
            folder.mkdir(parents=True, exist_ok=True)
        sudo = self.bin / "sudo"
        sudo.write_text(SUDO, encoding="utf-8")
        sudo.chmod(0o755)
        (self.bin / "python").symlink_to(sys.executable)
        os.environ["HOME"] = str(self.home)
        os.environ["PATH"] = self.search_path
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            os.environ.pop(name, None)
        self.desktop.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.desktop.close()

    @property
    def env(self) -> dict[str, str]:
        """The environment of the task's commands."""
        return {**self.desktop.env, "HOME": str(self.home), "PATH": self.search_path}

    def path(self, name: str) -> Path:
        """A path on the task's machine: ``/home/user/...`` and ``~/...`` are in its home."""
        if name == VM_HOME or name.startswith(VM_HOME + "/"):
            return self.home / name[len(VM_HOME):].lstrip("/")
        if name == "~" or name.startswith("~/"):
            return self.home / name[1:].lstrip("/")
        path = Path(name)
        return path if path.is_absolute() else self.home / path

    def run(self, command: str | list[str], shell: Any = False, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a command in the home folder to its end, as OSWorld's ``execute`` does."""
        argv = _argv(command, shell)
        try:
            return subprocess.run(argv, cwd=self.home, env=self.env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except FileNotFoundError as error:
            raise SetupFailed(f"cannot run {argv[0]!r}: {error.strerror}") from None
        except subprocess.TimeoutExpired:
            raise SetupFailed(f"{_show(command)} did not finish within {timeout:g} s") from None

    def setup(self, steps: list[dict[str, Any]]) -> None:
        """Carry out setup steps in order; raises :class:`Unsupported` or :class:`SetupFailed`."""
        for step in steps:
            kind, parameters = step.get("type"), step.get("parameters") or {}
            handler = getattr(self, f"_setup_{kind}", None) if isinstance(kind, str) else None
            if handler is None:
                raise Unsupported(f"setup step {kind!r} is not supported here")
            try:
                handler(**parameters)
            except TypeError as error:
                raise SetupFailed(f"setup step {kind!r} has wrong parameters: {error}") from None

    def _setup_launch(self, command: str | list[str], shell: Any = False) -> None:
        argv = _argv(command, shell)
        try:
            self.desktop.launch(argv, quiet=True, cwd=self.home, stdin=subprocess.DEVNULL)
        except FileNotFoundError as error:
            raise SetupFailed(f"cannot launch {argv[0]!r}: {error.strerror}") from None

    def _setup_execute(self, command: str | list[str], shell: Any = False, stdout: str = "", stderr: str = "",
                       **ignored: Any) -> None:
        done = self.run(command, shell)
        for name, text in ((stdout, done.stdout), (stderr, done.stderr)):
            if name:
                (self.cache_dir / name).write_text(text, encoding="utf-8")

    _setup_command = _setup_execute

    def _setup_open(self, path: str) -> None:
        target = self.path(path)
        if not target.exists():
            raise SetupFailed(f"open: {path} does not exist")
        opener = shutil.which("xdg-open", path=self.search_path)
        if opener is None:
            raise Unsupported("setup step 'open' needs xdg-open (package xdg-utils)")
        self._setup_launch([opener, str(target)])
        self._window(re.escape(target.name), WINDOW_TIMEOUT)

    def _setup_sleep(self, seconds: float) -> None:
        time.sleep(float(seconds))

    def _setup_activate_window(self, window_name: str, strict: bool = False, by_class: bool = False) -> None:
        window = self._window(_pattern(window_name, strict), WINDOW_TIMEOUT, by_class)
        self.desktop.xdotool("windowactivate", "--sync", window, check=False)

    def _setup_close_window(self, window_name: str, strict: bool = False, by_class: bool = False) -> None:
        window = self._window(_pattern(window_name, strict), 0.0, by_class)
        self.desktop.xdotool("windowclose", window, check=False)

    def _setup_upload_file(self, files: list[dict[str, str]]) -> None:
        for entry in files:
            source = self.task_folder / entry["local_path"]
            if not source.is_file():
                raise SetupFailed(f"upload_file: {source} does not exist")
            target = self.path(entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

    def _window(self, pattern: str, timeout: float, by_class: bool = False) -> str:
        """The X id of a visible window whose title (or class) matches; waits up to ``timeout``."""
        try:
            return self.desktop.wait_for_window(pattern, timeout, by_class)
        except DesktopError:
            raise SetupFailed(f"no window matching {pattern!r} within {timeout:g} s") from None


def _argv(command: str | list[str], shell: Any) -> list[str]:
    """OSWorld's command forms: a list (run as is), or a string (for the shell when ``shell``)."""
    if isinstance(command, list):
        return [str(c) for c in command] if not _true(shell) else ["/bin/bash", "-c", shlex.join(map(str, command))]
    return ["/bin/bash", "-c", command] if _true(shell) else shlex.split(command)


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"  # task files write both true and "true"


def _pattern(name: str, strict: bool) -> str:
    return f"^{re.escape(name)}$" if strict else re.escape(name)


def _show(command: str | list[str]) -> str:
    text = command if isinstance(command, str) else shlex.join(map(str, command))
    return repr(text if len(text) < 80 else text[:77] + "...")
