"""Triton kernels for one decode token at batch 1: a decoder layer in seven kernels.

At batch 1 a token costs the time to read the weights once, plus the launches around it.
cuBLAS reads a weight matrix at about 73% of the bandwidth for a single row (split-K and a
reduction kernel), and the layer's small element-wise steps each cost a launch. Here every
weight matrix is read by one matrix-vector kernel that also does the work beside it: the
RMSNorm of its input, SwiGLU on the fused gate/up output, or the residual add. A layer is:

1. RMSNorm + q/k/v projection; 2. q/k RMSNorm, rotation, and the new key and value written
into the static cache; 3-4. attention over the cache, split into chunks and then combined;
5. output projection + residual; 6. RMSNorm + gate/up projection + SwiGLU; 7. down
projection + residual.

Kernels read the cache slot and position from GPU tensors, so a CUDA graph captured once
replays them for every token. Arithmetic is float32, rounded to bf16 where the model rounds.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from triton.language.extra.cuda import gdc_launch_dependents, gdc_wait

ATTENTION_CHUNK = 128  # cache positions per attention block
GEMV_BLOCK_K = 512
PDL = torch.cuda.is_available() and torch.cuda.get_device_capability()[0] >= 9
"""Programmatic dependent launch (Hopper on): a kernel starts while the one before it finishes,
and reads its first weights before waiting for that kernel's results."""


@triton.jit
def _weights(w_ptr, rows, live, kk, K):
    return tl.load(w_ptr + rows[:, None] * K + kk[None, :], mask=live[:, None] & (kk[None, :] < K), other=0.0)


@triton.jit
def _gemv(x_ptr, w_ptr, out_ptr, norm_ptr, eps, N, K,
          NORM: tl.constexpr, GATED: tl.constexpr, RESIDUAL: tl.constexpr,
          BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr, EARLY: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.arange(0, BLOCK_K)
    live = rows < N
    up_ptr = w_ptr + N * K  # gated: the up rows sit N rows below the gate rows
    # a weight tile is read one iteration before it is used; the first before waiting for
    # the kernel before, which weights do not depend on
    w = _weights(w_ptr, rows, live, cols, K)
    if GATED:
        u = _weights(up_ptr, rows, live, cols, K)
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    if NORM:
        squares = tl.zeros((BLOCK_K,), tl.float32)
        for k in range(0, K, BLOCK_K):
            v = tl.load(x_ptr + k + cols, mask=k + cols < K, other=0.0).to(tl.float32)
            squares += v * v
        rstd = tl.rsqrt(tl.sum(squares) / K + eps)
    acc = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    if GATED:
        acc_up = tl.zeros((BLOCK_N, BLOCK_K), tl.float32)
    for k in range(0, K, BLOCK_K):
        kk = k + cols
        inside = kk < K
        v = tl.load(x_ptr + kk, mask=inside, other=0.0).to(tl.float32)
        if NORM:  # as Qwen's RMSNorm: normalised in float32, rounded, then scaled in bf16
            scale = tl.load(norm_ptr + kk, mask=inside, other=0.0).to(tl.float32)
            v = (scale * (v * rstd).to(tl.bfloat16).to(tl.float32)).to(tl.bfloat16).to(tl.float32)
        acc += w.to(tl.float32) * v[None, :]
        if GATED:
            acc_up += u.to(tl.float32) * v[None, :]
        w = _weights(w_ptr, rows, live, kk + BLOCK_K, K)
        if GATED:
            u = _weights(up_ptr, rows, live, kk + BLOCK_K, K)
    y = tl.sum(acc, axis=1).to(tl.bfloat16).to(tl.float32)
    if GATED:
        up = tl.sum(acc_up, axis=1).to(tl.bfloat16).to(tl.float32)
        y = (y * tl.sigmoid(y)).to(tl.bfloat16).to(tl.float32) * up
    if RESIDUAL:  # out holds the residual stream and is updated in place
        y += tl.load(out_ptr + rows, mask=live, other=0.0).to(tl.float32)
    tl.store(out_ptr + rows, y.to(tl.bfloat16), mask=live)


def _gemv_launch(x: torch.Tensor, weight: torch.Tensor, out: torch.Tensor, norm: torch.Tensor | None, eps: float,
                 gated: bool, residual: bool) -> None:
    rows, k = out.numel(), weight.shape[1]
    block_n = 4 if k <= 2560 else 2  # (measured on the H200 for the 4B shape's matrices)
    _gemv[(triton.cdiv(rows, block_n),)](
        x, weight, out, x if norm is None else norm, eps, rows, k, NORM=norm is not None, GATED=gated,
        RESIDUAL=residual, BLOCK_N=block_n, BLOCK_K=GEMV_BLOCK_K, EARLY=PDL, num_warps=4,
        launch_pdl=PDL,
    )


def gemv(x: torch.Tensor, weight: torch.Tensor, norm: torch.Tensor | None = None, eps: float = 0.0,
         gated: bool = False) -> torch.Tensor:
    """``weight @ rms_norm(x)`` (or ``weight @ x`` without ``norm``) for one token, as bf16.

    ``gated``: ``weight`` is gate and up stacked; returns ``silu(gate) * up``.
    """
    out = torch.empty(weight.shape[0] // (2 if gated else 1), device=x.device, dtype=torch.bfloat16)
    _gemv_launch(x, weight, out, norm, eps, gated, residual=False)
    return out


def gemv_add_(residual: torch.Tensor, x: torch.Tensor, weight: torch.Tensor) -> None:
    """``residual += weight @ x``, in place."""
    _gemv_launch(x, weight, residual, None, 0.0, gated=False, residual=True)


@triton.jit
def _rope_into_cache(qkv_ptr, q_norm_ptr, k_norm_ptr, inv_freq_ptr, position_ptr, slot_ptr, q_ptr, keys_ptr,
                     values_ptr, head_stride, slot_stride, eps, HEADS: tl.constexpr, KV_HEADS: tl.constexpr,
                     DIM: tl.constexpr, EARLY: tl.constexpr):
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    head = tl.program_id(0)
    half = tl.arange(0, DIM // 2)
    first = tl.load(qkv_ptr + head * DIM + half).to(tl.float32)
    second = tl.load(qkv_ptr + head * DIM + DIM // 2 + half).to(tl.float32)
    slot = tl.load(slot_ptr)
    if head >= HEADS + KV_HEADS:  # a value head: into the cache as it is
        at = values_ptr + (head - HEADS - KV_HEADS) * head_stride + slot * slot_stride
        tl.store(at + half, first.to(tl.bfloat16))
        tl.store(at + DIM // 2 + half, second.to(tl.bfloat16))
    else:
        query = head < HEADS
        scale_first = tl.where(query, tl.load(q_norm_ptr + half), tl.load(k_norm_ptr + half)).to(tl.float32)
        scale_second = tl.where(query, tl.load(q_norm_ptr + DIM // 2 + half),
                                tl.load(k_norm_ptr + DIM // 2 + half)).to(tl.float32)
        rstd = tl.rsqrt((tl.sum(first * first) + tl.sum(second * second)) / DIM + eps)
        first = scale_first * (first * rstd).to(tl.bfloat16).to(tl.float32)
        second = scale_second * (second * rstd).to(tl.bfloat16).to(tl.float32)
        first, second = first.to(tl.bfloat16).to(tl.float32), second.to(tl.bfloat16).to(tl.float32)
        angle = tl.load(position_ptr).to(tl.float32) * tl.load(inv_freq_ptr + half)
        cos = tl.cos(angle).to(tl.bfloat16).to(tl.float32)
        sin = tl.sin(angle).to(tl.bfloat16).to(tl.float32)
        rotated_first, rotated_second = first * cos - second * sin, second * cos + first * sin
        if head < HEADS:
            at = q_ptr + head * DIM
        else:
            at = keys_ptr + (head - HEADS) * head_stride + slot * slot_stride
        tl.store(at + half, rotated_first.to(tl.bfloat16))
        tl.store(at + DIM // 2 + half, rotated_second.to(tl.bfloat16))


def rope_into_cache(qkv: torch.Tensor, q_norm: torch.Tensor, k_norm: torch.Tensor, inv_freq: torch.Tensor,
                    position: torch.Tensor, slot: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    heads: int, eps: float) -> torch.Tensor:
    """Split q/k/v, RMSNorm and rotate q and k, write k and v at ``slot`` of the layer's cache
    (``keys``, ``values``: (kv_heads, capacity, dim)); returns q as (heads * dim)."""
    kv_heads, _, dim = keys.shape
    q = torch.empty(heads * dim, device=qkv.device, dtype=torch.bfloat16)
    _rope_into_cache[(heads + 2 * kv_heads,)](
        qkv, q_norm, k_norm, inv_freq, position, slot, q, keys, values, keys.stride(0), keys.stride(1), eps,
        HEADS=heads, KV_HEADS=kv_heads, DIM=dim, EARLY=PDL, num_warps=1, launch_pdl=PDL,
    )
    return q


@triton.jit
def _attention_chunk(q_ptr, keys_ptr, values_ptr, slot_ptr, acc_ptr, max_ptr, sum_ptr, head_stride, slot_stride,
                     scale, CHUNKS, GROUPS: tl.constexpr, ROWS: tl.constexpr, DIM: tl.constexpr,
                     CHUNK: tl.constexpr, BLOCK: tl.constexpr, EARLY: tl.constexpr):
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    kv_head, chunk = tl.program_id(0), tl.program_id(1)
    rows, dims = tl.arange(0, ROWS), tl.arange(0, DIM)
    real = rows < GROUPS  # the query heads of this KV head, padded to a matrix-unit tile
    q = tl.load(q_ptr + (kv_head * GROUPS + rows[:, None]) * DIM + dims[None, :], mask=real[:, None], other=0.0)
    last = tl.load(slot_ptr)
    best = tl.full((ROWS,), float("-inf"), tl.float32)
    total = tl.zeros((ROWS,), tl.float32)
    acc = tl.zeros((ROWS, DIM), tl.float32)
    start = chunk * CHUNK
    for s in range(start, tl.minimum(start + CHUNK, last + 1), BLOCK):
        positions = s + tl.arange(0, BLOCK)
        offsets = kv_head * head_stride + positions[:, None] * slot_stride + dims[None, :]
        k = tl.load(keys_ptr + offsets)
        scores = tl.dot(q, tl.trans(k)) * scale  # log2 units
        scores = tl.where(positions[None, :] <= last, scores, float("-inf"))
        new_best = tl.maximum(best, tl.max(scores, axis=1))
        p = tl.exp2(scores - new_best[:, None])
        fade = tl.exp2(best - new_best)
        total = total * fade + tl.sum(p, axis=1)
        acc = acc * fade[:, None] + tl.dot(p.to(tl.bfloat16), tl.load(values_ptr + offsets))
        best = new_best
    at = (kv_head * CHUNKS + chunk) * GROUPS + rows
    tl.store(max_ptr + at, best, mask=real)
    tl.store(sum_ptr + at, total, mask=real)
    tl.store(acc_ptr + at[:, None] * DIM + dims[None, :], acc, mask=real[:, None])


@triton.jit
def _attention_combine(acc_ptr, max_ptr, sum_ptr, out_ptr, CHUNKS, GROUPS: tl.constexpr, DIM: tl.constexpr,
                       MAX_CHUNKS: tl.constexpr, EARLY: tl.constexpr):
    if EARLY:
        gdc_launch_dependents()
        gdc_wait()
    head = tl.program_id(0)  # a query head
    kv_head, row = head // GROUPS, head % GROUPS
    chunks, dims = tl.arange(0, MAX_CHUNKS), tl.arange(0, DIM)
    at = (kv_head * CHUNKS + chunks) * GROUPS + row
    inside = chunks < CHUNKS
    best = tl.load(max_ptr + at, mask=inside, other=float("-inf"))
    weight = tl.exp2(best - tl.max(best, axis=0))  # chunks past the last slot had no keys: weight 0
    total = tl.sum(tl.load(sum_ptr + at, mask=inside, other=0.0) * weight, axis=0)
    acc = tl.load(acc_ptr + at[:, None] * DIM + dims[None, :], mask=inside[:, None], other=0.0)
    tl.store(out_ptr + head * DIM + dims, (tl.sum(acc * weight[:, None], axis=0) / total).to(tl.bfloat16))


def decode_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slot: torch.Tensor, span: int,
                     scaling: float) -> torch.Tensor:
    """One token's grouped-query attention over cache positions ``0..slot`` (of the first ``span``).

    Work is split over (KV head, chunk of the cache), so the whole GPU takes part even for the
    few heads of batch 1, and then the chunks are combined. Returns (heads * dim) bf16.
    """
    kv_heads, _, dim = keys.shape
    heads = q.numel() // dim
    groups = heads // kv_heads
    chunks = triton.cdiv(span, ATTENTION_CHUNK)
    acc = torch.empty((kv_heads, chunks, groups, dim), device=q.device, dtype=torch.float32)
    best = torch.empty((kv_heads, chunks, groups), device=q.device, dtype=torch.float32)
    total = torch.empty_like(best)
    _attention_chunk[(kv_heads, chunks)](
        q, keys, values, slot, acc, best, total, keys.stride(0), keys.stride(1), scaling * 1.4426950408889634,
        chunks, GROUPS=groups, ROWS=max(16, triton.next_power_of_2(groups)), DIM=dim, CHUNK=ATTENTION_CHUNK,
        BLOCK=64, EARLY=PDL, num_warps=4, launch_pdl=PDL,
    )
    out = torch.empty(heads * dim, device=q.device, dtype=torch.bfloat16)
    _attention_combine[(heads,)](acc, best, total, out, chunks, GROUPS=groups, DIM=dim,
                                 MAX_CHUNKS=triton.next_power_of_2(chunks), EARLY=PDL, num_warps=4, launch_pdl=PDL)
    return out
