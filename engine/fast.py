"""Fast generation for an in-process Qwen3-VL: what makes a Thinking step take about a second.

Decoding one token at batch 1 should cost the time to read the weights once. transformers'
``generate`` spends most of each token around the model call instead (the Python loop,
logits processors, per-token checks and host syncs, one kernel launch at a time). Here:

- **Decode** runs one hand-written step with a static KV cache, captured as a CUDA graph
  per attention length bucket and replayed. On a GPU a decoder layer is seven Triton
  kernels (:mod:`engine.kernels`, :mod:`engine.quant_kernels` for FP8 and INT4 weights:
  matrix-vector products that read each weight once, with the norms, SwiGLU and residuals
  fused in, and attention split over the cache); elsewhere it runs the same math through
  torch. Sampling (temperature, top-k, top-p, presence penalty) and the thinking budget run
  inside the graph, on the GPU; the host reads the tokens once per ``CHUNK`` tokens, so there is no
  per-token sync.
- **Several sequences** share a step (:mod:`engine.batch`): the cache, the tokens and the
  decode state have a row per sequence, each with its own slot, position, sampling, budget
  and end. They take the same fused kernels, whose products read each weight once for all
  the step's sequences (a graph per row count, rounded up to a power of two); what grows with
  the rows is the cache each reads.
- **Prefill** embeds the prompt, scatters in the vision features and runs the decoder
  layers once, writing keys and values straight into the static cache. The text before the
  first image (system prompt and tool description) is the same every step: its KV stays
  in the cache and only the rest is prefilled, attending to it through flash attention.
- **Vision** features are kept by image digest: a retry, or a screenshot identical to an
  earlier one, does not run the vision encoder again. Preprocessing (resize, normalise,
  patchify) runs on the GPU from the raw pixels, and the encoder is a CUDA graph per image
  grid (:mod:`engine.vision`).

The model is :mod:`engine.qwen3vl`'s, read straight from the checkpoint. The step is checked
against transformers: the same greedy tokens from the same checkpoint and inputs
(``tests/test_fast_decode.py``; ``bench/decode.py`` on the GPU).
"""

from __future__ import annotations

import operator
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from loguru import logger
from PIL import Image
from torch.backends.cuda import SDPAParams, can_use_flash_attention
from torch.nn.attention import sdpa_kernel

from engine import quant
from engine.graphs import capture
from engine.quant import QuantisedLinear
from engine.qwen3vl import ImageSettings, Qwen3VL, rope
from engine.vision import ATTENTION, VisionEncoder
from agent.model import Sampling
from perception.screen import image_digest

CHUNK = 16  # tokens decoded between looks from the host
BUCKET = 512  # attention lengths are rounded up to this (one CUDA graph each)
VISION_CACHE = 4  # images whose features are kept (42 MB each at 1920x1080)
MLP_TOKENS = 2048  # a prefill's MLP runs on at most this many tokens at once
CUTOFF_TOKENS = 256  # longest thought cut-off text the budget can force
MAX_TOP_K = 1024  # sampling draws from at most this many most likely tokens


def prefix_attention(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float) -> torch.Tensor:
    """The new tokens' queries (1, heads, L, dim) over the keys and values (1, kv_heads, S, dim) of
    a cached prefix and then of themselves, causally: query i sees keys up to S - L + i.

    Where torch's flash attention can take them (a GPU of its kind, half-precision heads of a
    width it knows), one flash-attention call, whose causal mask is aligned to the lower right and
    which takes grouped-query heads as they are: torch's ``causal_lower_right`` makes that call
    too, but importing it imports torch's compiler, two seconds of every cold start. Elsewhere an
    explicit mask."""
    length, total = q.shape[2], keys.shape[2]
    if (q.is_cuda and q.shape[-1] % 8 == 0
            and can_use_flash_attention(SDPAParams(q, keys, values, None, 0.0, False, True), False)):
        # (asked as torch asks it: without is_causal, which it refuses for a non-square mask)
        return torch.ops.aten._scaled_dot_product_flash_attention(q, keys, values, is_causal=True, scale=scale)[0]
    mask = torch.ones(length, total, dtype=torch.bool, device=q.device).tril(total - length)
    return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask, scale=scale, enable_gqa=True)


@dataclass(frozen=True)
class LayerWeights:
    """One decoder layer's weights for the fused step, q/k/v joined into one matrix: bf16
    tensors, or :class:`engine.quant.Quantised` matrices (GPU only)."""

    norm: torch.Tensor
    qkv: tuple[Any, ...]
    q_norm: torch.Tensor
    k_norm: torch.Tensor
    out: Any
    post_norm: torch.Tensor
    gate: Any
    up: Any
    down: Any


@torch.no_grad()  # (a result with autograd history would keep the separate matrices alive)
def fuse(layer: torch.nn.Module) -> LayerWeights:
    """The layer's weights for the fused step. q/k/v are joined into one matrix, and the modules
    keep views into it (no copy)."""
    attn, mlp = layer.self_attn, layer.mlp
    projections = (attn.q_proj, attn.k_proj, attn.v_proj)
    sizes = [m.out_features for m in projections]
    if isinstance(attn.q_proj, QuantisedLinear):
        matrix = operator.attrgetter("matrix")
        qkv = (quant.stack([module.matrix for module in projections]),)
        for module, part in zip(projections, quant.split(qkv[0], sizes)):
            module.set_matrix(part)
    else:
        matrix = operator.attrgetter("weight")
        qkv = (torch.cat([module.weight for module in projections]),)
        for module, part in zip(projections, qkv[0].split(sizes)):
            module.weight = torch.nn.Parameter(part, requires_grad=False)
    return LayerWeights(layer.input_layernorm.weight, qkv, attn.q_norm.weight, attn.k_norm.weight,
                        matrix(attn.o_proj), layer.post_attention_layernorm.weight, matrix(mlp.gate_proj),
                        matrix(mlp.up_proj), matrix(mlp.down_proj))


def fusable(layer: torch.nn.Module, activation: str, quantised: bool) -> bool:
    """Bias-free linear layers, plain (or all quantised alike, with ``quantised``), and a SiLU MLP:
    the fused step applies."""
    attn, mlp = layer.self_attn, layer.mlp
    linears = (attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)
    plain = all(type(m) is torch.nn.Linear for m in linears)
    packed = (quantised and all(isinstance(m, QuantisedLinear) for m in linears)
              and len({m.matrix.format for m in linears}) == 1)
    return (plain or packed) and all(m.bias is None for m in linears) and activation == "silu"


@dataclass
class StepStats:
    """Where a generation's time and work went. With ``timed``, the GPU is waited for at
    each phase's end so that the seconds are true (that costs a little: benchmarks only)."""

    prompt_tokens: int = 0
    decode_steps: int = 0  # model steps after the first token: one for each token after it
    reused_prefix: int = 0
    images_encoded: int = 0
    images_reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    timed: bool = False
    _last: float = field(default_factory=time.perf_counter)

    def mark(self, phase: str) -> None:
        if self.timed and torch.cuda.is_available():
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


@dataclass(frozen=True)
class Thinking:
    """The thinking budget, applied inside the decode graph."""

    budget: int
    end_think: int
    cutoff: tuple[int, ...]


class FastGenerator:
    """Generation with a static KV cache, CUDA-graph decode, prefix and vision reuse."""

    def __init__(self, model: Qwen3VL, image_settings: ImageSettings, stop_ids: Sequence[int]) -> None:
        self.model = model
        self.text = model.model.language_model
        self.visual = model.model.visual
        config = model.config.text_config
        self.layers = list(self.text.layers)
        self.kv_heads, self.head_dim = config.num_key_value_heads, config.head_dim
        self.groups = config.num_attention_heads // config.num_key_value_heads
        self.device = next(model.parameters()).device
        self.dtype = self.text.embed_tokens.weight.dtype
        self.vocab = model.lm_head.out_features if hasattr(model.lm_head, "out_features") else config.vocab_size
        self.image_token = model.config.image_token_id
        self.vision_start = model.config.vision_start_token_id
        self.merge = self.visual.spatial_merge_size
        self.encoder = VisionEncoder(self.visual, image_settings, self.device)
        self.stop_ids = list(stop_ids)
        self.inv_freq = self.text.rotary_emb.inv_freq.to(self.device, torch.float32)
        self.graphs = self.device.type == "cuda"
        self.eps = config.rms_norm_eps
        self.kernels = None
        if self.graphs and self.dtype == torch.bfloat16:
            from engine import kernels  # Triton comes with CUDA builds of torch

            self.kernels = kernels
        fused = all(fusable(layer, config.hidden_act, self.kernels is not None) for layer in self.layers)
        self.weights = [fuse(layer) for layer in self.layers] if fused else None
        if self.weights is None:
            self.kernels = None
        self.rows = self.capacity = 0  # sequences and tokens each the cache and the state hold
        self.prefixes: list[tuple[int, ...]] = []  # each row's prompt tokens whose keys and values its cache holds
        self.scalars: dict[str, torch.Tensor] = {}
        self.ranks = torch.arange(MAX_TOP_K, device=self.device)
        self.vision: OrderedDict[str, tuple[torch.Tensor, list[torch.Tensor]]] = OrderedDict()
        self._graphs: dict[tuple[int, int, int], torch.cuda.CUDAGraph] = {}
        self._pool = None
        self.reserve(0)

    # ---- images -------------------------------------------------------------------------

    def image_features(self, images: Sequence[Image.Image], grids: Sequence[tuple[int, int]],
                       stats: StepStats) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Vision features of all images, in order, computing only those not seen before."""
        embeds, deepstack = [], []
        for image, grid in zip(images, grids):
            key = f"{image_digest(image)}{image.size}{grid}"
            if key in self.vision:
                self.vision.move_to_end(key)
                stats.images_reused += 1
            else:
                self.vision[key] = self.encoder.encode(image, grid)
                stats.images_encoded += 1
                while len(self.vision) > VISION_CACHE:
                    self.vision.popitem(last=False)
            embed, stack = self.vision[key]
            embeds.append(embed)
            deepstack.append(stack)
        return torch.cat(embeds), [torch.cat(level) for level in zip(*deepstack)]

    # ---- positions ----------------------------------------------------------------------

    def positions(self, ids: list[int], grids: Sequence[tuple[int, int]]) -> tuple[torch.Tensor, int]:
        """M-RoPE positions (3, L): text counts up on all three axes; an image's tokens take
        (start, start + row, start + column) and the text after it resumes past its largest side."""
        out = np.zeros((3, len(ids)), dtype=np.int64)
        images = iter(grids)
        position = i = 0
        while i < len(ids):
            if ids[i] != self.image_token:
                out[:, i] = position
                position += 1
                i += 1
                continue
            h, w = (side // self.merge for side in next(images))
            rows, cols = np.divmod(np.arange(h * w), w)
            out[0, i:i + h * w] = position
            out[1, i:i + h * w] = position + rows
            out[2, i:i + h * w] = position + cols
            position += max(h, w)
            i += h * w
        return torch.from_numpy(out).to(self.device), position

    # ---- prefill ------------------------------------------------------------------------

    def prefill(self, ids: list[int], images: Sequence[Image.Image], grids: Sequence[tuple[int, int]],
                stats: StepStats, row: int = 0) -> tuple[torch.Tensor, int]:
        """Fill the KV cache of ``row`` with the prompt; returns the last position's logits and the
        next position."""
        length = len(ids)
        stats.prompt_tokens = length
        first_image = ids.index(self.vision_start) if self.vision_start in ids else length
        self.reserve(length, row + 1)
        shared = _shared(self.prefixes[row], ids[:min(first_image, length - 1)])
        stats.reused_prefix = shared
        self.prefixes[row] = self.prefixes[row][:shared]  # what the cache surely holds until this prefill is done
        positions, next_position = self.positions(ids, grids)
        stats.mark("positions")
        tokens = torch.tensor([ids[shared:]], device=self.device)
        embeds = self.text.embed_tokens(tokens)
        visual_mask = deepstack = None
        if images:
            features, deepstack = self.image_features(images, grids, stats)
            stats.mark("vision")
            visual_mask = tokens == self.image_token
            embeds = embeds.masked_scatter(visual_mask[..., None], features.to(embeds.dtype))
        cos, sin = self.text.rotary_emb(embeds, positions[:, None, shared:])
        with sdpa_kernel(ATTENTION):
            hidden = self._prefill_layers(embeds, cos, sin, row, shared, visual_mask, deepstack)
        hidden = self.text.norm(hidden[:, -1])
        logits = self.model.lm_head(hidden).float()[0]
        self.prefixes[row] = tuple(ids[:first_image])  # (what follows an image depends on the image's pixels)
        stats.mark("prefill")
        return logits, next_position

    def _prefill_layers(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, row: int, start: int,
                        visual_mask: torch.Tensor | None, deepstack: list[torch.Tensor] | None) -> torch.Tensor:
        """The decoder layers on the new tokens ``x`` (1, L, hidden), whose keys and values go into
        the cache of ``row`` from slot ``start``; returns the last layer's output.

        As transformers' layers, but the attention over the cached prefix and the causal block
        after it is one flash-attention call on the GPU (:func:`prefix_attention`).
        """
        length = x.shape[1]
        end = start + length
        k = self.kernels
        heads = self.kv_heads * self.groups
        for index, layer in enumerate(self.layers):
            attn = layer.self_attn
            keys, values = self.keys[index, row:row + 1], self.values[index, row:row + 1]  # (1, kv_heads, capacity, dim)
            if k is not None:  # the norms and the rotation as one kernel each
                qkv = self._qkv(index, k.rms_norm(x, layer.input_layernorm.weight, self.eps))
                q = k.norm_rope(qkv, attn.q_norm.weight, attn.k_norm.weight, cos[0], sin[0], keys[0, :, start:end],
                                heads, self.eps)[None]
            else:
                qkv = self._qkv(index, layer.input_layernorm(x))
                q, key, _ = qkv.view(1, length, -1, self.head_dim).split((heads, self.kv_heads, self.kv_heads), 2)
                q = rope(attn.q_norm(q), cos[:, :, None], sin[:, :, None]).transpose(1, 2)
                keys[:, :, start:end] = rope(attn.k_norm(key), cos[:, :, None], sin[:, :, None]).transpose(1, 2)
            value = qkv.view(1, length, -1, self.head_dim)[:, :, heads + self.kv_heads:]
            values[:, :, start:end] = value.transpose(1, 2)
            o = prefix_attention(q, keys[:, :, :end], values[:, :, :end], attn.scaling)
            x = x + attn.o_proj(o.transpose(1, 2).reshape(1, length, -1))
            norm = layer.post_attention_layernorm
            x = x + self._mlp(layer, k.rms_norm(x, norm.weight, self.eps) if k is not None else norm(x))
            if deepstack is not None and index < len(deepstack):  # vision features fed to the first layers
                x[visual_mask] += deepstack[index].to(x.dtype)
        return x

    @staticmethod
    def _mlp(layer: torch.nn.Module, h: torch.Tensor) -> torch.Tensor:
        """The layer's MLP on ``h`` (1, L, hidden), in even parts of at most ``MLP_TOKENS`` tokens: its
        activations, four times as wide as the hidden state, are most of a long prefill's memory."""
        parts = -(-h.shape[1] // MLP_TOKENS)
        if parts == 1:
            return layer.mlp(h)
        return torch.cat([layer.mlp(part) for part in h.tensor_split(parts, dim=1)], dim=1)

    def _qkv(self, index: int, h: torch.Tensor) -> torch.Tensor:
        """The query, key and value projections of ``h`` (1, L, hidden), side by side as (L, q + k + v):
        one product where q/k/v are joined."""
        if self.weights is not None:
            return quant.product(h[0], self.weights[index].qkv[0])
        attn = self.layers[index].self_attn
        return torch.cat((attn.q_proj(h[0]), attn.k_proj(h[0]), attn.v_proj(h[0])), dim=-1)

    # ---- decode -------------------------------------------------------------------------

    def reserve(self, length: int, rows: int = 1) -> None:
        """A KV cache (and decode state) for at least ``length`` tokens in each of at least ``rows``
        sequences, keeping what it holds."""
        rows = max(rows, self.rows)
        if length <= self.capacity and rows == self.rows:
            return
        capacity = self.capacity if length <= self.capacity else -(-length // BUCKET) * BUCKET + BUCKET
        d, layers = self.device, len(self.layers)
        grown = {
            "keys": ((layers, rows, self.kv_heads, capacity, self.head_dim), self.dtype),
            "values": ((layers, rows, self.kv_heads, capacity, self.head_dim), self.dtype),
            "out": ((rows, capacity), torch.long),
            "uniform": ((rows, capacity, MAX_TOP_K), torch.float32),
            "token": ((rows,), torch.long),
            "used": ((rows, self.vocab), torch.float32),
            "cutoff": ((rows, CUTOFF_TOKENS), torch.long),
        }
        for name, (shape, dtype) in grown.items():
            setattr(self, name, _grown(getattr(self, name, None), shape, dtype, d))
        self.scalars = {name: _grown(self.scalars.get(name), (rows,), torch.long if name in LONG_STATE else torch.float32,
                                     d) for name in STATE}
        self.prefixes += [()] * (rows - self.rows)
        self.rows, self.capacity = rows, capacity
        self._graphs.clear()
        self._pool = None

    def free_row(self, ids: Sequence[int], busy: set[int]) -> int:
        """The row for a new prompt: of the rows not in ``busy``, the one whose cache shares the
        longest prefix with ``ids`` (the lowest of equals); a new row where all are busy."""
        free = [row for row in range(self.rows) if row not in busy]
        if not free:
            return self.rows
        return max(free, key=lambda row: (_shared(self.prefixes[row], ids), -row))

    def start(self, row: int, logits: torch.Tensor, slot: int, position: int, sampling: Sampling,
              thinking: Thinking | None) -> int:
        """Begin the reply of the sequence in ``row`` from its prefill's last logits; returns its first
        token. ``slot`` is the first free cache slot (the prompt length), ``position`` the next M-RoPE
        position; the decode steps then advance it with the other live rows."""
        self.reserve(slot + sampling.max_new_tokens + 1, row + 1)
        cutoff = thinking.cutoff[:CUTOFF_TOKENS] if thinking else ()
        values = {
            "slot": slot, "position": position, "count": 0, "closed": 0, "live": 1,
            "budget": thinking.budget if thinking else 1 << 40, "cutoff_length": len(cutoff),
            "end_think": thinking.end_think if thinking else -1, "greedy": int(sampling.temperature <= 0),
            "top_k": top_k(sampling, self.vocab), "temperature": max(sampling.temperature, 1e-5),
            "top_p": sampling.top_p, "penalty": sampling.presence_penalty,
        }
        for name, value in values.items():
            self.scalars[name][row] = value
        self.used[row].zero_()
        self.uniform[row].uniform_()
        self.cutoff[row].zero_()
        if cutoff:
            self.cutoff[row, :len(cutoff)] = torch.tensor(cutoff, device=self.device)
        self._choose(logits[None], top_k(sampling, self.vocab), slice(row, row + 1))
        return int(self.out[row, 0])

    def stop(self, row: int) -> None:
        """The sequence in ``row`` is done: the steps leave its state as it is."""
        self.scalars["live"][row] = 0

    def advance(self, slots: dict[int, int], steps: int, top_k: int) -> None:
        """``steps`` decode steps of the live rows, ``slots`` saying which slot each writes first.
        Rows up to the highest live one (rounded up to a power of two, one graph each) take part;
        those not live are left as they are."""
        rows = min(self.rows, 1 << max(slots).bit_length())
        last = max(slots.values())
        for j in range(steps):
            self._replay(min(self.capacity, -(-(last + j + 1) // BUCKET) * BUCKET), top_k, rows)

    def _step(self, span: int, top_k: int, rows: int) -> None:
        """One token for each of the first ``rows`` sequences: the model on ``self.token`` at their
        slots, then the choice of their next tokens."""
        logits = self._fused(span, rows) if self.kernels is not None else self._layers(span, rows)
        self._choose(logits, top_k, slice(0, rows))

    def _fused(self, span: int, rows: int) -> torch.Tensor:
        """The decoder on the tokens of the first ``rows`` sequences, a layer in seven Triton kernels
        that read each weight once for all of them; returns the logits (rows, vocab)."""
        k, s = self.kernels, {name: value[:rows] for name, value in self.scalars.items()}
        heads = self.kv_heads * self.groups
        x = self.text.embed_tokens(self.token[:rows])  # (rows, hidden): the residual stream, updated in place
        for index, (layer, w) in enumerate(zip(self.layers, self.weights)):
            keys, values = self.keys[index, :rows], self.values[index, :rows]
            q = k.rope_into_cache(k.gemv(x, *w.qkv, norm=w.norm, eps=self.eps), w.q_norm, w.k_norm, self.inv_freq,
                                  s["position"], s["slot"], keys, values, heads, self.eps)
            k.gemv_add_(x, k.decode_attention(q, keys, values, s["slot"], span, layer.self_attn.scaling), w.out)
            k.gemv_add_(x, k.swiglu(x, w.gate, w.up, w.post_norm, self.eps), w.down)
        return k.gemv(x, self.model.lm_head.weight, norm=self.text.norm.weight, eps=self.eps).float()

    def _layers(self, span: int, rows: int) -> torch.Tensor:
        """The decoder on the tokens of the first ``rows`` sequences through torch (where the kernels
        cannot run), its products as matrix products (each weight read once for all of them);
        returns the logits (rows, vocab)."""
        s = {name: value[:rows] for name, value in self.scalars.items()}
        x = self.text.embed_tokens(self.token[:rows])  # (rows, hidden)
        for index, layer in enumerate(self.layers):
            attn = layer.self_attn
            keys, values = self.keys[index, :rows], self.values[index, :rows]
            q = self._rotate_into_cache(self._qkv(index, layer.input_layernorm(x)[None]), attn, s, keys, values)
            x = x + attn.o_proj(self._attention(q, keys, values, s["slot"], span, attn.scaling))
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        return self.model.lm_head(self.text.norm(x)).float()

    def _rotate_into_cache(self, qkv: torch.Tensor, attn: torch.nn.Module, s: dict[str, torch.Tensor],
                           keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Each row's q and k normed and rotated at its position, k and v written at its slot of
        its cache (``keys``, ``values``: (rows, kv_heads, capacity, dim)); returns q (rows, heads * dim)."""
        heads = self.kv_heads * self.groups
        rows = qkv.shape[0]
        q, k, v = qkv.view(rows, -1, self.head_dim).split((heads, self.kv_heads, self.kv_heads), dim=1)
        freqs = s["position"].float()[:, None] * self.inv_freq  # all three M-RoPE axes agree for text
        angles = torch.cat((freqs, freqs), dim=-1)[:, None]
        cos, sin = angles.cos().to(self.dtype), angles.sin().to(self.dtype)
        every = torch.arange(rows, device=self.device)
        keys[every, :, s["slot"]] = rope(attn.k_norm(k), cos, sin)
        values[every, :, s["slot"]] = v
        return rope(attn.q_norm(q), cos, sin).reshape(rows, -1)

    def _attention(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, slot: torch.Tensor, span: int,
                   scaling: float) -> torch.Tensor:
        """Each row's query (rows, heads * dim) over its cache's slots ``0..slot``; (rows, heads * dim)."""
        # Grouped-query attention of one token: a KV head's query heads act as its query rows. Two
        # batched matrix products spread the work over the whole cache.
        rows = q.shape[0]
        q = q.view(rows, self.kv_heads, self.groups, self.head_dim)
        mask = torch.where(torch.arange(span, device=self.device) <= slot[:, None], 0.0, float("-inf"))
        scores = torch.matmul(q, keys[:, :, :span].transpose(-1, -2)).float() * scaling + mask[:, None, None]
        return torch.matmul(torch.softmax(scores, dim=-1).to(self.dtype), values[:, :, :span]).reshape(rows, -1)

    def _choose(self, logits: torch.Tensor, top_k: int, rows: slice) -> None:
        """Pick the next token of each of ``rows`` on the GPU, from their ``logits`` (rows, vocab):
        presence penalty, top-k, top-p, temperature (Gumbel-max), or the thinking budget's forced
        cut-off; then advance their state (a row not live keeps its count)."""
        s = {name: value[rows] for name, value in self.scalars.items()}
        used = self.used[rows]
        values, indexes = torch.topk(logits - s["penalty"][:, None] * used, top_k)
        values = values.masked_fill(self.ranks[:top_k] >= s["top_k"][:, None], float("-inf"))  # each row's own k
        scaled = values / s["temperature"][:, None]
        probs = torch.softmax(scaled, dim=-1)
        outside = (torch.cumsum(probs, dim=-1) - probs) > s["top_p"][:, None]
        # drawn outside the graph, one row of numbers per token; (indexing with a tensor would read it
        # on the host: gather keeps it on the GPU)
        count = s["count"][:, None]
        uniform = self.uniform[rows].gather(1, count[:, :, None].expand(-1, 1, MAX_TOP_K))[:, 0, :top_k]
        noise = -torch.log(-torch.log(uniform.clamp(1e-20, 1.0)))
        choice = torch.argmax(scaled.masked_fill(outside, float("-inf")) + noise, dim=-1, keepdim=True)
        token = torch.where(s["greedy"] > 0, indexes[:, 0], indexes.gather(1, choice)[:, 0])
        over = s["count"] - s["budget"]
        force = (over >= 0) & (over < s["cutoff_length"]) & (s["closed"] == 0)
        forced = self.cutoff[rows].gather(1, over.clamp(0, CUTOFF_TOKENS - 1)[:, None])[:, 0]
        token = torch.where(force, forced, token)
        s["closed"].copy_(s["closed"] | ((token == s["end_think"]) & ~force).long())  # by the model itself
        used.scatter_(1, token[:, None], 1.0)
        self.out[rows].scatter_(1, count, token[:, None])
        self.token[rows] = token
        s["count"].add_(s["live"])

    def _run_step(self, span: int, top_k: int, rows: int) -> None:
        self._step(span, top_k, rows)
        live = self.scalars["live"][:rows]
        self.scalars["slot"][:rows].add_(live)
        self.scalars["position"][:rows].add_(live)

    def _replay(self, span: int, top_k: int, rows: int) -> None:
        """One decode step: eagerly off the GPU, else a captured CUDA graph (captured on first use)."""
        if not self.graphs:
            self._run_step(span, top_k, rows)
            return
        key = (span, top_k, rows)
        if key not in self._graphs:
            state = (self.token, self.used, self.out, *self.scalars.values())
            saved = [t.clone() for t in state]
            # (a failed capture leaves nothing behind: no random numbers are drawn inside the graph)
            try:
                graph, _ = capture(lambda: self._run_step(span, top_k, rows), self._pool)
            except RuntimeError as error:  # a kernel that cannot be captured (some quantised layers)
                logger.warning("decoding without CUDA graphs: {}", error)
                self.graphs = False
            for tensor, value in zip(state, saved):
                tensor.copy_(value)  # undo what warm-up and capture did
            if not self.graphs:
                self._run_step(span, top_k, rows)
                return
            self._pool = graph.pool()
            self._graphs[key] = graph
        self._graphs[key].replay()


STATE = ("slot", "position", "count", "closed", "live", "budget", "cutoff_length", "end_think", "greedy", "top_k",
         "temperature", "top_p", "penalty")
"""Each row's decode state, one tensor per name (the last three float, the rest integers)."""
LONG_STATE = STATE[:-3]


def top_k(sampling: Sampling, vocab: int) -> int:
    """How many most likely tokens a reply samples from."""
    return min(sampling.top_k or MAX_TOP_K, MAX_TOP_K, vocab)


def _shared(a: Sequence[int], b: Sequence[int]) -> int:
    """The length of the common start of ``a`` and ``b``."""
    shared = 0
    for x, y in zip(a, b):
        if x != y:
            break
        shared += 1
    return shared


def _grown(old: torch.Tensor | None, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Zeros of ``shape``, with ``old`` (no larger) copied into its start."""
    new = torch.zeros(shape, dtype=dtype, device=device)
    if old is not None:
        new[tuple(slice(0, n) for n in old.shape)] = old
    return new
