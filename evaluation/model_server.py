"""One in-process model for a whole evaluation, served to its task workers over loopback HTTP.

Each task runs in a worker process of its own (:mod:`evaluation.suite`). With the in-process
model, every worker would load the weights again (seconds to tens of seconds a task, and
``--parallel N`` copies in GPU memory) and each would decode alone. Instead the evaluation
loads the model once, here, and serves it on ``127.0.0.1`` with the web server's
OpenAI-compatible API (:mod:`webui.chat_routes`; a random access token, so nothing else on the
machine can use it); the workers talk to it as ``--backend openai``. Requests from several
workers are decoded together (:mod:`engine.batch`), and each keeps its own sampling and
thinking budget (sent as the server's ``thinking_budget``).
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger

from agent.backends import make_backend
from agent.model import ModelUnavailable
from agent.settings import Settings
from pydantic import SecretStr

STARTUP_SECONDS = 30.0


@contextmanager
def shared_model(settings: Settings) -> Iterator[Settings]:
    """Load the settings' model and serve it until the block ends; the settings the workers use instead."""
    import uvicorn

    from webui.app import create_app

    model = make_backend(settings)
    token = secrets.token_urlsafe(24)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, model=model, token=token), log_level="warning",
                                           access_log=False, timeout_graceful_shutdown=3))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, name="model-server", daemon=True)
    thread.start()
    try:
        for _ in range(int(STARTUP_SECONDS * 20)):
            if server.started or not thread.is_alive():
                break
            time.sleep(0.05)
        if not server.started:
            raise ModelUnavailable("the evaluation's model server did not start on 127.0.0.1")
        logger.info("the model is loaded once and served to the task workers on 127.0.0.1:{}, {} replies at a time",
                    port, getattr(model, "concurrency", 1))
        yield settings.model_copy(update={"backend": "openai", "base_url": f"http://127.0.0.1:{port}/v1",
                                          "api_key": SecretStr(token)})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listening.close()
