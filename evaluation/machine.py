"""The machine a task runs on: a fresh X display with a window manager and a throwaway home.

OSWorld runs each task in a virtual machine whose user is ``user`` (password ``password``,
with sudo). Here a task's worker runs in a sandbox (:mod:`evaluation.sandbox`) with the task's
home at ``/home/user``, and gets its own Xvfb display and openbox, a home with ``Desktop``,
``Documents`` and ``Downloads``, and a ``bin`` folder first on its PATH, so that task files
written for that machine run unchanged:

- paths under ``/home/user`` and ``~`` mean the task's home;
- the home starts as ``evaluation/skel/`` (as a new user's starts from ``/etc/skel``): settings that
  OSWorld's image has made, e.g. LibreOffice without its tip of the day and keep-format question;
- ``python`` is this environment's Python (pyautogui included);
- ``sudo`` runs the command as the same user (the password that ``sudo -S`` reads is
  swallowed): in the sandbox, on a read-only system;
- ctrl+alt+t opens a terminal (xterm) titled ``Terminal`` as GNOME's is where tasks wait for it,
  also started by ``gnome-terminal``; what it shows is logged for the ``vm_terminal_output`` getter;
- the session bus answers at ``/run/user/1000/bus`` too, where OSWorld's commands look for it, so
  ``gsettings`` keeps what it sets (dconf).

Setup steps (``config`` and ``postconfig``): launch, execute (or command), open, sleep,
activate_window, close_window, upload_file, download (from the download cache,
:mod:`evaluation.files`). Any other type is :class:`Unsupported`.
"""

from __future__ import annotations

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
from errors import SystemFailure
from evaluation.files import FileCache, MissingFile
from evaluation.sandbox import VM_HOME, VM_UID

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
TERMINAL = """#!/bin/sh
# The task's terminal (see evaluation/machine.py): an xterm titled as GNOME's, its screen logged.
cd "$HOME"
SHELL=/bin/bash exec xterm -title Terminal -xrm 'XTerm*allowTitleOps: false' -e script -q -f "{logs}/$(date +%s%N).log"
"""
PYTHON = """#!/bin/sh
# a script, not a link: a link to a virtual environment's python starts the base Python without its packages
exec {python} "$@"
"""
PROGRAMS = {"sudo": SUDO, "gnome-terminal": TERMINAL, "python": PYTHON}
"""The task's own programs, first on its PATH: where OSWorld's image has other ones than this machine."""
TERMINAL_KEY = '<keybind key="C-A-t"><action name="Execute"><command>{command}</command></action></keybind>'
OPENBOX_CONFIG = Path("/etc/xdg/openbox/rc.xml")
SKELETON = Path(__file__).parent / "skel"


class Unsupported(Exception):
    """Something in a task this harness cannot do (a setup step, getter or metric it lacks)."""


class SetupFailed(SystemFailure):
    """A setup step ran but did not do its job (a command failed, a window never appeared)."""


class Machine:
    """``with Machine(task_folder, scratch) as machine:`` a desktop of its own for one task.

    It also sets HOME, DISPLAY and PATH of this process, so it belongs in a process of its own
    (the evaluation's worker): pyautogui and friends bind to the display when imported.
    """

    def __init__(self, task_folder: Path, scratch: Path, home: Path | None = None,
                 files: FileCache | None = None) -> None:
        self.task_folder = task_folder
        self.scratch = scratch
        self.home = home or scratch / "home"
        self.files = files
        self.cache_dir = scratch / "cache"
        self.bin = scratch / "bin"
        self.terminal_logs = scratch / "terminals"
        self.desktop = VirtualDesktop(set_environment=True)
        self.search_path = os.pathsep.join([str(self.bin), str(Path(sys.executable).parent), os.environ["PATH"]])

    def __enter__(self) -> Machine:
        for folder in (self.home / "Desktop", self.home / "Documents", self.home / "Downloads", self.cache_dir,
                       self.bin, self.terminal_logs):
            folder.mkdir(parents=True, exist_ok=True)
        shutil.copytree(SKELETON, self.home, dirs_exist_ok=True)
        for name, text in PROGRAMS.items():
            self._program(name, text.format(logs=self.terminal_logs, python=shlex.quote(sys.executable)))
        self._bind_terminal_key()
        os.environ["HOME"] = str(self.home)
        os.environ["PATH"] = self.search_path
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
            os.environ.pop(name, None)
        self.desktop.__enter__()
        self._publish_session_bus()
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

    def _program(self, name: str, text: str) -> None:
        program = self.bin / name
        program.write_text(text, encoding="utf-8")
        program.chmod(0o755)

    def _bind_terminal_key(self) -> None:
        """ctrl+alt+t starts the terminal, as on Ubuntu: openbox's own configuration, read from the home."""
        if not OPENBOX_CONFIG.is_file():
            return
        config = OPENBOX_CONFIG.read_text(encoding="utf-8")
        key = TERMINAL_KEY.format(command=self.bin / "gnome-terminal")
        mine = self.home / ".config" / "openbox" / "rc.xml"
        mine.parent.mkdir(parents=True, exist_ok=True)
        mine.write_text(config.replace("<keyboard>", "<keyboard>\n" + key, 1), encoding="utf-8")

    def _publish_session_bus(self) -> None:
        """Link the session bus to ``/run/user/1000/bus``, the address OSWorld's commands export.

        Only inside the sandbox (whose ``/run/user`` is its own): outside, that folder is the real one.
        """
        address = self.desktop.variables.get("DBUS_SESSION_BUS_ADDRESS", "")
        socket = re.match(r"unix:path=([^,]+)", address)
        if self.home != Path(VM_HOME) or os.getuid() != VM_UID or socket is None:
            return
        runtime = Path(f"/run/user/{VM_UID}")
        runtime.mkdir(mode=0o700, parents=True, exist_ok=True)
        (runtime / "bus").symlink_to(socket.group(1))

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

    def _setup_download(self, files: list[dict[str, str]]) -> None:
        if self.files is None:
            raise SetupFailed("download: no download cache was given (eval --files DIR)")
        for entry in files:
            try:
                source = self.files.get(entry["url"])
            except MissingFile as error:
                raise SetupFailed(str(error)) from None
            target = self.path(entry["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

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


def launched(command: str | list[str]) -> str:
    """The program a ``launch`` step starts (the first word of a shell command)."""
    argv = _argv(command, False)
    return argv[0] if argv else ""


def installed(program: str) -> bool:
    """Whether the task's machine has the program: its own, or one on this system's PATH."""
    return program in PROGRAMS or shutil.which(program) is not None


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
