"""The few array operations of the layers that are not kernel ops, in one place.

Everything a layer computes goes through a pykernels op (gemm, conv2d, relu, ...) on the active
backend, called through the backend's implementation directly (``impl``) on arrays whose shapes the
layer has already checked, so a training step is a handful of native calls.  What is left — adding a
bias across the batch, column sums for its gradient, reshapes, elementwise losses, zero-filled
gradient buffers — lives here, so that a device implementation can be slotted in for device arrays
without touching the layers.

NOTE: on the "cuda" backend the layers hand NumPy arrays to the kernels (copied to the device and
back per op); keeping activations and parameters on the device needs device versions of these
helpers (follow-up work, see README).
"""
from __future__ import annotations

import numpy as np

from pykernels import _backend

# Backend objects by name: _backend.resolve returns the same object for a name once resolved.
_resolved: dict = {}


def backend():
    """The active Backend object (resolved once per name)."""
    name = _backend.get_backend()
    be = _resolved.get(name)
    if be is None:
        be = _resolved[name] = _backend.resolve(name)
    return be


def contiguous(be, x):
    """``x`` as the backend's kernels want it (C order for compiled backends)."""
    if be.contiguous and not x.flags.c_contiguous:
        return np.ascontiguousarray(x)
    return x


def zeros_like(x):
    return np.zeros_like(x)


def copy(x):
    return np.array(x, copy=True)


def to_numpy(x):
    """``x`` as a NumPy array (device arrays are copied to the host)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # pycuda GPUArray
        return x.get()
    return np.asarray(x)


def add_bias_rows(y, b):
    """``y += b`` for y (N, F) and b (F,), in place; returns y."""
    y += b
    return y


def add_bias_channels(y, b):
    """``y += b[c]`` for y (N, C, H, W), in place; returns y."""
    y += b.reshape(1, -1, 1, 1)
    return y


def accumulate(grad, g):
    """``grad += g`` in place."""
    grad += g


def accumulate_column_sums(grad, dy):
    """``grad += dy.sum(axis=0)`` for dy (N, F)."""
    grad += dy.sum(axis=0)


def reshape(x, shape):
    return x.reshape(shape)


def mse(pred, target):
    """``(mean((pred - target)**2), pred - target)``."""
    diff = pred - target
    return float(np.vdot(diff, diff)) / diff.size, diff


def mse_backward(diff, dloss=1.0):
    return diff * (2.0 * dloss / diff.size)


def one_hot(indices, k, dtype):
    """(…, K) one-hot rows for integer ``indices``."""
    out = np.zeros(indices.shape + (k,), dtype=dtype)
    np.put_along_axis(out, indices[..., None], 1.0, axis=-1)
    return out
