"""Model backends behind :class:`agent.model.ModelBackend`."""

from __future__ import annotations

from agent.model import ModelBackend, ModelUnavailable
from agent.settings import Settings


def make_backend(settings: Settings) -> ModelBackend:
    if settings.backend == "scripted":
        from agent.backends.scripted import ScriptedBackend

        if settings.script is None:
            raise ModelUnavailable("the scripted backend needs a reply file: --script FILE")
        return ScriptedBackend.from_file(settings.script)
    raise ModelUnavailable(f"unknown backend {settings.backend!r}")
