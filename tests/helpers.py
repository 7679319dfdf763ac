"""Shared test helpers: the tolerance table, reference comparison, finite differences."""
import numpy as np

import pykernels
from pykernels import reference

# One table of tolerances (rtol, atol) by dtype and kind of check.
#   forward:  compiled kernel vs reference, same dtype
#   backward: compiled gradient vs reference gradient (longer sums)
#   oracle:   reference vs an independent implementation (PyTorch) in the same dtype
#   numgrad:  float64 reference gradient vs central differences
TOL = {
    ("forward", np.float32): (2e-5, 2e-5),
    ("forward", np.float64): (1e-12, 1e-12),
    ("backward", np.float32): (1e-4, 1e-4),
    ("backward", np.float64): (1e-10, 1e-10),
    ("oracle", np.float32): (1e-4, 1e-4),
    ("oracle", np.float64): (1e-10, 1e-10),
    ("numgrad", np.float64): (1e-6, 1e-7),
}


def tol(kind, dtype):
    rtol, atol = TOL[(kind, np.dtype(dtype).type)]
    return {"rtol": rtol, "atol": atol}


def assert_close(actual, expected, kind="forward", dtype=None, scale=1.0):
    """Compare arrays (or tuples of arrays) with the table's tolerance; ``scale`` widens atol for
    results whose magnitude grows with the problem (e.g. long dot products)."""
    if isinstance(expected, (tuple, list)):
        assert isinstance(actual, (tuple, list)) and len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_close(a, e, kind, dtype, scale)
        return
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    dtype = expected.dtype if dtype is None else dtype
    if np.issubdtype(expected.dtype, np.floating):
        assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
        t = tol(kind, dtype)
        np.testing.assert_allclose(actual, expected, rtol=t["rtol"], atol=t["atol"] * scale)
    else:
        np.testing.assert_array_equal(actual, expected)
    assert actual.shape == expected.shape


def run_both(op, backend, *args, **kwargs):
    """(result on ``backend``, reference result through the numpy backend) for one op call."""
    got = getattr(pykernels, op)(*args, backend=backend, **kwargs)
    want = getattr(pykernels, op)(*args, backend="numpy", **kwargs)
    return got, want


def numeric_grad(f, x, eps=1e-6):
    """Central-difference gradient of scalar f at float64 array x (x is restored afterwards)."""
    assert x.dtype == np.float64
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def random(rng, shape, dtype=np.float64, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


def views(x):
    """The same values as C-, Fortran-ordered and strided (every other element) arrays."""
    big = np.zeros(tuple(2 * s for s in x.shape), dtype=x.dtype)
    strided = big[tuple(slice(None, None, 2) for _ in x.shape)]
    strided[...] = x
    return {"c": np.ascontiguousarray(x), "f": np.asfortranarray(x), "strided": strided}


__all__ = ["TOL", "tol", "assert_close", "run_both", "numeric_grad", "random", "views", "reference"]
