"""Model backends behind :class:`agent.model.ModelBackend`, made from the settings.

Each backend module is imported only when chosen: torch and transformers load with the
in-process model alone.
"""

from __future__ import annotations

from agent.model import ModelBackend, ModelUnavailable
from agent.settings import Settings


def make_backend(settings: Settings) -> ModelBackend:
    backend = settings.backend_choice
    if backend == "scripted":
        from agent.backends.scripted import ScriptedBackend

        if settings.script is None:
            raise ModelUnavailable("the scripted backend needs a reply file: --script FILE")
        return ScriptedBackend.from_file(settings.script)
    if backend == "simulated":
        from agent.backends.simulated import SimulatedGrounder

        return SimulatedGrounder()
    if backend == "openai":
        from agent.backends.server import OpenAIBackend

        if settings.base_url is None:
            raise ModelUnavailable("the openai backend needs the server's address: --base-url http://HOST:PORT/v1")
        return OpenAIBackend(
            settings.base_url, settings.model_id,
            api_key=settings.api_key.get_secret_value() if settings.api_key else None,
            timeout=settings.request_timeout, retries=settings.retries,
        )
    try:
        from engine.local import LocalModel
    except ImportError as error:
        raise ModelUnavailable(f"the transformers backend needs torch and transformers ({error}): "
                               'pip install -e ".[model]"') from None
    return LocalModel(
        settings.model_id, quantize=settings.quantize, cpu_offload=settings.cpu_offload,
        gpu_memory_gib=settings.gpu_memory, attn=settings.attn, max_pixels=settings.max_pixels,
        decoder=settings.decoder, batch=settings.batch,
    )
