"""What window is in front: its title, application and box, via pywinctl.

Recorded with every step and read by the safety policy (rules for sensitive windows).
pywinctl connects to the display when imported, so it is imported on first use; it keeps one
connection for the process, which two threads asking at once left hanging (the recorder's key
listener and its frame grabber), so one thread asks at a time.
"""

from __future__ import annotations

import re
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from loguru import logger

from perception.geometry import Box

_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class WindowInfo:
    """A window as the desktop reports it (box in desktop coordinates)."""

    title: str
    app: str
    left: int
    top: int
    width: int
    height: int
    wm_class: str = ""  # the class part of X's WM_CLASS: "XTerm", "Yad", "Tk" (the instance part varies: "tk #2")
    handle: int = 0  # the window system's id: the same window while it lives, whatever its title becomes

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

        with _ONE_AT_A_TIME:
            window = pywinctl.getActiveWindow()
            return None if window is None else _info(window, _app_name(window))
    except (Exception, SystemExit) as error:  # pywinctl exits when xrandr is missing
        logger.debug("active window unknown: {}", error)
        return None


def _info(window: object, app: str) -> WindowInfo:
    box = window.box  # type: ignore[attr-defined]
    return WindowInfo(window.title or "", app, box.left, box.top, box.width, box.height,  # type: ignore[attr-defined]
                      _wm_class(window), window.getHandle())  # type: ignore[attr-defined]


def _wm_class(window: object) -> str:
    if sys.platform != "linux":
        return ""
    try:  # pywinctl keeps the python-xlib window but has no call for its class
        found = window._xWin.get_wm_class()  # type: ignore[attr-defined]
    except Exception:  # the window closed meanwhile
        return ""
    return found[1] if found else ""


def _app_name(window: object) -> str:
    if sys.platform != "linux":
        return window.getAppName() or ""  # type: ignore[attr-defined]
    # pywinctl's Linux getAppName shells out to ps, and prints an error for windows without a PID
    pid = window.getPID()  # type: ignore[attr-defined]
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() if pid else ""
    except OSError:
        return ""


def open_windows() -> list[WindowInfo]:
    """Every window the window manager shows, bottom to top, with its class and application."""
    try:
        import pywinctl

        with _ONE_AT_A_TIME:
            return [_info(w, _app_name(w)) for w in pywinctl.getAllWindows()]
    except (Exception, SystemExit) as error:  # pywinctl exits when xrandr is missing
        logger.debug("windows unknown: {}", error)
        return []


def find_window(pattern: str, activate: bool = False) -> WindowInfo | None:
    """The first window whose title matches the regular expression ``pattern``; with ``activate``,
    brought to the front (only the agent's hands do that, after the safety gate allowed it)."""
    try:
        import pywinctl

        with _ONE_AT_A_TIME:
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


def popups() -> dict[int, Box]:
    """The menus and drop-down lists showing now (X windows the window manager does not manage),
    by window id, with their desktop boxes; empty where there is no X server to ask."""
    if sys.platform != "linux":
        return {}
    try:
        from Xlib import X
        from Xlib.display import Display

        display = Display()
    except Exception as error:
        logger.debug("popups unknown: {}", error)
        return {}
    try:
        found = {}
        for child in display.screen().root.query_tree().children:
            attributes = child.get_attributes()
            if attributes.override_redirect and attributes.map_state == X.IsViewable:
                at = child.get_geometry()
                found[child.id] = (at.x, at.y, at.x + at.width, at.y + at.height)
        return found
    except Exception as error:  # a popup that closed while it was asked about
        logger.debug("popups unknown: {}", error)
        return {}
    finally:
        display.close()
