"""The few array operations of the layers that are not kernel ops, in one place.

Everything a layer computes goes through a pykernels op (gemm, conv2d, relu, ...) on the active
backend, called through the backend's implementation directly (``impl``) on arrays whose shapes the
layer has already checked, so a training step is a handful of native calls.  What is left — adding a
bias across the batch, column sums for its gradient, reshapes, elementwise losses, zero-filled
gradient buffers — lives here, so that a device implementation can be slotted in for device arrays
without touching the layers.

Device residency: ``Module.to_device()`` moves a model's parameters and gradients to a cuda
backend as DeviceArrays (pykernels/backends/cuda/runtime.py).  Every helper here then dispatches on
its array: DeviceArrays go to the device versions (kernels: cuda/tensor.cu, called through
pykernels/backends/cuda/tensor.py), NumPy arrays stay on the host, so a training step of a device
model runs on device arrays and copies only the input batch in and the loss value out.
"""
from __future__ import annotations

import numpy as np

from pykernels import _backend

# Backend objects by name: _backend.resolve returns the same object for a name once resolved.
_resolved: dict = {}


def resolve(name):
    """The Backend object called ``name`` (resolved once per name, so a device array's runtime is the
    one its backend's ops expect)."""
    be = _resolved.get(name)
    if be is None:
        be = _resolved[name] = _backend.resolve(name)
    return be


def is_device(x):
    """True for a DeviceArray of the cuda backends (what ``Module.to_device`` puts parameters in)."""
    global _DeviceArray
    if type(x) is np.ndarray or x is None:  # NOTE: the common case, tested first (called ~70 times per step)
        return False
    if _DeviceArray is None:
        from pykernels.backends.cuda.runtime import DeviceArray as _DeviceArray
    return isinstance(x, _DeviceArray)


_DeviceArray = None


def backend(*arrays):
    """The Backend of the first DeviceArray among ``arrays`` (a device model computes where its
    arrays live), else the active backend."""
    for a in arrays:
        if a is not None and is_device(a):
            return resolve(a.runtime.name)
    return resolve(_backend.get_backend())


def _impl(x):
    return resolve(x.runtime.name).impl


def contiguous(be, x):
    """``x`` as the backend's kernels want it (C order for compiled backends)."""
    if isinstance(x, np.ndarray) and be.contiguous and not x.flags.c_contiguous:
        return np.ascontiguousarray(x)
    return x


def on_device_of(x, like):
    """``x`` copied to the device of ``like`` when ``like`` is a DeviceArray and ``x`` is a NumPy
    array (the one upload of an input batch or of its targets); otherwise ``x`` itself."""
    if like is not None and isinstance(x, np.ndarray) and is_device(like):
        return like.runtime.to_device(np.ascontiguousarray(x))
    return x


def zeros_like(x):
    if is_device(x):
        return _impl(x).fill(x.runtime.empty(x.shape, x.dtype), 0.0)
    return np.zeros_like(x)


def zero_(x):
    """``x[...] = 0`` in place."""
    if is_device(x):
        _impl(x).fill(x, 0.0)
    else:
        x[...] = 0


def copy(x):
    if is_device(x):
        return _impl(x).axpby(1.0, x)
    return np.array(x, copy=True)


def assign(dst, src):
    """``dst[...] = src`` in place (``src`` of dst's shape and dtype, on dst's side)."""
    if is_device(dst):
        _impl(dst).axpby(1.0, on_device_of(src, dst), out=dst)
    else:
        dst[...] = src


def to_numpy(x):
    """``x`` as a NumPy array (device arrays are copied to the host)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):  # pycuda GPUArray
        return x.get()
    return np.asarray(x)


def add_bias_rows(y, b):
    """``y += b`` for y (N, F) and b (F,), in place; returns y."""
    if is_device(y):
        return _impl(y).add_bias_rows(y, on_device_of(b, y))
    y += b
    return y


def add_bias_channels(y, b):
    """``y += b[c]`` for y (N, C, H, W), in place; returns y."""
    if is_device(y):
        return _impl(y).add_bias_channels(y, on_device_of(b, y))
    y += b.reshape(1, -1, 1, 1)
    return y


def accumulate(grad, g):
    """``grad += g`` in place."""
    if is_device(grad):
        _impl(grad).axpby(1.0, on_device_of(g, grad), 1.0, grad, out=grad)
    else:
        grad += to_numpy(g)


def accumulate_column_sums(grad, dy):
    """``grad += dy.sum(axis=0)`` for dy (N, F)."""
    if is_device(grad):
        _impl(grad).accumulate_column_sums(grad, on_device_of(dy, grad))
    else:
        grad += to_numpy(dy).sum(axis=0)


def zeros(shape, dtype, like=None):
    """A zero array of ``shape`` beside ``like`` (on its device when it is a DeviceArray)."""
    if like is not None and is_device(like):
        return _impl(like).fill(like.runtime.empty(shape, dtype), 0.0)
    return np.zeros(shape, dtype)


def last(x):
    """``x[-1]`` (a view of a device array, no copy)."""
    if is_device(x):
        return _impl(x).last(x)
    return x[-1]


def reshape(x, shape):
    if is_device(x):
        return _impl(x).view(x, shape)
    return x.reshape(shape)


def mse(pred, target):
    """``(mean((pred - target)**2), pred - target)``; on the device only the loss value comes back."""
    if is_device(pred):
        impl = _impl(pred)
        diff = impl.axpby(1.0, pred, -1.0, on_device_of(target, pred))
        return float(impl.sum_squares(diff, 1.0 / diff.size).get()), diff
    diff = pred - target
    return float(np.vdot(diff, diff)) / diff.size, diff


def mse_backward(diff, dloss=1.0):
    if is_device(diff):
        return _impl(diff).axpby(2.0 * dloss / diff.size, diff)
    return diff * (2.0 * dloss / diff.size)


def new_hits(like):
    """A running count of correct predictions (int64, shape (1,)) beside ``like``: on the device for a
    DeviceArray (zeroed there, no copy), else a NumPy array."""
    if is_device(like):
        hits = like.runtime.empty((1,), np.int64)
        like.runtime.native.memset(hits.ptr, 0, hits.nbytes)
        return hits
    return np.zeros(1, np.int64)


def add_hits(hits, logits, labels):
    """``hits += count(argmax(logits, axis=1) == labels)``, where the logits live."""
    if is_device(logits) and is_device(labels) and is_device(hits):
        _impl(logits).argmax_hits(logits, labels, hits)
    else:
        hits += int((to_numpy(logits).argmax(axis=1) == to_numpy(labels)).sum())


def one_hot(indices, k, dtype):
    """(…, K) one-hot rows for integer ``indices``."""
    out = np.zeros(indices.shape + (k,), dtype=dtype)
    np.put_along_axis(out, indices[..., None], 1.0, axis=-1)
    return out
