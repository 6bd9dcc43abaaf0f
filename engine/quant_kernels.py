"""Triton kernels for the quantised weights of :mod:`engine.quant`: one token's matrix-vector
product (decode) and a matrix product for many tokens (prefill), the matrix-vector products
decoding the stored bits as they read them.

The matrix-vector kernels have the same fused forms as the bf16 one in :mod:`engine.kernels`
(RMSNorm of the input, SwiGLU of gate and up, residual add) and the same early start under
programmatic dependent launch. Decoding a value must cost less than reading it, and they are
bound by instructions, not bytes; so each product of a weight and its input is taken in
float16, two at a time (``fma.rn.f16x2``), through a few lines of inline PTX: the inputs are
scaled by a power of two that keeps every product inside float16's range, a word's products
are summed in float16 and the sum is added in float32. Against float32 products that took
FP8 from 7 instructions a weight to 3.7 and INT4 a quarter fewer (the decode step on the H200:
FP8 435 to 463 tok/s, INT4 321 to 342):

- **INT4**: two nibbles, i and i + 4 of a word, kept in place by a mask: a float16 pair of
  subnormals, q times 2^-24 or 2^-20, multiplied by inputs scaled up to match; a 64-value
  group's ``sum(q x)`` and ``sum(x)`` (its eight words' sums) then take the group's scale and
  minimum in float32, read once a group.
- **FP8**: int32 words of four e4m3 values, turned into float16 two at a time by the hardware's
  ``cvt.rn.f16x2.e4m3x2``; a word's sum takes its 128x128 block's scale in float32.

For a few tokens the matrix product decodes a tile of weights into bf16 integers (INT4) or bf16
values (FP8, which bf16 holds exactly) and runs it through the matrix units, scales applied to
the float32 sums per group (INT4: a 64-column step is one group) or per block. For a prefill's
thousand tokens that runs at 100-200 TFLOP/s against cuBLAS's 700 on bf16, so there each matrix
is dequantised into one shared bf16 buffer (a fifth of cuBLAS's time on it) and cuBLAS runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

from engine.kernels import PDL, _finish, _input
from engine.quant import FP8_BLOCK, INT4_GROUP, Quantised

INTERPRETED = tl.constexpr(os.environ.get("TRITON_INTERPRET") == "1")
"""Under Triton's interpreter, which runs no inline assembly, the kernels take the same products
through float32."""
PAIR_CONVERSION = tl.constexpr(torch.cuda.is_available() and torch.cuda.get_device_capability() >= (8, 0))
"""Whether the GPU turns two float32 values into a float16 pair in one instruction
(``cvt.rn.f16x2.f32``: Ampere and later); before it, two conversions and an or."""

# ---- one token ------------------------------------------------------------------------------


@triton.jit
def _words(w_ptr, rows, live, word, words, KW):
    """The int32 words (rows, words) from word ``word`` of each row of a matrix of ``KW`` words a row
    (four FP8 values a word), and where they lie inside it."""
    inside = live[:, None] & (word + words[None, :] < KW)
    return tl.load(w_ptr + rows[:, None] * KW + word + words[None, :], mask=inside, other=0), inside


@triton.jit
def _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, group, groups, KG):
    """The words (rows, groups, 8) of groups ``group + groups`` of each row of a matrix of ``KG``
    groups a row (eight words of eight values a group), and each group's scale and minimum
    (rows, groups)."""
    at = rows[:, None] * KG + group + groups[None, :]
    inside = live[:, None] & (group + groups[None, :] < KG)
    eight = tl.arange(0, 8)
    w = tl.load(w_ptr + at[:, :, None] * 8 + eight[None, None, :], mask=inside[:, :, None], other=0)
    return w, tl.load(s_ptr + at, mask=inside, other=0.0), tl.load(m_ptr + at, mask=inside, other=0.0)


@triton.jit
def _float16_pairs(low, high):
    """float32 values ``low`` and ``high`` as float16 pairs in int32s, ``low`` in the low half."""
    if INTERPRETED or not PAIR_CONVERSION:
        low_bits = low.to(tl.float16).to(tl.uint16, bitcast=True).to(tl.uint32)
        high_bits = high.to(tl.float16).to(tl.uint16, bitcast=True).to(tl.uint32)
        return (low_bits | (high_bits << 16)).to(tl.int32, bitcast=True)
    return tl.inline_asm_elementwise("cvt.rn.f16x2.f32 $0, $2, $1;", "=r,r,r", [low, high], dtype=tl.int32,
                                     is_pure=True, pack=1)


@triton.jit
def _input_pairs(x_ptr, norm_ptr, low_column, high_column, inside, rstd, fit, NORM: tl.constexpr):
    """The inputs of columns ``low_column`` and ``high_column`` of each word, times ``fit``, as
    float16 pairs (:func:`_float16_pairs`), and their sums."""
    low = _input(x_ptr, norm_ptr, low_column, inside, rstd, NORM)
    high = _input(x_ptr, norm_ptr, high_column, inside, rstd, NORM)
    return _float16_pairs(low * fit, high * fit), low + high


@triton.jit
def _float16_pair_values(pairs):
    """The inverse of :func:`_float16_pairs`, in float32 (the interpreter's way)."""
    bits = pairs.to(tl.uint32, bitcast=True)
    low = (bits & 0xFFFF).to(tl.uint16).to(tl.float16, bitcast=True).to(tl.float32)
    high = (bits >> 16).to(tl.uint16).to(tl.float16, bitcast=True).to(tl.float32)
    return low, high


@triton.jit
def _rstd_and_fit(x_ptr, norm_ptr, K, eps, NORM: tl.constexpr, BLOCK: tl.constexpr):
    """In one pass over the input: RMSNorm's 1/rms (with NORM, else 1) and the power of two that
    puts every input (normalised, with NORM) below 32 in magnitude, so that the products with
    quantised weights stay inside float16's range (e4m3: at most 448 each, summed four at a
    time) and INT4's inputs, scaled by up to 2^10 more, below 2^15."""
    cols = tl.arange(0, BLOCK)
    squares = tl.zeros((BLOCK,), tl.float32)
    largest = tl.zeros((BLOCK,), tl.float32)
    for k in range(0, K, BLOCK):
        v = tl.load(x_ptr + k + cols, mask=k + cols < K, other=0.0).to(tl.float32)
        squares += v * v
        if NORM:
            v *= tl.load(norm_ptr + k + cols, mask=k + cols < K, other=0.0).to(tl.float32)
        largest = tl.maximum(largest, tl.abs(v))
    rstd = tl.rsqrt(tl.sum(squares) / K + eps) if NORM else 1.0
    # (1.0625: room for the norm's rounding to bf16)
    exponent = tl.maximum((((tl.max(largest) * rstd) * 1.0625).to(tl.uint32, bitcast=True) >> 23) & 255, 8)
    return rstd, ((258 - exponent) << 23).to(tl.float32, bitcast=True)  # 2^(4 - e), the inputs below 2^(e + 1)


INT4_WORD = tl.constexpr("""{
.reg .b32 t, shifted, sum;
.reg .f16 a, b;
and.b32 t, $1, 0x000F000F;
mul.rn.f16x2 sum, t, $2;
and.b32 t, $1, 0x00F000F0;
fma.rn.f16x2 sum, t, $3, sum;
shr.b32 shifted, $1, 8;
and.b32 t, shifted, 0x000F000F;
fma.rn.f16x2 sum, t, $4, sum;
and.b32 t, shifted, 0x00F000F0;
fma.rn.f16x2 sum, t, $5, sum;
mov.b32 {a, b}, sum;
add.rn.f16 a, a, b;
cvt.f32.f16 $0, a;
}""")
"""A word's eight nibbles times their inputs, summed: nibbles i and i + 4 kept in place by a mask
are a float16 pair of subnormals, q times 2^-24 (i = 0, 2; 2 after a shift by 8) or times 2^-20
(i = 1, 3), multiplied by their inputs (:data:`INT4_EVEN`, :data:`INT4_ODD`) and added two at a
time; the sum, in units of :data:`INT4_UNIT`, returned as float32. Six instructions fewer a word
than placing nibbles in the mantissas of 1024 and taking 1024 off."""
INT4_EVEN = tl.constexpr(2.0 ** 10)
INT4_ODD = tl.constexpr(2.0 ** 6)
"""What the inputs of a word's columns i and i + 4 are scaled by beside ``fit``, for even and for
odd i (whose nibbles the mask leaves 16 times larger): all below 2^15. Each product, ``q x fit
2^-14``, is then a normal float16 where ``q x fit`` is 1 or more, as in the mantissas-of-1024
way, and within 2^-25 of its value below, among the subnormals."""
INT4_UNIT = tl.constexpr(2.0 ** -14)
"""A word's sum is ``sum(q x) * fit`` times this."""


@triton.jit
def _int4_word_sums(w, pairs0, pairs1, pairs2, pairs3):
    """Per row and word, its nibbles q times their inputs, summed (in units of ``INT4_UNIT``);
    ``pairs<i>`` holds the inputs of the word's columns i and i + 4 as float16 pairs
    (:func:`_float16_pairs`), scaled by ``INT4_EVEN`` or ``INT4_ODD``."""
    if INTERPRETED:  # (no inline assembly in the interpreter: through float32)
        v0, v4 = _float16_pair_values(pairs0)
        v1, v5 = _float16_pair_values(pairs1)
        v2, v6 = _float16_pair_values(pairs2)
        v3, v7 = _float16_pair_values(pairs3)
        even = _nibble(w, 0) * v0 + _nibble(w, 2) * v2 + _nibble(w, 4) * v4 + _nibble(w, 6) * v6
        odd = _nibble(w, 1) * v1 + _nibble(w, 3) * v3 + _nibble(w, 5) * v5 + _nibble(w, 7) * v7
        return even * (INT4_UNIT / INT4_EVEN) + odd * (INT4_UNIT / INT4_ODD)
    return tl.inline_asm_elementwise(INT4_WORD, "=r,r,r,r,r,r", [w, pairs0, pairs1, pairs2, pairs3],
                                     dtype=tl.float32, is_pure=True, pack=1)


@triton.jit
def _nibble(w, i: tl.constexpr):
    """Nibble ``i`` of each word as float32 (the interpreter's way)."""
    return ((w >> 4 * i) & 15).to(tl.float32)


@triton.jit
def _gemv_int4(x_ptr, w_ptr, s_ptr, m_ptr, up_ptr, up_s_ptr, up_m_ptr, out_ptr, norm_ptr, eps, N, K, KG,
               NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
               BLOCK_N: tl.constexpr, GROUPS: tl.constexpr, EARLY: tl.constexpr):
    """As ``engine.kernels._gemv``, the weights read as int32 words of eight nibbles, multiplied by
    the inputs in float16 (:func:`_int4_word_sums`, the inputs scaled by a power of two to fit); a
    group's ``sum(q x)`` and ``sum(x)`` take its scale and minimum in float32, once a group."""
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    live = rows < N
    groups, eight = tl.arange(0, GROUPS), tl.arange(0, 8)
    w, s, m = _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, 0, groups, KG)
    if GATED:
        u, us, um = _int4_tile(up_ptr, up_s_ptr, up_m_ptr, rows, live, 0, groups, KG)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    rstd, fit = _rstd_and_fit(x_ptr, norm_ptr, K, eps, NORM, 512)
    even, odd, unit = fit * INT4_EVEN, fit * INT4_ODD, fit * INT4_UNIT
    acc = tl.zeros((BLOCK_N, GROUPS), tl.float32)
    acc_up = tl.zeros((BLOCK_N, GROUPS), tl.float32)
    for group in range(0, KG, GROUPS):
        inside = (group + groups < KG)[:, None]
        column = ((group + groups)[:, None] * 8 + eight[None, :]) * 8  # (groups, 8): each word's first
        pairs0, total0 = _input_pairs(x_ptr, norm_ptr, column, column + 4, inside, rstd, even, NORM)
        pairs1, total1 = _input_pairs(x_ptr, norm_ptr, column + 1, column + 5, inside, rstd, odd, NORM)
        pairs2, total2 = _input_pairs(x_ptr, norm_ptr, column + 2, column + 6, inside, rstd, even, NORM)
        pairs3, total3 = _input_pairs(x_ptr, norm_ptr, column + 3, column + 7, inside, rstd, odd, NORM)
        pairs0, pairs1, pairs2, pairs3 = pairs0[None, :, :], pairs1[None, :, :], pairs2[None, :, :], pairs3[None, :, :]
        total = tl.sum((total0 + total1) + (total2 + total3), axis=1)[None, :]  # each group's sum(x)
        acc += (tl.sum(_int4_word_sums(w, pairs0, pairs1, pairs2, pairs3), axis=2) * (s.to(tl.float32) / unit)
                + m.to(tl.float32) * total)
        w, s, m = _int4_tile(w_ptr, s_ptr, m_ptr, rows, live, group + GROUPS, groups, KG)
        if GATED:
            acc_up += (tl.sum(_int4_word_sums(u, pairs0, pairs1, pairs2, pairs3), axis=2) * (us.to(tl.float32) / unit)
                       + um.to(tl.float32) * total)
            u, us, um = _int4_tile(up_ptr, up_s_ptr, up_m_ptr, rows, live, group + GROUPS, groups, KG)
    _finish(tl.sum(acc, axis=1), tl.sum(acc_up, axis=1), out_ptr, rows, live, GATED, RESIDUAL)


FP8_LOW = tl.constexpr(2.0 ** -120)
"""An e4m3 value's bits placed in float32's exponent and mantissa mean the value times this, for
zeros, subnormals and normals alike (the sign goes to float32's)."""
FP8_INPUT = tl.constexpr(2.0 ** 64)
"""Inputs scaled by this keep the products with ``FP8_LOW`` values inside float32's range."""


@triton.jit
def _fp8_float(w, i: tl.constexpr):
    """Value ``i`` of each word (``i`` 0 is the lowest byte) as float32, times ``FP8_LOW``: its
    exponent and mantissa bits moved to float32's bits 20-26 and its sign to bit 31."""
    w = w.to(tl.uint32, bitcast=True)
    if i == 3:
        magnitude, sign = w >> 4, w
    else:
        magnitude, sign = w << (20 - 8 * i), w << (24 - 8 * i)
    return ((magnitude & 0x07F00000) | (sign & 0x80000000)).to(tl.float32, bitcast=True)


FP8_WORD = tl.constexpr("""{
.reg .b16 low, high;
.reg .b32 first, second;
.reg .f16 a, b;
mov.b32 {low, high}, $1;
cvt.rn.f16x2.e4m3x2 first, low;
cvt.rn.f16x2.e4m3x2 second, high;
mul.rn.f16x2 first, first, $2;
fma.rn.f16x2 first, second, $3, first;
mov.b32 {a, b}, first;
add.rn.f16 a, a, b;
cvt.f32.f16 $0, a;
}""")
"""A word's four e4m3 weights times their four inputs, summed: the weights turned into float16
two at a time by the hardware, multiplied and added two at a time, the four products' sum
rounded to float16 once more and returned as float32 (six instructions for four weights)."""


@triton.jit
def _fp8_word_sums(w, first, second):
    """Per row and word, its four weights times their inputs, summed; ``first`` holds the inputs of
    the word's first two columns as float16 pairs (:func:`_float16_pairs`), ``second`` the others."""
    if INTERPRETED:  # (no inline assembly in the interpreter: through float32)
        v0, v1 = _float16_pair_values(first)
        v2, v3 = _float16_pair_values(second)
        return (_fp8_float(w, 0) * (v0 * FP8_INPUT) + _fp8_float(w, 1) * (v1 * FP8_INPUT)
                + _fp8_float(w, 2) * (v2 * FP8_INPUT) + _fp8_float(w, 3) * (v3 * FP8_INPUT)) / (FP8_LOW * FP8_INPUT)
    return tl.inline_asm_elementwise(FP8_WORD, "=r,r,r,r", [w, first, second], dtype=tl.float32, is_pure=True,
                                     pack=1)


@triton.jit
def _gemv_fp8(x_ptr, w_ptr, s_ptr, up_ptr, up_s_ptr, out_ptr, norm_ptr, eps, N, K,
              NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
              BLOCK_N: tl.constexpr, WORDS: tl.constexpr, EARLY: tl.constexpr):
    """As ``engine.kernels._gemv``, the weights read as int32 words of four values and multiplied
    in float16 (:func:`_fp8_word_sums`), the inputs scaled by a power of two to fit; each word's
    sum is added to float32 times its block's scale. A program's rows lie in one 128-row block
    (BLOCK_N divides 128), so a column's scale is the same for all of them."""
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
    rstd, fit = _rstd_and_fit(x_ptr, norm_ptr, K, eps, NORM, 512)
    acc = tl.zeros((BLOCK_N, WORDS), tl.float32)
    acc_up = tl.zeros((BLOCK_N, WORDS), tl.float32)
    for word in range(0, KW, WORDS):
        inside = word + words < KW
        column = (word + words) * 4
        first, _ = _input_pairs(x_ptr, norm_ptr, column, column + 1, inside, rstd, fit, NORM)
        second, _ = _input_pairs(x_ptr, norm_ptr, column + 2, column + 3, inside, rstd, fit, NORM)
        first, second = first[None, :], second[None, :]
        scale = tl.load(s_ptr + scales + column // 128, mask=inside, other=0.0) / fit
        acc += _fp8_word_sums(w, first, second) * scale[None, :]
        w, _ = _words(w_ptr, rows, live, word + WORDS, words, KW)
        if GATED:
            up_scale = tl.load(up_s_ptr + scales + column // 128, mask=inside, other=0.0) / fit
            acc_up += _fp8_word_sums(u, first, second) * up_scale[None, :]
            u, _ = _words(up_ptr, rows, live, word + WORDS, words, KW)
    _finish(tl.sum(acc, axis=1), tl.sum(acc_up, axis=1), out_ptr, rows, live, GATED, RESIDUAL)


TILES: dict[tuple[str, int, int, bool], tuple[int, int, int]] = {
    ("int4", 6144, 2560, False): (32, 128, 4), ("int4", 2560, 4096, False): (32, 256, 8),
    ("int4", 9728, 2560, True): (16, 64, 2), ("int4", 2560, 9728, False): (32, 256, 8),
    ("fp8", 6144, 2560, False): (16, 256, 8), ("fp8", 2560, 4096, False): (16, 512, 8),
    ("fp8", 9728, 2560, True): (32, 64, 4), ("fp8", 2560, 9728, False): (16, 512, 8),
}
"""(format, rows, cols, gated): rows per program, words (INT4: eight columns each, FP8: four) per
step, and warps, as measured fastest on the H200 for the 4B shape's products
(``bench/quant_kernels.py``)."""
OTHER_TILES = {"int4": (4, 128, 4), "fp8": (8, 128, 4)}


def tiles_for(weight: Quantised, gated: bool) -> tuple[int, int, int]:
    return TILES.get((weight.format, weight.rows, weight.cols, gated), OTHER_TILES[weight.format])


def gemv_launch(x: torch.Tensor, weight: Quantised, up: Quantised | None, out: torch.Tensor,
                norm: torch.Tensor | None, eps: float, residual: bool, tiles: tuple[int, ...] | None = None) -> None:
    """``out (+)= weight @ rms_norm(x)`` for one token (``x``: (cols,); see :func:`engine.kernels.gemv`)."""
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
                         norm, eps, weight.rows, weight.cols, weight.cols // INT4_GROUP, BLOCK_N=block_n,
                         GROUPS=steps // 8, **flags)
    else:
        assert FP8_BLOCK % block_n == 0
        _gemv_fp8[grid](x, weight.values.view(torch.int32), weight.scales, up.values.view(torch.int32), up.scales,
                        out, norm, eps, weight.rows, weight.cols, BLOCK_N=block_n, WORDS=steps,
                        **flags)


def tokens_launch(x: torch.Tensor, weight: Quantised, up: Quantised | None, out: torch.Tensor,
                  norm: torch.Tensor | None, eps: float, residual: bool) -> None:
    """The same for several tokens (``x``: (n, cols), ``out``: (n, rows)): the norm, the matrix
    products and SwiGLU or the residual add as kernels of their own."""
    from engine.kernels import rms_norm

    h = x if norm is None else rms_norm(x, norm, eps)
    y = linear(h, weight)
    if up is not None:
        y = torch.nn.functional.silu(y) * linear(h, up)
    if residual:
        out += y
    else:
        out.copy_(y)


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


def reserve(matrices: Iterable[Quantised]) -> None:
    """Make :func:`dequantised`'s buffer as large as the largest of ``matrices`` now. A CUDA graph
    that dequantises (the vision encoder's, with INT4 blocks) keeps the buffer's address: a larger
    one allocated after its capture would leave it writing into freed memory."""
    largest: dict[torch.device, int] = {}
    for weight in matrices:
        device = weight.values.device
        largest[device] = max(largest.get(device, 0), weight.rows * weight.cols)
    for device, size in largest.items():
        _buffer(device, size)


def _buffer(device: torch.device, size: int) -> torch.Tensor:
    if device not in _scratch or _scratch[device].numel() < size:
        _scratch[device] = torch.empty(size, device=device, dtype=torch.bfloat16)
    return _scratch[device]


def dequantised(weight: Quantised) -> torch.Tensor:
    """The matrix in bf16, in a buffer shared by all calls on its device (the next call overwrites it;
    see :func:`reserve`)."""
    size = weight.rows * weight.cols
    out = _buffer(weight.values.device, size)[:size].view(weight.rows, weight.cols)
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


FEW_TOKENS = 16
"""Up to this many tokens (a batched decode step's), the product runs one 16-row tile of them
against narrow column tiles (:data:`FEW_TILES`), so that enough programs share the weights'
reading; more tokens take 64- or 128-row tiles."""
FEW_TILES: dict[tuple[str, int, int], tuple[int, int, int]] = {
    ("fp8", 2560, 4096): (16, 2, 5),
    ("fp8", 2560, 9728): (16, 2, 5),
    ("fp8", 6144, 2560): (32, 4, 5),
    ("fp8", 9728, 2560): (32, 4, 5),
    ("int4", 2560, 4096): (32, 4, 5),
    ("int4", 2560, 9728): (32, 4, 5),
    ("int4", 6144, 2560): (64, 4, 5),
    ("int4", 9728, 2560): (64, 4, 3),
}
"""(format, rows, cols): columns per program, warps and pipeline stages for :data:`FEW_TOKENS`
tokens, as measured fastest for the 4B shape's products (``bench/quant_kernels.py``, H100); others
take :data:`OTHER_FEW_TILES`."""
OTHER_FEW_TILES = (32, 4, 4)


def matmul(a: torch.Tensor, weight: Quantised, tiles: tuple[int, int, int] | None = None) -> torch.Tensor:
    """``a @ weight.T`` for bf16 ``a`` (tokens, cols), as bf16; ``tiles`` as in :data:`FEW_TILES`."""
    tokens = a.shape[0]
    out = torch.empty((tokens, weight.rows), device=a.device, dtype=torch.bfloat16)
    if tokens <= FEW_TOKENS:
        block_m = 16
        block_n, warps, stages = tiles or FEW_TILES.get((weight.format, weight.rows, weight.cols), OTHER_FEW_TILES)
    else:
        block_m, block_n, warps, stages = 128 if tokens > 64 else 64, 128, 8, 3
    grid = (triton.cdiv(tokens, block_m) * triton.cdiv(weight.rows, block_n),)
    if weight.format == "int4":
        _matmul_int4[grid](a, weight.values, weight.scales, weight.minimums, out, tokens, weight.rows,
                           weight.cols // INT4_GROUP, a.stride(0), out.stride(0), BLOCK_M=block_m, BLOCK_N=block_n,
                           GROUP_M=8, num_warps=warps, num_stages=stages)
    else:
        _matmul_fp8[grid](a, weight.values, weight.scales, out, tokens, weight.rows, weight.cols, a.stride(0),
                          out.stride(0), BLOCK_M=block_m, BLOCK_N=block_n, GROUP_M=8, num_warps=warps,
                          num_stages=stages)
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
