"""The physical limit of a decode token, for the benches to print beside each speed.

At batch 1 every decode step reads each weight matrix of the language model once (and
``lm_head``; the embedding table only one row), plus the KV cache so far. Bytes on the GPU
move at its copy bandwidth, bytes kept in CPU memory (offload) over the bus at its host-to-
device bandwidth; both are measured here, on the machine the bench runs on. A measured speed
above the limit means the bench counted wrong, and the benches stop with an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Bandwidth:
    device: float  # bytes/s, device to device (bytes read plus bytes written)
    host: float  # bytes/s, pinned host memory to the device

    @classmethod
    def measure(cls) -> Bandwidth | None:
        """The two bandwidths of this machine's first GPU (None without one)."""
        if not torch.cuda.is_available():
            return None
        device = _copy_rate(torch.empty(2**31, dtype=torch.uint8, device="cuda"), "cuda") * 2  # (read + written)
        host = _copy_rate(torch.empty(2**30, dtype=torch.uint8, pin_memory=True), "cuda")
        return cls(device, host)

    def __str__(self) -> str:
        return f"GPU copy {self.device / 1e12:.2f} TB/s, host to GPU {self.host / 1e9:.1f} GB/s (pinned)"


def _copy_rate(source: torch.Tensor, device: str) -> float:
    """Bytes a second copied from ``source`` into a new tensor on ``device``."""
    target = torch.empty(source.shape, dtype=source.dtype, device=device)
    return source.numel() / _seconds(lambda: target.copy_(source, non_blocking=True))


def _seconds(run, repeats: int = 10) -> float:
    run()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def token_bytes(model: torch.nn.Module) -> tuple[int, int]:
    """Bytes one decode step reads from (GPU memory, CPU memory): the decoder layers' matrices
    (quantised ones with their scales) and ``lm_head``."""
    from engine.quant import QuantisedLinear

    text = model.model.language_model
    gpu = cpu = 0
    modules = [m for layer in text.layers for m in layer.modules()] + [model.lm_head]
    for module in modules:
        if isinstance(module, QuantisedLinear):
            size, on_cpu = module.matrix.nbytes, module.matrix.values.device.type == "cpu"
        elif isinstance(module, torch.nn.Linear):
            weight = module.weight
            size, on_cpu = weight.numel() * weight.element_size(), weight.device.type in ("cpu", "meta")
        else:
            continue
        if on_cpu:
            cpu += size
        else:
            gpu += size
    return gpu, cpu


def kv_bytes(model: torch.nn.Module, span: int) -> int:
    """Bytes of keys and values one step reads at an attention span of ``span`` positions."""
    config = model.config.text_config
    return 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim * 2 * span


def limit(model: torch.nn.Module, bandwidth: Bandwidth | None, span: int) -> float:
    """The most tokens a second one sequence can decode on this machine (infinite without a GPU)."""
    if bandwidth is None:
        return float("inf")
    gpu, cpu = token_bytes(model)
    return 1.0 / ((gpu + kv_bytes(model, span)) / bandwidth.device + cpu / bandwidth.host)


def check(name: str, speed: float, most: float) -> str:
    """``speed`` beside its limit; raises if the speed is above it (a counting error)."""
    if speed > most * 1.02:  # (the bandwidth is a median; 2% of spread)
        raise SystemExit(f"{name}: {speed:.1f} tok/s is above the physical limit of {most:.0f} tok/s: the bench "
                         "counts wrong")
    return f"{speed:.1f} tok/s (limit {most:.0f}, {speed / most:.0%})"


def use_tiles(path: str | None) -> None:
    """Take the quantised kernels' tiles from a file written by ``bench/quant_kernels.py --write``."""
    if not path:
        return
    import json

    from engine import kernels, quant_kernels

    for key, tiles in json.loads(open(path).read()).items():
        fmt, rows, cols, *gated = key.split(",")
        if fmt == "few":  # the products of a batched decode step: "few,<format>,rows,cols"
            quant_kernels.FEW_TILES[(rows, int(cols), int(gated[0]))] = tuple(tiles)
        elif fmt == "tokens":  # bf16's in a batched decode step: "tokens,rows,cols,gated"
            kernels.TOKENS_TILES[(int(rows), int(cols), gated[0] == "True")] = tuple(tiles)
        else:
            quant_kernels.TILES[(fmt, int(rows), int(cols), gated[0] == "True")] = tuple(tiles)
