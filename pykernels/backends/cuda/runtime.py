"""The Python side of a CUDA module (``pykernels._cuda`` or ``pykernels._cudasim``): device memory,
argument staging and results.  The same code serves the real device and the emulator, whose
"device memory" is host memory allocated by the module.

An op wrapper (see gemm.py) follows one pattern::

    def sigmoid(rt, x):
        with rt.call(x) as call:              # device in -> device out, NumPy in -> NumPy out
            xd = call.input(x)                # uploaded (NumPy) or used in place (device array)
            y = call.empty(xd.shape, xd.dtype)
            rt.native.sigmoid(xd.dtype.char, xd.ptr, y.ptr, xd.size)
            return call.result(y)
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from pykernels.backends.device import DeviceView, ShapeMixin, is_device_array


class DeviceArray(ShapeMixin):
    """A C-contiguous array in the memory of one runtime; freed when the last reference goes.

    Exposes ``__cuda_array_interface__`` (version 3), so pycuda, CuPy or Numba can use it on a GPU.
    ``get()`` copies it to a NumPy array.
    """

    __slots__ = ("runtime", "ptr", "shape", "dtype", "_finalizer", "__weakref__")

    def __init__(self, runtime, shape, dtype):
        self.runtime = runtime
        self.shape = tuple(int(s) for s in shape)
        self.dtype = np.dtype(dtype)
        # NOTE: counted in Python ints first: an absurd shape would overflow np.prod's int64.
        if math.prod(self.shape) * self.dtype.itemsize >= 2**63:
            raise MemoryError(f"cannot allocate an array of shape {self.shape} and dtype {self.dtype} "
                              f"on backend {runtime.name!r}")
        self.ptr = runtime.native.alloc(self.nbytes)
        self._finalizer = weakref.finalize(self, runtime.native.free, self.ptr)

    @property
    def __cuda_array_interface__(self):
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False), "strides": None,
                "version": 3}

    def get(self):
        """A NumPy copy (waits for the kernels that write it)."""
        out = np.empty(self.shape, self.dtype)
        if out.nbytes:
            self.runtime.native.memcpy_dtoh(out, self.ptr)
        return out

    def __array__(self, dtype=None, copy=None):
        out = self.get()
        return out if dtype is None else out.astype(dtype, copy=False)

    def __repr__(self):
        return f"DeviceArray(shape={self.shape}, dtype={self.dtype}, backend={self.runtime.name!r})"


class _DeviceArg:
    """A contiguous device operand: ``ptr``, ``shape``, ``dtype``, ``size`` (keeps its memory alive)."""

    __slots__ = ("ptr", "shape", "dtype", "size", "keep")

    def __init__(self, ptr, shape, dtype, keep):
        self.ptr = ptr
        self.shape = shape
        self.dtype = dtype
        self.size = int(np.prod(shape, dtype=np.int64))
        self.keep = keep


class Call:
    """Staging of one op call: decides device-or-host output from its inputs."""

    def __init__(self, runtime, inputs):
        self.rt = runtime
        device_inputs = [x for x in inputs if x is not None and is_device_array(x)]
        self.device_out = bool(device_inputs)
        self.pycuda_out = any(_is_pycuda(x.obj if isinstance(x, DeviceView) else x) for x in device_inputs)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def input(self, x, name="argument"):
        """A device operand for ``x``: a NumPy array is copied to the device, a device array is used
        in place (it must be C-contiguous memory this backend can address)."""
        if x is None:
            return None
        rt = self.rt
        if isinstance(x, np.ndarray):
            x = np.ascontiguousarray(x) if x.ndim else x
            d = DeviceArray(rt, x.shape, x.dtype)
            if x.nbytes:
                rt.native.memcpy_htod(d.ptr, x)
            return _DeviceArg(d.ptr, d.shape, d.dtype, d)
        v = DeviceView.of(x)
        if isinstance(v.obj, DeviceArray) and v.obj.runtime is not rt:
            raise TypeError(f"{name}: a {v.obj.runtime.name!r} device array cannot be used with backend {rt.name!r}")
        lo, nbytes = v.span()
        if nbytes and not rt.native.is_device_pointer(lo, nbytes):
            where = "memory allocated by the cuda-sim backend" if rt.is_sim else "device memory of the current GPU"
            raise TypeError(f"{name}: the device array at 0x{lo:x} is not {where}")
        if v.c_contiguous:
            return _DeviceArg(v.ptr, v.shape, v.dtype, v.obj)
        # A strided view: gathered into contiguous device memory by a kernel (cuda/copy.cu).
        size = v.dtype.itemsize
        if v.ptr % size or any(st % size for st in v.strides) or v.ndim > 8:
            raise ValueError(f"{name}: a non-contiguous device array needs element-aligned strides and at most 8 "
                             f"dimensions (shape {v.shape}, strides {v.strides})")
        d = DeviceArray(rt, v.shape, v.dtype)
        rt.native.copy_strided(v.ptr, d.ptr, size, list(v.shape), list(v.strides))
        return _DeviceArg(d.ptr, d.shape, d.dtype, d)

    def empty(self, shape, dtype):
        return DeviceArray(self.rt, shape, dtype)

    def result(self, y):
        """The op's output as the caller gets it: NumPy for host inputs, else a device array
        (a pycuda GPUArray when a pycuda array came in)."""
        if not self.device_out:
            return y.get()
        if self.pycuda_out and not self.rt.is_sim:
            return _to_pycuda(y)
        return y


def _is_pycuda(obj):
    return type(obj).__module__.startswith("pycuda")


class _Holder:
    """Keeps a DeviceArray alive for as long as a pycuda GPUArray uses its memory."""

    def __init__(self, arr):
        self.arr = arr

    def __int__(self):
        return self.arr.ptr

    __index__ = __int__


def _to_pycuda(y):
    import pycuda.autoprimaryctx  # noqa: F401 - pycuda shares the runtime's primary context
    from pycuda import gpuarray

    return gpuarray.GPUArray(y.shape, y.dtype, gpudata=_Holder(y), base=y)


class Runtime:
    """One CUDA module (``native``) and its name as a backend ("cuda" or "cuda-sim")."""

    def __init__(self, name, native):
        self.name = name
        self.native = native
        self.is_sim = bool(native.IS_SIM)

    def call(self, *inputs):
        return Call(self, inputs)

    def to_device(self, x):
        """Copy a NumPy array to a new DeviceArray of this runtime."""
        x = np.asarray(x, order="C")
        d = DeviceArray(self, x.shape, x.dtype)
        if x.nbytes:
            self.native.memcpy_htod(d.ptr, x)
        return d

    def empty(self, shape, dtype):
        return DeviceArray(self, shape, dtype)
