"""The web server for tests, the real application under uvicorn in a thread of the test process,
and the real browser that looks at it (Debian's Chromium, headless, driven by Playwright).

In the test process the server shares the test desktop (DISPLAY is set by conftest), so an agent
run started over HTTP works the real contact form on the virtual display.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.settings import Settings
from webui.app import create_app
from agent.model import ModelReply, ModelRequest, TextSink

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
SIZES = {"desktop": {"width": 1366, "height": 768}, "phone": {"width": 390, "height": 844}}
IMAGE_TOKENS = 256  # what a picture costs a prompt, roughly, in the paced script's count


class RunningServer:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> RunningServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


class PacedScript(ScriptedBackend):
    """Scripted replies streamed a word at a time at a model's pace (``first`` seconds before the
    first word, ``pace`` between words; none by default), counting a prompt's tokens roughly."""

    def __init__(self) -> None:
        super().__init__([], source="the test's replies")
        self.first = self.pace = 0.0

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> ModelReply:
        sent = 0

        def paced(text: str) -> None:
            nonlocal sent
            for word in re.findall(r"\s*\S+\s*|\s+", text):
                time.sleep(self.pace if sent else self.first)
                sent += 1
                assert on_text is not None
                on_text(word)

        reply = super().complete(request, paced if on_text else None)
        prompt = sum(len(m.text.split()) + IMAGE_TOKENS * sum(isinstance(p, Image.Image) for p in m.content)
                     for m in request.messages)
        return replace(reply, prompt_tokens=prompt)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


def open_page(browser: Any, url: str, size: str = "desktop") -> Any:
    """A page in a fresh browser profile (its own IndexedDB). Desktop notifications are recorded
    in ``window.notified`` instead of shown: a headless browser has no desktop to show them on."""
    context = browser.new_context(viewport=SIZES[size])
    context.add_init_script("""
        window.notified = [];
        window.Notification = class {
            static permission = "granted";
            static requestPermission() { return Promise.resolve("granted"); }
            constructor(title, options) { window.notified.push({ title, ...options }); }
        };""")
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(url)
    return page


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now (axe runs in the page;
    the server does not serve it)."""
    if not page.evaluate("'axe' in window"):
        page.add_script_tag(path=str(AXE))
    found = page.evaluate("axe.run(document, {resultTypes: ['violations']}).then(r => r.violations)")
    return [f"{v['id']} ({v['impact']}): {v['help']}: {[n['target'] for n in v['nodes']][:5]}"
            for v in found if v["impact"] in ("serious", "critical")]


def no_sideways_scroll(page: Any) -> bool:
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth")


def shot(page: Any, name: str) -> None:
    """A README screenshot, written with ``UPDATE_SCREENSHOTS=1`` (a plain test run leaves the tree as it was)."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")
    else:
        assert page.screenshot()  # (the page still renders)


# The fixtures both browser test modules use; each module that imports them gets its own server.
@pytest.fixture(scope="module")
def model() -> PacedScript:
    return PacedScript()


@pytest.fixture(autouse=True)
def unpaced(model):
    """Each test starts with an unpaced model and no replies left over from a test before it."""
    yield
    model.first = model.pace = 0.0
    del model.replies[len(model.requests):]  # (the script answers request n with reply n)


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    with RunningServer(create_app(Settings(runs_dir=runs, recordings_dir=runs / "none"), model=model)) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(request, browser, server):
    page = open_page(browser, server.url, getattr(request, "param", "desktop"))
    page.locator("#model-name.ready").wait_for()
    yield page
    page.context.close()
