"""The in-process backend on the real Qwen3-VL-4B shape (random weights), once per load option.

Needs a CUDA GPU. Builds the 4B shape with random weights (speed and memory do not depend
on weight values), saves it (and a copy in Qwen's FP8 checkpoint layout), and loads each back
through ``LocalModel`` exactly as a downloaded model is loaded: bf16, ``--quantize 4bit``,
``--quantize 8bit``, the FP8 checkpoint, and bf16 with CPU offload. For each it asks for one
Thinking step on a 1280x800 screenshot and prints load time, time to the first token, decode
speed and peak GPU memory. The decode speed counts the model steps after the first token (one
a token: the thought budget's cut-off text is decoded too, a step for each of its tokens) over
the time after the first token, and is printed beside the limit the measured bandwidths allow
(:mod:`bench.limits`); a speed above its limit stops the bench::

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
from engine.random_model import QWEN3_VL_4B, build_random_model, write_fp8_checkpoint  # noqa: E402
from agent.model import Message, ModelRequest, Sampling  # noqa: E402
from agent.prompt import system_prompt  # noqa: E402
from agent.reply import ReplyError, parse_reply  # noqa: E402
from bench.decode import screenshot  # noqa: E402
from bench.limits import Bandwidth, check, limit, use_tiles  # noqa: E402

VARIANTS = {
    "bf16": {},
    "4bit": {"quantize": "4bit"},
    "8bit": {"quantize": "8bit"},
    "fp8-checkpoint": {},
    "bf16+offload": {"cpu_offload": True, "gpu_memory_gib": 4.0},
}
SHORT = {"bf16+offload"}  # layers on the CPU decode slowly: a short reply (no thought budget) says enough


def one_step(model: LocalModel, tokens: int) -> dict[str, float]:
    budget = tokens - 120 if tokens > 120 else None
    sampling = Sampling.for_mode("thinking", max_new_tokens=tokens, thinking_budget=budget)
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
        parsed = f"ReplyError: {str(error)[:40]}"
    stats = model.last_stats
    phases = stats.seconds
    ttft = sum(v for k, v in phases.items() if k != "decode")
    return {"prompt": reply.prompt_tokens, "tokens": reply.completion_tokens, "steps": stats.decode_steps,
            "ttft_s": ttft, "first_text_s": (first[0] - started) if first else float("nan"), "step_s": seconds,
            "tok_s": stats.decode_steps / max(1e-9, phases["decode"]), "finish": reply.finish_reason,
            "parsed": parsed, "cut_off_closed": "</think>" in reply.text}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/qwen3-vl-4b-random"))
    parser.add_argument("--tokens", type=int, default=300, help="reply length per step")
    parser.add_argument("--tiles", help="the quantised kernels' tiles, from bench/quant_kernels.py --write")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS))
    args = parser.parse_args()
    print(f"torch {torch.__version__}, GPU {torch.cuda.get_device_name(0)}")
    use_tiles(args.tiles)
    bandwidth = Bandwidth.measure()
    print(f"measured: {bandwidth}", flush=True)
    if not (args.folder / "config.json").exists():
        started = time.perf_counter()
        build_random_model(args.folder, QWEN3_VL_4B, mode="thinking", dtype="bfloat16", device="cuda")
        print(f"built and saved the random 4B shape in {time.perf_counter() - started:.1f} s")
        torch.cuda.empty_cache()
    fp8_folder = args.folder.with_name(args.folder.name + "-fp8")
    if "fp8-checkpoint" in args.variants and not (fp8_folder / "config.json").exists():
        write_fp8_checkpoint(args.folder, fp8_folder)
    rows = []
    for name in args.variants:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        folder = fp8_folder if name == "fp8-checkpoint" else args.folder
        try:
            model = LocalModel(str(folder), **VARIANTS[name])
        except Exception as error:  # report every variant, whatever breaks
            rows.append((name, f"load failed: {type(error).__name__}: {error}"))
            print(rows[-1], flush=True)
            continue
        load = time.perf_counter() - started
        loaded_peak = torch.cuda.max_memory_allocated() / 2**30
        tokens = 24 if name in SHORT else args.tokens
        one_step(model, tokens)  # warm-up of the same length: kernels, allocator, cache size, CUDA graphs
        torch.cuda.reset_peak_memory_stats()
        result = one_step(model, tokens)
        peak = torch.cuda.max_memory_allocated() / 2**30
        most = limit(model.model, bandwidth, result["prompt"] + result["tokens"] // 2)
        speed = check(name, result["tok_s"], most)
        rows.append((name, f"load {load:5.1f} s (peak {loaded_peak:5.2f} GiB)  prompt {result['prompt']} tok  "
                           f"first token {result['ttft_s'] * 1000:5.0f} ms  first text "
                           f"{result['first_text_s'] * 1000:5.0f} ms  decode {speed}  {result['tokens']} tok "
                           f"({result['steps']} decode steps) in {result['step_s']:5.2f} s  peak {peak:5.2f} GiB  "
                           f"finish={result['finish']} thought-closed={result['cut_off_closed']} "
                           f"parse: {result['parsed']}"))
        print(rows[-1][0], rows[-1][1], flush=True)
        del model
    print(f"\n{bandwidth}; decode limits count the weights and the KV cache one step reads")
    print("variant          result")
    for name, text in rows:
        print(f"{name:<16} {text}")


if __name__ == "__main__":
    main()
