"""The agent's page in a real browser: runs on the test desktop, the gate's questions, every control
by keyboard, at a laptop's size (1366x768) and a phone's (390x844).

Agent runs work the real contact form through the real safety gate; only the model's words are
scripted. The README's agent screenshots are taken here (``UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

import json

import pytest

from tests.replies import NAME, click, done, reply, type_text
from tests.webui_server import browser, model, page, server, unpaced  # noqa: F401 - the shared fixtures
from tests.webui_server import (
    CHROMIUM,
    accessibility_problems,
    no_sideways_scroll,
    open_page,
    shot,
)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh installs it)")

# Every control a person could use. Tab stops once in a group of radios and once in the tab list
# (whose other tabs the arrows reach)
CONTROLS = """[...document.querySelectorAll('button, input, select, textarea, summary, a[href], [tabindex="0"]')]
    .filter(e => !e.disabled && e.checkVisibility() && !(e.type === 'radio' && !e.checked)
                 && !(e.role === 'tab' && e.tabIndex < 0))"""


def open_agent(page) -> None:
    if page.get_attribute("#tab-agent", "aria-selected") != "true":
        page.click("#tab-agent")
    if page.get_attribute("#sidebar-toggle", "aria-expanded") == "false":  # a phone: the panel slides over
        page.click("#sidebar-toggle")


def start(page, instruction: str) -> None:
    open_agent(page)
    page.fill("#run-instruction", instruction)
    page.click("#run-start")


def pictures_are_whole(page) -> bool:
    """Every step picture of the run shown, fetched and decoded in the page."""
    return page.evaluate("""async () => {
        const id = decodeURIComponent(location.hash.slice(5));
        const run = await (await fetch(`/api/runs/${id}`)).json();
        for (const step of run.steps) {
            const response = await fetch(step.picture);
            if (!response.ok) return false;
            (await createImageBitmap(await response.blob())).close();
        }
        return run.steps.length > 0;
    }""")


@pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
def test_a_waiting_question_cannot_be_missed_and_survives_a_reload(page, model, browser, server, contact_form):
    model.replies += [click(NAME, "The name field first."), type_text("Hunter2!x9secret"), done()]
    model.first, model.pace = 1.0, 0.03  # the first step takes a while: time to look at the chat meanwhile
    open_agent(page)
    page.check("#notify")
    start(page, "Log in as the test user")
    page.click("#tab-chat")

    banner = page.locator("#approval-alert")  # on the chat, the question comes as a banner
    banner.wait_for(timeout=15_000)
    assert "type 'Hunter2!x9secret'" in banner.inner_text() and banner.get_attribute("role") == "alert"
    assert page.title().startswith("(1) Approval needed") and page.locator("#agent-badge").is_visible()
    (notified,) = page.evaluate("window.notified")  # a desktop notification, without the secret
    assert notified["title"] == "The agent waits for your approval" and "secret" in notified["body"]
    assert "Hunter2" not in notified["body"]
    assert accessibility_problems(page) == []
    page.click("#approval-review")
    approval = page.locator("#approval")
    assert approval.is_visible() and approval.get_attribute("role") == "alert"
    assert page.evaluate("document.activeElement.id") == "approval"  # it takes the focus
    assert banner.is_hidden()
    assert "secret" in page.inner_text("#approval-reason")
    assert page.locator(".step").count() == 1  # the click was allowed without asking
    assert "tokens in" in page.inner_text(".step .speed")
    assert contact_form.state()["fields"]["name"] == ""  # nothing typed while the gate waits
    assert accessibility_problems(page) == []
    if page.viewport_size["width"] > 1000:
        shot(page, "agent-approval")

    elsewhere = open_page(browser, server.url, page.viewport_size["width"] > 1000 and "desktop" or "phone")
    elsewhere.locator("#approval").wait_for()  # a new tab opens on the question
    assert elsewhere.get_attribute("#tab-agent", "aria-selected") == "true"
    assert elsewhere.evaluate("document.activeElement.id") == "approval" and elsewhere.title().startswith("(1)")
    assert elsewhere.locator(".step").count() == 1
    elsewhere.context.close()

    page.keyboard.press("Tab")  # from the question to its first button
    assert page.evaluate("document.activeElement.id") == "approve"
    page.keyboard.press("Enter")
    page.locator("#run-status.success").wait_for()
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Hunter2!x9secret"
    assert page.locator(".step").count() == 3
    assert "Hunter2!x9secret" not in page.inner_text("#steps")  # the record keeps the secret out
    assert "a person approved" in page.inner_text("#steps")
    assert page.title() == "desktop-agent" and page.locator("#agent-badge").is_hidden()
    assert pictures_are_whole(page) and no_sideways_scroll(page)
    if page.viewport_size["width"] > 1000:
        assert page.locator("#runs li").first.bounding_box()["y"] < 768 - 30  # the runs list above the fold
        shot(page, "agent-run")


def test_every_control_is_reached_by_keyboard_with_visible_focus(page, model, contact_form):
    model.replies += [reply("Waiting for the form.", action="wait", time=0.1), done()]
    start(page, "Wait for the form")
    page.locator("#run-status.success").wait_for()
    for tab in ("chat", "agent"):
        page.click(f"#tab-{tab}")
        page.click(f"#tab-{tab}")  # the focus starts at the tab
        wanted = set(page.evaluate(f"{CONTROLS}.map(e => e.id || e.getAttribute('aria-label') || e.textContent.trim())"))
        reached, unringed = set(), []
        for _ in range(len(wanted) + 10):
            page.keyboard.press("Tab")
            focused = page.evaluate("""(() => { const e = document.activeElement;
                return e === document.body ? null  // past the last control, before the first
                    : [e.id || e.getAttribute('aria-label') || e.textContent.trim(),
                       getComputedStyle(e).outlineStyle !== 'none'] })()""")
            if focused is None:
                continue
            reached.add(focused[0])
            if not focused[1]:
                unringed.append(focused[0])
        assert wanted <= reached, f"not reached by Tab on the {tab} page: {wanted - reached}"
        assert not unringed, f"focused without a visible ring: {unringed}"
    page.focus(".step-open >> nth=0")  # a step opens by keyboard
    page.keyboard.press("Enter")
    assert page.get_attribute(".step-open >> nth=0", "aria-pressed") == "true"
    assert page.get_attribute("#run-picture", "src").endswith("step-001-action.png")
    page.focus("#tab-agent")
    page.keyboard.press("ArrowLeft")  # tabs by their arrows
    assert page.get_attribute("#tab-chat", "aria-selected") == "true" and page.locator("#chat").is_visible()


def test_stop_a_run_from_the_page(page, model, server, contact_form):
    model.replies += [reply("Waiting for the form.", action="wait", time=1.0)] * 20
    start(page, "Wait for the form")
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
    open_agent(page)
    page.click("text=Fill a form")
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
