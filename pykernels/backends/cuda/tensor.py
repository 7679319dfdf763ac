"""Device versions of the nn layer's non-kernel array operations and of the optimizer updates
(kernels: cuda/tensor.cu), so that a model on the cuda backends keeps its parameters, gradients and
optimizer state on the device (pykernels/nn/_tensor.py and pykernels/optim/_update.py call these for
device arrays).

Unlike the public ops, these work in place on DeviceArrays of this runtime (a NumPy array is
refused: an in-place update of a host copy would be lost).  Reductions are deterministic.
"""
from __future__ import annotations

import math

import numpy as np

from pykernels.backends.cuda.runtime import DeviceArray

OPS = ("view", "last", "fill", "axpby", "add_bias_rows", "add_bias_channels", "accumulate_column_sums", "sum_squares",
       "clip", "argmax_hits", "sgd_update", "adam_update")

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))


class DeviceArrayView(DeviceArray):
    """A DeviceArray sharing the memory of ``base`` under another shape (no copy, nothing freed)."""

    __slots__ = ("base",)

    def __init__(self, base, shape, offset=0):  # noqa: D107 - no allocation, unlike DeviceArray
        self.runtime = base.runtime
        self.shape = tuple(int(s) for s in shape)
        self.dtype = base.dtype
        self.ptr = base.ptr + int(offset) * base.dtype.itemsize
        self.base = base
        self._finalizer = None

    def __repr__(self):
        return f"DeviceArrayView(shape={self.shape}, dtype={self.dtype}, backend={self.runtime.name!r})"


def _dev(rt, op, name, x, dtype=None, shape=None):
    """``x`` checked as a DeviceArray of runtime ``rt`` (float32/float64 unless ``dtype``)."""
    if not isinstance(x, DeviceArray):
        raise TypeError(f"{op}: argument '{name}' must be a DeviceArray of backend {rt.name!r}, got "
                        f"{type(x).__name__}")
    if x.runtime is not rt:
        raise TypeError(f"{op}: argument '{name}' is a {x.runtime.name!r} device array, not {rt.name!r}")
    if dtype is None:
        if x.dtype not in _FLOAT:
            raise TypeError(f"{op}: argument '{name}' must be float32 or float64, got {x.dtype}")
    elif x.dtype != dtype:
        raise TypeError(f"{op}: argument '{name}' must have dtype {np.dtype(dtype)}, got {x.dtype}")
    if shape is not None and x.shape != tuple(shape):
        raise ValueError(f"{op}: argument '{name}' must have shape {tuple(shape)}, got {x.shape}")
    return x


def view(rt, x, shape):
    """``x`` under ``shape`` (one -1 allowed), sharing its memory."""
    return _view(rt, "view", x, shape, 0)


def _view(rt, op, x, shape, offset):
    x = _dev(rt, op, "x", x, dtype=x.dtype if isinstance(x, DeviceArray) else None)
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list)) else (shape,)))
    if shape.count(-1) > 1 or any(s < -1 for s in shape):
        raise ValueError(f"{op}: invalid shape {shape}")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or x.size % rest:
            raise ValueError(f"{op}: cannot view an array of shape {x.shape} as {shape}")
        shape = tuple(x.size // rest if s == -1 else s for s in shape)
    if math.prod(shape) != x.size:
        raise ValueError(f"{op}: cannot view an array of shape {x.shape} as {shape}")
    return _slice(x, offset, shape)


def last(rt, x):
    """``x[-1]`` of a device array with at least one dimension, sharing its memory."""
    x = _dev(rt, "last", "x", x, dtype=x.dtype if isinstance(x, DeviceArray) else None)
    if x.ndim < 1 or x.shape[0] == 0:
        raise ValueError(f"last: argument 'x' must have a non-empty first axis, got shape {x.shape}")
    inner = x.shape[1:]
    return _slice(x, (x.shape[0] - 1) * math.prod(inner), inner)


def _slice(x, offset, shape):
    """A view of ``shape`` starting ``offset`` elements into ``x`` (the caller checks the bounds)."""
    base_offset = 0
    if isinstance(x, DeviceArrayView):
        base_offset = (x.ptr - x.base.ptr) // x.dtype.itemsize
        x = x.base
    return DeviceArrayView(x, shape, base_offset + offset)


def fill(rt, x, value):
    """``x[...] = value`` in place; returns x."""
    x = _dev(rt, "fill", "x", x)
    value = float(value)
    if value == 0.0 and math.copysign(1.0, value) > 0:
        if x.nbytes:
            rt.native.memset(x.ptr, 0, x.nbytes)  # +0.0 is all zero bits: one runtime call, no kernel
    else:
        rt.native.tensor_fill(x.dtype.char, x.ptr, value, x.size)
    return x


def axpby(rt, alpha, x, beta=0.0, y=None, out=None):
    """``alpha * x + beta * y`` (``alpha * x`` without y) into ``out`` (a new array when None; may be
    x or y); returns out."""
    op = "axpby"
    x = _dev(rt, op, "x", x)
    if y is not None:
        _dev(rt, op, "y", y, x.dtype, x.shape)
    if out is None:
        out = DeviceArray(rt, x.shape, x.dtype)
    else:
        _dev(rt, op, "out", out, x.dtype, x.shape)
    rt.native.tensor_axpby(x.dtype.char, float(alpha), x.ptr, float(beta), 0 if y is None else y.ptr, out.ptr, x.size)
    return out


def add_bias_rows(rt, y, b):
    """``y += b`` for y (N, F), b (F,), in place; returns y."""
    y = _dev(rt, "add_bias_rows", "y", y)
    if y.ndim != 2:
        raise ValueError(f"add_bias_rows: argument 'y' must be 2-D (N, F), got shape {y.shape}")
    _dev(rt, "add_bias_rows", "b", b, y.dtype, (y.shape[1],))
    rt.native.tensor_add_bias_rows(y.dtype.char, y.ptr, b.ptr, y.shape[0], y.shape[1])
    return y


def add_bias_channels(rt, y, b):
    """``y += b[c]`` for y (N, C, H, W), b (C,), in place; returns y."""
    y = _dev(rt, "add_bias_channels", "y", y)
    if y.ndim != 4:
        raise ValueError(f"add_bias_channels: argument 'y' must be 4-D (N, C, H, W), got shape {y.shape}")
    n, c, h, w = y.shape
    _dev(rt, "add_bias_channels", "b", b, y.dtype, (c,))
    rt.native.tensor_add_bias_channels(y.dtype.char, y.ptr, b.ptr, n, c, h * w)
    return y


def accumulate_column_sums(rt, grad, dy):
    """``grad += dy.sum(axis=0)`` for dy (N, F), rows added in order; returns grad."""
    dy = _dev(rt, "accumulate_column_sums", "dy", dy)
    if dy.ndim != 2:
        raise ValueError(f"accumulate_column_sums: argument 'dy' must be 2-D (N, F), got shape {dy.shape}")
    _dev(rt, "accumulate_column_sums", "grad", grad, dy.dtype, (dy.shape[1],))
    rt.native.tensor_accumulate_column_sums(dy.dtype.char, grad.ptr, dy.ptr, dy.shape[0], dy.shape[1])
    return grad


def sum_squares(rt, x, scale=1.0):
    """``scale * sum(x**2)`` as a 0-d DeviceArray (one block, fixed order)."""
    x = _dev(rt, "sum_squares", "x", x)
    out = DeviceArray(rt, (), x.dtype)
    rt.native.tensor_sum_squares(x.dtype.char, x.ptr, x.size, float(scale), out.ptr)
    return out


def clip(rt, x, limit):
    """``x`` clipped to [-limit, limit] in place; returns x."""
    x = _dev(rt, "clip", "x", x)
    limit = float(limit)
    if not limit >= 0:
        raise ValueError(f"clip: argument 'limit' must be >= 0, got {limit}")
    rt.native.tensor_clip(x.dtype.char, x.ptr, limit, x.size)
    return x


def argmax_hits(rt, logits, labels, hits):
    """``hits += count(argmax(logits, axis=1) == labels)``; ``hits`` is an int64 DeviceArray of shape
    (1,) (a running count that stays on the device); returns hits."""
    op = "argmax_hits"
    logits = _dev(rt, op, "logits", logits)
    if logits.ndim != 2 or logits.shape[1] == 0:
        raise ValueError(f"{op}: argument 'logits' must be 2-D (N, K) with K >= 1, got shape {logits.shape}")
    _dev(rt, op, "labels", labels, np.dtype(np.int64), (logits.shape[0],))
    _dev(rt, op, "hits", hits, np.dtype(np.int64), (1,))
    rt.native.tensor_argmax_hits(logits.dtype.char, logits.ptr, labels.ptr, logits.shape[0], logits.shape[1],
                                 hits.ptr)
    return hits


def sgd_update(rt, p, g, buf, *, lr, momentum, weight_decay, first):
    """torch.optim.SGD's step on one parameter, fused, in place (see pykernels/optim/_update.py)."""
    op = "sgd_update"
    p = _dev(rt, op, "p", p)
    _dev(rt, op, "g", g, p.dtype, p.shape)
    if momentum:
        _dev(rt, op, "buf", buf, p.dtype, p.shape)
    rt.native.sgd_update(p.dtype.char, p.ptr, g.ptr, buf.ptr if momentum else 0, p.size, float(lr), float(momentum),
                         float(weight_decay), bool(first))


def adam_update(rt, p, g, m, v, *, step, lr, beta1, beta2, eps, weight_decay):
    """torch.optim.Adam's step ``step`` (1-based) on one parameter, fused, in place."""
    op = "adam_update"
    p = _dev(rt, op, "p", p)
    for name, a in (("g", g), ("m", m), ("v", v)):
        _dev(rt, op, name, a, p.dtype, p.shape)
    if int(step) < 1:
        raise ValueError(f"{op}: argument 'step' must be >= 1, got {step}")
    step_size = lr / (1.0 - beta1**step)
    inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - beta2**step)
    rt.native.adam_update(p.dtype.char, p.ptr, g.ptr, m.ptr, v.ptr, p.size, float(beta1), float(beta2), float(eps),
                          float(weight_decay), step_size, inv_sqrt_bc2)
