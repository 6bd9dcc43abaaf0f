"""``run_agent.py serve``: the web UI and API on http://127.0.0.1:7860 (uvicorn)."""

from __future__ import annotations

import ipaddress

from loguru import logger

from agent.settings import Settings, SettingsError

DEFAULT_PORT = 7860


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listening(host: str, port: int, token: str | None) -> bool:
    """Whether ``host`` is a loopback address; :class:`SettingsError` where listening would be
    unsafe (any address but a loopback one needs an access token) or cannot be done."""
    local = is_loopback(host)
    if not local and not token:
        raise SettingsError(f"--host {host} lets other machines drive this desktop: give an access token too "
                            "(--token SOME-LONG-SECRET); clients send it as Authorization: Bearer SOME-LONG-SECRET")
    if token is not None and len(token) < 16:
        raise SettingsError("the access token is too short to be safe: use at least 16 characters")
    if not 0 < port < 65536:
        raise SettingsError(f"--port {port} is not a port number")
    return local


def serve(settings: Settings, host: str = "127.0.0.1", port: int = DEFAULT_PORT, token: str | None = None) -> int:
    """Serve until Ctrl+C. Any address but a loopback one needs an access token."""
    import uvicorn

    from webui.app import create_app

    local = check_listening(host, port, token)
    app = create_app(settings, token=token, local_only=local)
    shown = f"[{host}]" if ":" in host else host
    logger.info("web UI and API on http://{}:{} (API documentation at /docs); Ctrl+C stops", shown, port)
    if token:
        logger.info("open http://{}:{}/?token=… once in the browser to sign in", shown, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, timeout_graceful_shutdown=3)
    return 0
