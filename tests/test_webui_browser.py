"""The chat page in a real browser, at a laptop's size (1366x768) and a phone's (390x844).

The server is the real application; only the model's words are scripted (in Qwen3-VL's format,
streamed at a model's pace where the test watches them come). Conversations live in the
browser's IndexedDB, so a reload is a real reload. The screenshots taken here are the README's:
``UPDATE_SCREENSHOTS=1`` writes them to docs/screenshots/ (a plain test run leaves the tree as it was).
"""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from agent.settings import Settings
from tests.webui_server import browser, model, page, server, unpaced  # noqa: F401 - the shared fixtures
from tests.webui_server import (
    CHROMIUM,
    RunningServer,
    accessibility_problems,
    no_sideways_scroll,
    open_page,
    shot,
)
from webui.app import create_app

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh installs it)")


def red_square(path: Path) -> Path:
    image = Image.new("RGB", (200, 150), "white")
    ImageDraw.Draw(image).rectangle((80, 55, 120, 95), fill="red")
    image.save(path)
    return path


def send(page, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


@pytest.mark.parametrize("page", ["desktop", "phone"], indirect=True)
def test_chat_with_an_image_in_both_modes_markdown_figures_and_locate(page, model, tmp_path):
    model.replies += [
        "A **red square** on white:\n\n```python\nprint('red')\n```",
        "The user wants the colour. The square's pixels are pure red.\n</think>\n\nIt is red.",
        '{"point_2d": [500, 500], "label": "red square"}',
    ]
    model.first, model.pace = 0.2, 0.03  # a model's pace, for figures like a model's in the screenshot
    assert page.inner_text("#model-name") == "scripted replies" and page.inner_text("#model-quantization") == "none"
    assert re.search(r"[\d.]+ [MG]iB in use · [\d.]+ [MG]iB peak", page.inner_text("#model-memory"))
    assert page.get_attribute("#top-p", "placeholder") == "0.8"  # the values in force, not "model card"

    page.set_input_files("#file-input", str(red_square(tmp_path / "square.png")))
    page.locator("#attachments li", has_text="square.png").wait_for()
    send(page, "What is in this picture?")
    first = page.locator(".message.assistant").nth(0)
    first.locator(".answer strong", has_text="red square").wait_for()  # Markdown, rendered as it streams
    first.locator("pre code", has_text="print('red')").wait_for()  # (the code block comes a few words later)
    first.locator(".speed", has_text=re.compile(r"to first token · [\d.]+ tok/s · 261 tokens in · \d+ out")).wait_for()
    page.locator("#model-last", has_text="tok/s · 261 tokens in").wait_for()  # the header's figures of that reply
    page.locator("#model-mode", has_text="instruct").wait_for()
    assert page.locator(".message.user img").count() == 1
    sent = model.requests[-1].messages[-1].content
    assert isinstance(sent[0], Image.Image) and sent[0].size == (200, 150) and sent[1] == "What is in this picture?"
    assert model.requests[-1].sampling.top_p == 0.8  # Instruct's model card

    page.check("#mode-thinking")
    assert page.get_attribute("#top-p", "placeholder") == "0.95"
    page.click(".sampling summary")
    page.fill("#temperature", "0.3")
    page.click(".sampling summary")
    send(page, "Which colour is it?")
    second = page.locator(".message.assistant").nth(1)
    second.locator(".answer", has_text="It is red.").wait_for()
    reasoning = second.locator("details.thought")
    assert reasoning.is_visible() and reasoning.get_attribute("open") is None  # folded once the answer came
    assert "Reasoning" in reasoning.locator("summary").inner_text()
    reasoning.locator("summary").click()
    assert "pure red" in reasoning.inner_text()
    page.locator("#model-mode", has_text="thinking").wait_for()
    sampling = model.requests[-1].sampling
    assert (sampling.top_p, sampling.temperature, sampling.thinking_budget) == (0.95, 0.3, None)  # Thinking's, ours
    assert [m.role for m in model.requests[-1].messages] == ["user", "assistant", "user"]  # the history went along
    assert model.requests[-1].messages[1].content == ("A **red square** on white:\n\n```python\nprint('red')\n```",)

    page.check("#locate")
    send(page, "the red square")
    located = page.locator(".message.assistant").nth(2)
    located.locator(".located .marker").wait_for()
    assert located.locator("figcaption").inner_text() == "red square: at 100, 75 px"
    assert "point_2d" not in located.inner_text()  # the model's JSON is not shown as the answer
    assert no_sideways_scroll(page)
    assert accessibility_problems(page) == []
    if page.viewport_size["width"] > 1000:
        shot(page, "chat")

    page.reload()  # the conversation is kept in the browser
    page.locator(".message.assistant").nth(2).locator(".marker").wait_for()
    assert page.locator(".message.assistant").count() == 3 and page.locator(".message.user img").count() == 1


def test_a_large_picture_and_everything_after_it_survive_reloads(page, model, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(7).integers(0, 255, (1440, 1440, 3), np.uint8)).save(photo)
    assert 6e6 < photo.stat().st_size < 7e6
    model.replies += ["Hi.", "A noisy picture.", "Still noisy.", "Yes."]
    send(page, "Hello")
    page.locator(".message.assistant .answer", has_text="Hi.").wait_for()
    page.set_input_files("#file-input", str(photo))
    page.locator("#attachments li").wait_for()
    send(page, "What is this?")
    page.locator(".message.assistant .answer", has_text="A noisy picture.").wait_for()
    send(page, "And now?")
    page.locator(".message.assistant .answer", has_text="Still noisy.").wait_for()
    for _ in range(2):
        page.reload()
        page.locator(".message.assistant .answer", has_text="Still noisy.").wait_for()
        assert page.locator(".message").count() == 6
        page.wait_for_function("document.querySelector('.message.user img').naturalWidth === 1440")
    send(page, "Once more?")  # the picture is still in the history the model gets
    page.locator(".message.assistant .answer", has_text="Yes.").wait_for()
    assert sum(isinstance(p, Image.Image) for m in model.requests[-1].messages for p in m.content) == 1


def test_a_conversation_kept_by_an_earlier_page_moves_into_the_browsers_database(page):
    page.evaluate("""localStorage.setItem("conversations", JSON.stringify([{id: "old", title: "From before",
        messages: [{role: "user", parts: [{type: "text", text: "Hi"}]},
                   {role: "assistant", mode: "instruct", thought: "", answer: "Hello from before."}]}]))""")
    page.reload()
    page.locator(".message.assistant .answer", has_text="Hello from before.").wait_for()
    assert page.evaluate("localStorage.getItem('conversations')") is None
    page.reload()
    page.locator("#conversations .open", has_text="From before").wait_for()
    assert page.locator("#conversations li").count() == 1


def test_bad_attachments_are_refused_when_attached_and_any_can_be_removed(page, model, tmp_path):
    fake = tmp_path / "big.png"
    fake.write_bytes(b"just text, not a picture\n" * 1_250_000)  # 30 MB
    too_big = tmp_path / "huge.png"
    too_big.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(21 * 2**20))
    picture = red_square(tmp_path / "square.png")
    asked = len(model.requests)

    page.set_input_files("#file-input", [str(fake), str(too_big), str(picture)])
    refusal = page.locator("#attach-error")
    refusal.wait_for()
    assert "big.png is not a picture or a video" in refusal.inner_text()
    assert "huge.png is 21.0 MiB; pictures of up to 20 MiB are accepted" in refusal.inner_text()
    assert refusal.get_attribute("role") == "alert"
    page.set_input_files("#file-input", str(picture))  # the same file again
    page.locator("#attach-error", has_text="square.png is attached already").wait_for()
    assert page.locator("#attachments .name").all_inner_texts() == ["square.png"]

    page.focus("button[aria-label='Remove square.png']")
    page.keyboard.press("Enter")
    assert page.locator("#attachments li").count() == 0
    model.replies += ["Nothing attached.", "It gets brighter."]
    send(page, "Anything?")
    page.locator(".message.assistant .answer", has_text="Nothing attached.").wait_for()
    assert len(model.requests) == asked + 1  # nothing was sent before, and this went without a picture
    assert model.requests[-1].messages[-1].content == ("Anything?",)

    clip = tmp_path / "clip.mp4"  # and a video goes as frames at the rate chosen
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(20):
        writer.write(np.full((120, 160, 3), i * 10, np.uint8))
    writer.release()
    page.set_input_files("#file-input", str(clip))
    page.locator("#attachments .name", has_text="clip.mp4").wait_for()
    page.click(".sampling summary")
    page.fill("#fps", "2")
    send(page, "What happens?")
    page.locator(".message.assistant .answer", has_text="It gets brighter.").wait_for()
    assert page.locator(".message.user video").count() == 1
    parts = model.requests[-1].messages[-1].content
    assert parts[0] == "A video, as 4 frames:" and sum(isinstance(p, Image.Image) for p in parts) == 4


def test_a_message_the_server_refuses_is_not_sent_again(page, model, tmp_path):
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(picture, "PNG")
    comment = b"tEXt" + b"Comment\x00a damaged note"  # its checksum is wrong: the browser shows the picture
    damaged = struct.pack(">I", len(comment) - 4) + comment + struct.pack(">I", zlib.crc32(comment) ^ 1)
    (tmp_path / "damaged.png").write_bytes(picture.getvalue()[:33] + damaged + picture.getvalue()[33:])
    page.set_input_files("#file-input", str(tmp_path / "damaged.png"))  # which the server's reader refuses
    page.locator("#attachments li").wait_for()
    send(page, "What is this?")
    page.locator(".message.user.rejected .refusal", has_text="not a readable picture").wait_for()
    assert page.locator(".message.assistant").count() == 0  # no empty answer bubble for it
    model.replies.append("Hello.")
    send(page, "Hello?")
    page.locator(".message.assistant .answer", has_text="Hello.").wait_for()
    assert [m.content for m in model.requests[-1].messages] == [("Hello?",)]


def test_reasoning_streams_open_with_its_clock_and_stays_as_the_person_leaves_it(page, model):
    thought = " ".join(f"step{n}" for n in range(40))
    model.replies += [f"{thought}\n</think>\n\nThe answer."]
    model.pace = 0.1
    page.check("#mode-thinking")
    send(page, "Think it over.")
    reasoning = page.locator(".message.assistant details.thought")
    reasoning.locator(".thought-text", has_text="step2").wait_for()
    assert reasoning.get_attribute("open") is not None  # open while it comes
    clock = reasoning.locator("summary")
    first = float(re.search(r"Thinking… ([\d.]+)", clock.inner_text()).group(1) or 0)
    page.wait_for_timeout(500)
    later = clock.inner_text()
    assert later.startswith("Thinking…") and float(re.search(r"([\d.]+) s", later).group(1)) > first
    clock.click()  # the person folds it: the next words leave it folded
    reasoning.locator(".thought-text", has_text="step12").wait_for(state="attached")
    assert reasoning.get_attribute("open") is None
    clock.click()  # and opens it again: it stays open, also once the answer comes
    page.locator(".message.assistant .answer", has_text="The answer.").wait_for(timeout=15_000)
    assert reasoning.get_attribute("open") is not None
    assert re.fullmatch(r"Reasoning · [\d.]+ s", clock.inner_text())


def test_stop_regenerate_enter_and_errors_apart_from_answers(page, model):
    page.fill("#chat-input", "line one")
    page.press("#chat-input", "Shift+Enter")
    page.type("#chat-input", "line two")
    assert page.input_value("#chat-input") == "line one\nline two"  # Shift+Enter: a new line, nothing sent
    model.replies += [" ".join(["word"] * 60), "A fresh answer."]
    model.pace = 0.1
    page.press("#chat-input", "Enter")
    page.locator(".message.assistant .answer", has_text="word word").wait_for()
    page.click("#chat-stop")
    page.locator(".message.assistant .speed", has_text="stopped").wait_for()
    assert page.locator("#chat-stop").is_hidden() and page.locator("#chat-send").is_enabled()
    assert model.requests[-1].messages[-1].content == ("line one\nline two",)

    model.pace = 0.0
    page.click("text=Regenerate")
    page.locator(".message.assistant .answer", has_text="A fresh answer.").wait_for()
    assert page.locator(".message.assistant").count() == 1  # the stopped reply made way

    asked = len(model.requests)  # the script has run out: the model's trouble is a notice, not an answer
    send(page, "Still there?")
    notice = page.locator(".notice[role=alert]", has_text="ran out")
    notice.wait_for()
    assert page.locator(".message.assistant").count() == 1 and len(model.requests) == asked
    model.replies.append("Back again.")
    notice.locator("text=Try again").click()
    page.locator(".message.assistant .answer", has_text="Back again.").wait_for()
    assert page.locator(".notice").count() == 0
    assert [m.role for m in model.requests[-1].messages] == ["user", "assistant", "user"]


def test_conversations_are_renamed_and_deleted_and_stay_so(page, model, tmp_path):
    model.replies += ["One.", "Two."]
    send(page, "first chat")
    page.locator(".message.assistant").first.wait_for()
    page.click("#new-chat")
    page.set_input_files("#file-input", str(red_square(tmp_path / "square.png")))
    page.locator("#attachments li").wait_for()
    send(page, "second chat")
    page.locator(".message.assistant .answer", has_text="Two.").wait_for()
    page.click("button[aria-label='Rename first chat']")
    page.fill("#conversations input", "Renamed by hand")
    page.press("#conversations input", "Enter")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("button[aria-label='Delete second chat']")
    page.locator("#conversations .open", has_text="second chat").wait_for(state="detached")
    page.reload()
    page.locator("#conversations .open", has_text="Renamed by hand").wait_for()
    assert page.locator("#conversations .open").all_inner_texts() == ["Renamed by hand"]
    assert page.locator(".message.assistant .answer").inner_text() == "One."
    assert page.evaluate("""new Promise((resolve) => indexedDB.open("desktop-agent").onsuccess = (event) =>
        event.target.result.transaction("attachments").objectStore("attachments").count().onsuccess =
            (counted) => resolve(counted.target.result))""") == 0  # the deleted chat's picture went with it


@pytest.mark.parametrize("width", [390, 360])
def test_a_phone_gets_the_whole_width_and_a_side_panel_that_slides_over(browser, server, model, width):
    page = open_page(browser, server.url, "phone")
    page.set_viewport_size({"width": width, "height": 844})
    toggle = page.locator("#sidebar-toggle")
    assert toggle.get_attribute("aria-expanded") == "false" and page.locator("#chat-sidebar").is_hidden()
    assert page.locator(".conversation").bounding_box()["width"] == width
    model.replies.append("Fits.")
    send(page, "A long line of words that must wrap inside the screen rather than run off its edge.")
    page.locator(".message.assistant .answer", has_text="Fits.").wait_for()
    assert no_sideways_scroll(page)
    toggle.click()
    assert page.locator("#chat-sidebar").is_visible() and toggle.get_attribute("aria-expanded") == "true"
    page.locator("#conversations .open").first.click()  # choosing a conversation closes the panel
    assert page.locator("#chat-sidebar").is_hidden()
    toggle.click()
    page.keyboard.press("Escape")
    assert page.locator("#chat-sidebar").is_hidden()
    page.click("#tab-agent")
    assert no_sideways_scroll(page)
    toggle.click()
    assert page.locator("#run-instruction").is_visible() and no_sideways_scroll(page)
    assert accessibility_problems(page) == []
    page.context.close()


def test_the_model_loading_shows_its_progress(browser, tmp_path):
    from tqdm import tqdm

    script = tmp_path / "replies.fifo"
    os.mkfifo(script)  # the model "loads" until the test writes its replies: a slow disk, for real
    with RunningServer(create_app(Settings(script=script, runs_dir=tmp_path / "runs"))) as server:
        page = open_page(browser, server.url)
        page.locator("#model-name.loading").wait_for()
        with tqdm(total=69, desc="Loading weights", disable=False) as bar:  # as transformers shows its own
            bar.update(23)
            page.locator("#load-words", has_text="Loading weights 23/69").wait_for()
            assert page.evaluate("document.getElementById('load-progress').value") == 23
        with script.open("w") as fifo:
            fifo.write("--- reply ---\nHello.\n")
        page.locator("#model-name.ready").wait_for()
        assert page.locator("#loading").is_hidden()
        assert page.inner_text("#model-name") == "scripted replies" and str(script) not in page.inner_text("header")
        page.context.close()


def test_the_api_documentation_renders_offline(page, server):
    page.goto(f"{server.url}/docs")
    page.locator(".opblock-summary-path", has_text="/api/predict").first.wait_for()
    assert page.locator(".opblock-summary-path", has_text="/v1/chat/completions").count() == 1
