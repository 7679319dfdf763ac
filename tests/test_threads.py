"""Compiled ops are thread-safe and release the GIL."""
import threading
import time

import numpy as np
import pytest

import pykernels
from helpers import assert_close


def _workloads(rng):
    a = rng.standard_normal((97, 61)).astype(np.float32)
    b = rng.standard_normal((61, 83)).astype(np.float32)
    x = rng.standard_normal((33, 10))
    t = rng.integers(0, 10, 33)
    return [
        ("gemm", (a, b), {"trans_b": False}),
        ("gemm", (a, a), {"trans_a": True}),
        ("sigmoid", (x,), {}),
        ("tanh", (a,), {}),
        ("softmax", (x,), {}),
        ("softmax_cross_entropy", (x, t), {"reduction": "none"}),
    ]


def test_eight_threads_get_reference_results(compiled_backend, rng):
    work = _workloads(rng)
    want = [getattr(pykernels, op)(*args, backend="numpy", **kw) for op, args, kw in work]
    errors = []
    barrier = threading.Barrier(8)

    def worker(seed):
        barrier.wait()
        order = np.random.default_rng(seed).permutation(len(work))
        try:
            for _ in range(5):
                for i in order:
                    op, args, kw = work[i]
                    assert_close(getattr(pykernels, op)(*args, backend=compiled_backend, **kw), want[i], "backward")
        except Exception as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_compiled_op_releases_the_gil(rng):
    """While a long compiled GEMM runs in one thread, Python code keeps running in another: that is
    only possible when the call dropped the GIL (with the GIL held, the main loop would stall until
    the call returned)."""
    if "cpu" not in pykernels.available_backends():
        pytest.skip("C++ extension not built")
    n = 1536
    a = rng.standard_normal((n, n)).astype(np.float64)
    inside = {}

    def worker():
        # ONE call: with the GIL held, no main-thread iteration could fall inside it.
        inside["start"] = time.perf_counter()
        pykernels.gemm(a, a, backend="cpu")
        inside["end"] = time.perf_counter()

    ticks = []
    th = threading.Thread(target=worker)
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())
    th.join()
    during = [t for t in ticks if inside["start"] < t < inside["end"]]
    assert len(during) > 100, f"only {len(during)} main-thread iterations ran during the GEMM calls"
    span = inside["end"] - inside["start"]
    gaps = np.diff([inside["start"], *during, inside["end"]])
    assert gaps.max() < 0.5 * span, "the main thread stalled for most of a GEMM call: the GIL was held"
