"""The X clipboard, read to check what a text field holds (select it, copy, read here).

Uses xclip. Before a copy the clipboard is set to a marker, so that a copy that did nothing
(a field that refuses to copy, such as a password field) is told apart from an empty field.
"""

from __future__ import annotations

import secrets
import subprocess
import time
from collections.abc import Callable

from errors import SystemFailure

TIMEOUT = 2.0  # seconds: an app that owns the clipboard and does not answer
COPY_WAIT = 1.0  # seconds an app may take to take over the clipboard after ctrl+c


class ClipboardUnavailable(SystemFailure):
    """xclip is missing or the clipboard did not answer."""


def mark() -> str:
    """Put a fresh marker on the clipboard and return it."""
    marker = f"<clipboard marker {secrets.token_hex(8)}>"
    try:
        # xclip stays in the background to serve the marker until someone copies something else
        subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=marker.encode(), timeout=TIMEOUT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ClipboardUnavailable("xclip is not installed: run scripts/setup.sh") from None
    except (subprocess.SubprocessError, OSError) as error:
        raise ClipboardUnavailable(f"cannot set the clipboard: {error}") from None
    deadline = time.monotonic() + TIMEOUT
    while text() != marker:  # xclip's background process takes the clipboard over a moment later
        if time.monotonic() > deadline:
            raise ClipboardUnavailable("the clipboard did not take the marker")
        time.sleep(0.01)
    return marker


def restore(kept: str) -> None:
    """Put ``kept`` back on the clipboard (what a person had there before the agent borrowed it);
    best effort: a clipboard that does not answer keeps what it has."""
    try:
        subprocess.run(["xclip", "-selection", "clipboard", "-i"], input=kept.encode(), timeout=TIMEOUT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except (FileNotFoundError, subprocess.SubprocessError, OSError):
        pass


def text() -> str:
    """The clipboard's text now ("" when nobody owns it)."""
    try:
        result = subprocess.run(["xclip", "-selection", "clipboard", "-o"], capture_output=True, timeout=TIMEOUT,
                                check=False)
    except FileNotFoundError:
        raise ClipboardUnavailable("xclip is not installed: run scripts/setup.sh") from None
    except subprocess.TimeoutExpired:
        raise ClipboardUnavailable(f"the clipboard's owner did not answer within {TIMEOUT:g} s") from None
    return result.stdout.decode("utf-8", errors="replace") if result.returncode == 0 else ""


def copied(marker: str, sleep: Callable[[float], None] = time.sleep) -> str:
    """What an app copied after ``mark()`` returned ``marker``; the marker itself if nothing came."""
    deadline = time.monotonic() + COPY_WAIT
    while (found := text()) == marker and time.monotonic() < deadline:
        sleep(0.02)
    return found
