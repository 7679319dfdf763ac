"""Benchmark cases and the runner behind ``python -m pykernels bench``.

Cases live per family in ``pykernels/benchmark/<family>.py`` (``cases(quick=False)``), so the table
printed by the command line and the pytest-benchmark suites in bench/ time exactly the same work.
"""
from __future__ import annotations

import importlib
import pkgutil

import numpy as np

from pykernels.benchmark.case import Case

__all__ = ["Case", "all_cases", "default_check", "to_numpy"]


def to_numpy(out):
    """Outputs as NumPy (tuples/lists element-wise; torch tensors detached)."""
    if isinstance(out, (tuple, list)):
        return type(out)(to_numpy(o) for o in out)
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    if hasattr(out, "get") and not isinstance(out, (dict, np.ndarray)):  # pycuda GPUArray
        return out.get()
    return out


def default_check(got, want, rtol=1e-3, atol=1e-3):
    got, want = to_numpy(got), to_numpy(want)
    if isinstance(want, (tuple, list)):
        assert len(got) == len(want), "output arity differs"
        for g, w in zip(got, want):
            default_check(g, w, rtol, atol)
        return
    np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64),
                               rtol=rtol, atol=atol)


def all_cases(quick=False, groups=None):
    """Every family's cases (optionally only the named groups)."""
    import pykernels.benchmark as pkg

    found = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name in ("case", "runner"):
            continue
        mod = importlib.import_module(f"pykernels.benchmark.{info.name}")
        if hasattr(mod, "cases"):
            found.extend(mod.cases(quick=quick))
    if groups:
        found = [c for c in found if c.group in groups]
    return found
