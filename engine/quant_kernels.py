"""Triton kernels for the quantised weights of :mod:`engine.quant`: one token's matrix-vector
product (decode) and a matrix product for many tokens (prefill), the matrix-vector products
decoding the stored bits as they read them.

The matrix-vector kernels have the same fused forms as the bf16 one in :mod:`engine.kernels`
(RMSNorm of the input, SwiGLU of gate and up, residual add) and the same early start under
programmatic dependent launch. Decoding a value must cost less than reading it:

- **INT4**: a nibble becomes ``1 + q/16`` by placing it in the mantissa of 1.0 (a shift, a
  mask and an or, no conversion instruction), the products are summed per 64-value group,
  and the group's scale and minimum are applied once: ``scale * q + minimum`` summed over a
  group is ``16 scale * sum((1 + q/16) x) + (minimum - 16 scale) * sum(x)``.
- **FP8**: int32 words of four e4m3 values, each value's bits moved into a float32's by shifts
  and masks, which makes it ``2^-120`` times its value, subnormals included; the inputs carry
  the 128x128 block's scale and ``2^64``, the sums the rest. The hardware's packed e4m3
  conversions, and Triton's own conversion of an fp8 tensor (which took the loaded words apart
  and packed them again), were no faster.

For a few tokens the matrix product decodes a tile of weights into bf16 integers (INT4) or bf16
values (FP8, which bf16 holds exactly) and runs it through the matrix units, scales applied to
the float32 sums per group (INT4: a 64-column step is one group) or per block. For a prefill's
thousand tokens that runs at 100-200 TFLOP/s against cuBLAS's 700 on bf16, so there each matrix
is dequantised into one shared bf16 buffer (a fifth of cuBLAS's time on it) and cuBLAS runs.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from engine.kernels import PDL, _finish, _input, _rstd
from engine.quant import FP8_BLOCK, INT4_GROUP, Quantised

# ---- one token ------------------------------------------------------------------------------


@triton.jit
def _words(w_ptr, rows, live, word, words, KW):
    """The int32 words (rows, words) from word ``word`` of each row of a matrix of ``KW`` words a row
    (INT4: eight values a word, FP8: four), and where they lie inside it."""
    inside = live[:, None] & (word + words[None, :] < KW)
    return tl.load(w_ptr + rows[:, None] * KW + word + words[None, :], mask=inside, other=0), inside


@triton.jit
def _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, word, words, KW):
    """Words (rows, words) from word ``word`` of each row, and each word's scale and minimum."""
    w, inside = _words(w_ptr, rows, live, word, words, KW)
    at = rows[:, None] * (KW // 8) + (word + words[None, :]) // 8  # (eight words a group)
    return w, tl.load(s_ptr + at, mask=inside, other=0.0), tl.load(m_ptr + at, mask=inside, other=0.0)


@triton.jit
def _one_plus(w, i: tl.constexpr):
    """Nibble ``i`` of each word as the float32 ``1 + q/16``: q placed in the top of the mantissa of 1.0."""
    if 4 * i <= 19:
        bits = (w << (19 - 4 * i)) & (15 << 19)
    else:
        bits = (w >> (4 * i - 19)) & (15 << 19)
    return (bits | 0x3F800000).to(tl.float32, bitcast=True)


@triton.jit
def _int4_sums(part, scale, minimum, total):
    """Per row and word, (scale q + minimum) x summed over the word's eight columns, from ``part``:
    (1 + q/16) x summed, and ``total``: x summed per word."""
    scale16 = 16.0 * scale.to(tl.float32)
    return part * scale16 + (minimum.to(tl.float32) - scale16) * total[None, :]


@triton.jit
def _gemv_int4(x_ptr, w_ptr, s_ptr, m_ptr, up_ptr, up_s_ptr, up_m_ptr, out_ptr, norm_ptr, eps, N, K, KW,
               NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
               BLOCK_N: tl.constexpr, WORDS: tl.constexpr, EARLY: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    live = rows < N
    words = tl.arange(0, WORDS)
    w, s, m = _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, 0, words, KW)
    if GATED:
        u, us, um = _int4_tile(up_ptr, up_s_ptr, up_m_ptr, rows, live, 0, words, KW)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    rstd = 1.0
    if NORM:
        rstd = _rstd(x_ptr, K, eps, 512)
    acc = tl.zeros((BLOCK_N, WORDS), tl.float32)
    acc_up = tl.zeros((BLOCK_N, WORDS), tl.float32)
    for word in range(0, KW, WORDS):
        inside = word + words < KW
        part = tl.zeros((BLOCK_N, WORDS), tl.float32)
        part_up = tl.zeros((BLOCK_N, WORDS), tl.float32)
        total = tl.zeros((WORDS,), tl.float32)
        for i in tl.static_range(8):  # the columns 8 word + i
            v = _input(x_ptr, norm_ptr, (word + words) * 8 + i, inside, rstd, NORM)
            total += v
            part += _one_plus(w, i) * v[None, :]
            if GATED:
                part_up += _one_plus(u, i) * v[None, :]
        acc += _int4_sums(part, s, m, total)
        w, s, m = _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, word + WORDS, words, KW)
        if GATED:
            acc_up += _int4_sums(part_up, us, um, total)
            u, us, um = _int4_tile(up_ptr, up_s_ptr, up_m_ptr, rows, live, word + WORDS, words, KW)
    _finish(tl.sum(acc, axis=1), tl.sum(acc_up, axis=1), out_ptr, rows, live, GATED, RESIDUAL)


FP8_LOW = tl.constexpr(2.0 ** -120)
"""An e4m3 value's bits placed in float32's exponent and mantissa mean the value times this, for
zeros, subnormals and normals alike (the sign goes to float32's)."""
FP8_INPUT = tl.constexpr(2.0 ** 64)
"""The FP8 matrix-vector kernel's inputs are scaled by this and their block's scale, and its
sums by ``1 / (FP8_LOW * FP8_INPUT)``: every product stays well inside float32's range."""


@triton.jit
def _fp8_float(w, i: tl.constexpr):
    """Value ``i`` of each word (``i`` 0 is the lowest byte) as float32, times ``FP8_LOW``: its
    exponent and mantissa bits moved to float32's bits 20-26 and its sign to bit 31. Shifts and
    masks are full-rate integer work; the hardware's e4m3 conversions are not."""
    w = w.to(tl.uint32, bitcast=True)
    if i == 3:
        magnitude, sign = w >> 4, w
    else:
        magnitude, sign = w << (20 - 8 * i), w << (24 - 8 * i)
    return ((magnitude & 0x07F00000) | (sign & 0x80000000)).to(tl.float32, bitcast=True)


@triton.jit
def _fp8_sums(w, v0, v1, v2, v3):
    """Per row and word, its four weights times their inputs (``v0`` for the word's first
    column, ...), summed."""
    return (_fp8_float(w, 0) * v0[None, :] + _fp8_float(w, 1) * v1[None, :] + _fp8_float(w, 2) * v2[None, :]
            + _fp8_float(w, 3) * v3[None, :])


@triton.jit
def _gemv_fp8(x_ptr, w_ptr, s_ptr, up_ptr, up_s_ptr, out_ptr, norm_ptr, eps, N, K,
              NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
              BLOCK_N: tl.constexpr, WORDS: tl.constexpr, EARLY: tl.constexpr):
    """As ``engine.kernels._gemv``, the weights read as int32 words of four values; a program's
    rows lie in one 128-row block (BLOCK_N divides 128), so a column's scale is the same for all
    of them and goes onto the input, not onto each weight."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    words = tl.arange(0, WORDS)
    live = rows < N
    KW = K // 4
    scales = (tl.program_id(0) * BLOCK_N // 128) * (K // 128)  # this row block's first scale
    w, _ = _words(w_ptr, rows, live, 0, words, KW)
    if GATED:
        u, _ = _words(up_ptr, rows, live, 0, words, KW)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    rstd = 1.0
    if NORM:
        rstd = _rstd(x_ptr, K, eps, 512)
    acc = tl.zeros((BLOCK_N, WORDS), tl.float32)
    acc_up = tl.zeros((BLOCK_N, WORDS), tl.float32)
    for word in range(0, KW, WORDS):
        inside = word + words < KW
        column = (word + words) * 4
        v0 = _input(x_ptr, norm_ptr, column, inside, rstd, NORM)
        v1 = _input(x_ptr, norm_ptr, column + 1, inside, rstd, NORM)
        v2 = _input(x_ptr, norm_ptr, column + 2, inside, rstd, NORM)
        v3 = _input(x_ptr, norm_ptr, column + 3, inside, rstd, NORM)
        scale = tl.load(s_ptr + scales + column // 128, mask=inside, other=0.0) * FP8_INPUT
        acc += _fp8_sums(w, v0 * scale, v1 * scale, v2 * scale, v3 * scale)
        w, _ = _words(w_ptr, rows, live, word + WORDS, words, KW)
        if GATED:
            up_scale = tl.load(up_s_ptr + scales + column // 128, mask=inside, other=0.0) * FP8_INPUT
            acc_up += _fp8_sums(u, v0 * up_scale, v1 * up_scale, v2 * up_scale, v3 * up_scale)
            u, _ = _words(up_ptr, rows, live, word + WORDS, words, KW)
    unit = 1.0 / (FP8_LOW * FP8_INPUT)
    _finish(tl.sum(acc, axis=1) * unit, tl.sum(acc_up, axis=1) * unit, out_ptr, rows, live, GATED, RESIDUAL)


TILES: dict[tuple[str, int, int, bool], tuple[int, int, int]] = {
    ("int4", 6144, 2560, False): (8, 128, 2), ("int4", 2560, 4096, False): (4, 256, 8),
    ("int4", 9728, 2560, True): (4, 64, 2), ("int4", 2560, 9728, False): (4, 256, 8),
    ("fp8", 6144, 2560, False): (16, 256, 4), ("fp8", 2560, 4096, False): (4, 512, 4),
    ("fp8", 9728, 2560, True): (8, 128, 2), ("fp8", 2560, 9728, False): (8, 512, 4),
}
"""(format, rows, cols, gated): rows per program, words (INT4: eight columns each, FP8: four) per
step, and warps, as measured fastest on the H200 for the 4B shape's products
(``bench/quant_kernels.py``)."""
OTHER_TILES = {"int4": (4, 128, 4), "fp8": (8, 128, 4)}


def tiles_for(weight: Quantised, gated: bool) -> tuple[int, int, int]:
    return TILES.get((weight.format, weight.rows, weight.cols, gated), OTHER_TILES[weight.format])


def gemv_launch(x: torch.Tensor, weight: Quantised, up: Quantised | None, out: torch.Tensor,
                norm: torch.Tensor | None, eps: float, residual: bool, tiles: tuple[int, ...] | None = None) -> None:
    """``out (+)= weight @ rms_norm(x)`` for one token (see :func:`engine.kernels.gemv`)."""
    block_n, steps, warps = tiles or tiles_for(weight, up is not None)
    flags = {"NORM": norm is not None, "GATED": up is not None, "RESIDUAL": residual, "EARLY": PDL,
             "num_warps": warps}
    if PDL:
        flags["launch_pdl"] = True
    norm = x if norm is None else norm
    up = up or weight
    grid = (triton.cdiv(weight.rows, block_n),)
    if weight.format == "int4":
        _gemv_int4[grid](x, weight.values, weight.scales, weight.minimums, up.values, up.scales, up.minimums, out,
                         norm, eps, weight.rows, weight.cols, weight.cols // 8, BLOCK_N=block_n, WORDS=steps,
                         **flags)
    else:
        assert FP8_BLOCK % block_n == 0
        _gemv_fp8[grid](x, weight.values.view(torch.int32), weight.scales, up.values.view(torch.int32), up.scales,
                        out, norm, eps, weight.rows, weight.cols, BLOCK_N=block_n, WORDS=steps, **flags)


# ---- many tokens ----------------------------------------------------------------------------


@triton.jit
def _tile_start(M, N, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """The first row and column of this program's output tile, neighbouring programs sharing weights."""
    pid = tl.program_id(0)
    tiles_m, tiles_n = tl.cdiv(M, BLOCK_M), tl.cdiv(N, BLOCK_N)
    per_group = GROUP_M * tiles_n
    first_m = (pid // per_group) * GROUP_M
    size = tl.minimum(tiles_m - first_m, GROUP_M)
    return (first_m + (pid % per_group) % size) * BLOCK_M, ((pid % per_group) // size) * BLOCK_N


@triton.jit
def _matmul_int4(a_ptr, w_ptr, s_ptr, m_ptr, c_ptr, M, N, KG, stride_a, stride_c,
                 BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """``c = a @ w.T``, one 64-column group a step: the group's integers through the matrix units,
    then its scale and minimum on the float32 sums."""
    start_m, start_n = _tile_start(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rows, cols = start_m + tl.arange(0, BLOCK_M), start_n + tl.arange(0, BLOCK_N)
    ks, words = tl.arange(0, 64), tl.arange(0, 8)
    live_m, live_n = rows < M, cols < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for group in range(0, KG):
        a = tl.load(a_ptr + rows[:, None] * stride_a + group * 64 + ks[None, :], mask=live_m[:, None], other=0.0)
        w = tl.load(w_ptr + (cols[:, None] * KG + group) * 8 + words[None, :], mask=live_n[:, None], other=0)
        n0, n1, n2, n3 = w & 15, (w >> 4) & 15, (w >> 8) & 15, (w >> 12) & 15
        n4, n5, n6, n7 = (w >> 16) & 15, (w >> 20) & 15, (w >> 24) & 15, (w >> 28) & 15
        # (BLOCK_N, 8 words, 8 nibbles) in column order, through joins: join(x, y)[..., c] is x for c = 0
        q = tl.join(tl.join(tl.join(n0, n4), tl.join(n2, n6)), tl.join(tl.join(n1, n5), tl.join(n3, n7)))
        q = tl.reshape(q, (BLOCK_N, 64)).to(tl.bfloat16)
        at = cols * KG + group
        scale = tl.load(s_ptr + at, mask=live_n, other=0.0).to(tl.float32)
        minimum = tl.load(m_ptr + at, mask=live_n, other=0.0).to(tl.float32)
        acc += tl.dot(a, tl.trans(q)) * scale[None, :] + tl.sum(a.to(tl.float32), axis=1)[:, None] * minimum[None, :]
    tl.store(c_ptr + rows[:, None] * stride_c + cols[None, :], acc.to(tl.bfloat16),
             mask=live_m[:, None] & live_n[None, :])


@triton.jit
def _matmul_fp8(a_ptr, w_ptr, s_ptr, c_ptr, M, N, K, stride_a, stride_c,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, GROUP_M: tl.constexpr):
    """``c = a @ w.T``, one 128-column block a step, each block's sums times its scale."""
    start_m, start_n = _tile_start(M, N, BLOCK_M, BLOCK_N, GROUP_M)
    rows, cols = start_m + tl.arange(0, BLOCK_M), start_n + tl.arange(0, BLOCK_N)
    ks = tl.arange(0, 128)
    live_m, live_n = rows < M, cols < N
    acc = tl.zeros((BLOCK_M, BLOCK_N), tl.float32)
    for k in range(0, K, 128):
        a = tl.load(a_ptr + rows[:, None] * stride_a + k + ks[None, :], mask=live_m[:, None], other=0.0)
        w = tl.load(w_ptr + cols[:, None] * K + k + ks[None, :], mask=live_n[:, None], other=0.0)
        scale = tl.load(s_ptr + (cols // 128) * (K // 128) + k // 128, mask=live_n, other=0.0)
        acc += tl.dot(a, tl.trans(w.to(tl.bfloat16))) * scale[None, :]
    tl.store(c_ptr + rows[:, None] * stride_c + cols[None, :], acc.to(tl.bfloat16),
             mask=live_m[:, None] & live_n[None, :])


@triton.jit
def _dequantise_int4(w_ptr, s_ptr, m_ptr, out_ptr, N, KG, BLOCK_N: tl.constexpr):
    """One 64-column group of BLOCK_N rows into bf16."""
    rows, group = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N), tl.program_id(1)
    live, words, ks = rows < N, tl.arange(0, 8), tl.arange(0, 64)
    w = tl.load(w_ptr + (rows[:, None] * KG + group) * 8 + words[None, :], mask=live[:, None], other=0)
    n0, n1, n2, n3 = w & 15, (w >> 4) & 15, (w >> 8) & 15, (w >> 12) & 15
    n4, n5, n6, n7 = (w >> 16) & 15, (w >> 20) & 15, (w >> 24) & 15, (w >> 28) & 15
    q = tl.join(tl.join(tl.join(n0, n4), tl.join(n2, n6)), tl.join(tl.join(n1, n5), tl.join(n3, n7)))
    q = tl.reshape(q, (BLOCK_N, 64)).to(tl.float32)
    at = rows * KG + group
    scale = tl.load(s_ptr + at, mask=live, other=0.0).to(tl.float32)
    minimum = tl.load(m_ptr + at, mask=live, other=0.0).to(tl.float32)
    tl.store(out_ptr + rows[:, None] * (KG * 64) + group * 64 + ks[None, :],
             (q * scale[:, None] + minimum[:, None]).to(tl.bfloat16), mask=live[:, None])


@triton.jit
def _dequantise_fp8(w_ptr, s_ptr, out_ptr, K, BLOCK_N: tl.constexpr):
    """BLOCK_N rows of one 128x128 block into bf16."""
    rows, block = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N), tl.program_id(1)
    ks = block * 128 + tl.arange(0, 128)
    w = tl.load(w_ptr + rows[:, None] * K + ks[None, :]).to(tl.float32)
    scale = tl.load(s_ptr + (tl.program_id(0) * BLOCK_N // 128) * (K // 128) + block)
    tl.store(out_ptr + rows[:, None] * K + ks[None, :], (w * scale).to(tl.bfloat16))


_scratch: dict[torch.device, torch.Tensor] = {}


def dequantised(weight: Quantised) -> torch.Tensor:
    """The matrix in bf16, in a buffer shared by all calls on its device (the next call overwrites it)."""
    device, size = weight.values.device, weight.rows * weight.cols
    if device not in _scratch or _scratch[device].numel() < size:
        _scratch[device] = torch.empty(size, device=device, dtype=torch.bfloat16)
    out = _scratch[device][:size].view(weight.rows, weight.cols)
    if weight.format == "int4":
        _dequantise_int4[(triton.cdiv(weight.rows, 32), weight.cols // 64)](
            weight.values, weight.scales, weight.minimums, out, weight.rows, weight.cols // 64, BLOCK_N=32,
            num_warps=4)
    else:
        _dequantise_fp8[(weight.rows // 32, weight.cols // 128)](weight.values, weight.scales, out, weight.cols,
                                                                 BLOCK_N=32, num_warps=4)
    return out


MATMUL_TOKENS = 64
"""Up to this many tokens, the product that decodes tiles as it goes; past it, the matrix dequantised
into a shared buffer (about a fifth of cuBLAS's time on it) and cuBLAS, which is 3-4 times faster
there than the matrix units fed from decoded registers."""


def matmul(a: torch.Tensor, weight: Quantised) -> torch.Tensor:
    """``a @ weight.T`` for bf16 ``a`` (tokens, cols), as bf16."""
    tokens = a.shape[0]
    out = torch.empty((tokens, weight.rows), device=a.device, dtype=torch.bfloat16)
    block_m = 128 if tokens > 64 else 64
    block_n = 128
    grid = (triton.cdiv(tokens, block_m) * triton.cdiv(weight.rows, block_n),)
    if weight.format == "int4":
        _matmul_int4[grid](a, weight.values, weight.scales, weight.minimums, out, tokens, weight.rows,
                           weight.cols // INT4_GROUP,
                           a.stride(0), out.stride(0), BLOCK_M=block_m, BLOCK_N=block_n, GROUP_M=8, num_warps=8,
                           num_stages=3)
    else:
        _matmul_fp8[grid](a, weight.values, weight.scales, out, tokens, weight.rows, weight.cols, a.stride(0),
                          out.stride(0), BLOCK_M=block_m, BLOCK_N=block_n, GROUP_M=8, num_warps=8, num_stages=3)
    return out


def linear(x: torch.Tensor, weight: Quantised) -> torch.Tensor:
    """``x @ weight.T`` over the last dimension of bf16 ``x``: matrix-vector products for a token
    or a few (as in ``generate``'s decode), the matrix product for more."""
    shape = x.shape
    a = x.reshape(-1, shape[-1]).contiguous()
    if a.shape[0] <= 4:
        out = torch.empty((a.shape[0], weight.rows), device=x.device, dtype=torch.bfloat16)
        for row in range(a.shape[0]):
            gemv_launch(a[row], weight, None, out[row], None, 0.0, residual=False)
    elif a.shape[0] <= MATMUL_TOKENS:
        out = matmul(a, weight)
    else:
        out = torch.nn.functional.linear(a, dequantised(weight))
    return out.reshape(*shape[:-1], weight.rows)


assert FP8_BLOCK == 128 and INT4_GROUP == 64  # (the kernels' constants)
