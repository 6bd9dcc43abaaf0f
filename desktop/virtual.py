"""A throwaway X desktop: Xvfb, the openbox window manager, and apps started on it.

Used by the demo, the tests and the task suite. pyautogui, pynput and pywinctl connect to
the display when imported and keep that connection, so a process that drives a virtual
desktop must enter it before importing them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from errors import SystemFailure

REQUIRED = ("Xvfb", "openbox", "xdotool")


class DesktopError(SystemFailure):
    """The virtual desktop could not be started (a missing program, Xvfb failing)."""


class VirtualDesktop:
    """``with VirtualDesktop() as desktop:`` starts Xvfb, openbox and a session bus (which apps use for
    accessibility, as on a real desktop); leaving stops them."""

    def __init__(self, width: int = 1280, height: int = 800, set_environment: bool = False) -> None:
        self.size = (width, height)
        self.set_environment = set_environment
        self.display = ""
        self.variables: dict[str, str] = {}  # what programs on this desktop find in their environment
        self._processes: list[subprocess.Popen[bytes]] = []
        self._old: dict[str, str | None] = {}

    def __enter__(self) -> VirtualDesktop:
        missing = [p for p in REQUIRED if shutil.which(p) is None]
        if missing:
            raise DesktopError(f"missing {', '.join(missing)}: run scripts/setup.sh to install them")
        read, write = os.pipe()
        width, height = self.size
        xvfb = subprocess.Popen(
            ["Xvfb", "-displayfd", str(write), "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp"],
            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        os.close(write)
        self._processes.append(xvfb)
        with os.fdopen(read) as reader:
            number = reader.readline().strip()  # Xvfb writes its display number once it is ready
        if not number:
            error = xvfb.stderr.read().decode(errors="replace") if xvfb.stderr else ""
            self.close()
            raise DesktopError(f"Xvfb did not start: {error.strip()[-300:]}")
        self.display = f":{number}"
        self.variables = {"DISPLAY": self.display, **self._start_session_bus()}
        if self.set_environment:
            self._old = {name: os.environ.get(name) for name in self.variables}
            os.environ.update(self.variables)
        self._start_window_manager()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.variables}

    def launch(self, argv: list[str], quiet: bool = False, **options: object) -> subprocess.Popen[bytes]:
        """Start a program on this desktop; it is stopped when the desktop closes."""
        output = subprocess.DEVNULL if quiet else None
        process = subprocess.Popen(argv, env=self.env, stdout=output, stderr=output, **options)  # type: ignore[call-overload]
        self._processes.append(process)
        return process

    def xdotool(self, *arguments: str, check: bool = True) -> str:
        """Run xdotool on this desktop; returns what it printed."""
        return subprocess.run(["xdotool", *arguments], env=self.env, capture_output=True, text=True, timeout=10,
                              check=check).stdout

    def wait_for_window(self, title: str, timeout: float = 10.0, by_class: bool = False) -> str:
        """Wait until a window whose title (or class) matches ``title`` is mapped; return its X id.
        Looks at least once, also with no ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.xdotool("search", "--onlyvisible", "--class" if by_class else "--name", title, check=False)
            if found.strip():
                return found.split()[0]
            if time.monotonic() >= deadline:
                raise DesktopError(f"no window titled {title!r} appeared within {timeout:g} s")
            time.sleep(0.05)

    def close(self) -> None:
        for process in reversed(self._processes):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()
        for name, value in self._old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._old = {}

    def _start_session_bus(self) -> dict[str, str]:
        """A D-Bus session bus of its own (none where dbus-daemon is not installed)."""
        if shutil.which("dbus-daemon") is None:
            return {}
        bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address"], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL)
        self._processes.append(bus)
        assert bus.stdout is not None
        address = bus.stdout.readline().decode().strip()
        return {"DBUS_SESSION_BUS_ADDRESS": address} if address else {}

    def _start_window_manager(self, attempts: int = 3, timeout: float = 10.0) -> None:
        """Start openbox and wait until it manages the screen; a crashed start is tried again."""
        error = b""
        for _ in range(attempts):
            log = tempfile.TemporaryFile()
            openbox = subprocess.Popen(["openbox", "--sm-disable"], env=self.env, stdout=subprocess.DEVNULL, stderr=log)
            self._processes.append(openbox)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and openbox.poll() is None:
                probe = subprocess.run(["xprop", "-root", "_NET_SUPPORTING_WM_CHECK"], env=self.env,
                                       capture_output=True, text=True)
                if "window id" in probe.stdout:
                    return
                time.sleep(0.05)
            openbox.kill()
            openbox.wait()
            log.seek(0)
            error = log.read()
        self.close()
        raise DesktopError(f"the openbox window manager did not start: {error.decode(errors='replace')[-300:]}")


def app_path(name: str) -> Path:
    """The path of a bundled app script, e.g. ``app_path("contact_form")``."""
    return Path(__file__).parent / "apps" / f"{name}.py"
