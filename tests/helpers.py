"""Shared test helpers: the tolerance table, reference comparison, finite differences, concurrent
callers, in-process CPU settings and fresh interpreters."""
import contextlib
import os
import subprocess
import sys
import tempfile
import threading

import numpy as np
import pytest

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


def concurrently(fn, cases):
    """fn(*case) for every case, each on its own thread, all released at once; the first error any
    thread raised fails the test."""
    errors = []
    start = threading.Barrier(len(cases))

    def run(case):
        try:
            start.wait()
            fn(*case)
        except Exception as exc:  # noqa: BLE001 - collected and reported in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(case,)) for case in cases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


@contextlib.contextmanager
def cpu_setting(getter, setter, value):
    """The compiled module's setting (e.g. get_isa / set_isa) set to value for the block and restored
    afterwards; the test is skipped when this CPU or build does not support the value."""
    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    before = getattr(cpu, getter)()
    try:
        getattr(cpu, setter)(value)
    except ValueError as exc:
        pytest.skip(str(exc))
    try:
        yield value
    finally:
        getattr(cpu, setter)(before)


def run_python(code, env=None, check=True):
    """Runs code in a fresh interpreter outside the source tree (so it imports the same installed
    package as this test session, not an unbuilt checkout)."""
    env = dict(os.environ if env is None else env)
    pkg_parent = os.path.dirname(os.path.dirname(pykernels.__file__))
    env["PYTHONPATH"] = pkg_parent + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True,
                              check=check)


def rbm_layer(nv, nh, seed=0, scale=0.05):
    """An RBM's (w, b, c) in float32, small random weights and biases."""
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((nh, nv)) * scale).astype(np.float32), (rng.standard_normal(nv) * 0.1).astype(np.float32),
            (rng.standard_normal(nh) * 0.1).astype(np.float32))


def rbm_data(n, nv, seed=1, density=0.2, binary=True):
    """Training data for an RBM: pixels with their own probabilities (some always off), as in
    binarised images; with binary=False, probabilities (mostly 0)."""
    rng = np.random.default_rng(seed)
    p = rng.random(nv) * 2 * density
    x = rng.random((n, nv)) < p if binary else rng.random((n, nv)) * (rng.random((n, nv)) < p)
    return x.astype(np.float32)
