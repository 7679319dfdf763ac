"""Benchmark cases for gemm: the square product of the performance issue and the small products
of the shipped networks, beside NumPy (OpenBLAS) ``a @ b`` and ``torch.matmul``."""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def _inputs(m, k, n, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {"a": rng.standard_normal((m, k)).astype(dtype), "b": rng.standard_normal((k, n)).astype(dtype)}


def _ours(inputs, backend):
    return pykernels.gemm(inputs["a"], inputs["b"], backend=backend)


def _numpy(inputs):
    return inputs["a"] @ inputs["b"]


def _torch(inputs):
    import torch

    return torch.matmul(torch.from_numpy(inputs["a"]), torch.from_numpy(inputs["b"]))


def _check(got, want):
    """Long float32 sums in another order: tolerance relative to the result's scale."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * scale)


def _case(m, k, n, dtype, goal):
    kind = "sgemm" if dtype == np.float32 else "dgemm"
    return Case(group="gemm", name=f"{kind} {m}x{k}x{n}", make=lambda: _inputs(m, k, n, dtype), ours=_ours,
                peers={"numpy": _numpy, "torch": _torch}, check=_check, check_peers=("numpy", "torch"),
                goals={"numpy": goal} if goal else {})


def cases(quick=False):
    big = 512 if quick else 1024
    return [
        _case(big, big, big, np.float32, 1.0),
        # small products of the shipped networks (MxKxN) and an odd mid-size one
        _case(64, 784, 128, np.float32, 1.2),
        _case(128, 64, 10, np.float32, 1.2),
        _case(100, 150, 200, np.float32, 1.2),
        _case(big, big, big, np.float64, None),
    ]
