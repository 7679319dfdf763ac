"""Device arrays as the validation layer sees them (pure Python: imports no compiled code).

Anything that exposes ``__cuda_array_interface__`` (a pycuda ``GPUArray``, our own
``pykernels.backends.cuda.DeviceArray``, CuPy/Numba/PyTorch CUDA tensors) is described by a
:class:`DeviceView`: pointer, shape, dtype and strides, with the few ndarray attributes the ops layer
reads (``shape``, ``dtype``, ``ndim``, ``size``, ``flags``, ``T``).  Only the cuda backends accept them.
"""
from __future__ import annotations

import numpy as np


class _Flags:
    __slots__ = ("c_contiguous", "f_contiguous", "aligned")

    def __init__(self, c, f, aligned):
        self.c_contiguous = c
        self.f_contiguous = f
        self.aligned = aligned


def _contiguous_strides(shape, itemsize):
    strides, step = [], itemsize
    for s in reversed(shape):
        strides.append(step)
        step *= max(s, 1)
    return tuple(reversed(strides))


def _is_contiguous(shape, strides, itemsize):
    step = itemsize
    for s, st in zip(reversed(shape), reversed(strides)):
        if s != 1 and st != step:
            return False
        step *= s
    return True


class ShapeMixin:
    """``ndim``, ``size`` and ``nbytes`` from ``shape`` and ``dtype``, for the device array types."""

    __slots__ = ()

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self):
        return self.size * self.dtype.itemsize


class DeviceView(ShapeMixin):
    """A device array described by its ``__cuda_array_interface__`` (``obj`` keeps it alive)."""

    __slots__ = ("obj", "ptr", "shape", "dtype", "strides", "readonly")

    def __init__(self, obj, ptr, shape, dtype, strides, readonly=False):
        self.obj = obj
        self.ptr = int(ptr)
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        self.strides = _contiguous_strides(self.shape, self.dtype.itemsize) if strides is None else tuple(
            int(s) for s in strides)
        self.readonly = bool(readonly)

    @classmethod
    def of(cls, obj):
        """The view of ``obj`` (a DeviceView passes through); TypeError when it is no device array."""
        if isinstance(obj, DeviceView):
            return obj
        try:
            cai = obj.__cuda_array_interface__
        except Exception as exc:  # noqa: BLE001 - a broken interface is the caller's error
            raise TypeError(f"{type(obj).__name__} has no usable __cuda_array_interface__ ({exc})") from None
        if not isinstance(cai, dict) or not {"shape", "typestr", "data"} <= set(cai):
            raise TypeError(f"{type(obj).__name__}.__cuda_array_interface__ lacks shape, typestr or data")
        if cai.get("mask") is not None:
            raise TypeError("masked device arrays are not supported")
        ptr, readonly = cai["data"]
        return cls(obj, ptr or 0, cai["shape"], np.dtype(cai["typestr"]), cai.get("strides"), readonly)

    @property
    def c_contiguous(self):
        return _is_contiguous(self.shape, self.strides, self.dtype.itemsize)

    @property
    def flags(self):
        f = _is_contiguous(self.shape[::-1], self.strides[::-1], self.dtype.itemsize)
        return _Flags(self.c_contiguous, f, self.ptr % self.dtype.itemsize == 0)

    @property
    def T(self):
        return DeviceView(self.obj, self.ptr, self.shape[::-1], self.dtype, self.strides[::-1], self.readonly)

    def span(self):
        """(lowest byte address, bytes up to one past the highest element) this view touches."""
        if self.size == 0:
            return self.ptr, 0
        lo = self.ptr + sum(st * (s - 1) for s, st in zip(self.shape, self.strides) if st < 0)
        hi = self.ptr + sum(st * (s - 1) for s, st in zip(self.shape, self.strides) if st > 0) + self.dtype.itemsize
        return lo, hi - lo

    def __repr__(self):
        return f"DeviceView({type(self.obj).__name__}, shape={self.shape}, dtype={self.dtype}, ptr=0x{self.ptr:x})"


def is_device_array(x):
    """True for a DeviceView or any object exposing ``__cuda_array_interface__`` (not ndarray)."""
    if isinstance(x, DeviceView):
        return True
    if isinstance(x, np.ndarray):
        return False
    # NOTE: the class first: a property may raise for some instances (a CPU torch.Tensor), which
    # then gets the "not usable" TypeError of DeviceView.of rather than the generic one.
    return hasattr(type(x), "__cuda_array_interface__") or "__cuda_array_interface__" in getattr(x, "__dict__", ())


def describe(x):
    return f"device array ({type(x.obj if isinstance(x, DeviceView) else x).__name__})"
