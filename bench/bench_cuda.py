"""GPU benchmarks: the cuda kernels on device-resident arrays, timed with CUDA events, beside the cpu
backend on the same problem (``pytest bench/ --benchmark-only`` on a GPU machine).

Each case is checked against the NumPy reference once before it is timed. The speedup over the cpu
backend and, for GEMM, the GFLOP/s land in the benchmark's ``extra_info`` (``--benchmark-json``) and
are printed. Without a usable device every case skips with the reason. Benchmarks report; they never
assert a speed.
"""
import time

import numpy as np
import pytest

import pykernels
from pykernels import _backend

_CUDA, _REASON = _backend._get("cuda")
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_CUDA is None, reason=f"no usable CUDA device: {_REASON}")]


def _cases():
    rng = np.random.default_rng(0)
    f32 = np.float32
    return [
        ("gemm-2048", lambda: (rng.standard_normal((2048, 2048)).astype(f32), rng.standard_normal((2048, 2048)).astype(f32)),
         lambda be, a, b: pykernels.gemm(a, b, backend=be), 2 * 2048**3),
        ("gemm-4096x1024x4096-tn", lambda: (rng.standard_normal((1024, 4096)).astype(f32),
                                            rng.standard_normal((1024, 4096)).astype(f32)),
         lambda be, a, b: pykernels.gemm(a, b, trans_a=True, backend=be), 2 * 4096 * 4096 * 1024),
        ("sigmoid-16M", lambda: (rng.standard_normal(1 << 24).astype(f32),),
         lambda be, x: pykernels.sigmoid(x, backend=be), None),
        ("softmax-8192x1000", lambda: (rng.standard_normal((8192, 1000)).astype(f32),),
         lambda be, x: pykernels.softmax(x, backend=be), None),
        ("softmax-512x32768", lambda: (rng.standard_normal((512, 32768)).astype(f32),),
         lambda be, x: pykernels.softmax(x, backend=be), None),
        ("sce-8192x1000", lambda: (rng.standard_normal((8192, 1000)).astype(f32), rng.integers(0, 1000, 8192)),
         lambda be, x, t: pykernels.softmax_cross_entropy(x, t, backend=be)[1], None),
    ]


CASES = _cases() if _CUDA is not None else []


def _event_ms(rt, fn, repeats):
    """Mean milliseconds per call between two CUDA events around `repeats` calls (after a warm-up)."""
    native = rt.native
    fn()
    start, end = native.event_create(), native.event_create()
    try:
        native.event_record(start)
        for _ in range(repeats):
            fn()
        native.event_record(end)
        native.event_synchronize(end)
        return native.event_elapsed_ms(start, end) / repeats
    finally:
        native.event_destroy(start)
        native.event_destroy(end)


def _cpu_ms(fn, repeats=3):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_cuda_speedup_over_cpu(benchmark, case):
    name, make, run, flops = case
    rt = _CUDA.impl.runtime
    host = make()
    dev = [rt.to_device(x) for x in host]
    got = run("cuda", *dev)
    want = run("numpy", *host)
    np.testing.assert_allclose(got.get(), want, rtol=1e-3, atol=1e-3 * (np.sqrt(host[0].shape[-1]) if flops else 1))
    cuda_ms = _event_ms(rt, lambda: run("cuda", *dev), repeats=20)
    info = {"case": name, "cuda_ms": cuda_ms}
    if "cpu" in pykernels.available_backends():
        cpu_ms = _cpu_ms(lambda: run("cpu", *host))
        info.update(cpu_ms=cpu_ms, speedup_over_cpu=cpu_ms / cuda_ms)
    if flops:
        info["cuda_gflops"] = flops / cuda_ms / 1e6
    benchmark.group = "cuda-" + name
    benchmark.extra_info.update(info)
    print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items()))
    # pytest-benchmark's own wall-clock rounds: each includes a device synchronisation
    benchmark.pedantic(lambda: (run("cuda", *dev), rt.native.synchronize()), rounds=10, warmup_rounds=1)
