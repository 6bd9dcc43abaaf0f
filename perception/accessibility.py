"""The accessibility tree of GTK and Qt apps (AT-SPI over D-Bus): each control's role, name and box.

Toolkits that support assistive technology publish their widgets on the accessibility bus: a
label "Full name" with its box, a "text" beside it, a "check box" named by its text. Tk publishes
nothing. Apps publish once the accessibility bus runs and accessibility is switched on, which
:func:`window_elements` does as a screen reader would (starting ``org.a11y.Bus``, setting
``org.a11y.Status.IsEnabled``), then gives them a moment. D-Bus is spoken through jeepney (pure Python).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from loguru import logger

from perception.geometry import Box

T = TypeVar("T")

ACCESSIBLE, COMPONENT = "org.a11y.atspi.Accessible", "org.a11y.atspi.Component"
MAX_ELEMENTS = 2000  # a window with more is not a form; stop walking
SCREEN = 0  # AT-SPI coordinate type: desktop pixels
SWITCH_ON_WAIT = 3.0  # seconds apps may take to publish their windows once accessibility is switched on
NEW_WINDOW_WAIT = 1.5  # seconds a window that X already shows may take to appear in the tree


@dataclass(frozen=True)
class Element:
    role: str  # AT-SPI's role name: "label", "text", "password text", "combo box", "check box", ...
    name: str
    box: Box


class _Bus:
    """One connection to the accessibility bus."""

    def __init__(self, switch_on: bool = True) -> None:
        """``switch_on=False``: only read a tree that is already there (the bus running, accessibility
        on); never start the bus or switch it on."""
        from jeepney import DBusAddress, Properties, new_method_call
        from jeepney.io.blocking import open_dbus_connection

        self._address, self._properties, self._call = DBusAddress, Properties, new_method_call
        session = open_dbus_connection(bus="SESSION")
        try:
            daemon = DBusAddress("/org/freedesktop/DBus", bus_name="org.freedesktop.DBus",
                                 interface="org.freedesktop.DBus")
            running = session.send_and_get_reply(new_method_call(daemon, "NameHasOwner", "s", ("org.a11y.Bus",)),
                                                 timeout=5).body[0]
            if not running and not switch_on:  # asking the bus anything would start it: leave that to others
                raise ConnectionError("the accessibility bus is not running")
            status = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Status")
            enabled = session.send_and_get_reply(Properties(status).get("IsEnabled"), timeout=5).body[0][1]
            if not enabled and not switch_on:
                raise ConnectionError("accessibility is not switched on")
            bus = DBusAddress("/org/a11y/bus", bus_name="org.a11y.Bus", interface="org.a11y.Bus")
            address = session.send_and_get_reply(new_method_call(bus, "GetAddress"), timeout=5).body[0]
            if not enabled:
                session.send_and_get_reply(Properties(status).set("IsEnabled", "b", True), timeout=5)
            # apps wait for the accessibility bus to start, or to be switched on, before they publish
            self.switched_on = not (running and enabled)
        finally:
            session.close()
        self.connection = open_dbus_connection(address)

    def call(self, node: tuple[str, str], interface: str, method: str, signature: str | None = None,
             *args: object) -> tuple:
        address = self._address(node[1], bus_name=node[0], interface=interface)
        message = self._call(address, method, signature, args) if signature else self._call(address, method)
        return self.connection.send_and_get_reply(message, timeout=5).body

    def name(self, node: tuple[str, str]) -> str:
        address = self._address(node[1], bus_name=node[0], interface=ACCESSIBLE)
        return self.connection.send_and_get_reply(self._properties(address).get("Name"), timeout=5).body[0][1]


def window_elements(title: str) -> list[Element]:
    """The visible elements of the window whose title matches the regular expression ``title``;
    empty when there is no accessibility bus or the window's app publishes nothing."""
    try:
        bus = _Bus()
    except Exception as error:  # no session bus, no AT-SPI, a bus that does not answer
        logger.debug("no accessibility tree: {!r}", error)
        return []
    # apps that publish only once accessibility is on (Qt) take a moment to appear, and so does a
    # window that has just opened
    deadline = time.monotonic() + (SWITCH_ON_WAIT if bus.switched_on else NEW_WINDOW_WAIT)
    try:
        while True:
            window = _window(bus, title)
            if window is not None:
                return _walk(bus, window)
            if time.monotonic() > deadline:
                return []
            time.sleep(0.1)
    except Exception as error:  # an app that quits or hangs while being walked
        logger.debug("accessibility tree unreadable: {}", error)
        return []
    finally:
        bus.connection.close()


FOCUSED = 12  # AT-SPI state bit


def focused_password_field(title: str) -> Box | None:
    """The box of the password field that has the keyboard focus in the window titled exactly
    ``title``, or None: no such field, or no accessibility tree to ask. Asked before each typing
    step, so it never waits for apps to publish and never switches accessibility on itself."""
    found = _focused(title, ("password text",))
    return found[0].box if found else None


TEXT = "org.a11y.atspi.Text"
_TEXT_ROLES = ("text", "entry", "paragraph", "terminal", "document text", "editbar")


def focused_text(title: str) -> str | None:
    """What the focused text field of the window titled exactly ``title`` holds, or None when it
    cannot be read (no accessibility tree, no focused field, a field that hides its text)."""
    found = _focused(title, _TEXT_ROLES, read_text=True)
    return found[1] if found else None


CHECKED = 4  # AT-SPI state bit
_TOGGLE_ROLES = ("check box", "radio button", "toggle button", "check menu item", "radio menu item")


def checked(title: str, point: tuple[int, int]) -> bool | None:
    """Whether the check box or radio button at desktop ``point`` in the window titled exactly
    ``title`` is checked; None when the tree cannot say (no tree, no such control there)."""
    x, y = point

    def state(bus: _Bus, element: Element, node: tuple[str, str]) -> bool | None:
        left, top, right, bottom = element.box
        if element.role in _TOGGLE_ROLES and left <= x < right and top <= y < bottom:
            return bool(bus.call(node, ACCESSIBLE, "GetState")[0][0] & (1 << CHECKED))
        return None

    return _first_in_window(title, state)


_ITEM_ROLES = ("list item", "menu item", "check menu item", "radio menu item")


def list_items(title: str) -> list[Element]:
    """The items of every list and menu of the app whose window is titled exactly ``title``, an
    open drop-down's options among them (GTK shows them in a window of their own, Qt under the
    combo box), wherever they are, on the screen or scrolled off it; empty without a tree."""
    try:
        bus = _Bus(switch_on=False)
    except Exception as error:
        logger.debug("no accessibility tree: {!r}", error)
        return []
    registry = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
    try:
        for app in bus.call(registry, ACCESSIBLE, "GetChildren")[0]:
            try:
                windows = [tuple(w) for w in bus.call(tuple(app), ACCESSIBLE, "GetChildren")[0]]
                if any(bus.name(w) == title for w in windows):
                    return [e for w in windows for e in _walk(bus, w, into_lists=True) if e.role in _ITEM_ROLES]
            except Exception as error:  # an app that has quit is still listed for a while: skip it
                logger.debug("accessibility: skipping an app that does not answer: {}", error)
        return []
    except Exception as error:
        logger.debug("accessibility tree unreadable: {}", error)
        return []
    finally:
        bus.connection.close()


def focused_element(title: str) -> Element | None:
    """The element that has the keyboard focus in the window titled exactly ``title``, or None
    (no accessibility tree to ask, or nothing focused in it)."""
    found = _focused(title, None)
    return found[0] if found else None


def _focused(title: str, roles: tuple[str, ...] | None, read_text: bool = False) -> tuple[Element, str | None] | None:
    """The focused element (of one of ``roles``; None: of any role) in the window titled exactly
    ``title``, and its text."""

    def focus(bus: _Bus, element: Element, node: tuple[str, str]) -> tuple[Element, str | None] | None:
        if (roles is None or element.role in roles) and bus.call(node, ACCESSIBLE, "GetState")[0][0] & (1 << FOCUSED):
            return element, bus.call(node, TEXT, "GetText", "ii", 0, -1)[0] if read_text else None
        return None

    return _first_in_window(title, focus)


def _first_in_window(title: str, pick: Callable[[_Bus, Element, tuple[str, str]], T | None]) -> T | None:
    """The first answer ``pick`` gives for an element of the window titled exactly ``title``; None
    when none does or there is no tree. Asked during a run, so it only reads a tree that is already
    there: it never waits for apps to publish and never switches accessibility on itself."""
    try:
        bus = _Bus(switch_on=False)
    except Exception as error:
        logger.debug("no accessibility tree: {!r}", error)
        return None
    try:
        window = _window(bus, f"^{re.escape(title)}$")
        if window is None:
            return None
        for element, node in _walk(bus, window, with_nodes=True):
            found = pick(bus, element, node)
            if found is not None:
                return found
        return None
    except Exception as error:  # an app that quits or hangs while being walked
        logger.debug("accessibility tree unreadable: {}", error)
        return None
    finally:
        bus.connection.close()


def _window(bus: _Bus, title: str) -> tuple[str, str] | None:
    registry = ("org.a11y.atspi.Registry", "/org/a11y/atspi/accessible/root")
    for app in bus.call(registry, ACCESSIBLE, "GetChildren")[0]:
        try:
            windows = bus.call(tuple(app), ACCESSIBLE, "GetChildren")[0]
            for window in windows:
                if re.search(title, bus.name(tuple(window))):
                    return tuple(window)
        except Exception as error:  # an app that has quit is still listed for a while: skip it
            logger.debug("accessibility: skipping an app that does not answer: {}", error)
    return None


def _walk(bus: _Bus, window: tuple[str, str], with_nodes: bool = False, into_lists: bool = False) -> list:
    """The visible elements under ``window`` (with their bus nodes when ``with_nodes``); a combo
    box's items only ``into_lists`` (they are not on the screen until it opens)."""
    found: list = []
    todo = [window]
    while todo and len(found) < MAX_ELEMENTS:
        node = todo.pop()
        role = bus.call(node, ACCESSIBLE, "GetRoleName")[0]
        x, y, width, height = bus.call(node, COMPONENT, "GetExtents", "u", SCREEN)[0]
        if width > 0 and height > 0:
            element = Element(role, bus.name(node), (x, y, x + width, y + height))
            found.append((element, node) if with_nodes else element)
        if role != "combo box" or into_lists:
            todo.extend(tuple(child) for child in bus.call(node, ACCESSIBLE, "GetChildren")[0])
    return found
