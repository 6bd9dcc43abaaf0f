"""Several replies decoded together: the in-process model serving several agents at once.

A decode step reads every weight once however many sequences it advances, so on a GPU eight
replies decoded together cost little more than one. :class:`Batcher` owns the
:class:`engine.fast.FastGenerator` and drives it from a thread of its own, which ends when no
reply is left (so that it does not keep a model nobody uses in memory). Callers (agent runs,
web requests, eval tasks) hand it prompts from any thread and wait for their replies. Between
chunks of decode steps it prefills the prompts that have arrived, each into a row of the KV
cache (one whose cache holds the same system prompt, where one is free), then decodes all live
rows together, each with its own sampling, thinking budget and end. A reply ends at an end
token, at its token limit, when its text sink raises, or when its caller gives up waiting; its
row is then free for the next prompt. ``seconds`` says how long the thread has spent admitting
prompts (their prefills) and decoding.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from PIL import Image

from agent.model import Sampling
from engine.fast import CHUNK, FastGenerator, StepStats, Thinking, top_k


@dataclass
class Reply:
    """One prompt's reply, filled in by the decoder thread."""

    ids: list[int]
    images: Sequence[Image.Image]
    grids: Sequence[tuple[int, int]]
    sampling: Sampling
    thinking: Thinking | None
    on_tokens: Callable[[list[int]], None] | None = None
    stats: StepStats = field(default_factory=StepStats)
    tokens: list[int] = field(default_factory=list)  # without the end token
    stopped: bool = False  # by an end token
    error: BaseException | None = None
    abandoned: bool = False  # its caller stopped waiting
    done: threading.Event = field(default_factory=threading.Event)

    @property
    def left(self) -> int:
        return self.sampling.max_new_tokens - len(self.tokens)


class Batcher:
    """Decodes the replies asked for from any thread, up to ``rows`` of them together."""

    def __init__(self, generator: FastGenerator, rows: int) -> None:
        self.generator, self.rows = generator, rows
        self._waiting: deque[Reply] = deque()
        self._live: dict[int, Reply] = {}  # by cache row; the decoder thread's alone
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.seconds = {"admitting": 0.0, "decoding": 0.0}

    def generate(self, reply: Reply) -> Reply:
        """Decode ``reply`` along with the others in flight; returns it once it is done, or raises
        what stopped it."""
        with self._lock:
            self._waiting.append(reply)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="decoder", daemon=True)
                self._thread.start()
        try:
            reply.done.wait()
        except BaseException:  # (Ctrl+C) its row goes to the others
            reply.abandoned = True
            raise
        if reply.error is not None:
            raise reply.error
        return reply

    def _run(self) -> None:
        with torch.inference_mode():
            while True:
                with self._lock:
                    if not (self._waiting or self._live):  # the thread, which holds the model, ends when idle
                        self._thread = None
                        return
                    arrived = [self._waiting.popleft() for _ in range(min(len(self._waiting),
                                                                          self.rows - len(self._live)))]
                try:
                    with self._timed("admitting"):
                        for reply in arrived:
                            self._admit(reply)
                    if self._live:
                        with self._timed("decoding"):
                            self._chunk()
                except Exception as error:  # a fault of the decoder's own: nobody is left waiting
                    for reply in [*arrived, *self._live.values()]:
                        reply.error = reply.error or error
                        reply.done.set()
                    self._live.clear()

    @contextmanager
    def _timed(self, phase: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] += time.perf_counter() - started

    def _admit(self, reply: Reply) -> None:
        """Prefill the prompt into a free row and choose its first token."""
        if reply.abandoned:
            return reply.done.set()
        g = self.generator
        row = g.free_row(reply.ids, set(self._live))
        try:
            logits, position = g.prefill(reply.ids, reply.images, reply.grids, reply.stats, row)
            first = g.start(row, logits, len(reply.ids), position, reply.sampling, reply.thinking)
        except Exception as error:  # (out of GPU memory, say) this reply fails, the others go on
            g.stop(row)
            reply.error = error
            return reply.done.set()
        reply.stats.mark("first token")
        self._live[row] = reply
        self._take(row, [first])

    def _chunk(self) -> None:
        """Up to ``CHUNK`` decode steps of every live row (none past a reply's limit), then each
        row's new tokens to its reply."""
        g, live = self.generator, self._live
        steps = min(CHUNK, *(reply.left for reply in live.values()))
        counts = {row: len(reply.tokens) for row, reply in live.items()}
        slots = {row: len(reply.ids) + counts[row] - 1 for row, reply in live.items()}  # each one's next write
        try:
            g.advance(slots, steps, max(top_k(reply.sampling, g.vocab) for reply in live.values()))
            first, last = min(counts.values()), max(counts.values()) + steps
            tokens = g.out[:max(live) + 1, first:last].tolist()
        except Exception as error:  # the step itself failed: every reply in it does
            for row, reply in list(live.items()):
                reply.error = error
                self._end(row)
            return
        for row, reply in list(live.items()):
            reply.stats.decode_steps += steps
            start = counts[row] - first
            self._take(row, tokens[row][start:start + steps])

    def _take(self, row: int, tokens: list[int]) -> None:
        """New tokens of the reply in ``row``: kept up to an end token, sent on, and the reply ended
        if that was its last."""
        reply = self._live[row]
        ends = [i for i, token in enumerate(tokens) if token in self.generator.stop_ids]
        kept = tokens[:ends[0]] if ends else tokens
        reply.tokens += kept
        reply.stopped = bool(ends)
        if reply.on_tokens and kept:
            try:
                reply.on_tokens(kept)
            except Exception as error:  # the caller's sink: its reply stops, the others go on
                reply.error = error
        if reply.stopped or reply.left <= 0 or reply.error is not None or reply.abandoned:
            self._end(row)

    def _end(self, row: int) -> None:
        self.generator.stop(row)
        self._live.pop(row).done.set()
