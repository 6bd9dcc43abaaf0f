"""Step latency of the in-process model: transformers' generate against our fast decoder, one run.

Needs a CUDA GPU. Builds the real Qwen3-VL-4B shape with random weights (speed does not
depend on weight values), loads it through LocalModel as a download would be, and for bf16,
``--quantize 4bit`` (INT4), ``--quantize 8bit`` (FP8) and the same model in Qwen's FP8
checkpoint layout, at 1280x800 and 1920x1080, measures on the same inputs:

- TTFT: a new screenshot to the first token, prefill and vision included (for the fast
  path, a step after the first, so the system prompt's KV is reused as in a real run);
- decode speed: the model steps after the first token over the time after it, beside the
  limit the measured bandwidth allows (:mod:`bench.limits`; a speed above it stops the
  bench), and one step with 500 thinking tokens, screenshot to the last token;
- several agents at once (``--agents``, 8 by default), decoded as one batch: the tokens of all
  per second and the slowest agent's decode speed, beside one agent's;
- peak GPU memory; and the fast path's cold start (a new process, weights on local disk,
  to its first 500-token reply);
- that the fast path's greedy tokens are transformers' top tokens (teacher-forced), and how far
  a quantised model's image features are from bf16's (4-bit converts the vision blocks).

    python bench/decode.py --folder /tmp/qwen3-vl-4b-random
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.local import LocalModel  # noqa: E402
from engine.random_model import SHAPES, build_random_model, write_fp8_checkpoint  # noqa: E402
from agent.model import Message, ModelReply, ModelRequest, Sampling  # noqa: E402
from agent.prompt import system_prompt  # noqa: E402
from bench.limits import Bandwidth, check, limit, use_tiles  # noqa: E402

STEP_TOKENS = int(os.environ.get("BENCH_STEP_TOKENS", 500))
VARIANTS = {"bf16": None, "4bit": "4bit", "8bit": "8bit", "fp8": None}
"""What each row loads: the bf16 folder as it is or converted at load, or its FP8 checkpoint copy."""
SCREENS = [(1280, 800), (1920, 1080)]
HISTORY = " Earlier: 1. left_click (337, 146)"
CUDA = torch.cuda.is_available()


def sync() -> None:
    if CUDA:
        torch.cuda.synchronize()


def never(model: LocalModel) -> int:
    """An end token the random model (almost) never picks: every step runs its full length."""
    return model.model.config.text_config.vocab_size - 1


def budget(size: tuple[int, int]) -> int:
    """The pixel budget that keeps a screen whole (rounded up to 32-pixel blocks)."""
    return size[0] * (-(-size[1] // 32) * 32)


def screenshot(size: tuple[int, int], seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def request(size: tuple[int, int], seed: int, tokens: int, history: str = "") -> ModelRequest:
    sampling = Sampling.for_mode("thinking", max_new_tokens=tokens, thinking_budget=None)
    text = f"The user's task: fill in the contact form.{history}\n\nThis is the current screen. What is the next action?"
    return ModelRequest((Message("system", (system_prompt(),)), Message("user", (screenshot(size, seed), text))),
                        sampling=sampling)


def timed(model: LocalModel, plain: bool, req: ModelRequest, phases: bool = False) -> tuple[float, int]:
    sync()
    started = time.perf_counter()
    with torch.inference_mode():
        reply = model._complete_plain(req, None) if plain else model._complete_fast(req, None, timed=phases)
    sync()
    return time.perf_counter() - started, reply.prompt_tokens


def measure(model: LocalModel, plain: bool, size: tuple[int, int]) -> dict[str, float]:
    """TTFT, decode speed and a 500-token step, after warm-up steps of the same shape on other
    screenshots (kernels, the cached prompt prefix, the CUDA graphs of this prompt shape)."""
    first, _ = timed(model, plain, request(size, 1, 8, HISTORY))
    if not plain:
        print(f"  first step of this prompt shape, capturing its graphs: {first * 1000:.0f} ms", flush=True)
        timed(model, plain, request(size, 2, STEP_TOKENS, HISTORY))  # the graph of every attention length
    if CUDA:
        torch.cuda.reset_peak_memory_stats()
    ttft, prompt = timed(model, plain, request(size, 3, 1, HISTORY))
    if not plain:  # where the TTFT of a new screenshot goes (waiting for the GPU after each phase)
        timed(model, plain, request(size, 7, 1, HISTORY), phases=True)
        print("  TTFT phases:", {k: f"{v * 1000:.1f} ms" for k, v in model.last_stats.seconds.items()}, flush=True)
    step, _ = timed(model, plain, request(size, 4, STEP_TOKENS, HISTORY))
    stats = model.last_stats
    retry, _ = timed(model, plain, request(size, 4, 1, HISTORY))
    return {"prompt": prompt, "ttft_ms": ttft * 1000, "retry_ttft_ms": retry * 1000,
            "tok_s": stats.decode_steps / stats.seconds["decode"], "step_s": step,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30 if CUDA else float("nan")}


def row(variant: str, model: LocalModel, plain: bool, size: tuple[int, int], bandwidth: Bandwidth) -> dict[str, Any]:
    """:func:`measure`, with the decode speed checked against its limit."""
    result = measure(model, plain, size)
    most = limit(model.model, bandwidth, result["prompt"] + STEP_TOKENS // 2)
    name = f"{variant} {size} {'generate' if plain else 'fast'}"
    result["speed"] = check(name, result["tok_s"], most)
    print(name, result, flush=True)
    return result


def free() -> None:
    gc.collect()
    if CUDA:
        torch.cuda.empty_cache()


def together(model: LocalModel, size: tuple[int, int], agents: int) -> dict[str, float]:
    """``agents`` steps of ``STEP_TOKENS`` tokens asked at once from threads of their own (after a
    round that captures the batch's graphs): the tokens of all over the wall time, prefills
    included; each agent's first token and decode speed (its tokens after the first over the time
    after it) as the decoder marks them (random weights spell out few whole characters, so their
    first text comes late); and the decoder thread's time admitting prompts (their prefills)."""
    asked = [request(size, 20 + seed, STEP_TOKENS, HISTORY) for seed in range(agents)]  # (screens made before)
    batcher, stats = model.batcher, []

    def ask(one: ModelRequest) -> ModelReply:
        start.wait()
        return model.complete(one, lambda text: None)

    generate = batcher.generate
    batcher.generate = lambda reply: stats.append(reply.stats) or generate(reply)
    for _ in range(2):
        stats.clear()
        graphs, before = len(model.fast._graphs), dict(batcher.seconds)
        start = threading.Barrier(agents + 1)
        with ThreadPoolExecutor(agents) as pool:
            futures = [pool.submit(ask, one) for one in asked]
            start.wait()
            began = time.perf_counter()
            replies = [future.result() for future in futures]
        wall = time.perf_counter() - began
    del batcher.generate
    before_first = ("prompt", "positions", "vision", "prefill", "first token")
    firsts = [sum(s.seconds.get(phase, 0.0) for phase in before_first) for s in stats]
    speeds = [s.decode_steps / s.seconds["decode"] for s in stats]
    phases = {phase: max(s.seconds.get(phase, 0.0) for s in stats) * 1000 for phase in before_first}
    return {"aggregate": sum(r.completion_tokens for r in replies) / wall, "slowest": min(speeds),
            "summed": sum(speeds), "last_ttft_ms": max(firsts) * 1000,
            "phases": ", ".join(f"{phase} {ms:.0f} ms" for phase, ms in phases.items()),
            "captured": len(model.fast._graphs) - graphs, "wall_s": wall,
            "admitting_s": batcher.seconds["admitting"] - before["admitting"]}


def agreement(model: LocalModel, reference: LocalModel, tokens: int = 128) -> str:
    """Teacher-forced: the fast path's greedy reply, fed to transformers' forward pass (of
    ``reference``, the same checkpoint through ``from_pretrained``) after the same prompt; at how
    many steps is the fast path's token also transformers' top token?
    (Free-running greedy replies part at the first near-tie, which random weights have plenty of.)"""
    req = request((1280, 800), 5, tokens)
    req = ModelRequest(req.messages, sampling=Sampling(temperature=0.0, presence_penalty=0.0, max_new_tokens=tokens))
    with torch.inference_mode():
        fast = model._complete_fast(req, None)
        reply = model.fast.out[0, :fast.completion_tokens]
        inputs, _ = reference.encode(req)
        more = torch.ones((1, reply.numel()), dtype=inputs["input_ids"].dtype, device=reply.device)
        inputs["input_ids"] = torch.cat((inputs["input_ids"], reply[None]), dim=1)
        inputs["attention_mask"] = torch.cat((inputs["attention_mask"], more), dim=1)
        inputs["mm_token_type_ids"] = torch.cat((inputs["mm_token_type_ids"], 0 * more.int()), dim=1)
        logits = reference.model(**inputs, logits_to_keep=reply.numel() + 1).logits[0, :-1]
    same = (logits.argmax(-1) == reply).sum().item()
    return f"the fast path's greedy token is transformers' top token at {same}/{reply.numel()} steps (teacher-forced)"


def vision_features(model: LocalModel) -> list[torch.Tensor]:
    """A 1280x800 screenshot's image features and deepstack features, in float32 on the CPU."""
    image, encoder = screenshot((1280, 800), 10), model.fast.encoder
    with torch.inference_mode():
        embed, deepstack = encoder.encode(image, encoder.grid(image, budget((1280, 800)), 4096))
    return [t.float().cpu() for t in (embed, *deepstack)]


def feature_error(got: list[torch.Tensor], want: list[torch.Tensor]) -> float:
    """The largest relative error among the feature tensors."""
    return max(((g - w).norm() / w.norm()).item() for g, w in zip(got, want))


def preprocessing(model: LocalModel) -> str:
    rows = []
    for size in SCREENS:
        image = screenshot(size, 9)
        grid = model.fast.encoder.grid(image, budget(size), 4096)
        started = time.perf_counter()
        model.image_processor(images=[image], size={"longest_edge": budget(size), "shortest_edge": 4096},
                              return_tensors="pt")
        cpu = time.perf_counter() - started
        model.fast.encoder.patches(image, grid)
        sync()
        started = time.perf_counter()
        model.fast.encoder.patches(image, grid)
        sync()
        rows.append(f"{size[0]}x{size[1]}: CPU image processor {cpu * 1000:.0f} ms, GPU patches "
                    f"{(time.perf_counter() - started) * 1000:.1f} ms")
    return "; ".join(rows)


def cold_start(folder: Path) -> None:
    """Run in a fresh process: load, then one 500-token step; prints when each phase ended."""
    imported = time.time()
    torch.zeros(1, device="cuda" if CUDA else "cpu")
    context = time.time()
    model = LocalModel(str(folder))
    model.stop_ids = model.fast.stop_ids = [never(model)]
    loaded = time.time()
    with torch.inference_mode():
        model._complete_fast(request((1280, 800), 6, STEP_TOKENS), None)
    print(json.dumps({"imported": imported, "context": context, "loaded": loaded, "done": time.time()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/qwen3-vl-4b-random"))
    parser.add_argument("--tiles", help="the quantised kernels' tiles, from bench/quant_kernels.py --write")
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--generate", nargs="*", default=["bf16"], help="variants also measured with generate")
    parser.add_argument("--agents", type=int, default=8, help="agents asking at once, decoded as one batch (1: none)")
    parser.add_argument("--no-cold-start", action="store_true")
    parser.add_argument("--only-cold-start", action="store_true", help="no step measurements, the cold start only")
    parser.add_argument("--commit", help="the code's commit, where the folder is no git checkout of it")
    parser.add_argument("--shape", choices=list(SHAPES), default="4b", help="tiny: a quick check of this script")
    parser.add_argument("--cold-start", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_start:
        return cold_start(args.folder)
    device = torch.cuda.get_device_name(0) if CUDA else "CPU"
    print(f"torch {torch.__version__}, {device}, {time.strftime('%Y-%m-%d')}")
    if not (args.folder / "config.json").exists():
        build_random_model(args.folder, SHAPES[args.shape], mode="thinking", dtype="bfloat16" if CUDA else "float32",
                           device="cuda" if CUDA else "cpu")
    use_tiles(args.tiles)
    bandwidth = Bandwidth.measure()
    print(f"measured: {bandwidth}", flush=True)
    fp8_folder = args.folder.with_name(args.folder.name + "-fp8")
    if "fp8" in args.variants and not (fp8_folder / "config.json").exists():
        write_fp8_checkpoint(args.folder, fp8_folder)
    rows, notes, features = [], [], {}
    for variant in [] if args.only_cold_start else args.variants:
        source = str(fp8_folder if variant == "fp8" else args.folder)
        model = LocalModel(source, quantize=VARIANTS[variant], batch=max(8, args.agents))
        model.stop_ids = model.fast.stop_ids = [never(model)]
        reference = LocalModel(source, quantize=VARIANTS[variant], decoder="plain")  # transformers' model
        reference.stop_ids = model.stop_ids
        notes.append(f"agreement ({variant}): {agreement(model, reference)}")
        for size in SCREENS if variant in args.generate else ():  # before the fast rows, whose peak memory
            reference.max_pixels = budget(size)                   # then leaves the reference out
            rows.append((variant, f"{size[0]}x{size[1]}", "generate", row(variant, reference, True, size, bandwidth)))
        del reference
        free()
        features[variant] = vision_features(model)
        if variant != "bf16" and "bf16" in features:
            notes.append(f"vision features ({variant} against bf16, 1280x800): relative error "
                         f"{feature_error(features[variant], features['bf16']):.1e}")
        if variant == "bf16":
            notes.append(f"image preprocessing: {preprocessing(model)}")
        for size in SCREENS:
            model.max_pixels = budget(size)
            rows.append((variant, f"{size[0]}x{size[1]}", "fast", row(variant, model, False, size, bandwidth)))
        for size in SCREENS if args.agents > 1 else ():  # after the single agent's peak memory, as a batch's
            model.max_pixels = budget(size)             # cache rows stay reserved
            batch = together(model, size, args.agents)
            alone = next(r for v, s, p, r in rows if (v, s, p) == (variant, f"{size[0]}x{size[1]}", "fast"))
            whole = STEP_TOKENS / alone["step_s"]
            notes.append(f"{args.agents} agents at once ({variant}, {size[0]}x{size[1]}, {STEP_TOKENS}-token steps): "
                         f"{batch['aggregate']:.0f} tok/s in all, prefills included ({batch['aggregate'] / whole:.1f}x "
                         f"one agent's {whole:.0f} tok/s with its prefill, {batch['aggregate'] / alone['tok_s']:.1f}x "
                         f"its decode's {alone['tok_s']:.0f}); each agent's decode {batch['slowest']:.0f} tok/s at "
                         f"the slowest, {batch['summed']:.0f} summed; the last first token after "
                         f"{batch['last_ttft_ms']:.0f} ms (the longest of each phase: {batch['phases']}; "
                         f"\"positions\" includes the wait for the decoder; {batch['captured']} decode graphs captured in "
                         f"the round; {batch['wall_s']:.2f} s in all, of which the decoder thread spent "
                         f"{batch['admitting_s']:.2f} s admitting prompts)")
            print(notes[-1], flush=True)
        del model
        free()
    if args.no_cold_start:
        return report(rows, notes, bandwidth, args.commit)
    with tempfile.TemporaryDirectory() as empty:  # first with no compiled kernels on disk, as on a new machine
        for kernels, environment in (("none", {"TRITON_CACHE_DIR": empty}), ("cached", {})):
            started = time.time()
            out = subprocess.run([sys.executable, __file__, "--cold-start", "--folder", str(args.folder)],
                                 capture_output=True, text=True, env={**os.environ, **environment})
            try:
                times = json.loads(out.stdout.strip().splitlines()[-1])
                notes.append(f"cold start (bf16, 1280x800, new process to the end of a {STEP_TOKENS}-token step, "
                             f"compiled kernels on disk: {kernels}): {times['done'] - started:.1f} s, of which "
                             f"loading {times['loaded'] - started:.1f} s (the interpreter and imports "
                             f"{times['imported'] - started:.1f} s, the CUDA context "
                             f"{times['context'] - times['imported']:.1f} s, LocalModel "
                             f"{times['loaded'] - times['context']:.1f} s), the first step "
                             f"{times['done'] - times['loaded']:.1f} s")
            except (ValueError, IndexError, KeyError):
                notes.append(f"cold start failed: {out.stderr[-500:]}")
    report(rows, notes, bandwidth, args.commit)


def report(rows: list, notes: list[str], bandwidth: Bandwidth, commit: str | None) -> None:
    commit = commit or subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                      cwd=Path(__file__).parent).stdout.strip() or "unknown (no git here)"
    print(f"\ncode {commit}; {bandwidth}; one agent at a time (several at once: the notes)")
    print("| weights | screen | path | prompt tok | TTFT | TTFT same screen | decode (limit) | 500-token step "
          "| peak GPU |")
    print("|---|---|---|---|---|---|---|---|---|")
    for variant, screen, path, r in rows:
        print(f"| {variant} | {screen} | {path} | {r['prompt']} | {r['ttft_ms']:.0f} ms | "
              f"{r['retry_ttft_ms']:.0f} ms | {r['speed']} | {r['step_s']:.2f} s | {r['peak_gib']:.2f} GiB |")
    print()
    for note in notes:
        print(f"- {note}")


if __name__ == "__main__":
    main()
