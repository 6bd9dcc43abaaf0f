"""The HTTP API against the running server: the seed's /api/predict, OpenAI's client, runs, the guard.

Chat requests go to a tiny random-weight Qwen3-VL loaded from disk (its words are gibberish, so
the tests compare replies with each other) or to the scripted model; agent runs work the real
contact form through the real safety gate.
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests
from openai import OpenAI
from PIL import Image

from agent.backends.scripted import ScriptedBackend
from agent.backends.server import OpenAIBackend
from agent.model import Message, ModelRequest, Sampling
from agent.reply import parse_reply, split_thought
from agent.settings import DEFAULT_MODELS, Settings
from tests.replies import NAME, click, done, reply, script, type_text
from tests.webui_server import RunningServer
from webui.app import create_app

ROOT = Path(__file__).resolve().parents[1]


def png_base64(size=(64, 48), color="red") -> str:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def wait_ready(url: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status = requests.get(f"{url}/api/status", timeout=5).json()["model"]
        if status["state"] != "loading" or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


@pytest.fixture(scope="module")
def tiny(tiny_models, tmp_path_factory):
    settings = Settings(model=str(tiny_models["instruct"]), runs_dir=tmp_path_factory.mktemp("runs"))
    with RunningServer(create_app(settings)) as server:
        assert wait_ready(server.url)["state"] == "ready"
        yield server


@pytest.fixture(scope="module")
def scripted_model() -> ScriptedBackend:
    return ScriptedBackend([], source="the test's replies")


@pytest.fixture(scope="module")
def scripted(scripted_model, tmp_path_factory):
    settings = Settings(runs_dir=tmp_path_factory.mktemp("runs"))
    with RunningServer(create_app(settings, model=scripted_model)) as server:
        yield server


def test_the_seed_api_example_works_unchanged(tiny):
    # the seed article's example, with only the address of this test's server
    response = requests.post(f"{tiny.url}/api/predict", json={
        "data": [
            "请分析这幅图中的几何关系并求解角度。",
            None,  # 图像字段（base64 或文件路径）
            "thinking"  # mode 参数指定使用 Thinking 模型
        ]
    })
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["data"][0], str)

    with_image = requests.post(f"{tiny.url}/api/predict",
                               json={"data": ["What colour is this?", png_base64(), "instruct"]})
    assert with_image.status_code == 200 and isinstance(with_image.json()["data"][0], str)


def chat_events(url: str, body: dict) -> list[tuple[str, dict]]:
    response = requests.post(f"{url}/api/chat", json=body)
    assert response.status_code == 200, response.text
    blocks = [b for b in response.text.split("\n\n") if b.strip()]
    return [(b.split("\n")[0][7:], json.loads(b.split("\n")[1][6:])) for b in blocks]


def test_the_pages_chat_streams_the_real_model_and_a_missing_point_is_a_message(tiny):
    image = {"type": "image", "data": f"data:image/png;base64,{png_base64()}"}
    events = chat_events(tiny.url, {"mode": "thinking", "max_tokens": 24, "temperature": 0, "messages": [
        {"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}]})
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "done" and {"thought", "answer"} & set(kinds[:-1])
    done_event = events[-1][1]
    streamed = "".join(data["text"] for kind, data in events[:-1])
    assert streamed.replace("\n", "").replace(" ", "") == \
        (done_event["thought"] + done_event["answer"]).replace("\n", "").replace(" ", "")

    located = chat_events(tiny.url, {"locate": True, "max_tokens": 16, "temperature": 0, "messages": [
        {"role": "user", "content": [image, {"type": "text", "text": "the red area"}]}]})
    kind, data = located[-1]
    assert (kind == "done" and data["point"]) or (kind == "error" and "point" in data["message"])


def test_openai_client_gets_the_same_reply_streamed_or_not_and_concurrent_requests_do_not_mix(tiny):
    client = OpenAI(base_url=f"{tiny.url}/v1", api_key="unused")
    messages = [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png_base64()}"}},
        {"type": "text", "text": "Describe the picture."}]}]
    options = {"model": "any", "messages": messages, "temperature": 0, "max_tokens": 24}
    whole = client.chat.completions.create(**options)
    expected = whole.choices[0].message.content
    usage = whole.usage.model_dump(exclude_none=True)
    assert expected and usage["completion_tokens"] > 0 and usage["prompt_tokens"] > 16  # the picture's tokens too
    assert 0 < usage["first_token_seconds"] < usage["seconds"] and usage["tokens_per_second"] > 0
    assert requests.get(f"{tiny.url}/api/status").json()["model"]["last_reply"] == usage  # the same figures

    streamed = "".join(chunk.choices[0].delta.content or "" for chunk in
                       client.chat.completions.create(**options, stream=True) if chunk.choices)
    assert streamed == expected

    answers: list[str] = []
    threads = [threading.Thread(target=lambda: answers.append(
        client.chat.completions.create(**options).choices[0].message.content)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert answers == [expected] * 3  # one at a time through the queue: nothing leaked between them


def test_a_request_in_the_other_mode_swaps_the_weights_unless_a_run_holds_them(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setitem(DEFAULT_MODELS, "instruct", str(tiny_models["instruct"]))
    monkeypatch.setitem(DEFAULT_MODELS, "thinking", str(tiny_models["thinking"]))
    app = create_app(Settings(runs_dir=tmp_path))  # no --model: each mode has its own weights
    with RunningServer(app) as server:
        assert wait_ready(server.url)["model"] == str(tiny_models["instruct"])
        answer = requests.post(f"{server.url}/api/predict", json={"data": ["Think.", None, "thinking"]})
        assert answer.status_code == 200
        status = wait_ready(server.url)
        assert status["model"] == str(tiny_models["thinking"]) and status["mode"] == "thinking"
        with app.state.host.pin("thinking"):  # what an agent run in thinking mode does
            busy = requests.post(f"{server.url}/api/predict", json={"data": ["Quick.", None, "instruct"]})
        assert busy.status_code == 409 and "agent run is using the thinking model" in busy.json()["error"]["message"]


def test_the_agents_own_openai_backend_can_use_this_server(scripted, scripted_model):
    """Other tools (here: the agent's backend for vLLM) can use the loaded model."""
    words = click(NAME, "The name field is empty.")
    scripted_model.replies.append(words)
    backend = OpenAIBackend(f"{scripted.url}/v1", "Qwen/Qwen3-VL-4B-Thinking", retries=0)
    streamed: list[str] = []
    answer = backend.complete(ModelRequest((Message("user", (Image.new("RGB", (320, 200), "white"), "Fill it.")),),
                                           sampling=Sampling.for_mode("thinking")), streamed.append)
    assert split_thought(answer.text) == split_thought(words)  # thought and tool call, put back together
    assert parse_reply(answer).action.point == (337, 146)
    assert "".join(streamed).replace("\n", "") == words.replace("\n", "")
    seen = scripted_model.requests[-1]
    assert seen.sampling.top_p == 0.95 and seen.messages[0].content[0].size == (320, 200)


def test_the_status_names_the_model_its_memory_and_what_the_page_checks(scripted, scripted_model):
    status = requests.get(f"{scripted.url}/api/status").json()
    model = status["model"]
    assert (model["model"], model["backend"], model["quantization"], model["progress"]) == \
        ("scripted replies", "scripted", "none", None)
    memory = status["memory"]
    assert memory["kind"] == "RAM" and 0 < memory["used_mb"] <= memory["peak_mb"]  # no GPU on this machine
    assert status["sampling"]["thinking"] == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 1536}
    assert status["uploads"]["image"]["max_bytes"] == 20 * 2**20 and "PNG" in status["uploads"]["image"]["formats"]
    scripted_model.replies.append("Hello there, person.")
    events = chat_events(scripted.url, {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]})
    usage = events[-1][1]["usage"]
    assert usage["completion_tokens"] == 3 and usage["total_tokens"] == 3 and usage["first_token_seconds"] is not None
    assert requests.get(f"{scripted.url}/api/status").json()["model"]["last_reply"] == usage


def test_a_video_becomes_frames_at_the_chosen_rate(scripted, scripted_model, tmp_path):
    path = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    for i in range(30):  # 3 seconds
        writer.write(np.full((120, 160, 3), i * 8, np.uint8))
    writer.release()
    scripted_model.replies.append("It gets brighter.")
    video = "data:video/mp4;base64," + base64.b64encode(path.read_bytes()).decode()
    response = requests.post(f"{scripted.url}/api/chat", json={"messages": [{"role": "user", "content": [
        {"type": "video", "data": video, "fps": 2}, {"type": "text", "text": "What happens?"}]}]})
    events = [line for line in response.text.splitlines() if line.startswith("event: ")]
    assert events[-1] == "event: done" and "It gets brighter." in response.text
    parts = scripted_model.requests[-1].messages[0].content
    frames = [p for p in parts if isinstance(p, Image.Image)]
    assert len(frames) == 6 and parts[0] == "A video, as 6 frames:" and "0.25 s:" in parts[1]
    assert frames[0].getpixel((0, 0))[0] < frames[-1].getpixel((0, 0))[0]


def test_bad_requests_are_refused_with_a_message(scripted):
    def post(path, body, **headers):
        return requests.post(f"{scripted.url}{path}", json=body, headers=headers)

    cases = [
        (post("/api/predict", {"data": ["Hi", "/etc/passwd", "instruct"]}), 400, "inline as base64"),
        (post("/api/predict", {"data": ["Hi", base64.b64encode(b"GIF89a not really").decode()]}), 400,
         "not a readable picture"),
        (post("/api/predict", {"data": ["Hi", None, "fast"]}), 400, "'thinking' or 'instruct'"),
        (post("/api/chat", {"messages": []}), 422, "messages"),
        (post("/api/predict", {"data": ["Hi"]}, Host="attacker.example"), 403, "only at 127.0.0.1"),
        (post("/api/runs", {"instruction": "rm"}, Origin="http://attacker.example"), 403, "other web sites"),
        (requests.get(f"{scripted.url}/api/runs/..%2F..%2Fetc"), 404, "nothing at this address"),
        (requests.get(f"{scripted.url}/api/runs/.hidden"), 404, "no run '.hidden'"),
        (requests.get(f"{scripted.url}/api/runs/x/files/..%2Frun.json"), 404, "nothing at this address"),
    ]
    for response, code, words in cases:
        assert response.status_code == code, response.text
        assert words in response.json()["error"]["message"] and "Traceback" not in response.text

    connection = http.client.HTTPConnection("127.0.0.1", scripted.port, timeout=10)
    connection.request("POST", "/api/predict", body=b"{}", headers={"Content-Length": str(200 * 2**20),
                                                                    "Content-Type": "application/json"})
    too_big = connection.getresponse()  # refused before the body is read
    assert too_big.status == 413 and "larger than 100 MiB" in too_big.read().decode()


def test_elsewhere_the_server_wants_its_token(scripted_model, tmp_path):
    token = "s3cret-token-for-tests"
    app = create_app(Settings(runs_dir=tmp_path), model=scripted_model, token=token, local_only=False)
    with RunningServer(app) as server:
        refused = requests.get(f"{server.url}/api/status")
        assert refused.status_code == 401 and "/?token=" in refused.json()["error"]["message"]
        assert requests.get(f"{server.url}/api/status", headers={"Authorization": f"Bearer {token}"}).ok
        browser = requests.Session()
        signed_in = browser.get(f"{server.url}/?token={token}", allow_redirects=False)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == "/"
        assert browser.get(f"{server.url}/api/runs").ok  # the cookie does it from now on
        assert requests.get(f"{server.url}/?token=wrong").status_code == 401
        scripted_model.replies.append("Hello.")
        client = OpenAI(base_url=f"{server.url}/v1", api_key=token)
        assert client.chat.completions.create(model="m", messages=[{"role": "user", "content": "Hi"}]
                                              ).choices[0].message.content == "Hello."


def test_a_model_that_cannot_load_is_a_message(tmp_path):
    app = create_app(Settings(model=str(tmp_path / "no-such-model.bin"), runs_dir=tmp_path))
    with RunningServer(app) as server:
        status = wait_ready(server.url)
        assert status["state"] == "failed" and "neither a model folder nor a hub id" in status["message"]
        answer = requests.post(f"{server.url}/api/predict", json={"data": ["Hi"]})
        assert answer.status_code == 503 and "neither a model folder" in answer.json()["error"]["message"]


def events_of(url: str, run_id: str, until: str, seen: list) -> None:
    with requests.get(f"{url}/api/runs/{run_id}/events", stream=True, timeout=30) as stream:
        kind = None
        for line in stream.iter_lines(decode_unicode=True):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                seen.append((kind, json.loads(line[6:])))
                if kind == until:
                    return


def test_a_run_over_http_denied_at_the_gate_and_followed_as_events(scripted, scripted_model, contact_form):
    scripted_model.replies += [click(NAME), type_text("Hunter2!x9secret"),
                               reply("Typing the name instead.", action="type", text="Ada"), done()]
    started = requests.post(f"{scripted.url}/api/runs", json={"instruction": "Log in"})
    assert started.status_code == 200, started.text
    run_id = started.json()["id"]
    seen: list = []
    follower = threading.Thread(target=events_of, args=(scripted.url, run_id, "end", seen))
    follower.start()

    deadline = time.monotonic() + 20
    while not (state := requests.get(f"{scripted.url}/api/runs/{run_id}").json())["approval"]:
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    assert state["live"] and "secret" in state["approval"]["reason"]
    status = requests.get(f"{scripted.url}/api/status").json()
    assert status["run"] == run_id and status["approval"] == state["approval"]  # what the page's banner says
    busy = requests.post(f"{scripted.url}/api/runs", json={"instruction": "Something else"})
    assert busy.status_code == 409 and "is using the desktop" in busy.json()["error"]["message"]
    stale = requests.post(f"{scripted.url}/api/runs/{run_id}/decision", json={"approve": True, "approval": 99})
    assert stale.status_code == 409
    assert requests.post(f"{scripted.url}/api/runs/{run_id}/decision",
                         json={"approve": False, "approval": state["approval"]["number"]}).ok

    follower.join(timeout=30)
    assert contact_form.wait_for(lambda s: s["fields"]["name"])["fields"]["name"] == "Ada"
    kinds = [kind for kind, _ in seen]
    assert kinds[0] == "state" and kinds[-1] == "end" and "approval" in kinds and "text" in kinds
    steps = [data for kind, data in seen if kind == "step"] or []
    steps = seen[0][1]["steps"] + steps
    assert [s["outcome"] for s in steps] == ["done", "blocked", "done", "done"]
    assert "a person declined" in steps[1]["verdict"]["reason"]
    speed = steps[0]["speed"]  # each step's model call, timed
    assert speed["completion_tokens"] > 0 and 0 <= speed["first_token_seconds"] <= speed["seconds"]
    assert seen[-1][1]["summary"]["status"] == "success"
    picture = requests.get(f"{scripted.url}{steps[0]['picture']}")
    assert picture.headers["content-type"] == "image/png" and picture.content.startswith(b"\x89PNG")
    listed = requests.get(f"{scripted.url}/api/runs").json()
    assert listed[0]["id"] == run_id and listed[0]["status"] == "success"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_serve_command_starts_the_server_and_refuses_an_open_address_without_a_token(tmp_path):
    replies = script(tmp_path / "r.txt", "Hello from the script.")
    open_address = subprocess.run([sys.executable, str(ROOT / "run_agent.py"), "serve", "--host", "0.0.0.0",
                                   "--script", str(replies)], capture_output=True, text=True, timeout=60)
    assert open_address.returncode == 64 and "--token" in open_address.stderr

    port = free_port()
    server = subprocess.Popen([sys.executable, str(ROOT / "run_agent.py"), "serve", "--port", str(port),
                               "--script", str(replies), "--runs-dir", str(tmp_path / "runs")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status = wait_ready(url)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and server.poll() is None, "serve did not start"
                time.sleep(0.1)
        assert status["state"] == "ready" and status["backend"] == "scripted"
        answer = requests.post(f"{url}/api/predict", json={"data": ["Hi", None, "instruct"]}).json()
        assert answer["data"] == ["Hello from the script."]
        assert "swagger-ui" in requests.get(f"{url}/docs").text.lower()
    finally:
        server.send_signal(signal.SIGINT)
        output = server.communicate(timeout=15)[0]
    assert server.returncode == 0, output
    assert "http://127.0.0.1:" in output and "Traceback" not in output


def test_a_replay_started_over_http(contact_form, desktop, tmp_path):
    from tests.test_replay import fill_and_save

    fill_and_save(desktop, contact_form, tmp_path)  # recorded by hand into tmp_path/recordings/contact
    settings = Settings(runs_dir=tmp_path / "runs", recordings_dir=tmp_path / "recordings", settle_timeout=1.0)
    with RunningServer(create_app(settings, model=ScriptedBackend([]))) as server:
        listed = requests.get(f"{server.url}/api/recordings").json()
        assert [(r["name"], r["steps"], r["parameters"]) for r in listed] == [("contact", 5, ["email"])]
        for body, words in [({"recording": "contact"}, "needs a value for email"),
                            ({"recording": "../recordings/contact"}, "no recording")]:
            refused = requests.post(f"{server.url}/api/runs", json={"kind": "replay", **body})
            assert refused.status_code == 400 and words in refused.json()["error"]["message"]

        started = requests.post(f"{server.url}/api/runs", json={
            "kind": "replay", "recording": "contact", "params": {"email": "grace@navy.mil"}, "speed": 20})
        assert started.status_code == 200, started.text
        seen: list = []
        events_of(server.url, started.json()["id"], "end", seen)
        assert seen[-1][1]["result"]["status"] == "success", seen[-1]
    saved = contact_form.wait_for(lambda s: s["submissions"])["submissions"][-1]
    assert (saved["name"], saved["email"]) == ("Ada Lovelace", "grace@navy.mil")


def test_stop_while_the_gate_waits_and_the_record_outlives_the_server(scripted_model, contact_form, tmp_path):
    scripted_model.replies += [click(NAME), type_text("Hunter2!x9secret"), done()]
    settings = Settings(runs_dir=tmp_path / "runs")
    with RunningServer(create_app(settings, model=scripted_model)) as server:
        run_id = requests.post(f"{server.url}/api/runs", json={"instruction": "Log in"}).json()["id"]
        deadline = time.monotonic() + 20
        while not requests.get(f"{server.url}/api/runs/{run_id}").json()["approval"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert requests.post(f"{server.url}/api/runs/{run_id}/stop").ok
        seen: list = []
        events_of(server.url, run_id, "end", seen)
        assert seen[-1][1]["summary"]["status"] == "stopped"
        again = requests.post(f"{server.url}/api/runs/{run_id}/stop")
        assert again.status_code == 409 and "not going on" in again.json()["error"]["message"]
    assert contact_form.state()["fields"]["name"] == ""  # the password was never typed

    with RunningServer(create_app(settings, model=scripted_model)) as restarted:
        state = requests.get(f"{restarted.url}/api/runs/{run_id}").json()
        assert not state["live"] and state["instruction"] == "Log in"
        assert [s["outcome"] for s in state["steps"]] == ["done"]  # the step stopped at the gate never happened
        assert state["summary"]["reason"] == "stopped from the web page"
