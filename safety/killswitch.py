"""The person stays in charge: a global hotkey stops the run, their own input pauses it.

On X11, pynput's ``injected`` flag is only set for XSendEvent events, so it cannot tell the
agent's XTest input (pyautogui, xdotool) from a person's. Instead the executor's input is
bracketed by :meth:`KillSwitch.agent_input`: every event seen outside those brackets (plus
a short grace for events still in flight) is the person's, and pauses the run. The stop
hotkey is heard inside the brackets too, and the executor calls :meth:`KillSwitch.check`
between the chunks of a long action, so a stop cuts a long type or scroll short. A person
who throws the pointer into a screen corner stops the run at once; pyautogui's own corner
failsafe backs that up where no listener can run.
"""

from __future__ import annotations

from errors import Stopped
import threading
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from loguru import logger

DEFAULT_HOTKEY = "<ctrl>+<alt>+<esc>"


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
        self._person_at: float | None = None
        self._listeners: list[object] = []
        self._combo: object = None

    def start(self) -> bool:
        """Start listening; False (and a warning) where no listener can run (no X, Wayland)."""
        try:
            from pynput import keyboard, mouse

            self._combo = keyboard.HotKey(keyboard.HotKey.parse(self.hotkey), self._hotkey_pressed)
            key_listener = keyboard.Listener(on_press=self._key_down, on_release=self._key_up)
            mouse_listener = mouse.Listener(on_move=self._moved, on_click=self._touched, on_scroll=self._touched)
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
    def agent_input(self) -> Iterator[None]:
        """Brackets input the agent itself sends, so it is not taken for the person's."""
        with self._lock:
            self._agent_busy += 1
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

    def _is_agent(self) -> bool:
        with self._lock:
            return self._agent_busy > 0 or time.monotonic() < self._agent_until

    def _touched(self, *args: object) -> None:
        if not self._is_agent():
            with self._lock:
                self._person_at = time.monotonic()

    def _moved(self, x: int, y: int, *args: object) -> None:
        if self._is_agent():
            return
        self._touched()
        if (x, y) in self.corners:
            self.request_stop("the pointer was moved into a screen corner (failsafe)")

    def _key_down(self, key: object) -> None:
        self._key(key, down=True)

    def _key_up(self, key: object) -> None:
        self._key(key, down=False)

    def _key(self, key: object, down: bool) -> None:
        # The hotkey is followed inside the agent's brackets too, or a stop pressed during a long
        # type would go unheard; the agent's own keys never make the chord (the gate refuses it).
        if not self._is_agent():
            self._touched()
        canonical = self._listeners[0].canonical(key)  # type: ignore[attr-defined]
        (self._combo.press if down else self._combo.release)(canonical)  # type: ignore[attr-defined]

    def _hotkey_pressed(self) -> None:
        logger.warning("stop hotkey {} pressed", self.hotkey)
        self.request_stop(f"the stop hotkey {self.hotkey} was pressed")


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
