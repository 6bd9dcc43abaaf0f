"""The web application: the page, the APIs, and the guard in front of them.

Safe by default. The server binds 127.0.0.1; then it answers only requests addressed to a
local name (a web page elsewhere cannot reach it by pointing a DNS name at 127.0.0.1), and
refuses state-changing requests sent from other web sites. Bound to any other address it needs
an access token: ``Authorization: Bearer TOKEN`` for programs, and for a browser ``/?token=TOKEN``
once, which leaves a cookie. Request bodies are size-limited; errors come back as
``{"error": {"message": ...}}`` with a status code, never as a stack trace.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from agent.model import Mode, ModelBackend, ModelUnavailable
from agent.reply import ReplyError
from agent.settings import Settings
from webui import chat_routes, run_routes
from webui.desk import Desk, DeskBusy, JobFailed, NoApproval, RunEnded
from webui.model_host import ModelBusy, ModelHost
from webui.run_folders import RunNotFound
from webui.speed import memory
from webui.uploads import limits

STATIC = Path(__file__).parent / "static"
LOCAL_NAMES = {"127.0.0.1", "localhost", "::1"}
MAX_BODY = 100 * 2**20
COOKIE = "agent_token"
MODES: tuple[Mode, ...] = ("instruct", "thinking")
STATUS_OF: dict[type[Exception], int] = {
    ValueError: 400,  # bad input: uploads, settings, recordings, chat requests
    ReplyError: 422,  # the model's answer had no point where one was asked for
    JobFailed: 400,
    LookupError: 404,
    RunNotFound: 404,
    NoApproval: 409,
    RunEnded: 409,
    DeskBusy: 409,
    ModelBusy: 409,
    ModelUnavailable: 503,
}


def create_app(settings: Settings, model: ModelBackend | None = None, token: str | None = None,
               local_only: bool = True) -> FastAPI:
    """The application; ``model`` is a backend already made (else one is loaded from the settings)."""
    host = ModelHost(settings, model)
    desk = Desk(host, settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        host.start()
        yield
        await asyncio.to_thread(desk.close)  # a run stopped by the shutdown still finishes its record

    app = FastAPIOffline(
        title="desktop-agent", version="0.1.0", lifespan=lifespan,
        description="Chat with the loaded Qwen3-VL model, and run and supervise the desktop agent. "
        "Errors come as `{\"error\": {\"message\": ...}}`.",
    )
    app.state.host = host
    app.state.desk = desk
    app.include_router(chat_routes.router)
    app.include_router(run_routes.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    @app.get("/api/status", tags=["status"], summary="The model, its memory and speed, and the desktop",
             description="`model`: loading (with its progress), ready or failed, which weights, mode and "
             "quantisation, and `last_reply`'s figures (tokens, first-token latency, tokens/s); `memory`: the "
             "GPU's (or RAM) in use and at peak, MiB; `run` and `approval`: the run going on and the question "
             "it waits on; `sampling`: each mode's settings in force; `uploads`: what is accepted.")
    def status(request: Request) -> dict[str, Any]:
        desk: Desk = request.app.state.desk
        current = next((job for job in desk.jobs.values() if not job.finished), None)
        approval = current.approval if current else None
        return {"model": host.status().to_dict(), "memory": memory(), "run": current.id if current else None,
                "approval": approval.to_dict() if approval else None, "default_mode": settings.mode,
                "confirm": settings.confirm or "ask", "sampling": {mode: _sampling(host, mode) for mode in MODES},
                "uploads": {**limits(), "max_request_bytes": MAX_BODY}}

    for error_type, code in STATUS_OF.items():
        app.add_exception_handler(error_type, _reply_with(code))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _internal_error)
    app.middleware("http")(_Guard(token, local_only))
    return app


def _sampling(host: ModelHost, mode: Mode) -> dict[str, Any]:
    sampling = host.sampling(mode)
    return {"temperature": sampling.temperature, "top_p": sampling.top_p, "max_tokens": sampling.max_new_tokens}


def error_response(code: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "code": code}}, status_code=code)


def _reply_with(code: int) -> Callable[[Request, Exception], Awaitable[Response]]:
    async def handler(request: Request, error: Exception) -> Response:
        return error_response(code, str(error))
    return handler


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    message = "there is nothing at this address" if error.status_code == 404 else str(error.detail)
    return error_response(error.status_code, message)


async def _invalid_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    problems = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in error.errors()]
    return error_response(422, "invalid request: " + "; ".join(problems))


async def _internal_error(request: Request, error: Exception) -> Response:
    logger.opt(exception=error).error("{} {} failed", request.method, request.url.path)
    return error_response(500, f"the server failed ({type(error).__name__}: {error}); its log has the details")


class _Guard:
    """Host, origin, size and token checks in front of every request."""

    def __init__(self, token: str | None, local_only: bool) -> None:
        self.token, self.local_only = token, local_only

    async def __call__(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        host = request.headers.get("host", "")
        if self.local_only and urlsplit(f"//{host}").hostname not in LOCAL_NAMES:
            return error_response(403, f"this server answers only at 127.0.0.1 or localhost, not {host!r}")
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != host:
                return error_response(403, f"requests from other web sites ({origin}) are refused")
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                return error_response(411, "send the body with a Content-Length")
            if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
                return error_response(413, f"the request is larger than {MAX_BODY // 2**20} MiB")
        if self.token is None or self._holds_token(request):
            return await call_next(request)
        offered = request.query_params.get("token")
        if request.method == "GET" and offered is not None and secrets.compare_digest(offered, self.token):
            response = RedirectResponse(request.url.remove_query_params("token").path or "/", status_code=303)
            response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            return response
        return error_response(401, "this server needs its access token: open /?token=TOKEN once in the browser, "
                              "or send the header Authorization: Bearer TOKEN")

    def _holds_token(self, request: Request) -> bool:
        assert self.token is not None
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        given = bearer if scheme.lower() == "bearer" else request.cookies.get(COOKIE, "")
        return secrets.compare_digest(given.encode(), self.token.encode())
