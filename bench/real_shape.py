"""The in-process backend on the real Qwen3-VL-4B shape (random weights), once per load option.

Needs a CUDA GPU. Builds the 4B shape with random weights (speed and memory do not depend
on weight values), saves it, and loads it back through ``LocalModel`` exactly as a
downloaded model is loaded: bf16, 4-bit, 8-bit and bf16 with CPU offload. For each it asks
for one Thinking step on a 1280x800 screenshot and prints load time, time to the first
streamed text, decode speed and peak GPU memory::

    python bench/real_shape.py --folder /tmp/qwen3-vl-4b-random
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.local import LocalModel  # noqa: E402
from engine.random_model import QWEN3_VL_4B, build_random_model  # noqa: E402
from agent.model import Message, ModelRequest, Sampling  # noqa: E402
from agent.prompt import system_prompt  # noqa: E402
from agent.reply import ReplyError, parse_reply  # noqa: E402
from bench.decode import screenshot  # noqa: E402

VARIANTS = {
    "bf16": {},
    "4bit": {"quantize": "4bit"},
    "8bit": {"quantize": "8bit"},
    "bf16+offload": {"cpu_offload": True, "gpu_memory_gib": 4.0},
}
SHORT = {"bf16+offload"}  # layers on the CPU decode slowly: a short reply says enough


def one_step(model: LocalModel, tokens: int) -> dict[str, float]:
    sampling = Sampling.for_mode("thinking", max_new_tokens=tokens, thinking_budget=tokens - 120)
    request = ModelRequest(
        (Message("system", (system_prompt(),)), Message("user", (screenshot((1280, 800), 0), "Fill in the form."))),
        sampling=sampling,
    )
    first: list[float] = []
    started = time.perf_counter()
    reply = model.complete(request, lambda text: first or first.append(time.perf_counter()))
    seconds = time.perf_counter() - started
    try:
        parse_reply(reply)
        parsed = "an action"
    except ReplyError as error:
        parsed = f"ReplyError: {str(error)[:60]}"
    ttft = (first[0] - started) if first else float("nan")
    decode = (reply.completion_tokens - 1) / max(1e-9, seconds - ttft)
    return {"prompt": reply.prompt_tokens, "tokens": reply.completion_tokens, "first_text_s": ttft,
            "step_s": seconds, "tok_s": decode, "finish": reply.finish_reason, "parsed": parsed,
            "cut_off_closed": "</think>" in reply.text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/qwen3-vl-4b-random"))
    parser.add_argument("--tokens", type=int, default=300, help="reply length per step")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, GPU {torch.cuda.get_device_name(0)}")
    if not (args.folder / "config.json").exists():
        started = time.perf_counter()
        build_random_model(args.folder, QWEN3_VL_4B, mode="thinking", dtype="bfloat16", device="cuda")
        print(f"built and saved the random 4B shape in {time.perf_counter() - started:.1f} s")
        torch.cuda.empty_cache()
    rows = []
    for name in args.variants:
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        try:
            model = LocalModel(str(args.folder), **VARIANTS[name])
        except Exception as error:  # report every variant, whatever breaks
            rows.append((name, f"load failed: {type(error).__name__}: {error}"))
            continue
        load = time.perf_counter() - started
        params = sum(p.numel() for p in model.model.parameters()) / 1e9
        one_step(model, 16)  # warm-up: kernels, allocator
        result = one_step(model, 136 if name in SHORT else args.tokens)
        peak = torch.cuda.max_memory_allocated() / 2**30
        rows.append((name, f"load {load:5.1f} s  {params:.2f} B params  prompt {result['prompt']} tok  "
                           f"first text {result['first_text_s'] * 1000:6.0f} ms  decode {result['tok_s']:6.1f} tok/s  "
                           f"{result['tokens']} tok in {result['step_s']:5.1f} s  peak {peak:5.2f} GiB  "
                           f"finish={result['finish']} thought-closed={result['cut_off_closed']} "
                           f"parse: {result['parsed']}"))
        print(rows[-1][0], rows[-1][1], flush=True)
        del model
        gc.collect()
        torch.cuda.empty_cache()
    print("\nvariant        result")
    for name, text in rows:
        print(f"{name:<14} {text}")


if __name__ == "__main__":
    main()
