"""``run_agent.py mcp`` driven by the SDK's own client, over stdio and streamable HTTP, on the contact form.

Over stdio the client speaks the current protocol (a question comes back as an InputRequiredResult
and the call is retried with the answer); over HTTP it speaks the handshake protocol (the question
is an elicitation request in the middle of the call), with an access token."""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from tests.replies import CITY, NAME, click, done, script, type_text

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "a-long-enough-test-token"


def payload(result: types.CallToolResult) -> dict:
    assert not result.is_error, result.content
    return json.loads(result.content[0].text)


def picture(result: types.CallToolResult) -> Image.Image:
    (image,) = [c for c in result.content if isinstance(c, types.ImageContent)]
    return Image.open(io.BytesIO(base64.b64decode(image.data)))


def server_args(tmp_path: Path, *more: str) -> list[str]:
    replies = script(tmp_path / "task.replies", click(CITY), type_text("London"), done())
    return [str(ROOT / "run_agent.py"), "mcp", "--script", str(replies), "--runs-dir", str(tmp_path / "runs"),
            "--sensitive-window", "^Contact$", *more]


def test_over_stdio_the_gate_refuses_asks_and_runs_a_task(contact_form, tmp_path: Path) -> None:
    asked: list[str] = []
    progress: list[tuple[float, str | None]] = []

    async def approve(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"approve": True})

    async def note(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async def session() -> None:
        server = StdioServerParameters(command=sys.executable, args=server_args(tmp_path), env=dict(os.environ),
                                       cwd=str(ROOT))
        async with Client(server, elicitation_callback=approve, read_timeout_seconds=60) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == {"screenshot", "act", "run_task", "fill_form", "replay", "list_runs", "get_run"}

            shot = await client.call_tool("screenshot", {})
            assert payload(shot)["width"] == 1280 and picture(shot).size == (1280, 800)
            window = payload(await client.call_tool("screenshot", {"window": "^Contact$"}))
            assert window["width"] < 1280 and window["desktop_box"][2] - window["desktop_box"][0] == window["width"]

            corner = payload(await client.call_tool("act", {"action": {"action": "left_click", "coordinate": [0, 0]},
                                                            "coordinates": "pixels"}))
            assert corner["verdict"]["decision"] == "deny" and corner["outcome"] == "blocked", corner
            assert not asked

            clicked = payload(await client.call_tool("act", {"action": {"action": "left_click", "coordinate": NAME}}))
            typed = await client.call_tool("act", {"action": {"action": "type", "text": "Ada Lovelace"}})
            assert clicked["outcome"] == "done" and payload(typed)["verdict"]["asked"], payload(typed)
            assert payload(typed)["outcome"] == "done" and "Ada Lovelace" in asked[-1]
            contact_form.wait_for(lambda s: s["fields"]["name"] == "Ada Lovelace")
            assert picture(typed).size == (1280, 800)

            run = payload(await client.call_tool("run_task", {"instruction": "Put London as the city"},
                                                 progress_callback=note))
            assert (run["status"], run["steps"]) == ("success", 3), run
            assert [p[0] for p in progress] == [1, 2, 3] and "London" in progress[1][1]
            contact_form.wait_for(lambda s: s["fields"]["city"] == "London")

            runs = payload(await client.call_tool("list_runs", {}))["runs"]
            assert [r["id"] for r in runs][0] == run["run"] and len(runs) == 2  # the single actions' run, then the task's
            record = await client.call_tool("get_run", {"run_id": runs[1]["id"]})
            assert [s["outcome"] for s in payload(record)["steps"]] == ["blocked", "done", "done"]
            assert payload(record)["summary"]["status"] == "success"  # ended when the task took the desktop

    anyio.run(session)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_over_http_with_a_token_a_question_is_an_elicitation_or_a_refusal(contact_form, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, *server_args(tmp_path, "--transport", "http", "--port", str(port),
                                                            "--token", TOKEN)],
                              cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert httpx2.get(url).status_code == 401  # no token, no tools
                break
            except httpx2.TransportError:
                assert time.monotonic() < deadline and server.poll() is None, server.stderr.read()
                time.sleep(0.2)

        async def approve(context, params: types.ElicitRequestParams) -> types.ElicitResult:
            return types.ElicitResult(action="accept", content={"approve": True})

        def connect(**options) -> Client:
            http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
            return Client(streamable_http_client(url, http_client=http), mode="legacy", **options)

        async def session() -> None:
            async with connect() as client:  # it cannot ask its user: what needs approval is refused
                refused = payload(await client.call_tool("act", {"action": {"action": "left_click",
                                                                            "coordinate": NAME}}))
                assert refused["verdict"]["decision"] == "deny" and "none was asked" in refused["verdict"]["reason"]
            async with connect(elicitation_callback=approve) as client:
                clicked = payload(await client.call_tool("act", {"action": {"action": "left_click",
                                                                            "coordinate": NAME}}))
                typed = payload(await client.call_tool("act", {"action": {"action": "type", "text": "Grace"}}))
                assert clicked["verdict"]["asked"] and typed["verdict"]["asked"] and typed["outcome"] == "done"
                contact_form.wait_for(lambda s: s["fields"]["name"] == "Grace")

                rows = tmp_path / "people.csv"
                rows.write_text("name,email,city,notes,newsletter\nAlan Turing,alan@example.org,Wilmslow,,yes\n")
                filled = payload(await client.call_tool("fill_form", {"spec": str(ROOT / "tasks/forms/contact.yaml"),
                                                                      "data": str(rows), "locator": "ocr"}))
                assert [row["status"] for row in filled["rows"]] == ["submitted"], filled
            (saved,) = contact_form.state()["submissions"]
            assert (saved["name"], saved["city"]) == ("Alan Turing", "Wilmslow")

        anyio.run(session)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_listening_beyond_this_machine_needs_a_token(tmp_path: Path) -> None:
    refused = subprocess.run([sys.executable, *server_args(tmp_path, "--transport", "http", "--host", "0.0.0.0")],
                             cwd=ROOT, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert refused.returncode == 64 and "--token" in refused.stderr
