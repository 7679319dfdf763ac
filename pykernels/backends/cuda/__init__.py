"""The CUDA backends: ``"cuda"`` (pykernels._cuda, a real device) and ``"cuda-sim"`` (pykernels._cudasim,
the same kernel sources run by the SIMT emulator on the CPU).  Both go through the same Python layer
(runtime.py) and the same bindings (cuda/bind), so cuda-sim tests exercise the whole path.

PLUG-IN POINT for an op family: add a module ``pykernels/backends/cuda/<family>.py`` defining
``OPS = (...)`` and one function per op taking the Runtime first (``def conv2d(rt, x, w, ...)``, see
gemm.py); it is discovered here, no registration needed.  Families of API.md without CUDA kernels
yet are listed by ``pending_families()``.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import types

from pykernels.backends.cuda.runtime import DeviceArray, Runtime

__all__ = ["DeviceArray", "Runtime", "load", "load_sim", "status", "families", "pending_families"]

# Every op family of API.md (pykernels/ops); the CUDA backends implement the ones with a module here.
API_FAMILIES = ("gemm", "activation", "softmax", "conv", "pool", "rnn", "rbm")


@functools.lru_cache(maxsize=None)
def families():
    """Names of the op-family modules of this package (those defining OPS)."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name == "runtime":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "OPS"):
            found.append(info.name)
    return tuple(sorted(found, key=lambda f: API_FAMILIES.index(f) if f in API_FAMILIES else len(API_FAMILIES)))


def pending_families():
    """API families the CUDA backends do not implement yet."""
    return tuple(f for f in API_FAMILIES if f not in families())


def _impl(rt):
    """The op namespace the dispatch layer calls: ``impl.<op>(...)`` with the runtime bound."""
    ns = types.SimpleNamespace(runtime=rt, FAMILIES=families(), PENDING_FAMILIES=pending_families())
    for fam in families():
        mod = importlib.import_module(f"{__name__}.{fam}")
        for op in mod.OPS:
            setattr(ns, op, functools.partial(getattr(mod, op), rt))
    return ns


def _native(name):
    """(module, None) or (None, reason)."""
    try:
        return importlib.import_module(f"pykernels.{name}"), None
    except ImportError as exc:
        return None, str(exc)


def load_sim():
    """(Backend, None) or (None, reason) for "cuda-sim"."""
    from pykernels import _backend

    native, reason = _native("_cudasim")
    if native is None:
        return None, f"the CUDA emulation module pykernels._cudasim did not import ({reason})"
    return _backend.DeviceBackend("cuda-sim", _impl(Runtime("cuda-sim", native))), None


def status():
    """{"built": bool, "device": name or None, "reason": why not usable or ""} for the real CUDA module."""
    native, reason = _native("_cuda")
    if native is None:
        return {"built": False, "device": None, "reason": f"pykernels._cuda did not import: {reason}"}
    count, why = native.device_count()
    if count == 0:
        return {"built": True, "device": None, "reason": why}
    try:
        name = native.device_name()
    except RuntimeError as exc:
        return {"built": True, "device": None, "reason": str(exc)}
    return {"built": True, "device": name, "reason": ""}


def load():
    """(Backend, None) or (None, reason) for "cuda"."""
    from pykernels import _backend

    st = status()
    if not st["built"]:
        return None, f"the CUDA module is not built ({st['reason']})"
    if not st["device"]:
        return None, f"the CUDA module is built but there is no usable device ({st['reason']})"
    return _backend.DeviceBackend("cuda", _impl(Runtime("cuda", importlib.import_module("pykernels._cuda")))), None
