"""Triton kernels on the CPU: Triton's interpreter, with three fixes, for tests of our kernels.

Import this module before anything imports ``triton`` (it sets ``TRITON_INTERPRET``); run it in
a process of its own, since it patches the interpreter. With Triton 3.6 and numpy 2.4 the
interpreter (a) reads a loop bound through ``int()`` of a one-element array, which numpy no
longer allows, (b) multiplies bf16 matrices in ``tl.dot`` as their raw 16-bit patterns, and
(c) casts integers to bf16 the same way. Each fix goes through float32, as the GPU does.
"""

from __future__ import annotations

import os

os.environ["TRITON_INTERPRET"] = "1"

import numpy as np  # noqa: E402
import triton.language as tl  # noqa: E402
import triton.runtime.interpreter as interpreter  # noqa: E402

_patch_tensor = interpreter._patch_lang_tensor
Builder, Handle, _convert = interpreter.InterpreterBuilder, interpreter.TensorHandle, interpreter._convert_float


def _patch_lang_tensor(tensor, scope) -> None:
    _patch_tensor(tensor, scope)
    scope.set_attr(tensor, "__index__", lambda self: int(self.handle.data.item()))


def _float32(handle):
    if handle.dtype.scalar == tl.bfloat16:
        return _convert(handle.data, tl.bfloat16, tl.float32, None).view(np.float32)
    return handle.data


_dot = Builder.create_dot


def _create_dot(self, a, b, d, input_precision, max_num_imprecise_acc):
    if tl.bfloat16 in (a.dtype.scalar, b.dtype.scalar):
        return Handle(np.matmul(_float32(a), _float32(b), dtype=np.float32) + d.data, d.dtype.scalar)
    return _dot(self, a, b, d, input_precision, max_num_imprecise_acc)


_cast = Builder.cast_impl


def _cast_impl(self, src, dst_type):
    source, target = src.dtype.scalar, dst_type.scalar
    if target == tl.bfloat16 and source not in (tl.float32, tl.bfloat16):
        src = Handle(src.data.astype(np.float32), tl.float32)
    elif source == tl.bfloat16 and target not in (tl.float32, tl.bfloat16):
        return Handle(_float32(src).astype(interpreter._get_np_dtype(dst_type)), target)
    return _cast(self, src, dst_type)


interpreter._patch_lang_tensor = _patch_lang_tensor
Builder.create_dot = _create_dot
Builder.cast_impl = _cast_impl
for _name in ("create_si_to_fp", "create_ui_to_fp", "create_fp_to_si", "create_fp_to_ui", "create_fp_ext",
              "create_fp_trunc"):
    setattr(Builder, _name, lambda self, src, dst_type: self.cast_impl(src, dst_type))
Builder.create_int_cast = lambda self, src, dst_type, is_signed: self.cast_impl(src, dst_type)
