"""The test rig: one real X desktop (Xvfb + openbox) for the whole session, real apps on it.

pyautogui, pynput and pywinctl connect to the display when imported and keep that
connection, so the display is started and DISPLAY set here, before any test imports them.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from loguru import logger

from desktop.virtual import VirtualDesktop, app_path
from safety.killswitch import KillSwitch

_desktop = VirtualDesktop(width=1280, height=800, set_environment=True).__enter__()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _desktop.close()


@pytest.fixture(autouse=True)
def log_to_the_stderr_of_the_session() -> Iterator[None]:
    """Undo a test's ``run_agent.main`` logging set-up: its sink writes to that test's captured
    stderr, which is closed once the test ends."""
    yield
    logger.remove()
    logger.add(sys.stderr)


@pytest.fixture(scope="session")
def desktop() -> VirtualDesktop:
    return _desktop


class FormApp:
    """A bundled form app, running for one test; ``state()`` is what it holds now."""

    def __init__(self, desktop: VirtualDesktop, app: str, title: str, state_file: Path, *options: str) -> None:
        self.desktop = desktop
        self.title = title
        self.state_file = state_file
        # a pointer left in a corner by an earlier test would trip pyautogui's failsafe
        desktop.xdotool("mousemove", "640", "400")
        self.process = desktop.launch([sys.executable, str(app_path(app)), "--state", str(state_file), *options])
        self.window = desktop.wait_for_window(title)
        self.wait_for(lambda s: True)

    def state(self) -> dict:
        return json.loads(self.state_file.read_text(encoding="utf-8"))

    def wait_for(self, condition, timeout: float = 5.0) -> dict:
        """The state once ``condition(state)`` holds (the app publishes every 100 ms)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.state() if self.state_file.exists() else None
            if state is not None and condition(state):
                return state
            if time.monotonic() > deadline:
                raise AssertionError(f"the form never reached the expected state; last: {state}")
            time.sleep(0.05)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # wait until the window is really gone
            if not self.desktop.xdotool("search", "--name", f"^{self.title}$", check=False).strip():
                return
            time.sleep(0.05)


class ContactForm(FormApp):
    """The bundled contact form (``*options``: its command-line options)."""

    def __init__(self, desktop: VirtualDesktop, state_file: Path, *options: str) -> None:
        super().__init__(desktop, "contact_form", "Contact", state_file, *options)


@pytest.fixture
def contact_form(desktop: VirtualDesktop, tmp_path: Path) -> Iterator[ContactForm]:
    form = ContactForm(desktop, tmp_path / "form.json")
    yield form
    form.close()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny random-weight Qwen3-VL folders (Thinking and Instruct templates), built offline once."""
    from engine.random_model import build_random_model

    root = tmp_path_factory.mktemp("models")
    return {mode: build_random_model(root / mode, mode=mode) for mode in ("thinking", "instruct")}


@pytest.fixture
def kill_switch() -> Iterator[KillSwitch]:
    """The real kill switch, listening on the virtual display."""
    kill = KillSwitch()
    assert kill.start(), "the kill switch could not listen on the virtual display"
    yield kill
    kill.close()
