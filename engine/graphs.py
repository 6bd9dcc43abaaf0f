"""CUDA graph capture, shared by the decode step and the vision encoder."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch


def capturable(module: torch.nn.Module) -> bool:
    """Whether ``module`` can run inside a CUDA graph: not with bitsandbytes' 8-bit layers, which
    look for outliers on the host. (Finding out by trying costs more than the failed capture: it
    leaves torch's CUDA random number generator unusable for the rest of the process.)"""
    if "bitsandbytes" not in sys.modules:  # (no quantised layers without it)
        return True
    from bitsandbytes.nn import Linear8bitLt

    return not any(isinstance(layer, Linear8bitLt) for layer in module.modules())


def capture(run: Callable[[], object], pool: object = None) -> tuple[torch.cuda.CUDAGraph, object]:
    """``run`` as a CUDA graph, after a warm-up run on a side stream (kernels, workspaces); returns
    the graph and what the captured run returned (tensors that each replay writes anew)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        run()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph, pool=pool):
        out = run()
    return graph, out
