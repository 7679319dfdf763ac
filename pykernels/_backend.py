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

_ORDER = ("cuda", "cpu", "numpy")  # fastest first
_ALL = _ORDER + ("cuda-sim",)


class Backend:
    """One backend: its name, its op module, and how arrays are handed to it."""

    def __init__(self, name, impl, *, contiguous):
        self.name = name
        self.impl = impl
        self.contiguous = contiguous

    def arrays(self, *arrays):
        """Arrays as this backend's kernels want them (None passes through)."""
        if not self.contiguous:
            return arrays if len(arrays) != 1 else arrays[0]
        # NOTE: not np.ascontiguousarray, which turns a 0-d array into a 1-d one.
        out = tuple(None if a is None else np.asarray(a, order="C") for a in arrays)
        return out if len(out) != 1 else out[0]

    def __repr__(self):
        return f"Backend({self.name!r})"


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
    if name == "cuda-sim":
        try:
            mod = importlib.import_module("pykernels._cudasim")
        except ImportError as exc:
            return None, f"the CUDA emulation module pykernels._cudasim did not import ({exc})"
        return Backend("cuda-sim", mod, contiguous=True), None
    if name == "cuda":
        try:
            from pykernels.backends import cuda as cuda_backend
        except ImportError as exc:
            return None, f"the CUDA backend is not built ({exc})"
        return cuda_backend.load()
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
_local = threading.local()


def _initial_default():
    env = os.environ.get("PYKERNELS_BACKEND")
    if env:
        return _check_name(env, "PYKERNELS_BACKEND")
    return "cpu" if _get("cpu")[0] is not None else "numpy"


def get_backend():
    """Name of the backend ops use when called without ``backend=``."""
    global _default
    stack = getattr(_local, "stack", None)
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
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(name)
    try:
        yield name
    finally:
        stack.pop()
