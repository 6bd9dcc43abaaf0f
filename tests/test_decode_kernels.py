"""The decode step's attention kernels (engine.kernels) against the same step in torch operations.

On a GPU the kernels run natively; on the CPU through Triton's interpreter, when Triton is
installed (tests/kernel_checks.py)."""

from __future__ import annotations

import torch

from tests.kernel_checks import run_check


def attention_errors() -> dict[str, float]:
    """One token's attention from a random q/k/v product (q/k norm and rotation with the cache write,
    then attention over the cache's chunks, combined), at a slot inside a chunk of the cache and
    at the first slot of one: the output's relative error against torch, and whether the rotated
    query, and the token's rotated key and its value in the cache, are as torch computes them."""
    from engine import kernels
    from engine.fast import rms_norm, rope

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(4)
    heads, kv_heads, dim, capacity, eps, scaling = 8, 2, 64, 320, 1e-6, 64 ** -0.5
    inv_freq = 1.0 / (5e6 ** (torch.arange(0, dim, 2, device=device).float() / dim))
    q_norm, k_norm = ((torch.rand(dim, device=device) + 0.5).to(torch.bfloat16) for _ in range(2))
    errors = {}
    for slot in (150, 192):
        keys, values = (torch.randn((kv_heads, capacity, dim), device=device).to(torch.bfloat16) for _ in range(2))
        qkv = torch.randn((heads + 2 * kv_heads) * dim, device=device).to(torch.bfloat16)
        position = slot + 7  # (a prompt's images make M-RoPE positions differ from slots)
        scalar = {"position": torch.tensor(position, device=device), "slot": torch.tensor(slot, device=device)}

        angles = position * inv_freq
        cos, sin = (torch.cat((f(angles), f(angles))).to(torch.bfloat16) for f in (torch.cos, torch.sin))
        q, k, v = qkv.view(-1, dim).split((heads, kv_heads, kv_heads))
        q, k = rope(rms_norm(q, q_norm, eps), cos, sin), rope(rms_norm(k, k_norm, eps), cos, sin)
        want_keys, want_values = keys.clone(), values.clone()
        want_keys[:, slot], want_values[:, slot] = k, v
        scores = torch.einsum("hgd,hsd->hgs", q.view(kv_heads, -1, dim).float(),
                              want_keys[:, :slot + 1].float()) * scaling
        want = torch.einsum("hgs,hsd->hgd", scores.softmax(-1), want_values[:, :slot + 1].float()).reshape(-1)

        rotated = kernels.rope_into_cache(qkv, q_norm, k_norm, inv_freq, scalar["position"], scalar["slot"], keys,
                                          values, heads, eps)
        got = kernels.decode_attention(rotated, keys, values, scalar["slot"], capacity, scaling)
        errors[f"slot {slot}: query"] = (rotated.float() - q.reshape(-1).float()).abs().max().item()
        errors[f"slot {slot}: output"] = ((got.float() - want).norm() / want.norm()).item()
        errors[f"slot {slot}: key written"] = (keys[:, slot].float() - k.float()).abs().max().item()
        errors[f"slot {slot}: value written"] = (values[:, slot] != v).sum().item()
        errors[f"slot {slot}: rest of the cache"] = ((keys != want_keys).sum() + (values != want_values).sum()
                                                     - (keys[:, slot] != want_keys[:, slot]).sum()).item()
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
