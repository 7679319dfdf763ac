"""Backend registry and selection (see API.md, "Backends").

A backend is a module of op implementations with the reference's parameter names.  The ops layer
(pykernels/ops) validates arguments once, then calls ``resolve(backend).impl.<op>(...)``.  Compiled
backends receive C-contiguous arrays of one float dtype and canonical arguments (stride, padding and
kernel sizes as ``(h, w)`` tuples); the numpy backend receives the validated arrays as they came.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import threading

import numpy as np

from pykernels.backends.device import DeviceView, describe, is_device_array

_ORDER = ("cuda", "cpu", "numpy")  # fastest first
_ALL = _ORDER + ("cuda-sim",)


def _c_aligned(a):
    """``a`` C-contiguous and aligned for its dtype (a copy only when it is not already)."""
    # NOTE: not np.ascontiguousarray, which turns a 0-d array into a 1-d one; and a C-contiguous view
    # can still be misaligned (a byte offset into a buffer), which the kernels must not read.
    a = np.asarray(a, order="C")
    return a if a.flags.aligned else a.copy()


class Backend:
    """One backend: its name, its op module, and how arrays are handed to it."""

    device = False  # takes device arrays (DeviceBackend)

    def __init__(self, name, impl, *, contiguous):
        self.name = name
        self.impl = impl
        self.contiguous = contiguous

    def host_only(self, *arrays):
        """TypeError when a device array (``__cuda_array_interface__``) reaches a host backend."""
        for a in arrays:
            if a is not None and not isinstance(a, np.ndarray) and is_device_array(a):
                raise TypeError(
                    f"backend {self.name!r} takes NumPy arrays, got a {describe(a)}; use backend='cuda' "
                    "or copy it to the host first"
                )

    def arrays(self, *arrays):
        """Arrays as this backend's kernels want them (None passes through)."""
        self.host_only(*arrays)
        if not self.contiguous:
            return arrays if len(arrays) != 1 else arrays[0]
        out = tuple(None if a is None else _c_aligned(a) for a in arrays)
        return out if len(out) != 1 else out[0]

    def __repr__(self):
        return f"Backend({self.name!r})"


class DeviceBackend(Backend):
    """"cuda" and "cuda-sim": NumPy arrays are made C-contiguous (the op layer copies them to the
    device), device arrays pass through as DeviceView (pykernels/backends/cuda/runtime.py stages them)."""

    device = True

    def __init__(self, name, impl):
        super().__init__(name, impl, contiguous=True)

    def host_only(self, *arrays):
        pass

    def arrays(self, *arrays):
        out = tuple(
            None if a is None else (np.asarray(a, order="C") if isinstance(a, np.ndarray) else DeviceView.of(a))
            for a in arrays
        )
        return out if len(out) != 1 else out[0]


_cache: dict = {}
_cache_lock = threading.Lock()


def _load(name):
    """Returns (Backend, None) or (None, reason it cannot run)."""
    if name == "numpy":
        from pykernels import reference

        return Backend("numpy", reference, contiguous=False), None
    if name == "cpu":
        try:
            mod = importlib.import_module("pykernels._cpu")
        except ImportError as exc:  # not built, or built for another interpreter
            return None, f"the C++ extension pykernels._cpu did not import ({exc})"
        return Backend("cpu", mod, contiguous=True), None
    if name in ("cuda", "cuda-sim"):
        try:
            from pykernels.backends import cuda as cuda_backend
        except ImportError as exc:
            return None, f"the CUDA backend layer did not import ({exc})"
        return cuda_backend.load() if name == "cuda" else cuda_backend.load_sim()
    raise AssertionError(name)


def _get(name):
    with _cache_lock:
        if name not in _cache:
            _cache[name] = _load(name)
        return _cache[name]


def available_backends(include_sim=False):
    """Names of the backends that work here, fastest first ("cuda-sim" last, with include_sim)."""
    names = [n for n in _ORDER if _get(n)[0] is not None]
    if include_sim and _get("cuda-sim")[0] is not None:
        names.append("cuda-sim")
    return names


def _check_name(name, what="backend"):
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str naming a backend, got {type(name).__name__}")
    if name not in _ALL:
        raise ValueError(
            f"unknown {what} {name!r}; available here: {available_backends(include_sim=True)} "
            f"(all names: {list(_ALL)})"
        )
    return name


def resolve(name=None) -> Backend:
    """The Backend object for ``name`` (None: the active backend).  Raises if it cannot run here."""
    name = get_backend() if name is None else _check_name(name)
    backend, reason = _get(name)
    if backend is None:
        raise RuntimeError(f"backend {name!r} cannot run here: {reason}")
    return backend


_default = None


class _Local(threading.local):
    """Per-thread state: the use_backend stack (created empty in each thread on first access, so
    that get_backend, on every op call, reads it without the cost of a failed getattr)."""

    def __init__(self):
        self.stack = []


_local = _Local()


def _initial_default():
    env = os.environ.get("PYKERNELS_BACKEND")
    if env:
        return _check_name(env, "PYKERNELS_BACKEND")
    return "cpu" if _get("cpu")[0] is not None else "numpy"


def get_backend():
    """Name of the backend ops use when called without ``backend=``."""
    global _default
    stack = _local.stack
    if stack:
        return stack[-1]
    if _default is None:
        _default = _initial_default()
    return _default


def set_backend(name):
    """Set the process-wide default backend (checked to run here)."""
    global _default
    resolve(_check_name(name))
    _default = name


@contextlib.contextmanager
def use_backend(name):
    """Use ``name`` for ops called in this thread inside the ``with`` block."""
    resolve(_check_name(name))
    stack = _local.stack
    stack.append(name)
    try:
        yield name
    finally:
        stack.pop()
