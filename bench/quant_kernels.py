"""The quantised kernels alone, on the 4B shape's products: right, and how fast (CUDA GPU).

For INT4 and FP8 (and bf16 for comparison) and each of the decoder layer's four products
(RMSNorm + q/k/v, output + residual, RMSNorm + gate/up + SwiGLU, down + residual): the
matrix-vector kernel against a float64 reference on fresh random inputs, and its time per
call at several tile shapes (a CUDA graph of calls over enough copies of the weights that they
do not fit in L2), as bandwidth; then the prefill's matrix product on 1060 tokens against
cuBLAS in bf16; and a batched decode step's products (8 tokens) at several tiles, the quantised
ones and bf16's several-token kernel::

    python bench/quant_kernels.py [--formats bf16,int4,fp8] [--no-prefill] [--only-batched] [--write tiles.json]

``--write`` saves the fastest tiles for ``bench/decode.py --tiles``; ``--only-batched`` measures the
batched decode step's products alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import triton  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from engine import kernels, quant, quant_kernels  # noqa: E402
from engine.qwen3vl import rms_norm  # noqa: E402

SHAPES = {"qkv": (6144, 2560), "out": (2560, 4096), "gate/up": (9728, 2560), "down": (2560, 9728)}
COPIES = 8
BATCH = 8
FEW_TILES = [(n, w, st) for n in (16, 32, 64) for w in (2, 4) for st in (3, 5)]
TOKENS_TILES = [(n, k, 4, st) for n in (16, 32, 64) for k in (128, 256) for st in (3, 5)]
LM_HEAD = (151936, 2560)
FORMATS = sys.argv[sys.argv.index("--formats") + 1].split(",") if "--formats" in sys.argv else ["bf16", "int4", "fp8"]
TILES = {"int4": [(4, 128, 4), (4, 64, 2), (4, 256, 8), (8, 128, 2), (16, 128, 2), (32, 128, 4), (16, 64, 2),
                  (32, 64, 2), (16, 256, 4), (32, 256, 8), (8, 64, 2), (8, 256, 4), (16, 256, 8), (8, 128, 4),
                  (16, 128, 4)],
         "fp8": [(8, 128, 2), (16, 128, 2), (16, 128, 4), (32, 128, 4), (4, 256, 2), (4, 256, 4), (8, 256, 4),
                 (16, 256, 4), (8, 64, 2), (16, 64, 2), (32, 64, 4), (2, 256, 2), (2, 512, 4), (4, 512, 4), (8, 512, 4),
                 (32, 128, 2), (32, 128, 8), (32, 256, 4), (32, 256, 8), (16, 512, 8), (64, 64, 4), (64, 128, 8),
                 (8, 64, 1), (16, 64, 4), (8, 128, 4), (64, 256, 8), (32, 512, 8), (16, 256, 8), (64, 64, 8)]}


def relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


def product(kind: str, fmt: str, x, weights, ups, out, norm, tiles):
    """One call of the product ``kind`` on copy ``i`` of the weights, as a closure."""
    def call(i: int) -> None:
        w, u = weights[i], ups[i] if ups else None
        if fmt == "bf16":
            kernels._gemv_launch(x[None], w, u, out[None], norm, 1e-6, residual=kind in ("out", "down"))
        else:
            quant_kernels.gemv_launch(x, w, u, out, norm, 1e-6, residual=kind in ("out", "down"), tiles=tiles)
    return call


def graph_time(call) -> float:
    """Seconds per call, replaying a graph of 4 x COPIES calls (median of 20 replays)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for i in range(COPIES):
            call(i)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for _ in range(4):
            for i in range(COPIES):
                call(i)
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(20):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1000 / (4 * COPIES))
    return sorted(times)[10]


def main() -> None:
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}")
    summary = []
    for kind, (rows, cols) in {} if "--only-batched" in sys.argv else SHAPES.items():
        gated = kind.startswith("gate/up")
        x = torch.randn(cols, device="cuda").to(torch.bfloat16)
        norm = (torch.rand(cols, device="cuda") + 0.5).to(torch.bfloat16) if kind in ("qkv", "gate/up") else None
        h = rms_norm(x, norm, 1e-6) if norm is not None else x
        for fmt in FORMATS:
            dense = [torch.randn(rows, cols, device="cuda") * 0.02 for _ in range(2 if gated else 1)]
            if fmt == "bf16":
                matrices = [d.to(torch.bfloat16) for d in dense]
                reference = [m.double() for m in matrices]
                nbytes = sum(m.numel() * 2 for m in matrices)
            else:
                matrices = [quant.quantise(d, fmt) for d in dense]
                reference = [quant.dequantise(m).double() for m in matrices]
                nbytes = sum(m.nbytes for m in matrices)
            want = reference[0] @ h.double()
            if gated:
                up = (reference[1] @ h.double()).to(torch.bfloat16).double()
                want = F.silu(want.to(torch.bfloat16).double()) * up
            residual = torch.randn(rows, device="cuda").to(torch.bfloat16)
            if kind in ("out", "down"):
                want = want + residual.double()
            weights = [matrices[0]] + [_copy(matrices[0]) for _ in range(COPIES - 1)]
            ups = [matrices[1]] + [_copy(matrices[1]) for _ in range(COPIES - 1)] if gated else None
            for tiles in ([None] if fmt == "bf16" else TILES[fmt]):
                out = residual.clone() if kind in ("out", "down") else torch.full((rows,), float("nan"), device="cuda",
                                                                                   dtype=torch.bfloat16)
                call = product(kind, fmt, x, weights, ups, out, norm, tiles)
                call(0)
                torch.cuda.synchronize()
                error = relative(out, want)
                assert torch.isfinite(out).all() and error < 2e-2, (kind, fmt, tiles, error)
                if kind in ("out", "down"):
                    out.copy_(residual)
                seconds = graph_time(call)
                line = (f"{kind:14} {fmt:5} tiles {str(tiles):12} error {error:.1e}  {seconds * 1e6:7.1f} us  "
                        f"{nbytes / seconds / 1e12:5.2f} TB/s")
                print(line, flush=True)
                summary.append((kind, fmt, tiles, seconds))
            del weights, ups
            torch.cuda.empty_cache()
    print("\nfastest per product:")
    chosen = {}
    for kind in {} if "--only-batched" in sys.argv else SHAPES:
        for fmt in FORMATS:
            best = min((s, t) for k, f, t, s in summary if k == kind and f == fmt)
            print(f"  {kind:14} {fmt:5} {best[0] * 1e6:7.1f} us at tiles {best[1]}")
            if fmt != "bf16":
                rows, cols = SHAPES[kind]
                chosen[f"{fmt},{rows},{cols},{kind == 'gate/up'}"] = best[1]
    chosen |= few_tokens()
    if "--write" in sys.argv:  # for the other benches' --tiles
        Path(sys.argv[sys.argv.index("--write") + 1]).write_text(json.dumps(chosen, indent=1))
    if "--no-prefill" in sys.argv:
        return
    print("\nprefill products, 1060 tokens:")
    a = torch.randn(1060, 2560, device="cuda").to(torch.bfloat16)
    for rows, cols in ((6144, 2560), (9728, 2560)):
        dense = torch.randn(rows, cols, device="cuda") * 0.02
        bf16 = dense.to(torch.bfloat16)
        cublas = _time(lambda: F.linear(a, bf16))
        for fmt in ("int4", "fp8"):
            matrix = quant.quantise(dense, fmt)
            got = quant_kernels.matmul(a, matrix)
            error = relative(got, a.double() @ quant.dequantise(matrix).double().T)
            assert error < 1e-2, (fmt, error)
            seconds = _time(lambda: quant_kernels.matmul(a, matrix))
            got = quant_kernels.linear(a, matrix)
            error_linear = relative(got, a.double() @ quant.dequantise(matrix).double().T)
            assert error_linear < 1e-2, (fmt, error_linear)
            through = _time(lambda: quant_kernels.linear(a, matrix))
            flops = 2 * 1060 * rows * cols
            print(f"  {rows}x{cols} {fmt}: decoding tiles: error {error:.1e}, {seconds * 1e6:.0f} us "
                  f"({flops / seconds / 1e12:.0f} TFLOP/s); dequantised + cuBLAS: error {error_linear:.1e}, "
                  f"{through * 1e6:.0f} us; cuBLAS bf16 alone {cublas * 1e6:.0f} us "
                  f"({flops / cublas / 1e12:.0f} TFLOP/s)")


def few_tokens() -> dict[str, list[int]]:
    """A batched decode step's products (``BATCH`` tokens): the matrix product at each of
    :data:`FEW_TILES`, against cuBLAS on bf16 and against the matrix-vector kernel once per
    token; the fastest tiles, as ``--write`` saves them."""
    chosen = {}
    print(f"\n{BATCH} tokens (a batched decode step):")
    for kind, (rows, cols) in SHAPES.items():
        dense = torch.randn(rows, cols, device="cuda") * 0.02
        a = torch.randn(BATCH, cols, device="cuda").to(torch.bfloat16)
        bf16 = [dense.to(torch.bfloat16)] + [dense.to(torch.bfloat16) for _ in range(COPIES - 1)]
        cublas = graph_time(lambda i: F.linear(a, bf16[i]))
        print(f"  {kind:8} bf16 cuBLAS {cublas * 1e6:6.1f} us ({rows * cols * 2 / cublas / 1e12:.2f} TB/s)")
        del bf16
        for fmt in [f for f in FORMATS if f != "bf16"]:
            matrix = quant.quantise(dense, fmt)
            copies = [matrix] + [_copy(matrix) for _ in range(COPIES - 1)]
            want = a.double() @ quant.dequantise(matrix).double().T
            out = torch.empty(BATCH, rows, device="cuda", dtype=torch.bfloat16)
            each = graph_time(lambda i: [quant_kernels.gemv_launch(a[r], copies[i], None, out[r], None, 0.0, False)
                                         for r in range(BATCH)])
            timed = []
            for tiles in FEW_TILES:
                error = relative(quant_kernels.matmul(a, matrix, tiles), want)
                assert error < 1e-2, (kind, fmt, tiles, error)
                timed.append((graph_time(lambda i: quant_kernels.matmul(a, copies[i], tiles)), tiles))
            best, tiles = min(timed)
            print(f"  {kind:8} {fmt:5} matrix product {best * 1e6:6.1f} us at tiles {tiles} "
                  f"({matrix.nbytes / best / 1e12:.2f} TB/s; the slowest tiles {max(timed)[0] * 1e6:.1f} us); "
                  f"matrix-vector once a token {each * 1e6:6.1f} us")
            chosen[f"few,{fmt},{rows},{cols}"] = list(tiles)
            del copies
            torch.cuda.empty_cache()
    return chosen | tokens_bf16()


def tokens_bf16() -> dict[str, list[int]]:
    """bf16 weights in a batched decode step: the several-token kernel in each product's fused form
    (and ``lm_head``'s) at each of :data:`TOKENS_TILES`, against cuBLAS's plain product; the
    fastest tiles, as ``--write`` saves them."""
    chosen = {}
    for kind, (rows, cols) in {**SHAPES, "lm_head": LM_HEAD}.items():
        gated, residual = kind == "gate/up", kind in ("out", "down")
        copies = 2 if kind == "lm_head" else COPIES  # (either way more than L2 holds)
        weights = [(torch.randn(rows, cols, device="cuda") * 0.02).to(torch.bfloat16) for _ in range(copies)]
        ups = [(torch.randn(rows, cols, device="cuda") * 0.02).to(torch.bfloat16) for _ in range(copies)] if gated \
            else None
        a = torch.randn(BATCH, cols, device="cuda").to(torch.bfloat16)
        norm = None if residual else (torch.rand(cols, device="cuda") + 0.5).to(torch.bfloat16)
        h = a if norm is None else rms_norm(a, norm, 1e-6)
        start = torch.randn(BATCH, rows, device="cuda").to(torch.bfloat16)
        want = F.linear(h, weights[0])
        want = F.silu(want) * F.linear(h, ups[0]) if gated else start + want if residual else want
        cublas = graph_time(lambda i: F.linear(a, weights[i % copies]))
        timed = []
        for tiles in TOKENS_TILES:
            out = start.clone()
            try:
                kernels._tokens_launch(a, weights[0], ups and ups[0], out, norm, 1e-6, residual, tiles)
            except triton.runtime.errors.OutOfResources:  # (too many stages of too large a tile)
                continue
            error = relative(out, want)
            assert error < 3e-2, (kind, tiles, error)
            timed.append((graph_time(lambda i: kernels._tokens_launch(a, weights[i % copies], ups and ups[i % copies],
                                                                      out, norm, 1e-6, residual, tiles)), tiles))
        best, tiles = min(timed)
        nbytes = rows * cols * 2 * (2 if gated else 1)
        print(f"  {kind:8} bf16  several-token kernel {best * 1e6:6.1f} us at tiles {tiles} "
              f"({nbytes / best / 1e12:.2f} TB/s; the slowest tiles {max(timed)[0] * 1e6:.1f} us); cuBLAS, "
              f"plain, {cublas * 1e6:6.1f} us a matrix")
        chosen[f"tokens,{rows},{cols},{gated}"] = list(tiles)
        del weights, ups
        torch.cuda.empty_cache()
    return chosen


def _copy(matrix):
    if isinstance(matrix, torch.Tensor):
        return matrix.clone()
    return quant.Quantised(matrix.format, matrix.values.clone(), matrix.scales.clone(),
                           None if matrix.minimums is None else matrix.minimums.clone(), matrix.rows, matrix.cols)


def _time(run) -> float:
    for _ in range(3):
        run()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(20):
        run()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1000 / 20


if __name__ == "__main__":
    main()
