"""The web page in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is the real application with the scripted model (replies in Qwen3-VL's real format);
agent runs work the real contact form on the test desktop through the real safety gate. The
screenshots taken here are the README's: ``UPDATE_SCREENSHOTS=1`` writes them to
docs/screenshots/ (a plain test run leaves the tree as it was).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from agent.backends.scripted import ScriptedBackend
from agent.settings import Settings
from tests.replies import NAME, click, done, reply, type_text
from tests.webui_server import RunningServer
from webui.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh installs it)")


@pytest.fixture(scope="module")
def model() -> ScriptedBackend:
    return ScriptedBackend([], source="the test's replies")


@pytest.fixture(scope="module")
def server(model, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    app = create_app(Settings(runs_dir=runs, recordings_dir=runs / "none"), model=model)
    with RunningServer(app) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 820})
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(server.url)
    yield page
    context.close()


def shot(page, name: str) -> None:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOTS / f"{name}.png")
    else:
        assert page.screenshot()  # (the page still renders)


def test_chat_with_an_image_in_both_modes_and_locate(page, model, tmp_path):
    picture = tmp_path / "square.png"
    image = Image.new("RGB", (200, 150), "white")
    ImageDraw.Draw(image).rectangle((80, 55, 120, 95), fill="red")
    image.save(picture)
    model.replies += [
        "A red square on white.",
        "The user wants the colour. The square's pixels are pure red.\n</think>\n\nIt is red.",
        '{"point_2d": [500, 500], "label": "red square"}',
    ]
    page.locator("#model-status.ready").wait_for()

    page.set_input_files("#file-input", str(picture))
    page.fill("#chat-input", "What is in this picture?")
    page.click("#chat-send")
    first = page.locator(".message.assistant").nth(0)
    first.locator(".answer", has_text="A red square on white.").wait_for()
    assert page.locator(".message.user img").count() == 1
    sent = model.requests[-1].messages[-1].content
    assert isinstance(sent[0], Image.Image) and sent[0].size == (200, 150) and sent[1] == "What is in this picture?"
    assert model.requests[-1].sampling.top_p == 0.8  # Instruct's model card

    page.check("#mode-thinking")
    page.click(".sampling summary")
    page.fill("#temperature", "0.3")
    page.fill("#chat-input", "Which colour is it?")
    page.click("#chat-send")
    second = page.locator(".message.assistant").nth(1)
    second.locator(".answer", has_text="It is red.").wait_for()
    reasoning = second.locator("details.thought")
    assert reasoning.is_visible() and reasoning.get_attribute("open") is None  # folded
    reasoning.locator("summary").click()
    assert "pure red" in reasoning.inner_text()
    sampling = model.requests[-1].sampling
    assert (sampling.top_p, sampling.temperature, sampling.thinking_budget) == (0.95, 0.3, None)  # Thinking's, ours
    assert [m.role for m in model.requests[-1].messages] == ["user", "assistant", "user"]  # the history went along
    assert model.requests[-1].messages[1].content == ("A red square on white.",)

    page.check("#locate")
    page.fill("#chat-input", "the red square")
    page.click("#chat-send")
    page.locator(".message.assistant .located .marker").wait_for()
    assert "point: 100, 75 px" in page.locator(".message.assistant").nth(2).inner_text()
    shot(page, "chat")

    page.reload()  # the conversation is kept in the browser
    assert page.locator(".message.assistant").count() == 3


def test_agent_run_asks_the_page_and_the_approval_survives_a_reload(page, model, server, contact_form):
    model.replies += [click(NAME, "The name field first."), type_text("Hunter2!x9secret"), done()]
    page.click("button[data-tab=agent]")
    page.fill("#run-instruction", "Log in as the test user")
    page.click("#run-start")

    approval = page.locator("#approval")
    approval.wait_for()
    assert "type 'Hunter2!x9secret'" in page.inner_text("#approval-action")
    assert "secret" in page.inner_text("#approval-reason")
    assert page.locator(".step").count() == 1  # the click was allowed without asking
    shot(page, "agent-approval")
    assert contact_form.state()["fields"]["name"] == ""  # nothing typed while the gate waits

    page.reload()  # the question is still there, and so is the run
    page.locator("#approval").wait_for()
    assert page.locator(".step").count() == 1
    page.click("#approve")

    page.locator("#run-status.success").wait_for()
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Hunter2!x9secret"
    assert page.locator(".step").count() == 3
    assert "Hunter2!x9secret" not in page.inner_text("#steps")  # the record keeps the secret out
    assert "a person approved" in page.inner_text("#steps")
    page.locator("#runs li").first.wait_for()
    shot(page, "agent-run")


def test_stop_a_run_from_the_page(page, model, server, contact_form):
    model.replies += [reply("Waiting for the form.", action="wait", time=1.0)] * 20
    page.click("button[data-tab=agent]")
    page.fill("#run-instruction", "Wait for the form")
    page.click("#run-start")
    page.locator(".step").first.wait_for()
    page.click("#stop")
    page.locator("#run-status.stopped").wait_for()
    assert "stopped from the web page" in page.inner_text("#run-status")
    run_id = page.evaluate("location.hash").removeprefix("#run=")
    summary = json.loads((server.app.state.desk.runs_dir / run_id / "summary.json").read_text())
    assert summary["status"] == "stopped" and summary["steps"] < 5


def test_fill_a_form_from_the_page_and_approve_its_submit(page, server, contact_form, tmp_path):
    rows = tmp_path / "people.csv"
    rows.write_text("name,email,city,notes,newsletter\nGrace Hopper,grace@navy.mil,Arlington,COBOL,yes\n")
    page.click("button[data-tab=agent]")
    page.select_option("#fill-spec-name", "contact")
    assert "Full name" in page.input_value("#fill-spec")
    page.set_input_files("#fill-rows", str(rows))
    page.select_option("#fill-locator", "ocr")
    page.click("#fill-start")

    page.locator("#approval").wait_for(timeout=30_000)  # the submit asks first
    assert "left click" in page.inner_text("#approval-action")
    assert page.locator("#approval-crop").is_visible()  # what the click would hit
    page.click("#approve")
    page.locator("#run-status.success").wait_for(timeout=30_000)
    assert "row 1: submitted" in page.inner_text("#run-status")
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"]
    assert saved[0]["name"] == "Grace Hopper" and saved[0]["newsletter"] is True


def test_the_api_documentation_renders_offline(page, server):
    page.goto(f"{server.url}/docs")
    page.locator(".opblock-summary-path", has_text="/api/predict").first.wait_for()
    assert page.locator(".opblock-summary-path", has_text="/v1/chat/completions").count() == 1
