"""Where a decode step's time goes on the GPU (the real 4B shape, random weights, bf16, FP8 or INT4).

Prints per token: the captured graph's replay time, the same step run eagerly, the GPU time
of its kernels (torch profiler) with the costliest kernels and their count, and the floor:
one read of every weight matrix at the card's copy bandwidth. Also how far the Triton step's
logits are from the same step in torch operations (bf16), and the prefill's Triton norms and
rotation from theirs.

    python bench/profile_decode.py --folder /tmp/qwen3-vl-4b-random [--quantize 4bit|8bit]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from engine.fast import FastGenerator  # noqa: E402
from engine.qwen3vl import rms_norm, rope  # noqa: E402
from engine.local import LocalModel  # noqa: E402
from engine.random_model import QWEN3_VL_4B, build_random_model  # noqa: E402
from bench.decode import request  # noqa: E402
from bench.limits import token_bytes  # noqa: E402

TOKENS = 64


def per_token_ms(run, tokens: int = TOKENS) -> float:
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(tokens):
        run()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / tokens


def prefill_kernels(fast: FastGenerator, tokens: int = 1080) -> str:
    """The prefill's Triton RMSNorm and q/k norm + rotation against torch operations, on the first
    layer's weights and random activations: the share of values that come out the same."""
    k, layer, dim = fast.kernels, fast.layers[0], fast.head_dim
    heads = fast.kv_heads * fast.groups
    x = torch.randn((tokens, fast.text.config.hidden_size), device=fast.device, dtype=torch.bfloat16)
    norm = layer.input_layernorm.weight
    qkv = torch.randn((tokens, (heads + 2 * fast.kv_heads) * dim), device=fast.device, dtype=torch.bfloat16)
    angles = torch.rand((tokens, dim // 2), device=fast.device) * 100
    cos, sin = (torch.cat((f(angles), f(angles)), -1).to(torch.bfloat16) for f in (torch.cos, torch.sin))
    keys = torch.empty((fast.kv_heads, tokens, dim), device=fast.device, dtype=torch.bfloat16)
    q = k.norm_rope(qkv, layer.self_attn.q_norm.weight, layer.self_attn.k_norm.weight, cos, sin, keys, heads, fast.eps)
    parts = qkv.view(tokens, -1, dim).split((heads, fast.kv_heads, fast.kv_heads), 1)[:2]
    expected = [rope(rms_norm(part, w, fast.eps), cos[:, None], sin[:, None]).transpose(0, 1)
                for part, w in zip(parts, (layer.self_attn.q_norm.weight, layer.self_attn.k_norm.weight))]

    def agreement(got: torch.Tensor, want: torch.Tensor) -> str:
        error = ((got.float() - want.float()).norm() / want.float().norm()).item()
        return f"{(got == want).float().mean().item():.1%} equal, relative error {error:.1e}"

    normed = agreement(k.rms_norm(x, norm, fast.eps), rms_norm(x, norm, fast.eps))
    return (f"prefill kernels against torch operations: RMSNorm {normed}; q norm + rotation "
            f"{agreement(q, expected[0])}; k {agreement(keys, expected[1])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", type=Path, default=Path("/tmp/qwen3-vl-4b-random"))
    parser.add_argument("--quantize", choices=["4bit", "8bit"], help="INT4 or FP8 weights instead of bf16")
    args = parser.parse_args()
    if not (args.folder / "config.json").exists():
        build_random_model(args.folder, QWEN3_VL_4B, mode="thinking", dtype="bfloat16", device="cuda")
    model = LocalModel(str(args.folder), quantize=args.quantize)
    fast = model.fast
    comparison = ""
    with torch.inference_mode():
        model._complete_fast(request((1280, 800), 1, 300), None)  # captures the graphs it needs
        span, top_k = max(fast._graphs)[0], 20
        graph = fast._graphs[(span, top_k, 1)]
        saved = {k: v.clone() for k, v in fast.scalars.items()}
        if not args.quantize:  # the next token's logits, both ways (torch's step reads plain weights only)
            by_kernels, kernels = fast._fused(span, 1), fast.kernels
            fast.kernels = None  # (the same step through torch operations alone)
            by_torch = fast._layers(span, 1)
            fast.kernels = kernels
            error = ((by_kernels - by_torch).norm() / by_torch.norm()).item()
            same = (by_kernels.topk(5).indices == by_torch.topk(5).indices).sum().item()
            comparison = (f"Triton step against torch operations: logits relative error {error:.1e}, "
                          f"top-5 tokens {same}/5 equal\n{prefill_kernels(fast)}")
        replay = per_token_ms(graph.replay)
        eager = per_token_ms(lambda: fast._run_step(span, top_k, 1))
        with profile(activities=[ProfilerActivity.CUDA]) as trace:
            for _ in range(8):
                fast._run_step(span, top_k, 1)
            torch.cuda.synchronize()
        for k, v in saved.items():
            fast.scalars[k].copy_(v)
        # the layers' matrices and lm_head (a token reads one row of the embedding table, which is lm_head's)
        gigabytes = sum(token_bytes(model.model)) / 1e9
        copy = torch.empty(int(4e9), dtype=torch.uint8, device="cuda")
        copied = torch.empty_like(copy)
        bandwidth = 2 * copy.numel() / per_token_ms(lambda: copied.copy_(copy), 5) / 1e6  # GB/s
    events = [e for e in trace.key_averages() if e.device_type.name == "CUDA"]
    kernels = sum(e.count for e in events) / 8
    gpu_ms = sum(e.self_device_time_total for e in events) / 8 / 1000
    print(f"attention span {span}; weights read per token {gigabytes:.2f} GB")
    print(f"graph replay {replay:.2f} ms/token ({1000 / replay:.0f} tok/s); eager {eager:.2f} ms/token")
    print(f"GPU kernel time {gpu_ms:.2f} ms/token in {kernels:.0f} kernels")
    print(f"copy bandwidth {bandwidth:.0f} GB/s -> floor {gigabytes / bandwidth * 1000:.2f} ms/token")
    if comparison:
        print(comparison)
    print("costliest kernels per token:")
    for e in sorted(events, key=lambda e: -e.self_device_time_total)[:14]:
        print(f"  {e.self_device_time_total / 8 / 1000:6.3f} ms  x{e.count / 8:5.0f}  {e.key[:90]}")


if __name__ == "__main__":
    main()
