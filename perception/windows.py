"""What window is in front: its title, application and box, via pywinctl.

Recorded with every step and read by the safety policy (rules for sensitive windows).
pywinctl connects to the display when imported, so it is imported on first use.
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger


@dataclass(frozen=True)
class WindowInfo:
    """The active window as the desktop reports it (box in desktop coordinates)."""

    title: str
    app: str
    left: int
    top: int
    width: int
    height: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)

    @property
    def center(self) -> tuple[int, int]:
        return (self.left + self.width // 2, self.top + self.height // 2)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def active_window() -> WindowInfo | None:
    """The focused window, or None when there is none (or no window manager to ask)."""
    try:
        import pywinctl

        window = pywinctl.getActiveWindow()
        return None if window is None else _info(window, _app_name(window))
    except (Exception, SystemExit) as error:  # pywinctl exits when xrandr is missing
        logger.debug("active window unknown: {}", error)
        return None


def _info(window: object, app: str) -> WindowInfo:
    box = window.box  # type: ignore[attr-defined]
    return WindowInfo(window.title or "", app, box.left, box.top, box.width, box.height)  # type: ignore[attr-defined]


def _app_name(window: object) -> str:
    if sys.platform != "linux":
        return window.getAppName() or ""  # type: ignore[attr-defined]
    # pywinctl's Linux getAppName shells out to ps, and prints an error for windows without a PID
    pid = window.getPID()  # type: ignore[attr-defined]
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() if pid else ""
    except OSError:
        return ""


def windows_titled(title: str) -> list[WindowInfo]:
    """The windows whose title is exactly ``title``, with their boxes."""
    try:
        import pywinctl

        found = pywinctl.getWindowsWithTitle(title)
    except (Exception, SystemExit) as error:  # pywinctl exits when xrandr is missing
        logger.debug("windows unknown: {}", error)
        return []
    return [_info(w, "") for w in found]


def find_window(pattern: str, activate: bool = False) -> WindowInfo | None:
    """The first window whose title matches the regular expression ``pattern``; with ``activate``,
    brought to the front (only the agent's hands do that, after the safety gate allowed it)."""
    try:
        import pywinctl

        found = [w for w in pywinctl.getAllWindows() if w.title and re.search(pattern, w.title)]
        if not found:
            return None
        window = found[0]
        if activate and not window.isActive:
            window.activate(wait=True)
        return _info(window, _app_name(window))
    except (Exception, SystemExit) as error:  # pywinctl exits when xrandr is missing
        logger.debug("windows unknown: {}", error)
        return None
