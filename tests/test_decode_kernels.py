"""The decode step's attention kernels (engine.kernels) against the same step in torch operations.

On a GPU the kernels run natively; on the CPU through Triton's interpreter, when Triton is
installed (tests/kernel_checks.py)."""

from __future__ import annotations

import pytest
import torch

from tests.kernel_checks import run_check


def attention_errors() -> dict[str, float]:
    """The tokens of two sequences, decoded together: attention from a random q/k/v product (q/k norm
    and rotation with the cache write, then attention over the cache's chunks, combined), one at
    a slot inside a chunk of its cache and one at the first slot of a chunk: the output's relative
    error against torch, and whether the rotated query, and the token's rotated key and its value
    in its cache, are as torch computes them (and the other sequence's cache left alone)."""
    from engine import kernels
    from engine.qwen3vl import rms_norm, rope

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(4)
    heads, kv_heads, dim, capacity, eps, scaling = 8, 2, 64, 320, 1e-6, 64 ** -0.5
    slots = (150, 192)
    inv_freq = 1.0 / (5e6 ** (torch.arange(0, dim, 2, device=device).float() / dim))
    q_norm, k_norm = ((torch.rand(dim, device=device) + 0.5).to(torch.bfloat16) for _ in range(2))
    keys, values = (torch.randn((len(slots), kv_heads, capacity, dim), device=device).to(torch.bfloat16)
                    for _ in range(2))
    qkv = torch.randn((len(slots), (heads + 2 * kv_heads) * dim), device=device).to(torch.bfloat16)
    positions = [slot + 7 for slot in slots]  # (a prompt's images make M-RoPE positions differ from slots)
    want_keys, want_values, wanted_q, wanted = keys.clone(), values.clone(), [], []
    for row, (slot, position) in enumerate(zip(slots, positions)):
        angles = position * inv_freq
        cos, sin = (torch.cat((f(angles), f(angles))).to(torch.bfloat16) for f in (torch.cos, torch.sin))
        q, k, v = qkv[row].view(-1, dim).split((heads, kv_heads, kv_heads))
        q, k = rope(rms_norm(q, q_norm, eps), cos, sin), rope(rms_norm(k, k_norm, eps), cos, sin)
        want_keys[row, :, slot], want_values[row, :, slot] = k, v
        scores = torch.einsum("hgd,hsd->hgs", q.view(kv_heads, -1, dim).float(),
                              want_keys[row, :, :slot + 1].float()) * scaling
        wanted.append(torch.einsum("hgs,hsd->hgd", scores.softmax(-1),
                                   want_values[row, :, :slot + 1].float()).reshape(-1))
        wanted_q.append(q.reshape(-1))

    rotated = kernels.rope_into_cache(qkv, q_norm, k_norm, inv_freq, torch.tensor(positions, device=device),
                                      torch.tensor(slots, device=device), keys, values, heads, eps)
    got = kernels.decode_attention(rotated, keys, values, torch.tensor(slots, device=device), capacity, scaling)
    errors = {}
    for row, slot in enumerate(slots):
        errors[f"slot {slot}: query"] = (rotated[row].float() - wanted_q[row].float()).abs().max().item()
        errors[f"slot {slot}: output"] = ((got[row].float() - wanted[row]).norm() / wanted[row].norm()).item()
        errors[f"slot {slot}: key written"] = (keys[row, :, slot].float() - want_keys[row, :, slot].float()).abs().max().item()
        errors[f"slot {slot}: value written"] = (values[row, :, slot] != want_values[row, :, slot]).sum().item()
        keys[row, :, slot], values[row, :, slot] = want_keys[row, :, slot], want_values[row, :, slot]
    errors["the rest of the caches"] = ((keys != want_keys).sum() + (values != want_values).sum()).item()
    return errors


def test_attention_kernels_match_torch():
    errors = run_check(attention_errors)
    for name, error in errors.items():
        if name.endswith("output"):  # (scores and weights meet the values in bf16, on the matrix units)
            assert error < 3e-2, (name, error)
        elif name.endswith(("key written", "query")):  # bf16, each product rounded as the model does: a few steps
            assert error < 0.1, (name, error)
        else:
            assert error == 0, (name, error)


def test_batch_tiles_keep_to_the_shared_memory_of_smaller_cards():
    pytest.importorskip("triton")
    from engine.kernels import TOKENS_TILES, _fitting

    hopper, ada = 232448, 101376  # bytes a block may use on an H100/H200 and on an RTX 4090
    for (rows, cols, gated), tiles in TOKENS_TILES.items():
        assert _fitting(tiles, gated, 16, hopper) == tiles, "as measured on the H100"
        block_n, block_k, _, stages = _fitting(tiles, gated, 16, ada)
        stage = (block_n * (2 if gated else 1) + 16) * block_k * 2
        assert stages >= 2 and (stages - 1) * stage + 16 * 1024 <= ada
    assert _fitting((64, 512, 4, 5), True, 16, ada)[1] < 512, "a tile too wide for one stage is narrowed"
