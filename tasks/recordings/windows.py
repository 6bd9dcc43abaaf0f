"""Which window a replayed step may act in: the recorded one, or one a person approved.

A step names the window it was done in by title, class and application. A replay looks for its
target only inside a window that has all three as recorded (the class and application where
they were recorded), and acts only where that window is the one on top. A window of the same
class and application under another title (a document saved under a new name, a second
instance) is put to a person first; once approved, it stands for the recorded window for the
rest of the replay. Anything else, whatever it shows and wherever it is, is never acted in:
with the recorded window gone the replay stops and says which windows are open instead.

Windows are told apart by their handle once found, so a title that changes while the replay
works (a document marked as edited) does not lose the window.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from perception.geometry import Box, span
from perception.windows import WindowInfo
from tasks.recordings.recording import Window


@dataclass(frozen=True)
class Where:
    """The windows a step may act in (none: no window was recorded, the whole screen), and the
    question a person must answer yes to first (None: no need)."""

    windows: tuple[WindowInfo, ...]
    question: str | None = None


class WindowGone(Exception):
    """The step's window is not open, nor one a person could be asked about; ``args[0]`` says so."""


def is_recorded(window: WindowInfo, recorded: Window) -> bool:
    return window.title == recorded.title and all(want == have for want, have in _known(window, recorded))


def is_kin(window: WindowInfo, recorded: Window) -> bool:
    """A window of the recorded one's class and application (at least one of them recorded)."""
    known = _known(window, recorded)
    return bool(known) and all(want == have for want, have in known)


def _known(window: WindowInfo, recorded: Window) -> list[tuple[str, str]]:
    """The recorded window's class and application where they were known, beside ``window``'s."""
    return [(want, have) for want, have in ((recorded.wm_class, window.wm_class), (recorded.app, window.app)) if want]


def described(window: WindowInfo | Window) -> str:
    kind = ", ".join(part for part in (window.wm_class, window.app) if part)
    return f'"{window.title}"' + (f" ({kind})" if kind else "")


def area(window: WindowInfo, recorded: Window, target: Box) -> Box:
    """Where a target recorded at ``target`` may be in ``window`` now: the window, and the target's
    place carried along with it (a menu that hung out of its window when recorded)."""
    dx, dy = window.left - recorded.left, window.top - recorded.top
    carried = (target[0] + dx, target[1] + dy, target[2] + dx, target[3] + dy)
    return span([window.box, carried])


def inside(point: tuple[int, int], box: Box) -> bool:
    return box[0] <= point[0] < box[2] and box[1] <= point[1] < box[3]


def on_top_at(point: tuple[int, int], windows: list[WindowInfo]) -> WindowInfo | None:
    """The window that gets a click at ``point`` (``windows`` bottom to top), None where no window is."""
    return next((w for w in reversed(windows) if inside(point, w.box)), None)


@dataclass
class WindowChooser:
    """Remembers, for one replay, which windows stand for which recorded ones."""

    approved: dict[tuple[str, str, str], int] = field(default_factory=dict)  # recorded window -> handle
    accepted: set[int] = field(default_factory=set)  # handles of windows acted in

    def pointer(self, step: str, recorded: Window | None, open_now: list[WindowInfo]) -> Where:
        """Where a pointer step recorded in ``recorded`` may look for its target; :class:`WindowGone`."""
        if recorded is None:
            return Where((), f"{step} was recorded without knowing its window: its target is looked for on "
                             "the whole screen")
        found = self.found(recorded, open_now)
        if found:
            return Where(found)
        kin = [w for w in open_now if is_kin(w, recorded)]
        if len(kin) == 1:
            return Where((kin[0],), f"{step} was done in the window {described(recorded)}, which is not open; "
                                    f"{described(kin[0])} is of the same kind")
        others = ", ".join(described(w) for w in open_now) or "none"
        several = f", and {len(kin)} windows of its application are" if kin else ""
        raise WindowGone(f"the window {described(recorded)} of {step} is not open{several}: stopped without "
                         f"acting (windows open now: {others})")

    def found(self, recorded: Window, open_now: list[WindowInfo]) -> tuple[WindowInfo, ...]:
        """The open windows that are ``recorded``, or stand for it."""
        return tuple(w for w in open_now if is_recorded(w, recorded) or w.handle == self.approved.get(_key(recorded)))

    def keys(self, step: str, recorded: Window | None, active: WindowInfo | None) -> Where:
        """Whether keys may go to ``active`` for a step recorded in ``recorded``; :class:`WindowGone`."""
        if recorded is None or (active is not None and (active.handle in self.accepted
                                                        or is_recorded(active, recorded))):
            return Where(() if active is None else (active,))
        where = f"to {described(active)}" if active else "to no window"
        if active is not None and is_kin(active, recorded):
            return Where((active,), f"{step} would go {where}, not to {described(recorded)} as recorded")
        raise WindowGone(f"{step} would go {where}, not to {described(recorded)} as recorded; the replay does not "
                         "move the focus itself")

    def acted(self, window: WindowInfo, approved_for: Window | None = None) -> None:
        """A step was done in ``window``; approved by a person for the recorded ``approved_for``, it stands
        for that window from now on."""
        self.accepted.add(window.handle)
        if approved_for is not None:
            self.approved[_key(approved_for)] = window.handle


def _key(recorded: Window) -> tuple[str, str, str]:
    return (recorded.title, recorded.wm_class, recorded.app)
