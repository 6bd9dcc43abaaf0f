"""The one model that chat, the APIs and agent runs share.

It loads in the background when the server starts, so the page can show how far loading got.
Every request takes its turn in one queue, let through as many at once as the model answers
together: the in-process model's fast decoder batches up to ``--batch`` replies (``generate``
one), an OpenAI-compatible server is sent several and batches them itself. Qwen3-VL's Instruct and Thinking variants are
separate weights: a request in the other mode swaps them (one in memory at a time), unless an
agent run is using the loaded one. With ``--model`` (one set of weights) or ``--script`` both
modes share the one model and the mode picks the sampling. Every call is timed; the status tells
how far loading got, what is loaded, and how the last reply went.
"""

from __future__ import annotations

import gc
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from loguru import logger

from agent.backends import make_backend
from agent.model import Mode, ModelBackend, ModelReply, ModelUnavailable, Sampling, TimedBackend
from agent.settings import Settings
from webui.speed import reply_speed

GIVEN = ("given", "")


class ModelBusy(ModelUnavailable):
    """The other mode's model is needed while an agent run is using the loaded one."""


@dataclass(frozen=True)
class ModelStatus:
    state: str  # loading | ready | failed
    model: str
    mode: Mode
    backend: str
    quantization: str  # 4bit, 8bit, or as the weights are (the server's own, for a remote model)
    seconds: float  # since loading started
    message: str  # the last thing loading said, or why it failed
    progress: dict[str, Any] | None  # while loading: the loader's progress bar (what, done, total)
    waiting: int  # requests queued for the model
    last_reply: dict[str, Any] | None  # the figures of the latest reply (webui.speed)

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 1)}


class ModelHost:
    """Loads the model for a mode on demand and hands it to one request at a time."""

    def __init__(self, settings: Settings, backend: ModelBackend | None = None) -> None:
        self.settings = settings
        self._slots = _concurrency(backend)
        self._changed = threading.Condition()
        self._backend = backend
        self._given = backend is not None  # a backend handed in serves every mode
        self._key: tuple[str, str] | None = GIVEN if backend else None
        self._mode: Mode = settings.mode
        self._loading = False
        self._failed = False
        self._since = time.monotonic()
        self._message = "ready" if backend else "waiting to load"
        self._busy = 0
        self._waiting = 0
        self._pins: Counter[tuple[str, str]] = Counter()
        self._last: ModelReply | None = None

    def start(self) -> None:
        """Load the default mode's model in the background."""
        threading.Thread(target=self._preload, name="model-load", daemon=True).start()

    def _preload(self) -> None:
        try:
            with self.use(self.settings.mode):
                pass
        except ModelUnavailable:
            pass  # the status says why; the next request tries again

    def settings_for(self, mode: Mode) -> Settings:
        return self.settings.model_copy(update={"mode": mode})

    def sampling(self, mode: Mode, **overrides: Any) -> Sampling:
        """A chat's sampling: the mode's (the model card's, with the server's options), with ``overrides``.

        A chat's thought is not cut short unless ``--thinking-budget`` says so: the default budget
        is made for agent steps, whose thought must leave room for an action.
        """
        sampling = replace(self.settings_for(mode).sampling(), thinking_budget=self.settings.thinking_budget)
        return replace(sampling, **{k: v for k, v in overrides.items() if v is not None})

    def backend_name(self, mode: Mode) -> str:
        return self._backend.name if self._given and self._backend else self.settings_for(mode).backend_choice

    def status(self) -> ModelStatus:
        with self._changed:
            settings = self.settings_for(self._mode)
            if self._failed and not self._loading:
                state = "failed"
            else:
                state = "loading" if self._loading or self._backend is None else "ready"
            name = self._backend.name if self._backend else settings.backend_choice
            model = "scripted replies" if name == "scripted" else settings.model_id
            quantization = "served" if name == "openai" else settings.quantize or "none"
            return ModelStatus(state, model, self._mode, name, quantization, time.monotonic() - self._since,
                               self._message, _loading_progress() if state == "loading" else None, self._waiting,
                               reply_speed(self._last) if self._last else None)

    @contextmanager
    def use(self, mode: Mode) -> Iterator[TimedBackend]:
        """The model of ``mode``, for one request; waits its turn, loading or swapping weights if needed.
        Its replies come timed (:class:`agent.model.TimedBackend`)."""
        key = self._key_for(mode)
        with self._changed:
            self._waiting += 1
            try:
                backend = self._acquire(key, mode)
            finally:
                self._waiting -= 1
        try:
            yield TimedBackend(backend, self._heard)
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    @contextmanager
    def pin(self, mode: Mode) -> Iterator[None]:
        """Keep ``mode``'s weights loaded while an agent run needs them between its steps."""
        key = self._key_for(mode)
        with self._changed:
            self._pins[key] += 1
        try:
            yield
        finally:
            with self._changed:
                self._pins[key] -= 1
                self._changed.notify_all()

    def _key_for(self, mode: Mode) -> tuple[str, str]:
        if self._given:
            return GIVEN
        settings = self.settings_for(mode)
        choice = settings.backend_choice
        return (choice, str(settings.script) if choice == "scripted" else settings.model_id)

    def _acquire(self, key: tuple[str, str], mode: Mode) -> ModelBackend:
        """Called holding the lock; returns with one slot of the model taken."""
        while True:
            if self._loading or (self._key == key and self._busy >= self._slots):
                self._changed.wait()
                continue
            if self._key == key and self._backend is not None:
                self._busy += 1
                self._mode = mode  # weights shared by both modes are in the mode asked for last
                return self._backend
            if self._busy:
                self._changed.wait()
                continue
            if self._key is not None and self._pins[self._key]:
                raise ModelBusy(f"an agent run is using the {self._mode} model; ask in {self._mode} mode, "
                                "or wait until the run has ended")
            self._load(key, mode)

    def _load(self, key: tuple[str, str], mode: Mode) -> None:
        """Swap in ``key``'s model; called holding the lock, which is let go while the weights load."""
        self._loading, self._mode, self._failed = True, mode, False
        self._backend, self._key = None, None  # the old weights go before the new ones come
        _free_memory()
        self._since, self._message = time.monotonic(), f"loading {key[1] or key[0]}"
        loader = threading.get_ident()
        sink = logger.add(self._note, level="INFO", format="{message}",
                          filter=lambda record: record["thread"].id == loader)
        backend, failure = None, None
        self._changed.release()
        try:
            backend = make_backend(self.settings_for(mode))
        except Exception as error:
            failure = error
        finally:
            logger.remove(sink)
            self._changed.acquire()
        self._loading = False
        self._changed.notify_all()
        if failure is not None:
            self._failed = True
            self._message = str(failure) if isinstance(failure, ModelUnavailable) else \
                f"{type(failure).__name__}: {failure}"
            raise failure
        self._backend, self._key, self._slots = backend, key, _concurrency(backend)
        self._message = f"ready ({time.monotonic() - self._since:.1f} s to load)"

    def _note(self, message: Any) -> None:
        self._message = str(message).strip()

    def _heard(self, reply: ModelReply) -> None:
        self._last = reply


def _concurrency(backend: ModelBackend | None) -> int:
    """Requests ``backend`` answers at once."""
    return getattr(backend, "concurrency", 1)


def _loading_progress() -> dict[str, Any] | None:
    """The progress bar transformers (or the hub's download) shows while loading, if one is up:
    tqdm keeps its live bars on its class. tqdm is not imported for this."""
    tqdm = sys.modules.get("tqdm.std")
    bars = [bar for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ())) if bar.total]
    if not bars:
        return None
    bar = bars[-1]
    return {"what": str(bar.desc).strip(": ") or "loading", "done": bar.n, "total": bar.total}


def _free_memory() -> None:
    """Give the dropped model's memory back before the next one loads (GPU memory is cached by torch)."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
