"""Weight-only quantised linear layers: the formats, their conversion at load, and a reference.

A decode token at batch 1 reads every weight once, so fewer bytes a weight is a faster token as
long as turning the stored bits back into numbers costs less than reading them. Two formats,
each chosen so that the matrix-vector kernel (:mod:`engine.quant_kernels`) turns two values into
a float16 pair with one or two instructions:

- **FP8** (``--quantize 8bit`` and Qwen's official FP8 checkpoints): e4m3 values, one float32
  scale per 128x128 block, the layout of ``quantization_config: {quant_method: fp8,
  weight_block_size: [128, 128]}`` (``weight`` and ``weight_scale_inv``). 1.0 byte a weight.
- **INT4** (``--quantize 4bit``): 4-bit unsigned values, a float16 scale and minimum per 64
  values of a row (``value = q * scale + minimum``), eight values to an int32 word, the
  first in the lowest bits. 0.5625 bytes a weight, as bitsandbytes' nf4 with its float32
  absmax per 64; rounded to the nearest level of each group's own range instead of to the
  16 NormalFloat levels of its absolute maximum (``tests/test_quantised.py`` measures both).

The language model's linear layers are converted once, as the model is loaded: by the fast
decoder's loader as each matrix is read from the checkpoint, or in transformers' model once
loaded (an FP8 checkpoint's layers are taken as they are in either). INT4 converts the vision
tower's blocks too: 4-bit is for cards where memory decides, and the blocks hold 0.56 GiB of
bf16 weights in the 4B model, 0.16 GiB as INT4 (bitsandbytes' nf4 converts the whole tower, its
mergers as well).
The mergers, which carry the image features into the language model's space, the embedding
table and ``lm_head`` (which share their weights) stay in bf16. Off the GPU, and as the
reference the kernels are checked against, a layer dequantises its matrix and calls
``F.linear``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

Format = Literal["fp8", "int4"]
FP8_BLOCK = 128
INT4_GROUP = 64
FP8_MAX = 448.0


@dataclass(frozen=True)
class Quantised:
    """A quantised (rows, cols) matrix. ``values``: fp8 (rows, cols) or int32 words (rows, cols / 8);
    ``scales``: float32 (rows / 128, cols / 128) for fp8, float16 (rows, cols / 64) for int4;
    ``minimums``: float16 like ``scales`` (int4 only)."""

    format: Format
    values: torch.Tensor
    scales: torch.Tensor
    minimums: torch.Tensor | None
    rows: int
    cols: int

    @property
    def nbytes(self) -> int:
        """Bytes a product reads."""
        parts = [self.values, self.scales] + ([self.minimums] if self.minimums is not None else [])
        return sum(t.numel() * t.element_size() for t in parts)


def supported(fmt: Format, rows: int, cols: int) -> bool:
    """Whether a (rows, cols) matrix can be kept in ``fmt`` (whole blocks and groups only)."""
    if fmt == "fp8":
        return rows % FP8_BLOCK == 0 and cols % FP8_BLOCK == 0
    return cols % INT4_GROUP == 0


def quantise(weight: torch.Tensor, fmt: Format) -> Quantised:
    """``weight`` (rows, cols) in ``fmt``, on its device (round to nearest)."""
    rows, cols = weight.shape
    w = weight.float()
    if fmt == "fp8":
        blocks = w.reshape(rows // FP8_BLOCK, FP8_BLOCK, cols // FP8_BLOCK, FP8_BLOCK)
        amax = blocks.abs().amax(dim=(1, 3))
        scales = torch.where(amax > 0, amax / FP8_MAX, torch.ones_like(amax))
        values = (blocks / scales[:, None, :, None]).clamp(-FP8_MAX, FP8_MAX).to(torch.float8_e4m3fn)
        return Quantised("fp8", values.reshape(rows, cols), scales.contiguous(), None, rows, cols)
    groups = w.reshape(rows, cols // INT4_GROUP, INT4_GROUP)
    low, high = groups.amin(-1), groups.amax(-1)
    scales = ((high - low) / 15).to(torch.float16)
    minimums = low.to(torch.float16)
    step = torch.where(scales > 0, scales.float(), torch.ones_like(low))
    q = ((groups - minimums.float()[..., None]) / step[..., None]).round().clamp(0, 15).to(torch.int32)
    return Quantised("int4", pack_int4(q.reshape(rows, cols)), scales, minimums, rows, cols)


def pack_int4(q: torch.Tensor) -> torch.Tensor:
    """(rows, cols) values 0..15 into (rows, cols / 8) int32 words, column c in word c // 8 at bits 4 (c % 8)."""
    rows, cols = q.shape
    nibbles = q.to(torch.int64).reshape(rows, cols // 8, 8)
    words = (nibbles << (4 * torch.arange(8, device=q.device))).sum(-1)
    return torch.where(words >= 2**31, words - 2**32, words).to(torch.int32)


def unpack_int4(words: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`pack_int4`: (rows, cols) int32 values 0..15."""
    rows, count = words.shape
    nibbles = (words[..., None].to(torch.int64) >> (4 * torch.arange(8, device=words.device))) & 15
    return nibbles.reshape(rows, count * 8).to(torch.int32)


def dequantise(matrix: Quantised, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The matrix the quantised values stand for, computed in float32 (the reference)."""
    rows, cols = matrix.rows, matrix.cols
    if matrix.format == "fp8":
        scales = matrix.scales.float().repeat_interleave(FP8_BLOCK, 0).repeat_interleave(FP8_BLOCK, 1)
        return (matrix.values.float() * scales[:rows, :cols]).to(dtype)
    q = unpack_int4(matrix.values).float().reshape(rows, cols // INT4_GROUP, INT4_GROUP)
    w = q * matrix.scales.float()[..., None] + matrix.minimums.float()[..., None]
    return w.reshape(rows, cols).to(dtype)


def stack(matrices: list[Quantised]) -> Quantised:
    """Matrices of one format and width one above the other (q, k and v as one product)."""
    first = matrices[0]
    minimums = None if first.minimums is None else torch.cat([m.minimums for m in matrices])
    return Quantised(first.format, torch.cat([m.values for m in matrices]), torch.cat([m.scales for m in matrices]),
                     minimums, sum(m.rows for m in matrices), first.cols)


class QuantisedLinear(torch.nn.Module):
    """A linear layer with quantised weights. On a CUDA GPU it runs the Triton kernels
    (matrix-vector for one token, a matrix product that decodes tiles as it goes for more);
    elsewhere it dequantises and calls ``F.linear``."""

    def __init__(self, matrix: Quantised, dtype: torch.dtype, bias: torch.nn.Parameter | None = None) -> None:
        super().__init__()
        self.in_features, self.out_features = matrix.cols, matrix.rows
        self.dtype = dtype
        self.bias = bias
        self.set_matrix(matrix)

    def set_matrix(self, matrix: Quantised) -> None:
        self.matrix = matrix
        # registered as buffers so that .to(), state and memory accounting see them
        self.register_buffer("values", matrix.values, persistent=False)
        self.register_buffer("scales", matrix.scales, persistent=False)
        self.register_buffer("minimums", matrix.minimums, persistent=False)

    def _apply(self, fn, recurse=True):  # keep the matrix's tensors the buffers' tensors after .to()
        super()._apply(fn, recurse)
        self.matrix = Quantised(self.matrix.format, self.values, self.scales, self.minimums, self.matrix.rows,
                                self.matrix.cols)
        return self

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, format={self.matrix.format}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = product(x, self.matrix)
        return out if self.bias is None else out + self.bias


LANGUAGE_LINEARS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
                    "mlp.up_proj", "mlp.down_proj")
VISION_LINEARS = ("attn.qkv", "attn.proj", "mlp.linear_fc1", "mlp.linear_fc2")
"""A vision block's linear layers (with biases); the mergers after the blocks, which carry the
features into the language model's space, are not among them."""


def convertible(model: torch.nn.Module, fmt: Format) -> list[tuple[str, torch.nn.Module, str, torch.nn.Linear]]:
    """The linear layers of a Qwen3-VL model that :func:`quantise_model` converts to ``fmt``: the
    language model's, and for INT4 the vision blocks' (see the module's notes), where their
    shape allows; each as (its name, its parent module, its name there, the layer)."""
    found = []
    groups = [("model.language_model.layers", LANGUAGE_LINEARS)]
    if fmt == "int4":
        groups.append(("model.visual.blocks", VISION_LINEARS))
    for prefix, names in groups:
        for index, layer in enumerate(model.get_submodule(prefix)):
            for name in names:
                parent_name, _, child = name.rpartition(".")
                parent = layer.get_submodule(parent_name)
                linear = getattr(parent, child)
                if type(linear) is torch.nn.Linear and supported(fmt, linear.out_features, linear.in_features):
                    found.append((f"{prefix}.{index}.{name}", parent, child, linear))
    return found


@torch.no_grad()
def quantise_model(model: torch.nn.Module, fmt: Format, device: torch.device,
                   weight: Callable[[str], torch.Tensor] | None = None) -> int:
    """Replace the :func:`convertible` layers by ``fmt`` ones on ``device``, one matrix at a time
    (the matrix goes to the device, is converted there and freed), so that the device never
    holds more than the quantised model and one bf16 matrix. ``weight`` gives a layer's matrix
    by its name where the model does not hold it yet (a checkpoint being read). Returns how many
    were converted."""
    layers = convertible(model, fmt)
    for name, parent, child, linear in layers:
        matrix = (weight(f"{name}.weight") if weight else linear.weight.detach()).to(device)
        if matrix.shape != linear.weight.shape:
            raise ValueError(f"{name}.weight is {tuple(matrix.shape)}, where the config makes it "
                             f"{tuple(linear.weight.shape)}")
        setattr(parent, child, QuantisedLinear(quantise(matrix, fmt), matrix.dtype, linear.bias))
        linear.weight = None
        del matrix
    return len(layers)


def fp8_linear(name: str, weight: torch.Tensor, scales: torch.Tensor, dtype: torch.dtype,
               bias: torch.nn.Parameter | None, blocks: tuple[int, ...] = (FP8_BLOCK, FP8_BLOCK)) -> QuantisedLinear:
    """A checkpoint's FP8 layer ``name`` (e4m3 ``weight``, its ``weight_scale_inv`` ``scales``) as a
    :class:`QuantisedLinear`, sharing the tensors; raises ValueError for a layout other than whole
    128x128 blocks."""
    rows, cols = weight.shape
    shape = (-(-rows // FP8_BLOCK), -(-cols // FP8_BLOCK))
    if (weight.dtype != torch.float8_e4m3fn or tuple(blocks) != (FP8_BLOCK, FP8_BLOCK)
            or not supported("fp8", rows, cols) or tuple(scales.shape) != shape):
        raise ValueError(f"{name}: only FP8 (e4m3) weights in whole 128x128 blocks are supported")
    return QuantisedLinear(Quantised("fp8", weight, scales.float().contiguous(), None, rows, cols), dtype, bias)


def adopt_fp8(model: torch.nn.Module) -> int:
    """transformers' FP8 layers (an FP8 checkpoint loaded on a GPU) as :class:`QuantisedLinear`,
    sharing their tensors: their own forward needs a kernel downloaded from the hub. Returns
    how many layers were taken over; raises ValueError as :func:`fp8_linear`."""
    taken = 0
    for name, module in list(model.named_modules()):
        weight, scales = getattr(module, "weight", None), getattr(module, "weight_scale_inv", None)
        if weight is None or scales is None or weight.dtype != torch.float8_e4m3fn:
            continue
        layer = fp8_linear(name, weight.data, scales.data, torch.bfloat16, module.bias,
                           tuple(getattr(module, "block_size", None) or ()))
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name), child, layer)
        taken += 1
    return taken


def split(matrix: Quantised, sizes: list[int]) -> list[Quantised]:
    """Views of consecutive row ranges of a stacked matrix (the inverse of :func:`stack`, no copy)."""
    per_scale = FP8_BLOCK if matrix.format == "fp8" else 1
    parts, start = [], 0
    for rows in sizes:
        scales = slice(start // per_scale, (start + rows) // per_scale)
        minimums = None if matrix.minimums is None else matrix.minimums[start:start + rows]
        parts.append(Quantised(matrix.format, matrix.values[start:start + rows], matrix.scales[scales], minimums,
                               rows, matrix.cols))
        start += rows
    return parts


def product(x: torch.Tensor, weight: torch.Tensor | Quantised) -> torch.Tensor:
    """``x @ weight.T`` for a bf16 or a quantised ``weight``."""
    if isinstance(weight, torch.Tensor):
        return F.linear(x, weight)
    if x.is_cuda and x.dtype == torch.bfloat16:
        from engine import quant_kernels

        return quant_kernels.linear(x, weight)
    return F.linear(x, dequantise(weight, x.dtype))
