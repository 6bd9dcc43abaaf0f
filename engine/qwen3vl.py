"""Qwen3-VL as the fast decoder reads it: plain torch modules, loaded straight from a checkpoint.

The modules carry the checkpoint's names (``model.language_model.layers.0.self_attn.q_proj``,
``model.visual.blocks.0.attn.qkv``, ...), so the safetensors load into them as they are and
:mod:`engine.quant` converts them as it converts transformers' model. They hold the weights and
the math that :mod:`engine.fast` does not do itself: the norms, the MLP, the M-RoPE angles and
the vision tower. The decoder layers' own attention is :mod:`engine.fast`'s.

Importing transformers' modeling code takes several seconds (about half of a cold start); this
module needs torch and safetensors only. transformers' model stays the reference the fast path is
checked against, and the model of the plain path (:mod:`engine.plain`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open
from torch import nn

from engine import quant

ACTIVATIONS = {"silu": F.silu, "gelu": F.gelu, "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh")}
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class CheckpointError(ValueError):
    """A folder that does not hold a Qwen3-VL checkpoint this module can read."""


# ---- configuration ------------------------------------------------------------------------


def read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise CheckpointError(f"{path.name} is missing") from None
    except ValueError as error:
        raise CheckpointError(f"{path.name} is not valid JSON: {error}") from None


def namespace(value: Any) -> Any:
    """JSON objects as attribute namespaces, all the way down."""
    if isinstance(value, dict):
        return SimpleNamespace(**{key: namespace(item) for key, item in value.items()})
    if isinstance(value, list):
        return [namespace(item) for item in value]
    return value


def read_config(folder: Path) -> SimpleNamespace:
    """``config.json``, with the rotary settings of older checkpoints (``rope_theta`` and
    ``rope_scaling`` beside the other settings) where newer ones keep them (``rope_parameters``)."""
    raw = read_json(folder / "config.json")
    parts = {"text_config", "vision_config"}
    if not isinstance(raw, dict) or raw.get("model_type") != "qwen3_vl" or not parts <= set(raw):
        kind = raw.get("model_type") if isinstance(raw, dict) else None
        raise CheckpointError(f"config.json describes {kind or 'no model type'}, not qwen3_vl")
    for part, theta in (("text_config", 5_000_000.0), ("vision_config", 10_000.0)):
        section = raw[part]
        rope = dict(section.get("rope_scaling") or {}) | dict(section.get("rope_parameters") or {})
        rope.setdefault("rope_theta", section.get("rope_theta", theta))
        section["rope_parameters"] = rope
    text = raw["text_config"]
    if "head_dim" not in text and {"hidden_size", "num_attention_heads"} <= set(text):
        text["head_dim"] = text["hidden_size"] // text["num_attention_heads"]
    raw.setdefault("tie_word_embeddings", text.get("tie_word_embeddings", False))
    return namespace(raw)


def checkpoint_dtype(config: SimpleNamespace) -> torch.dtype:
    """The dtype the checkpoint's unquantised weights are kept in."""
    for section in (config, config.text_config):
        name = getattr(section, "dtype", None) or getattr(section, "torch_dtype", None)
        if name in DTYPES:
            return DTYPES[name]
    return torch.bfloat16


def stop_ids(folder: Path, config: SimpleNamespace) -> list[int]:
    """The tokens that end a reply: ``generation_config.json``'s, else the model config's."""
    path = folder / "generation_config.json"
    ids = read_json(path).get("eos_token_id") if path.is_file() else None
    if ids is None:
        ids = getattr(config.text_config, "eos_token_id", None) or getattr(config, "eos_token_id", None)
    if ids is None:
        raise CheckpointError("neither generation_config.json nor config.json names the end-of-reply tokens")
    return [ids] if isinstance(ids, int) else list(ids)


class ImageSettings:
    """The image processor's settings (``preprocessor_config.json``) that the GPU preprocessing
    follows: patch and merge sizes, rescale factor, mean and standard deviation."""

    def __init__(self, folder: Path) -> None:
        path = folder / "preprocessor_config.json"
        raw = read_json(path) if path.is_file() else {}
        self.patch_size = int(raw.get("patch_size", 16))
        self.temporal_patch_size = int(raw.get("temporal_patch_size", 2))
        self.merge_size = int(raw.get("merge_size", 2))
        self.rescale_factor = float(raw.get("rescale_factor", 1 / 255))
        self.image_mean = list(raw.get("image_mean", [0.5, 0.5, 0.5]))
        self.image_std = list(raw.get("image_std", [0.5, 0.5, 0.5]))


# ---- the language model -------------------------------------------------------------------


class RMSNorm(nn.Module):

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return rms_norm(x, self.weight, self.variance_epsilon)


class Attention(nn.Module):
    """A decoder layer's projections and query/key norms (the attention itself is the decoder's)."""

    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        bias = getattr(c, "attention_bias", False)
        self.q_proj = nn.Linear(c.hidden_size, c.num_attention_heads * c.head_dim, bias=bias)
        self.k_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=bias)
        self.v_proj = nn.Linear(c.hidden_size, c.num_key_value_heads * c.head_dim, bias=bias)
        self.o_proj = nn.Linear(c.num_attention_heads * c.head_dim, c.hidden_size, bias=bias)
        self.q_norm = RMSNorm(c.head_dim, c.rms_norm_eps)
        self.k_norm = RMSNorm(c.head_dim, c.rms_norm_eps)
        self.scaling = c.head_dim ** -0.5


class MLP(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)
        self.act = ACTIVATIONS[c.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = MLP(c)


class TextRotary(nn.Module):
    """M-RoPE angles: the frequencies interleaved between the temporal, height and width positions
    (``mrope_section`` frequencies each, height and width on every third one)."""

    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        settings = c.rope_parameters
        if getattr(settings, "rope_type", "default") != "default" or not getattr(settings, "mrope_interleaved", True):
            raise CheckpointError(f"the fast decoder knows default interleaved M-RoPE only, not {vars(settings)}")
        self.register_buffer("inv_freq", inverse_frequencies(settings.rope_theta, c.head_dim), persistent=False)
        self.section = list(getattr(settings, "mrope_section", [24, 20, 20]))

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin (batch, length, head_dim) in ``x``'s dtype for ``positions`` (3, batch, length)."""
        freqs = positions[..., None].float() * self.inv_freq.to(x.device)  # (3, batch, length, dim / 2)
        mixed = freqs[0].clone()
        for axis in (1, 2):
            every = slice(axis, self.section[axis] * 3, 3)
            mixed[..., every] = freqs[axis, ..., every]
        angles = torch.cat((mixed, mixed), dim=-1)
        return angles.cos().to(x.dtype), angles.sin().to(x.dtype)


class TextModel(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_hidden_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.rotary_emb = TextRotary(c)


# ---- the vision tower ---------------------------------------------------------------------


class PatchEmbed(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.shape = (c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size)
        self.proj = nn.Conv3d(c.in_channels, c.hidden_size, kernel_size=self.shape[1:], stride=self.shape[1:])

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        return self.proj(patches.view(-1, *self.shape).to(self.proj.weight.dtype)).flatten(1)


class VisionAttention(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.heads = c.num_heads
        self.qkv = nn.Linear(c.hidden_size, c.hidden_size * 3)
        self.proj = nn.Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """Every patch of one image attends to every other; the rotation in float32."""
        length = x.shape[0]
        q, k, v = self.qkv(x).reshape(length, 3, self.heads, -1).unbind(1)
        q, k = (rope(t.float(), cos, sin).to(x.dtype) for t in (q, k))
        o = F.scaled_dot_product_attention(*(t.transpose(0, 1)[None] for t in (q, k, v)))
        return self.proj(o[0].transpose(0, 1).reshape(length, -1))


class VisionMLP(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.linear_fc1 = nn.Linear(c.hidden_size, c.intermediate_size)
        self.linear_fc2 = nn.Linear(c.intermediate_size, c.hidden_size)
        self.act = ACTIVATIONS[c.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_fc2(self.act(self.linear_fc1(x)))


class VisionBlock(nn.Module):
    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(c.hidden_size, eps=1e-6)
        self.attn = VisionAttention(c)
        self.norm2 = nn.LayerNorm(c.hidden_size, eps=1e-6)
        self.mlp = VisionMLP(c)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.mlp(self.norm2(x))


class PatchMerger(nn.Module):
    """Each 2x2 block of patches into one token of the language model's width; the deepstack
    mergers norm the block's patches together (``after_shuffle``), the last one each patch alone."""

    def __init__(self, c: SimpleNamespace, after_shuffle: bool) -> None:
        super().__init__()
        self.width = c.hidden_size * c.spatial_merge_size ** 2
        self.after_shuffle = after_shuffle
        self.norm = nn.LayerNorm(self.width if after_shuffle else c.hidden_size, eps=1e-6)
        self.linear_fc1 = nn.Linear(self.width, self.width)
        self.linear_fc2 = nn.Linear(self.width, c.out_hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x.view(-1, self.width)) if self.after_shuffle else self.norm(x).view(-1, self.width)
        return self.linear_fc2(F.gelu(self.linear_fc1(x)))


class VisionModel(nn.Module):
    """The vision tower on one image's patches, in merge-block order (the 2x2 blocks that become
    one token each, one after another). What depends on the image's grid only (the learned
    position embeddings resampled to it, the rotary angles) is computed once per grid."""

    def __init__(self, c: SimpleNamespace) -> None:
        super().__init__()
        self.spatial_merge_size = c.spatial_merge_size
        self.patch_embed = PatchEmbed(c)
        self.pos_embed = nn.Embedding(c.num_position_embeddings, c.hidden_size)
        self.side = int(c.num_position_embeddings ** 0.5)
        self.blocks = nn.ModuleList(VisionBlock(c) for _ in range(c.depth))
        self.merger = PatchMerger(c, after_shuffle=False)
        self.deepstack_visual_indexes = list(c.deepstack_visual_indexes)
        self.deepstack_merger_list = nn.ModuleList(PatchMerger(c, after_shuffle=True)
                                                   for _ in self.deepstack_visual_indexes)
        rotary = c.hidden_size // c.num_heads // 2
        self.register_buffer("inv_freq", inverse_frequencies(c.rope_parameters.rope_theta, rotary), persistent=False)
        self._grids: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    @property
    def dtype(self) -> torch.dtype:
        return self.pos_embed.weight.dtype

    def forward(self, patches: torch.Tensor, grid: tuple[int, int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The image's tokens for the language model (grid / 4, out width) and its deepstack
        features (one such tensor per deepstack layer)."""
        positions, cos, sin = self.grid_constants(grid)
        x = self.patch_embed(patches) + positions
        deepstack = []
        for index, block in enumerate(self.blocks):
            x = block(x, cos, sin)
            if index in self.deepstack_visual_indexes:
                deepstack.append(self.deepstack_merger_list[self.deepstack_visual_indexes.index(index)](x))
        return self.merger(x), deepstack

    def grid_constants(self, grid: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """For a (height, width) grid of patches: the position embeddings (bilinear, corners
        aligned, from the learned square table) and the rotary cos and sin, in merge-block order."""
        if grid not in self._grids:
            device = self.pos_embed.weight.device
            height, width = grid
            rows_taps, rows_weights = _taps(height, self.side, device)
            cols_taps, cols_weights = _taps(width, self.side, device)
            taps = rows_taps[:, None, :, None] * self.side + cols_taps[None, :, None, :]  # (h, w, 2, 2)
            weights = rows_weights[:, None, :, None] * cols_weights[None, :, None, :]
            taps, weights = (self.merge_order(t.reshape(height, width, 4)) for t in (taps, weights))
            positions = (self.pos_embed(taps) * weights[..., None]).sum(1).to(self.dtype)
            rows, cols = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device),
                                        indexing="ij")
            freqs = torch.stack((self.merge_order(rows), self.merge_order(cols)), -1)[..., None] * self.inv_freq
            angles = torch.cat((freqs[:, 0], freqs[:, 1]), -1)
            angles = torch.cat((angles, angles), -1)[:, None]  # (patches, 1, head_dim): for every head
            self._grids[grid] = (positions, angles.cos(), angles.sin())
        return self._grids[grid]

    def merge_order(self, x: torch.Tensor) -> torch.Tensor:
        """(height, width, ...) in merge-block order: (height * width, ...)."""
        m = self.spatial_merge_size
        height, width = x.shape[:2]
        x = x.reshape(height // m, m, width // m, m, *x.shape[2:]).transpose(1, 2)
        return x.reshape(height * width, *x.shape[4:])


def _taps(size: int, side: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of ``size`` positions on an axis, its two neighbours in a table of ``side``
    (corners aligned) and their weights."""
    source = torch.arange(size, device=device).float() * (side - 1) / max(size - 1, 1)
    floor = source.floor()
    frac = source - floor
    low = floor.long()
    return torch.stack((low, (low + 1).clamp(max=side - 1)), 1), torch.stack((1 - frac, frac), 1)


def inverse_frequencies(theta: float, dim: int) -> torch.Tensor:
    """RoPE's frequencies for ``dim`` rotated values, on the CPU even while the model is built on
    the meta device (the checkpoint does not hold them)."""
    return 1.0 / (theta ** (torch.arange(0, dim, 2, device="cpu").float() / dim))


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen's RMSNorm, to the bit: in float32, scaled in the input's dtype."""
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x`` rotated by the angles whose ``cos`` and ``sin`` are given (the halves of the last axis
    as the pairs)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


# ---- the whole model and its loading ------------------------------------------------------


class Inner(nn.Module):
    def __init__(self, config: SimpleNamespace) -> None:
        super().__init__()
        self.language_model = TextModel(config.text_config)
        self.visual = VisionModel(config.vision_config)


class Qwen3VL(nn.Module):
    """The model: ``model.language_model``, ``model.visual`` and ``lm_head``."""

    def __init__(self, config: SimpleNamespace) -> None:
        super().__init__()
        self.config = config
        self.model = Inner(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)

    @property
    def device(self) -> torch.device:
        return self.lm_head.weight.device


def load(folder: Path, device: torch.device, fmt: quant.Format | None = None) -> Qwen3VL:
    """The checkpoint in ``folder`` on ``device``, in its own dtype; the layers of an FP8
    checkpoint keep their FP8 weights, and with ``fmt`` the layers :func:`engine.quant.convertible`
    names are converted to it as they are read, one matrix at a time (as
    :class:`engine.quant.QuantisedLinear`). Every tensor goes from the file to ``device`` once.
    Raises :class:`CheckpointError` for anything else than a Qwen3-VL checkpoint whose tensors
    all fit."""
    config = read_config(folder)
    dtype = checkpoint_dtype(config)
    try:
        with torch.device("meta"), uninitialised():
            model = Qwen3VL(config)
    except AttributeError as error:  # a setting the config lacks
        raise CheckpointError(f"config.json lacks {error.name}") from None
    tensors = Tensors(folder, device)
    names = set(model.state_dict())
    for key in sorted(key for key in tensors.keys if key.endswith(".weight_scale_inv")):
        name = key.removesuffix(".weight_scale_inv")
        parent, _, child = name.rpartition(".")
        linear = getattr(model.get_submodule(parent), child, None) if f"{name}.weight" in names else None
        if not isinstance(linear, nn.Linear):
            raise CheckpointError(f"{key} scales no linear layer of Qwen3-VL")
        weight = tensors.get(f"{name}.weight")
        if weight.shape != linear.weight.shape:
            raise CheckpointError(f"{name}.weight is {tuple(weight.shape)}, where the config makes it "
                                  f"{tuple(linear.weight.shape)}")
        try:
            layer = quant.fp8_linear(name, weight, tensors.get(key), dtype, linear.bias)
        except ValueError as error:
            raise CheckpointError(str(error)) from None
        setattr(model.get_submodule(parent), child, layer)
    if fmt is not None:
        quant.quantise_model(model, fmt, device, lambda key: tensors.get(key, dtype))
    expected = set(model.state_dict())  # what is left to read (a bias stays with its converted layer)
    if config.tie_word_embeddings:
        expected.discard("lm_head.weight")
    missing = sorted(expected - tensors.keys)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise CheckpointError(f"the checkpoint lacks {', '.join(missing[:3])}{more}")
    state = {key: tensors.get(key, dtype) for key in expected}
    try:
        model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as error:  # shapes other than the config's
        raise CheckpointError(f"the checkpoint does not match its config.json: {error}") from None
    if config.tie_word_embeddings:
        model.lm_head.weight = model.model.language_model.embed_tokens.weight
    return model.to(device).requires_grad_(False).eval()  # (the buffers were made on the CPU)


_INIT_LOCK = threading.Lock()


@contextmanager
def uninitialised() -> Iterator[None]:
    """Modules built without drawing their initial weights, which the checkpoint's replace (on the
    meta device the draws would cost nothing, but the first imports torch's compiler: two seconds).
    One model at a time: ``torch.nn.init`` is the process's."""
    names = [name for name in dir(nn.init) if name.endswith("_") and not name.startswith("_")]
    with _INIT_LOCK:
        saved = {name: getattr(nn.init, name) for name in names}
        for name in names:
            setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        try:
            yield
        finally:
            for name, function in saved.items():
                setattr(nn.init, name, function)


class Tensors:
    """The checkpoint's tensors by name, across its safetensors files."""

    def __init__(self, folder: Path, device: torch.device) -> None:
        index = folder / "model.safetensors.index.json"
        if index.is_file():
            files = {key: folder / file for key, file in read_json(index)["weight_map"].items()}
        elif (folder / "model.safetensors").is_file():
            files = dict.fromkeys(self._keys(folder / "model.safetensors"), folder / "model.safetensors")
        else:
            raise CheckpointError("there is no model.safetensors (nor an index of its shards)")
        self.files, self.device = files, device
        self.keys = set(files)

    @staticmethod
    def _keys(path: Path) -> list[str]:
        with safe_open(path, framework="pt") as file:
            return list(file.keys())

    @cached_property
    def _open(self) -> dict[Path, Any]:
        return {path: safe_open(path, framework="pt", device=str(self.device)) for path in set(self.files.values())}

    def get(self, key: str, dtype: torch.dtype | None = None) -> torch.Tensor:
        if key not in self.files:
            raise CheckpointError(f"the checkpoint lacks {key}")
        tensor = self._open[self.files[key]].get_tensor(key)
        return tensor if dtype is None or not tensor.is_floating_point() else tensor.to(dtype)
