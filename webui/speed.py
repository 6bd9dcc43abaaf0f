"""The figures the page shows beside every answer and in its header: how fast, how much memory.

One reading for every reader: a chat reply, an agent step's record, the OpenAI ``usage`` and
``/api/status`` all give the same keys, computed here.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

from agent.model import ModelReply

MB = 2**20


def speed(prompt_tokens: int, completion_tokens: int, first_token_seconds: float | None,
          seconds: float | None) -> dict[str, Any]:
    """Tokens in and out, time to the first token, and the decoding rate: the tokens after the
    first over the time after the first (the prompt's reading is the first token's wait)."""
    rate = None
    if first_token_seconds is not None and seconds is not None and completion_tokens > 1 \
            and seconds > first_token_seconds:
        rate = round((completion_tokens - 1) / (seconds - first_token_seconds), 1)
    return {
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "first_token_seconds": None if first_token_seconds is None else round(first_token_seconds, 3),
        "seconds": None if seconds is None else round(seconds, 3),
        "tokens_per_second": rate,
    }


def reply_speed(reply: ModelReply) -> dict[str, Any]:
    return speed(reply.prompt_tokens, reply.completion_tokens, reply.first_token_seconds, reply.seconds)


def step_speed(record: dict[str, Any]) -> dict[str, Any] | None:
    """An agent step's figures, from its record (steps written before calls were timed have none)."""
    model = record.get("model")
    if not model:
        return None
    seconds = model.get("seconds", record.get("timings", {}).get("model"))
    return speed(model.get("prompt_tokens", 0), model.get("completion_tokens", 0), model.get("first_token_seconds"),
                 seconds)


def memory() -> dict[str, Any]:
    """The model's memory: the GPU's when torch uses one (only if torch is loaded already), else the
    server process's RAM. In MiB, now and at its peak."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        device = torch.cuda.current_device()
        return {"kind": "GPU", "device": torch.cuda.get_device_name(device),
                "used_mb": round(torch.cuda.memory_allocated(device) / MB),
                "peak_mb": round(torch.cuda.max_memory_allocated(device) / MB),
                "total_mb": round(torch.cuda.get_device_properties(device).total_memory / MB)}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (MB if sys.platform == "darwin" else 1024)  # KiB
    used = _resident_mb()
    return {"kind": "RAM", "device": "no GPU in use", "used_mb": used,
            "peak_mb": max(round(peak), used or 0), "total_mb": None}  # the peak is counted a little behind


def _resident_mb() -> int | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None  # not Linux
    return round(pages * resource.getpagesize() / MB)
