"""The person stays in charge: a global hotkey stops the run, their own input pauses it.

On X11, pynput's ``injected`` flag is only set for XSendEvent events, so it cannot tell the
agent's XTest input (pyautogui, xdotool) from a person's. Instead the executor's input is
bracketed by :meth:`KillSwitch.agent_input`, which says what the action sends (an
:class:`AgentInput`): inside a bracket (plus a short grace for events still in flight) an event
is the agent's only if the action sends that kind of event, and a pointer motion only if it lies
on the agent's way to its target (pyautogui jumps straight there; a drag goes along the line).
Everything else is the person's and pauses the run, so a person moving the mouse while the agent
types, or clicks somewhere else, is seen even when the agent acts without a gap. The stop
hotkey is heard inside the brackets too, and the executor calls :meth:`KillSwitch.check`
between the chunks of a long action, so a stop cuts a long type or scroll short. A person
who throws the pointer into a screen corner stops the run at once; pyautogui's own corner
failsafe backs that up where no listener can run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from errors import Stopped

from loguru import logger

DEFAULT_HOTKEY = "<ctrl>+<alt>+<esc>"
ON_THE_WAY = 3.0
"""Pixels off the agent's way within which a pointer motion is still the agent's."""


@dataclass(frozen=True)
class AgentInput:
    """The kinds of input one action of the agent sends; ``pointer_to``: where it moves the pointer."""

    keys: bool = False
    buttons: bool = False
    wheel: bool = False
    pointer_to: tuple[int, int] | None = None


class StopRequested(Stopped):
    """A person asked the run to stop (hotkey, failsafe corner, Ctrl+C)."""


class KillSwitch:
    """Listens to the real mouse and keyboard while the agent runs."""

    def __init__(self, hotkey: str = DEFAULT_HOTKEY, grace: float = 0.2,
                 corners: Collection[tuple[int, int]] = ()) -> None:
        self.hotkey = hotkey
        self.grace = grace
        self.corners = frozenset(corners)
        self.stop_requested = threading.Event()
        self.stop_reason = ""
        self._lock = threading.Lock()
        self._agent_busy = 0
        self._agent_until = 0.0
        self._sending = AgentInput()
        self._way_from: frozenset[tuple[int, int]] = frozenset()  # where the agent's pointer moves from
        self._way_to: tuple[int, int] | None = None  # and to (None: it stays put)
        self._pointer: tuple[int, int] | None = None  # where the pointer was last seen
        self._person_at: float | None = None
        self._listeners: list[object] = []
        self._combo: object = None

    def start(self) -> bool:
        """Start listening; False (and a warning) where no listener can run (no X, Wayland)."""
        try:
            from pynput import keyboard, mouse

            self._combo = keyboard.HotKey(keyboard.HotKey.parse(self.hotkey), self._hotkey_pressed)
            key_listener = keyboard.Listener(on_press=self._key_down, on_release=self._key_up)
            mouse_listener = mouse.Listener(on_move=self._moved, on_click=self._clicked, on_scroll=self._scrolled)
            self._listeners = [key_listener, mouse_listener]
            for listener in self._listeners:
                listener.start()
            for listener in self._listeners:
                listener.wait()
        except Exception as error:
            logger.warning("kill-switch hotkey and pause-on-input are unavailable: {}", error)
            self.close()
            return False
        logger.info("press {} to stop the agent; using the mouse or keyboard pauses it", self.hotkey)
        return True

    def close(self) -> None:
        for listener in self._listeners:
            listener.stop()  # type: ignore[attr-defined]
            unblock_x11_listener(listener)
        for listener in self._listeners:
            listener.join(timeout=2)  # type: ignore[attr-defined]
        self._listeners = []

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason
        self.stop_requested.set()

    def check(self) -> None:
        """Raise :class:`StopRequested` once a stop was asked for."""
        if self.stop_requested.is_set():
            raise StopRequested(self.stop_reason)

    def sleep(self, seconds: float) -> None:
        """Sleep that a stop request cuts short."""
        if self.stop_requested.wait(seconds):
            raise StopRequested(self.stop_reason)

    @contextmanager
    def agent_input(self, sends: AgentInput) -> Iterator[None]:
        """Brackets input the agent itself sends, so it is not taken for the person's."""
        with self._lock:
            self._agent_busy += 1
            self._sending = sends
            # the pointer rests where the agent last put it, or moves from there (or from where it
            # was last seen) straight to the new target
            rest = self._way_to or next(iter(self._way_from), None)
            self._way_from = frozenset(p for p in (rest, self._pointer) if p is not None)
            self._way_to = sends.pointer_to
        try:
            yield
        finally:
            with self._lock:
                self._agent_busy -= 1
                self._agent_until = time.monotonic() + self.grace

    def person_active_since(self, moment: float) -> bool:
        """Did the person touch the mouse or keyboard after ``moment`` (time.monotonic)?"""
        with self._lock:
            return self._person_at is not None and self._person_at > moment

    def wait_for_person(self, idle: float, limit: float) -> None:
        """Block until the person has left the input alone for ``idle`` seconds.

        Raises :class:`StopRequested` on a stop request, or when the person is still busy
        after ``limit`` seconds (they have clearly taken over).
        """
        deadline = time.monotonic() + limit
        while True:
            with self._lock:
                quiet_for = time.monotonic() - (self._person_at or 0.0)
            if quiet_for >= idle:
                return
            if time.monotonic() > deadline:
                self.request_stop(f"the person kept using the mouse and keyboard for {limit:g} s")
            self.sleep(min(idle - quiet_for, 0.25))

    # listener callbacks (pynput's threads)

    def _agent_sending(self) -> AgentInput | None:
        """What the agent is sending now (or has just sent), None outside its brackets."""
        with self._lock:
            acting = self._agent_busy > 0 or time.monotonic() < self._agent_until
            return self._sending if acting else None

    def _person(self) -> None:
        with self._lock:
            self._person_at = time.monotonic()

    def _on_agent_way(self, x: int, y: int) -> bool:
        with self._lock:
            starts, end = self._way_from, self._way_to
        return any(_distance_to_segment((x, y), start, end or start) <= ON_THE_WAY for start in starts) or (
            end is not None and math.dist((x, y), end) <= ON_THE_WAY)

    def _clicked(self, *args: object) -> None:
        sending = self._agent_sending()
        if sending is None or not sending.buttons:
            self._person()

    def _scrolled(self, *args: object) -> None:
        sending = self._agent_sending()
        if sending is None or not sending.wheel:
            self._person()

    def _moved(self, x: int, y: int, *args: object) -> None:
        with self._lock:
            self._pointer = (x, y)
        if self._agent_sending() is not None and self._on_agent_way(x, y):
            return
        self._person()
        if (x, y) in self.corners:
            self.request_stop("the pointer was moved into a screen corner (failsafe)")

    def _key_down(self, key: object) -> None:
        self._key(key, down=True)

    def _key_up(self, key: object) -> None:
        self._key(key, down=False)

    def _key(self, key: object, down: bool) -> None:
        # The hotkey is followed inside the agent's brackets too, or a stop pressed during a long
        # type would go unheard; the agent's own keys never make the chord (the gate refuses it).
        sending = self._agent_sending()
        if sending is None or not sending.keys:
            self._person()
        canonical = self._listeners[0].canonical(key)  # type: ignore[attr-defined]
        (self._combo.press if down else self._combo.release)(canonical)  # type: ignore[attr-defined]

    def _hotkey_pressed(self) -> None:
        logger.warning("stop hotkey {} pressed", self.hotkey)
        self.request_stop(f"the stop hotkey {self.hotkey} was pressed")


def _distance_to_segment(point: tuple[float, float], start: tuple[float, float], end: tuple[float, float]) -> float:
    (px, py), (ax, ay), (bx, by) = point, start, end
    length = (bx - ax) ** 2 + (by - ay) ** 2
    along = 0.0 if length == 0 else max(0.0, min(1.0, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / length))
    return math.dist(point, (ax + along * (bx - ax), ay + along * (by - ay)))


def unblock_x11_listener(listener: object) -> None:
    """Make a stopped pynput X11 listener thread actually end.

    pynput sends its "disable recording" request on the very connection that is blocked
    recording, so the thread can hang until the display closes (and then dies noisily).
    Any client may disable an XRecord context: do it from a connection of our own.
    """
    context = getattr(listener, "_context", None)
    if context is None:
        return
    try:
        from Xlib.display import Display

        control = Display()
        try:
            control.record_disable_context(context)
            control.sync()
        finally:
            control.close()
    except Exception as error:  # the display may already be gone: nothing left to unblock
        logger.debug("could not end the input listener: {}", error)
