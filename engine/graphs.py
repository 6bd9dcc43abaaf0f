"""CUDA graph capture, shared by the decode step and the vision encoder."""

from __future__ import annotations

from collections.abc import Callable

import torch


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
