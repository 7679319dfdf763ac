"""No memory leaks: thousands of calls of each compiled op (valid and invalid) must not grow the
process's resident memory. A leak of even one small output buffer per call shows up here."""
import gc

import numpy as np
import pytest

import pykernels


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _workload(backend, rng):
    x = rng.standard_normal((32, 32)).astype(np.float32)  # 4 KiB outputs
    t = rng.integers(0, 32, 32)

    def run():
        pykernels.gemm(x, x, trans_b=True, backend=backend)
        y = pykernels.sigmoid(x, backend=backend)
        pykernels.sigmoid_backward(y, x, backend=backend)
        pykernels.relu_backward(x, y, backend=backend)
        loss, p = pykernels.softmax_cross_entropy(x, t, backend=backend)
        pykernels.softmax_cross_entropy_backward(p, t, backend=backend)
        for bad in (lambda: pykernels.gemm(x[:3], x[:5], backend=backend),
                    lambda: pykernels.softmax_cross_entropy(x, t + 100, backend=backend)):
            with pytest.raises(ValueError):
                bad()

    return run


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_no_leak(compiled_backend, rng):
    run = _workload(compiled_backend, rng)
    calls = 3000 if compiled_backend == "cpu" else 300
    for _ in range(200):  # warm-up: allocator pools, thread-local workspaces, lazy imports
        run()
    gc.collect()
    before = _rss_bytes()
    for _ in range(calls):
        run()
    gc.collect()
    grown = _rss_bytes() - before
    # 6 outputs of 4 KiB per round: leaking any one of them would add >= 12 MB over 3000 rounds
    assert grown < 4 * 2**20 * calls / 3000, f"resident memory grew by {grown / 2**20:.1f} MiB over {calls} rounds"
