"""Checks of our Triton kernels, run natively on a GPU or, on a CPU with Triton installed,
through Triton's interpreter in a process of its own (``tests/triton_interpreter.py`` patches
the interpreter, so it must not run inside the test process)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def run_check(check: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``check()`` (a module-level function of a test module, returning named errors) where the
    kernels can run; skips the test where Triton is missing."""
    if torch.cuda.is_available():
        return check()
    pytest.importorskip("triton")  # (CUDA builds of torch bring it; the CPU runs it interpreted)
    module = ".".join(Path(inspect.getfile(check)).resolve().relative_to(ROOT).with_suffix("").parts)
    name = check.__name__
    code = f"import json, tests.triton_interpreter; from {module} import {name}; print(json.dumps({name}()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
