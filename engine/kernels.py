"""Triton kernels for decode tokens: a decoder layer in seven kernels.

At batch 1 a token costs the time to read the weights once, plus the launches around it.
Through torch a layer is about 24 kernels: cuBLAS's matrix-vector products (some split-K with
a reduction after) and a launch for each small element-wise step. Here every weight matrix
is read by one matrix-vector kernel that also does the work beside it: the RMSNorm of its
input, SwiGLU on the gate and up projections, or the residual add. bf16 weights are read
here, quantised ones (:mod:`engine.quant`) by the same fused forms in
:mod:`engine.quant_kernels`. A layer is:

1. RMSNorm + q/k/v projection;
2. q/k RMSNorm, rotation, and the new key and value written into the static cache;
3-4. attention over the cache, split into chunks and then combined; 5. output projection +
residual; 6. RMSNorm + gate/up projection + SwiGLU; 7. down projection + residual.

Kernels read the cache slot and position from GPU tensors, so a CUDA graph captured once
replays them for every token. Arithmetic is float32, rounded to bf16 where the model rounds.
A batched decode step (:mod:`engine.batch`) runs the same seven kernels for several sequences
at once (one cache row, slot and position each): its products through :func:`_gemv_tokens`,
which reads a program's weight rows once for all the tokens and multiplies them on the matrix
units, with the same fused forms.

The prefill, many tokens at once, runs its matrix products and attention through torch
(cuBLAS, flash attention); two kernels here replace the element-wise work around them:
RMSNorm, and the q/k RMSNorm with the rotation and the keys' write into the cache.
"""

from __future__ import annotations

import functools
from typing import Any

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

ATTENTION_CHUNK = 64  # cache positions per attention program
PDL = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9
"""Programmatic dependent launch (Hopper on): a kernel starts while the one before it finishes,
and reads its first weights before waiting for that kernel's results."""


Matrix = Any  # torch.Tensor (bf16) or engine.quant.Quantised


@triton.jit
def _bf16(x):
    """``x`` rounded to bf16 (to nearest even), as float32. Through its bits: the compiler may fold
    a plain ``.to(tl.bfloat16).to(tl.float32)`` away and keep the unrounded value."""
    return (x.to(tl.bfloat16).to(tl.uint16, bitcast=True).to(tl.uint32) << 16).to(tl.float32, bitcast=True)


@triton.jit
def _rstd(x_ptr, K, eps, BLOCK: tl.constexpr):
    cols = tl.arange(0, BLOCK)
    squares = tl.zeros((BLOCK,), tl.float32)
    for k in range(0, K, BLOCK):
        v = tl.load(x_ptr + k + cols, mask=k + cols < K, other=0.0).to(tl.float32)
        squares += v * v
    return tl.rsqrt(tl.sum(squares) / K + eps)


@triton.jit
def _input(x_ptr, norm_ptr, index, inside, rstd, NORM: tl.constexpr):
    v = tl.load(x_ptr + index, mask=inside, other=0.0).to(tl.float32)
    if NORM:  # as Qwen's RMSNorm: normalised in float32, rounded, then scaled in bf16
        scale = tl.load(norm_ptr + index, mask=inside, other=0.0).to(tl.float32)
        v = _bf16(scale * _bf16(v * rstd))
    return v


@triton.jit
def _finish(y, y_up, out_ptr, rows, live, GATED: tl.constexpr, RESIDUAL: tl.constexpr):
    y = _bf16(y)
    if GATED:
        y = _bf16(y * tl.sigmoid(y)) * _bf16(y_up)
    if RESIDUAL:  # out holds the residual stream and is updated in place
        y += tl.load(out_ptr + rows, mask=live, other=0.0).to(tl.float32)
    tl.store(out_ptr + rows, y.to(tl.bfloat16), mask=live)


@triton.jit
def _weights(w_ptr, rows, live, kk, K):
    return tl.load(w_ptr + rows[:, None] * K + kk[None, :], mask=live[:, None] & (kk[None, :] < K), other=0.0)


@triton.jit
def _gemv(x_ptr, w_ptr, up_ptr, out_ptr, norm_ptr, eps, N, K,
          NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
          BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, EARLY: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_K)
    live = rows < N
    # a weight tile is read one iteration before it is used; the first before waiting for
    # the kernel before, which weights do not depend on
    w = _weights(w_ptr, rows, live, cols, K)
    if GATED:
        u = _weights(up_ptr, rows, live, cols, K)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    rstd = 1.0
    if NORM:
        rstd = _rstd(x_ptr, K, eps, BLOCK_K)
    acc = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    acc_up = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    for k in range(0, K, BLOCK_K):
        kk = k + cols
        v = _input(x_ptr, norm_ptr, kk, kk < K, rstd, NORM)
        acc += w.to(tl.float32) * v[None, :]
        w = _weights(w_ptr, rows, live, kk + BLOCK_K, K)
        if GATED:
            acc_up += u.to(tl.float32) * v[None, :]
            u = _weights(up_ptr, rows, live, kk + BLOCK_K, K)
    _finish(tl.sum(acc, axis=1), tl.sum(acc_up, axis=1), out_ptr, rows, live, GATED, RESIDUAL)


def _gemv_launch(x: torch.Tensor, weight: Matrix, up: Matrix | None, out: torch.Tensor, norm: torch.Tensor | None,
                 eps: float, residual: bool) -> None:
    """``out (+)= weight @ rms_norm(x)`` for the tokens ``x`` (n, cols) into ``out`` (n, rows): the
    matrix-vector kernel for one token, the several-token kernel for more."""
    if x.shape[0] > 1:
        return _tokens_launch(x, weight, up, out, norm, eps, residual)
    x, out = x[0], out[0]
    if not isinstance(weight, torch.Tensor):
        from engine import quant_kernels

        quant_kernels.gemv_launch(x, weight, up, out, norm, eps, residual)
        return
    flags = {"NORM": norm is not None, "GATED": up is not None, "RESIDUAL": residual, "EARLY": PDL,
             "num_warps": 4, **({"launch_pdl": True} if PDL else {})}
    norm = x if norm is None else norm
    rows, cols = weight.shape
    block_n, block_k = _gemv_tiles(cols, gated=up is not None)
    _gemv[(triton.cdiv(rows, block_n),)](
        x, weight, weight if up is None else up, out, norm, eps, rows, cols, BLOCK_N=block_n, BLOCK_K=block_k,
        **flags,
    )


def _gemv_tiles(cols: int, gated: bool) -> tuple[int, int]:
    """Rows per program and columns per tile, as measured fastest on the H200 for each of the 4B
    shape's products (q/k/v and lm_head 8 x 512, gate/up 2 x 512, output and down 2 x 1024)."""
    if gated:
        return 2, 512
    return (8, 512) if cols <= 2560 else (2, 1024)


def _rows(weight: Matrix) -> int:
    return weight.shape[0] if isinstance(weight, torch.Tensor) else weight.rows


def gemv(x: torch.Tensor, *weights: Matrix, norm: torch.Tensor | None = None, eps: float = 0.0) -> torch.Tensor:
    """``weight @ rms_norm(x)`` (or ``weight @ x`` without ``norm``) for the tokens ``x`` (n, cols),
    as bf16 (n, rows); with several weights, their results side by side (one kernel each)."""
    out = torch.empty((x.shape[0], sum(_rows(w) for w in weights)), device=x.device, dtype=torch.bfloat16)
    start = 0
    for weight in weights:
        _gemv_launch(x, weight, None, out[:, start:start + _rows(weight)], norm, eps, residual=False)
        start += _rows(weight)
    return out


def swiglu(x: torch.Tensor, gate: Matrix, up: Matrix, norm: torch.Tensor, eps: float) -> torch.Tensor:
    """``silu(gate @ h) * (up @ h)`` with ``h = rms_norm(x)``, in one kernel."""
    out = torch.empty((x.shape[0], _rows(gate)), device=x.device, dtype=torch.bfloat16)
    _gemv_launch(x, gate, up, out, norm, eps, residual=False)
    return out


def gemv_add_(residual: torch.Tensor, x: torch.Tensor, weight: Matrix) -> None:
    """``residual += weight @ x``, in place."""
    _gemv_launch(x, weight, None, residual, None, 0.0, residual=True)


# ---- several tokens: a batched decode step ------------------------------------------------


@triton.jit
def _rstd_tokens(x_ptr, tokens, present, stride, K, eps, BLOCK_T: tl.constexpr, BLOCK_K: tl.constexpr):
    cols = tl.arange(0, BLOCK_K)
    squares = tl.zeros((BLOCK_T, BLOCK_K), tl.float32)
    for k in range(0, K, BLOCK_K):
        inside = present[:, None] & (k + cols[None, :] < K)
        v = tl.load(x_ptr + tokens[:, None] * stride + k + cols[None, :], mask=inside, other=0.0).to(tl.float32)
        squares += v * v
    return tl.rsqrt(tl.sum(squares, axis=1) / K + eps)


@triton.jit
def _gemv_tokens(x_ptr, w_ptr, up_ptr, out_ptr, norm_ptr, eps, T, N, K, stride_x, stride_out,
                 NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr, BLOCK_T: tl.constexpr,
                 BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, EARLY: tl.constexpr):
    """:func:`_gemv` for up to ``BLOCK_T`` tokens at once (``x``: (T, K)): a program's weight rows are
    read once for all of them and multiplied on the matrix units; the same fused forms."""
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    tokens = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    cols = tl.arange(0, BLOCK_K)
    live, present = rows < N, tokens < T
    rstd = tl.full((BLOCK_T,), 1.0, tl.float32)
    if NORM:
        rstd = _rstd_tokens(x_ptr, tokens, present, stride_x, K, eps, BLOCK_T, BLOCK_K)
    acc = tl.zeros((BLOCK_T, BLOCK_N), tl.float32)
    acc_up = tl.zeros((BLOCK_T, BLOCK_N), tl.float32)
    for k in range(0, K, BLOCK_K):
        kk = k + cols
        inside = kk < K
        v = tl.load(x_ptr + tokens[:, None] * stride_x + kk[None, :], mask=present[:, None] & inside[None, :],
                    other=0.0).to(tl.float32)
        if NORM:  # as in _input
            scale = tl.load(norm_ptr + kk, mask=inside, other=0.0).to(tl.float32)
            v = _bf16(scale[None, :] * _bf16(v * rstd[:, None]))
        v = v.to(tl.bfloat16)
        acc += tl.dot(v, tl.trans(_weights(w_ptr, rows, live, kk, K)))
        if GATED:
            acc_up += tl.dot(v, tl.trans(_weights(up_ptr, rows, live, kk, K)))
    at = tokens[:, None] * stride_out + rows[None, :]
    _finish(acc, acc_up, out_ptr, at, present[:, None] & live[None, :], GATED, RESIDUAL)


TOKENS_TILES: dict[tuple[int, int, bool], tuple[int, int, int, int]] = {
    (6144, 2560, False): (64, 256, 4, 5),  # q/k/v: 16.5 us for 8 tokens
    (2560, 4096, False): (64, 256, 4, 5),  # output: 11.2 us
    (9728, 2560, True): (32, 256, 4, 5),  # gate/up: 45.7 us for both
    (2560, 9728, False): (64, 256, 4, 5),  # down: 22.6 us
    (151936, 2560, False): (64, 256, 4, 3),  # lm_head: 262 us
}
"""(rows, cols, gated): weight rows a program, columns a tile, warps and pipeline stages of the
several-token kernel, as measured fastest for the 4B shape's products (``bench/quant_kernels.py``,
H100: about cuBLAS's time for the product alone, with the norm, SwiGLU or residual add inside);
others take :data:`OTHER_TOKENS_TILES`. Ill-chosen tiles cost 1.5-2.6 times as much."""
OTHER_TOKENS_TILES = (64, 256, 4, 4)


@functools.cache
def _fitting(tiles: tuple[int, int, int, int], gated: bool, block_t: int,
             shared_memory: int) -> tuple[int, int, int, int]:
    """``tiles`` with no more pipeline stages than ``shared_memory`` bytes hold (a consumer card has
    less than half a Hopper's): each stage in flight keeps a tile of the weights (two where gated)
    and one of the inputs."""
    block_n, block_k, warps, stages = tiles
    room = shared_memory - 16 * 1024
    stage = (block_n * (2 if gated else 1) + block_t) * block_k * 2
    while room // stage < 1:  # not even one stage in flight: narrower tiles
        block_k //= 2
        stage //= 2
    return block_n, block_k, warps, min(stages, 1 + room // stage)


def _tokens_launch(x: torch.Tensor, weight: Matrix, up: Matrix | None, out: torch.Tensor, norm: torch.Tensor | None,
                   eps: float, residual: bool, tiles: tuple[int, int, int, int] | None = None) -> None:
    if not isinstance(weight, torch.Tensor):
        from engine import quant_kernels

        quant_kernels.tokens_launch(x, weight, up, out, norm, eps, residual)
        return
    rows, cols = weight.shape
    block_t = 16  # (the matrix units' smallest tile)
    tiles = tiles or TOKENS_TILES.get((rows, cols, up is not None), OTHER_TOKENS_TILES)
    if x.is_cuda:
        shared_memory = torch.cuda.get_device_properties(x.device).shared_memory_per_block_optin
        tiles = _fitting(tiles, up is not None, block_t, shared_memory)
    block_n, block_k, warps, stages = tiles
    grid = (triton.cdiv(rows, block_n), triton.cdiv(x.shape[0], block_t))
    _gemv_tokens[grid](
        x, weight, weight if up is None else up, out, x if norm is None else norm, eps, x.shape[0], rows, cols,
        x.stride(0), out.stride(0), NORM=norm is not None, GATED=up is not None, RESIDUAL=residual, BLOCK_T=block_t,
        BLOCK_N=block_n, BLOCK_K=block_k, EARLY=PDL, num_warps=warps, num_stages=stages,
        **({"launch_pdl": True} if PDL else {}),
    )


@triton.jit
def _norm_rotate(first, second, q_norm_ptr, k_norm_ptr, query, cos_first, cos_second, sin_first, sin_second, eps,
                 DIM: tl.constexpr):
    """A query's (``query``) or key's two halves, RMSNormed with its norm's weights and rotated:
    ``x * cos + rotate_half(x) * sin``, each product rounded as the model's bf16 operations round it."""
    half = tl.arange(0, DIM // 2)
    scale_first = tl.where(query, tl.load(q_norm_ptr + half), tl.load(k_norm_ptr + half)).to(tl.float32)
    scale_second = tl.where(query, tl.load(q_norm_ptr + DIM // 2 + half),
                            tl.load(k_norm_ptr + DIM // 2 + half)).to(tl.float32)
    rstd = tl.rsqrt((tl.sum(first * first) + tl.sum(second * second)) / DIM + eps)
    first, second = _bf16(scale_first * _bf16(first * rstd)), _bf16(scale_second * _bf16(second * rstd))
    return (_bf16(first * cos_first) + _bf16(-second * sin_first),
            _bf16(second * cos_second) + _bf16(first * sin_second))


@triton.jit
def _rope_into_cache(qkv_ptr, q_norm_ptr, k_norm_ptr, inv_freq_ptr, position_ptr, slot_ptr, q_ptr, keys_ptr,
                     values_ptr, qkv_stride, row_stride, head_stride, slot_stride, eps, HEADS: tl.constexpr,
                     KV_HEADS: tl.constexpr, DIM: tl.constexpr, EARLY: tl.constexpr):
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    head, row = tl.program_id(0), tl.program_id(1)  # a head of one sequence's token
    half = tl.arange(0, DIM // 2)
    qkv_ptr += row * qkv_stride
    keys_ptr += row * row_stride
    values_ptr += row * row_stride
    first = tl.load(qkv_ptr + head * DIM + half).to(tl.float32)
    second = tl.load(qkv_ptr + head * DIM + DIM // 2 + half).to(tl.float32)
    slot = tl.load(slot_ptr + row)
    if head >= HEADS + KV_HEADS:  # a value head: into the cache as it is
        at = values_ptr + (head - HEADS - KV_HEADS) * head_stride + slot * slot_stride
        tl.store(at + half, first.to(tl.bfloat16))
        tl.store(at + DIM // 2 + half, second.to(tl.bfloat16))
    else:
        angle = tl.load(position_ptr + row).to(tl.float32) * tl.load(inv_freq_ptr + half)
        cos, sin = _bf16(tl.cos(angle)), _bf16(tl.sin(angle))  # (text: the same angle for both halves)
        rotated_first, rotated_second = _norm_rotate(first, second, q_norm_ptr, k_norm_ptr, head < HEADS, cos, cos,
                                                     sin, sin, eps, DIM)
        if head < HEADS:
            at = q_ptr + (row * HEADS + head) * DIM
        else:
            at = keys_ptr + (head - HEADS) * head_stride + slot * slot_stride
        tl.store(at + half, rotated_first.to(tl.bfloat16))
        tl.store(at + DIM // 2 + half, rotated_second.to(tl.bfloat16))


def rope_into_cache(qkv: torch.Tensor, q_norm: torch.Tensor, k_norm: torch.Tensor, inv_freq: torch.Tensor,
                    position: torch.Tensor, slot: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    heads: int, eps: float) -> torch.Tensor:
    """For the tokens of ``n`` sequences at once: split q/k/v (``qkv``: (n, q + k + v)), RMSNorm and
    rotate q and k at each sequence's ``position``, write k and v at its ``slot`` of its cache
    (``keys``, ``values``: (n, kv_heads, capacity, dim)); returns q as (n, heads * dim)."""
    rows, kv_heads, _, dim = keys.shape
    q = torch.empty((rows, heads * dim), device=qkv.device, dtype=torch.bfloat16)
    _rope_into_cache[(heads + 2 * kv_heads, rows)](
        qkv, q_norm, k_norm, inv_freq, position, slot, q, keys, values, qkv.stride(0), keys.stride(0), keys.stride(1),
        keys.stride(2), eps, HEADS=heads, KV_HEADS=kv_heads, DIM=dim, EARLY=PDL, num_warps=1, launch_pdl=PDL,
    )
    return q


@triton.jit
def _attention_chunk(q_ptr, keys_ptr, values_ptr, slot_ptr, acc_ptr, max_ptr, sum_ptr, row_stride, head_stride,
                     slot_stride, scale, CHUNKS, KV_HEADS: tl.constexpr, GROUPS: tl.constexpr, ROWS: tl.constexpr,
                     DIM: tl.constexpr, CHUNK: tl.constexpr, EARLY: tl.constexpr):
    kv_head, chunk, row = tl.program_id(0), tl.program_id(1), tl.program_id(2)
    rows, dims = tl.arange(0, ROWS), tl.arange(0, DIM)
    real = rows < GROUPS  # the query heads of this KV head, padded to a matrix-unit tile
    last = tl.load(slot_ptr + row)  # this token's slot (set before the step's kernels)
    positions = chunk * CHUNK + tl.arange(0, CHUNK)
    offsets = row * row_stride + kv_head * head_stride + positions[:, None] * slot_stride + dims[None, :]
    # earlier tokens' keys and values do not depend on the kernels before: read before waiting
    earlier = (positions < last)[:, None]
    k = tl.load(keys_ptr + offsets, mask=earlier, other=0.0)
    v = tl.load(values_ptr + offsets, mask=earlier, other=0.0)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    this = (positions == last)[:, None]  # written by the kernel just before
    k = tl.where(this, tl.load(keys_ptr + offsets, mask=this, other=0.0), k)
    v = tl.where(this, tl.load(values_ptr + offsets, mask=this, other=0.0), v)
    q = tl.load(q_ptr + ((row * KV_HEADS + kv_head) * GROUPS + rows[:, None]) * DIM + dims[None, :],
                mask=real[:, None], other=0.0)
    scores = tl.dot(q, tl.trans(k)) * scale  # log2 units
    scores = tl.where(positions[None, :] <= last, scores, float("-inf"))
    best = tl.max(scores, axis=1)  # -inf for a chunk wholly after the token: its weights come out 0
    p = tl.exp2(scores - tl.where(best == float("-inf"), 0.0, best)[:, None])
    acc = tl.dot(p.to(tl.bfloat16), v)
    at = ((row * KV_HEADS + kv_head) * CHUNKS + chunk) * GROUPS + rows
    tl.store(max_ptr + at, best, mask=real)
    tl.store(sum_ptr + at, tl.sum(p, axis=1), mask=real)
    tl.store(acc_ptr + at[:, None] * DIM + dims[None, :], acc, mask=real[:, None])


@triton.jit
def _attention_combine(acc_ptr, max_ptr, sum_ptr, out_ptr, CHUNKS, HEADS: tl.constexpr, GROUPS: tl.constexpr,
                       DIM: tl.constexpr, MAX_CHUNKS: tl.constexpr, EARLY: tl.constexpr):
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    head, row = tl.program_id(0), tl.program_id(1)  # a query head of one sequence
    kv_head, group = row * (HEADS // GROUPS) + head // GROUPS, head % GROUPS
    chunks, dims = tl.arange(0, MAX_CHUNKS), tl.arange(0, DIM)
    at = (kv_head * CHUNKS + chunks) * GROUPS + group
    inside = chunks < CHUNKS
    best = tl.load(max_ptr + at, mask=inside, other=float("-inf"))
    weight = tl.exp2(best - tl.max(best, axis=0))  # chunks past the last slot had no keys: weight 0
    total = tl.sum(tl.load(sum_ptr + at, mask=inside, other=0.0) * weight, axis=0)
    acc = tl.load(acc_ptr + at[:, None] * DIM + dims[None, :], mask=inside[:, None], other=0.0)
    tl.store(out_ptr + (row * HEADS + head) * DIM + dims, (tl.sum(acc * weight[:, None], axis=0) / total).to(tl.bfloat16))


def decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slot: torch.Tensor, span: int,
                     scaling: float) -> torch.Tensor:
    """The grouped-query attention of ``n`` sequences' tokens (``q``: (n, heads * dim)), each over
    its cache's positions ``0..slot`` (of the first ``span``; ``keys``, ``values``: (n, kv_heads,
    capacity, dim)).

    Work is split over (KV head, chunk of the cache, sequence), so the whole GPU takes part even
    for the few heads of one token, and then the chunks are combined. Returns (n, heads * dim) bf16.
    """
    rows, kv_heads, _, dim = keys.shape
    heads = q.shape[-1] // dim
    groups = heads // kv_heads
    chunks = triton.cdiv(span, ATTENTION_CHUNK)
    acc = torch.empty((rows, kv_heads, chunks, groups, dim), device=q.device, dtype=torch.float32)
    best = torch.empty((rows, kv_heads, chunks, groups), device=q.device, dtype=torch.float32)
    total = torch.empty_like(best)
    _attention_chunk[(kv_heads, chunks, rows)](
        q, keys, values, slot, acc, best, total, keys.stride(0), keys.stride(1), keys.stride(2),
        scaling * 1.4426950408889634, chunks, KV_HEADS=kv_heads, GROUPS=groups,
        ROWS=max(16, triton.next_power_of_2(groups)), DIM=dim, CHUNK=ATTENTION_CHUNK, EARLY=PDL, num_warps=4,
        launch_pdl=PDL,
    )
    out = torch.empty((rows, heads * dim), device=q.device, dtype=torch.bfloat16)
    _attention_combine[(heads, rows)](acc, best, total, out, chunks, HEADS=heads, GROUPS=groups, DIM=dim,
                                      MAX_CHUNKS=triton.next_power_of_2(chunks), EARLY=PDL, num_warps=4,
                                      launch_pdl=PDL)
    return out


# ---- prefill: many tokens at once ---------------------------------------------------------


@triton.jit
def _rms_norm_rows(x_ptr, weight_ptr, out_ptr, eps, COLS: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    cols = tl.arange(0, BLOCK)
    inside = cols < COLS
    v = tl.load(x_ptr + row * COLS + cols, mask=inside, other=0.0).to(tl.float32)
    rstd = tl.rsqrt(tl.sum(v * v) / COLS + eps)
    weight = tl.load(weight_ptr + cols, mask=inside, other=0.0).to(tl.float32)
    tl.store(out_ptr + row * COLS + cols, (weight * _bf16(v * rstd)).to(tl.bfloat16),
             mask=inside)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen's RMSNorm over the last dimension of a contiguous bf16 ``x``, one kernel."""
    out = torch.empty_like(x)
    cols = x.shape[-1]
    _rms_norm_rows[(x.numel() // cols,)](x, weight, out, eps, COLS=cols, BLOCK=triton.next_power_of_2(cols),
                                         num_warps=4)
    return out


@triton.jit
def _norm_rope_rows(qkv_ptr, q_norm_ptr, k_norm_ptr, cos_ptr, sin_ptr, q_ptr, keys_ptr, token_stride, q_head_stride,
                    head_stride, slot_stride, eps, HEADS: tl.constexpr, DIM: tl.constexpr):
    token, head = tl.program_id(0), tl.program_id(1)
    half = tl.arange(0, DIM // 2)
    source = qkv_ptr + token * token_stride + head * DIM
    first = tl.load(source + half).to(tl.float32)
    second = tl.load(source + DIM // 2 + half).to(tl.float32)
    query = head < HEADS
    cos, sin = cos_ptr + token * DIM, sin_ptr + token * DIM  # (M-RoPE: each half has its own angles)
    rotated_first, rotated_second = _norm_rotate(
        first, second, q_norm_ptr, k_norm_ptr, query, tl.load(cos + half).to(tl.float32),
        tl.load(cos + DIM // 2 + half).to(tl.float32), tl.load(sin + half).to(tl.float32),
        tl.load(sin + DIM // 2 + half).to(tl.float32), eps, DIM)
    if query:
        at = q_ptr + head * q_head_stride + token * DIM
    else:
        at = keys_ptr + (head - HEADS) * head_stride + token * slot_stride
    tl.store(at + half, rotated_first.to(tl.bfloat16))
    tl.store(at + DIM // 2 + half, rotated_second.to(tl.bfloat16))


def norm_rope(qkv: torch.Tensor, q_norm: torch.Tensor, k_norm: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
              keys: torch.Tensor, heads: int, eps: float) -> torch.Tensor:
    """The prefill's q/k RMSNorm and rotation of ``qkv`` (tokens, (heads + 2 kv_heads) * dim), in one
    kernel: keys go into ``keys`` ((kv_heads, tokens, dim) or a view of the cache so shaped);
    returns q as (heads, tokens, dim), the layout attention takes."""
    tokens = qkv.shape[0]
    kv_heads, _, dim = keys.shape
    q = torch.empty((heads, tokens, dim), device=qkv.device, dtype=torch.bfloat16)
    _norm_rope_rows[(tokens, heads + kv_heads)](
        qkv, q_norm, k_norm, cos, sin, q, keys, qkv.stride(0), q.stride(0), keys.stride(0), keys.stride(1), eps,
        HEADS=heads, DIM=dim, num_warps=1,
    )
    return q
