"""The MCP server: its tools, and ``run_agent.py mcp`` over stdio or streamable HTTP.

Tools that act (``act``, ``run_task``, ``fill_form``, ``replay``) do their work on the desktop's
thread (:mod:`mcp_server.desktop`) and are followed by :func:`mcp_server.calls.follow`; the others
only read (the screen, the run folders). Over HTTP the server listens on a loopback address unless
it has an access token, which clients then send as ``Authorization: Bearer TOKEN``.

(No ``from __future__ import annotations`` here: the SDK reads the tools' annotations, which name
descriptions made inside :func:`create_server`.)
"""


import asyncio
import base64
import json
import secrets
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
import mcp_types as types
from loguru import logger
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from actions.schema import tool_schema
from agent.model import ModelBackend
from agent.settings import Settings
from agent.trajectory import RunSummary, read_steps
from errors import AgentError
from mcp_server.calls import CallGone, Calls, ToolCall, can_ask, follow
from mcp_server.desktop import Desktop, DesktopBusy, DesktopStopped
from webui.run_folders import read_json, run_folder, run_ids, run_overview

TOOLS = Path(__file__).with_name("tools.toml")
DEFAULT_PORT = 7861
Outcome = types.CallToolResult | types.InputRequiredResult
EXPECTED = (AgentError, LookupError, ValueError, OSError, DesktopBusy, DesktopStopped)
"""What a tool reports to the client as its error; anything else is a bug, logged here."""


def create_server(settings: Settings, model: ModelBackend | None = None) -> tuple[MCPServer, Desktop]:
    """The server and the desktop its tools drive (close it when the server is done)."""
    text = tomllib.loads(TOOLS.read_text(encoding="utf-8"))
    about = text["tools"]
    desktop = Desktop(settings, model)
    calls = Calls()
    server = MCPServer("desktop-agent", instructions=text["instructions"].strip(), version="0.1.0")
    runs_dir = Path(settings.runs_dir)

    async def acting(ctx: Context, work: Callable[[ToolCall], Any], total: int | None = None) -> Any:
        """``work`` on the desktop, its progress and questions passed on; ToolError for what the client can fix."""
        try:
            call = calls.resume(ctx)
            if call is None:
                call = ToolCall(asyncio.get_running_loop(), can_ask(ctx), total)
                call.start(lambda: desktop.submit(call, work))
            return await follow(ctx, call, calls)
        except CallGone as error:
            raise ToolError(str(error)) from None
        except EXPECTED as error:
            raise ToolError(str(error) or type(error).__name__) from None

    def describe(tool: str, argument: str) -> Any:
        return Field(description=about[tool][argument].strip())

    @server.tool(description=about["screenshot"]["description"].strip())
    async def screenshot(window: Annotated[str | None, describe("screenshot", "window")] = None) -> Outcome:
        try:
            png, size = await anyio.to_thread.run_sync(desktop.screenshot, window)
        except EXPECTED as error:
            raise ToolError(str(error)) from None
        return _result(size, png)

    computer_use = tool_schema()["parameters"]

    @server.tool(description=about["act"]["description"].strip())
    async def act(ctx: Context,
                  action: Annotated[dict[str, Any], Field(description=about["act"]["action"].strip(),
                                                          json_schema_extra=computer_use)],
                  coordinates: Annotated[Literal["grid", "pixels"], describe("act", "coordinates")] = "grid",
                  ) -> Outcome:
        done = await acting(ctx, lambda call: desktop.act(call, action, coordinates == "pixels"))
        if isinstance(done, types.InputRequiredResult):
            return done
        picture = done.pop("screenshot")
        return _result(done, picture)

    @server.tool(description=about["run_task"]["description"].strip())
    async def run_task(ctx: Context, instruction: Annotated[str, describe("run_task", "instruction")],
                       max_steps: Annotated[int | None, describe("run_task", "max_steps")] = None) -> Outcome:
        return _summary(await acting(ctx, lambda call: desktop.run_task(call, instruction, max_steps),
                                     max_steps or settings.max_steps))

    @server.tool(description=about["fill_form"]["description"].strip())
    async def fill_form(ctx: Context, spec: Annotated[str, describe("fill_form", "spec")],
                        data: Annotated[str | None, describe("fill_form", "data")] = None,
                        locator: Annotated[Literal["auto", "accessibility", "ocr", "model"],
                                           describe("fill_form", "locator")] = "auto") -> Outcome:
        return _summary(await acting(ctx, lambda call: desktop.fill_form(call, Path(spec), data and Path(data),
                                                                         locator)))

    @server.tool(description=about["replay"]["description"].strip())
    async def replay(ctx: Context, name: Annotated[str, describe("replay", "name")],
                     params: Annotated[dict[str, str] | None, describe("replay", "params")] = None,
                     speed: Annotated[float, describe("replay", "speed")] = 1.0) -> Outcome:
        return _summary(await acting(ctx, lambda call: desktop.replay(call, name, params or {}, speed)))

    @server.tool(description=about["list_runs"]["description"].strip())
    async def list_runs(limit: Annotated[int, describe("list_runs", "limit")] = 20) -> Outcome:
        runs = [run_overview(runs_dir / run_id) for run_id in run_ids(runs_dir)[:max(0, limit)]]
        return _result({"runs": runs})

    @server.tool(description=about["get_run"]["description"].strip())
    async def get_run(run_id: Annotated[str, describe("get_run", "run_id")]) -> Outcome:
        try:
            folder = run_folder(runs_dir, run_id)
        except LookupError as error:
            raise ToolError(str(error)) from None
        steps = read_steps(folder)
        record = {**run_overview(folder), "run": read_json(folder / "run.json"),
                  "summary": read_json(folder / "summary.json"), "steps": steps}
        last = next((s["annotated"] for s in reversed(steps) if s.get("annotated")), None)
        return _result(record, (folder / last).read_bytes() if last else None)

    return server, desktop


def _summary(done: RunSummary | types.InputRequiredResult) -> Outcome:
    if isinstance(done, types.InputRequiredResult):
        return done
    record = done.model_dump(mode="json", exclude_none=True)
    return _result({**record, "run": done.folder.name if done.folder else None})


def _result(record: dict[str, Any], png: bytes | None = None) -> types.CallToolResult:
    """A tool's result: the record as JSON (text and structured), and a picture if there is one."""
    content: list[types.ContentBlock] = [types.TextContent(text=json.dumps(record, ensure_ascii=False))]
    if png is not None:
        content.append(types.ImageContent(data=base64.b64encode(png).decode("ascii"), mime_type="image/png"))
    return types.CallToolResult(content=content, structured_content=record)


def serve_mcp(settings: Settings, transport: Literal["stdio", "http"] = "stdio", host: str = "127.0.0.1",
              port: int = DEFAULT_PORT, token: str | None = None) -> int:
    """Serve over stdio until the client leaves, or over HTTP until Ctrl+C; then end the desktop's run."""
    from webui.server import check_listening

    if transport == "http":
        check_listening(host, port, token)
    server, desktop = create_server(settings)
    try:
        if transport == "stdio":
            server.run("stdio")
        else:
            import uvicorn

            app: ASGIApp = server.streamable_http_app(host=host)
            if token is not None:
                app = BearerToken(app, token)
            shown = f"[{host}]" if ":" in host else host
            logger.info("MCP server on http://{}:{}/mcp; Ctrl+C stops", shown, port)
            uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    finally:
        desktop.close()
    return 0


class BearerToken:
    """Lets through only HTTP requests that carry ``Authorization: Bearer TOKEN``."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not secrets.compare_digest(given, self.expected):
                refusal = JSONResponse({"error": {"message": "this server needs its access token: send the header "
                                                  "Authorization: Bearer TOKEN", "code": 401}}, status_code=401)
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
