"""The SIMT emulator behind the "cuda-sim" backend (cuda/sim), and the device-array path of the cuda
backends exercised on it (device memory is host memory there).

The emulator must make CUDA bugs visible: threads of a block interleave at barriers (fibers resumed
in reverse order), so a missing __syncthreads gives a wrong answer; warp intrinsics rendezvous per
warp; atomics are atomic across blocks on several OS threads; bad launches fail like the runtime.
"""
import subprocess
import sys

import numpy as np
import pytest

import pykernels
from helpers import assert_close

sim = pytest.importorskip("pykernels._cudasim", reason="the cuda-sim module pykernels._cudasim is not built")


@pytest.fixture
def rt():
    from pykernels import _backend

    return _backend.resolve("cuda-sim").impl.runtime


# ---- the emulator -------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [32, 33, 256, 1024])
def test_barrier_makes_shared_memory_exchange_correct(rng, n):
    x = rng.standard_normal(8 * n).astype(np.float32)
    got = sim._test_reverse_shared(x, n, True)
    want = x.reshape(8, n)[:, ::-1].ravel()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [32, 33, 256, 1024])
def test_missing_barrier_gives_a_wrong_answer(rng, n):
    """Without __syncthreads a thread reads shared memory its partner has not written yet: the
    emulator runs the threads of a block in turn (last first), as a GPU's warps may."""
    x = rng.standard_normal(8 * n).astype(np.float32)
    sim._test_reverse_shared(rng.standard_normal(8 * n).astype(np.float32), n, True)  # stale shared data
    got = sim._test_reverse_shared(x, n, False)
    want = x.reshape(8, n)[:, ::-1].ravel()
    wrong = np.mean(got != want)
    assert wrong > 0.4, f"only {wrong:.0%} of the racy results were wrong"


def test_kernel_without_barrier_costs_one_switch_per_thread(rng):
    x = rng.standard_normal(10_000)
    before = sim._sim_counters()
    pykernels.sigmoid(x, backend="cuda-sim")
    after = sim._sim_counters()
    blocks = after["blocks"] - before["blocks"]
    assert after["launches"] - before["launches"] == 1
    assert blocks == -(-10_000 // 256)
    assert after["switches"] - before["switches"] == blocks * 256
    assert after["barriers"] - before["barriers"] == 0


def test_tiled_gemm_meets_two_barriers_per_k_slice(rng):
    m, n, k = 70, 130, 50  # 2 x 3 blocks of 64x64, 4 slices of K = 16
    a, b = rng.standard_normal((m, k)), rng.standard_normal((k, n))
    before = sim._sim_counters()
    pykernels.gemm(a, b, backend="cuda-sim")
    after = sim._sim_counters()
    assert after["blocks"] - before["blocks"] == 6
    assert after["barriers"] - before["barriers"] == 6 * 4 * 2


@pytest.mark.parametrize("block", [32, 64, 96, 48])
def test_warp_shuffles_and_votes(rng, block):
    n = 3 * block - 5
    x = np.round(rng.standard_normal(n) * 3, 1).astype(np.float32)
    xor1, down3, bcast5, ballot, any_all = sim._test_warp_ops(x, block)
    padded = np.zeros(-(-n // block) * block, np.float32)
    padded[:n] = x
    for i in range(n):
        t = i % block  # thread in block
        warp_lo = i - t + (t // 32) * 32
        lanes = min(32, block - (t // 32) * 32)
        lane = t % 32
        seg = padded[warp_lo:warp_lo + lanes]
        assert xor1[i] == (seg[lane ^ 1] if (lane ^ 1) < lanes else x[i])
        assert down3[i] == (seg[lane + 3] if lane + 3 < lanes else x[i])
        assert bcast5[i] == (seg[5] if 5 < lanes else x[i])
        assert ballot[i] == sum(1 << j for j in range(lanes) if seg[j] > 0)
        assert any_all[i] == 2 * int(np.any(seg > 2)) + int(np.all(seg > -3))


@pytest.mark.parametrize("blocks,threads", [(1, 1), (7, 33), (200, 256)])
def test_atomics_across_blocks_and_os_threads(blocks, threads):
    count, total, maximum = sim._test_atomics(blocks, threads)
    t = np.arange(blocks * threads)
    assert count == blocks * threads
    assert total == float((t % 7).sum())
    assert maximum == blocks * threads - 1


@pytest.mark.parametrize("grid,block", [
    ((1, 1, 1), (1025, 1, 1)),
    ((1, 1, 1), (32, 32, 2)),
    ((1, 1, 1), (1, 1, 65)),
    ((1, 1, 1), (0, 1, 1)),
    ((1, 65536, 1), (32, 1, 1)),
])
def test_invalid_launch_configuration_raises(grid, block):
    with pytest.raises(RuntimeError, match="invalid configuration argument"):
        sim._test_launch(list(grid), list(block))
    sim._test_launch([2, 3, 4], [1024, 1, 1])  # the error is not sticky: a good launch works after it


def test_empty_grid_launches_nothing():
    before = sim._sim_counters()
    sim._test_launch([0, 1, 1], [32, 1, 1])
    assert sim._sim_counters()["launches"] == before["launches"]


def test_barrier_not_reached_by_every_thread_is_an_error():
    with pytest.raises(RuntimeError, match="launch failure"):
        sim._test_divergent_barrier(64)


def test_cuda_error_becomes_runtime_error():
    with pytest.raises(RuntimeError, match="CUDA error: out of memory"):
        sim._check_error(2)


# ---- the kernels at every tile edge -------------------------------------------------------------------

EDGES = [1, 15, 16, 17, 63, 64, 65, 129]  # GEMM tiles: 64 x 64 blocks, K slices of 16


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_every_tile_edge(rng, trans_a, trans_b):
    for m in EDGES:
        for n in (1, 17, 64, 65, 129):
            for k in (1, 16, 17, 33):
                a = rng.standard_normal((k, m) if trans_a else (m, k))
                b = rng.standard_normal((n, k) if trans_b else (k, n))
                c = rng.standard_normal((m, n))
                kw = dict(alpha=0.5, beta=-2.0, trans_a=trans_a, trans_b=trans_b)
                got = pykernels.gemm(a, b, c, backend="cuda-sim", **kw)
                want = pykernels.gemm(a, b, c, backend="numpy", **kw)
                assert_close(got, want, "forward", scale=k)


def test_gemm_float32_large_odd(rng):
    a = rng.standard_normal((129, 257)).astype(np.float32)
    b = rng.standard_normal((257, 65)).astype(np.float32)
    assert_close(pykernels.gemm(a, b, backend="cuda-sim"), pykernels.gemm(a, b, backend="numpy"), scale=16)


def test_gemm_beta_zero_never_reads_c(rng):
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))
    c = np.full((5, 4), np.nan)
    np.testing.assert_allclose(pykernels.gemm(a, b, c, beta=0.0, backend="cuda-sim"), a @ b, rtol=1e-12)
    assert np.isnan(pykernels.gemm(a, b, c, beta=1.0, backend="cuda-sim")).all()


@pytest.mark.parametrize("k", [1, 31, 32, 33, 1024, 1025, 3000])
def test_softmax_warp_and_block_rows(rng, k, dtype):
    """Rows up to 1024 classes take one warp each, longer rows a block: both reductions, with a NaN row
    and logits of +-1e4."""
    x = (rng.standard_normal((11, k)) * 3).astype(dtype)
    x[3, k // 2] = np.nan
    x[5] *= 1e4 / max(1.0, float(np.abs(x[5]).max()))
    labels = rng.integers(0, k, 11)
    for op, args in (("softmax", (x,)), ("log_softmax", (x,)), ("softmax_cross_entropy", (x, labels))):
        with np.errstate(invalid="ignore"):
            got = getattr(pykernels, op)(*args, backend="cuda-sim")
            want = getattr(pykernels, op)(*args, backend="numpy")
        if op == "softmax_cross_entropy":
            got, want = got[1], want[1]
        assert np.isnan(got[3]).all()
        assert_close(got, want, "forward")


# ---- device arrays (the path real GPUs use, with host memory standing in) ----------------------------

class Foreign:
    """A third-party device array: only __cuda_array_interface__ (as CuPy, Numba or PyTorch expose)."""

    def __init__(self, base, shape=None, strides=None, dtype=None, offset=0):
        self.base = base
        self.__cuda_array_interface__ = {
            "shape": tuple(base.shape if shape is None else shape), "typestr": np.dtype(dtype or base.dtype).str,
            "data": (base.ptr + offset, False), "strides": strides, "version": 3}


def test_device_array_in_device_array_out(rt, rng):
    from pykernels.backends.cuda import DeviceArray

    a, b = rng.standard_normal((33, 20)).astype(np.float32), rng.standard_normal((20, 7)).astype(np.float32)
    da, db = rt.to_device(a), rt.to_device(b)
    out = pykernels.gemm(da, db, backend="cuda-sim")
    assert isinstance(out, DeviceArray) and out.shape == (33, 7) and out.dtype == np.float32
    assert_close(out.get(), pykernels.gemm(a, b, backend="numpy"))
    y = pykernels.sigmoid(out, backend="cuda-sim")
    assert isinstance(y, DeviceArray)
    assert_close(y.get(), pykernels.sigmoid(out.get(), backend="numpy"))
    labels = rt.to_device(rng.integers(0, 7, 33))
    loss, probs = pykernels.softmax_cross_entropy(out, labels, backend="cuda-sim")
    want_loss, want_probs = pykernels.softmax_cross_entropy(out.get(), labels.get(), backend="numpy")
    assert isinstance(probs, DeviceArray) and isinstance(loss, DeviceArray) and loss.shape == ()
    assert_close(loss.get(), np.asarray(want_loss))
    dlogits = pykernels.softmax_cross_entropy_backward(probs, labels, backend="cuda-sim")
    assert_close(dlogits.get(), pykernels.softmax_cross_entropy_backward(want_probs, labels.get(), backend="numpy"))


def test_foreign_cuda_array_interface_objects(rt, rng):
    x = rng.standard_normal((6, 5))
    d = rt.to_device(x)
    y = pykernels.softmax(Foreign(d), backend="cuda-sim")
    assert_close(y.get(), pykernels.softmax(x, backend="numpy"))
    # a Fortran-ordered device matrix is the transpose of a C-ordered one: gemm reads it in place
    f = Foreign(d, shape=(5, 6), strides=(8, 40))
    got = pykernels.gemm(f, d, backend="cuda-sim")
    assert_close(got.get(), x.T @ x)
    # mixed host and device operands: device out
    assert_close(pykernels.gemm(x, f, backend="cuda-sim").get(), x @ x.T)


def test_strided_device_views_are_gathered_on_the_device(rt, rng):
    x = rng.standard_normal((6, 5))
    d = rt.to_device(x)
    every_other_row = Foreign(d, shape=(3, 5), strides=(80, 8))
    assert_close(pykernels.sigmoid(every_other_row, backend="cuda-sim").get(), pykernels.sigmoid(x[::2], backend="numpy"))
    reversed_cols = Foreign(d, shape=(6, 5), strides=(40, -8), offset=32)
    assert_close(pykernels.softmax(reversed_cols, backend="cuda-sim").get(), pykernels.softmax(x[:, ::-1], backend="numpy"))
    column = Foreign(d, shape=(6, 1), strides=(40, 8), offset=16)  # one column of the matrix
    assert_close(pykernels.gemm(column, column, trans_b=True, backend="cuda-sim").get(), x[:, 2:3] @ x[:, 2:3].T)
    x3 = rng.standard_normal((4, 3, 5)).astype(np.float32)
    d3 = rt.to_device(x3)
    transposed = Foreign(d3, shape=(5, 3, 4), strides=(4, 20, 60))
    assert_close(pykernels.relu(transposed, backend="cuda-sim").get(), np.maximum(x3.transpose(2, 1, 0), 0))


def test_bad_device_arrays_raise(rt, rng):
    d = rt.to_device(rng.standard_normal((6, 5)))
    misaligned = Foreign(d, shape=(3, 5), strides=(80, 4))
    with pytest.raises(ValueError, match="element-aligned strides"):
        pykernels.sigmoid(misaligned, backend="cuda-sim")
    host = np.zeros((4, 4))

    class HostMemory:  # a pointer the emulator did not allocate (on a GPU: not device memory)
        __cuda_array_interface__ = {"shape": (4, 4), "typestr": "<f8", "data": (host.ctypes.data, False),
                                    "version": 3}

    with pytest.raises(TypeError, match="not memory allocated by the cuda-sim backend"):
        pykernels.relu(HostMemory(), backend="cuda-sim")
    past_end = Foreign(d, shape=(7, 5))  # runs past the allocation
    with pytest.raises(TypeError, match="not memory allocated"):
        pykernels.tanh(past_end, backend="cuda-sim")
    with pytest.raises(TypeError, match="float32 or float64"):
        pykernels.tanh(Foreign(d, dtype=np.int64), backend="cuda-sim")
    with pytest.raises(ValueError, match="2-D"):
        pykernels.softmax(Foreign(d, shape=(30,)), backend="cuda-sim")
    for backend in ("numpy", "cpu"):
        if backend in pykernels.available_backends():
            with pytest.raises(TypeError, match="takes NumPy arrays"):
                pykernels.sigmoid(d, backend=backend)
            with pytest.raises(TypeError, match="takes NumPy arrays"):
                pykernels.gemm(d, d, trans_b=True, backend=backend)


# ---- backend registry and the command line ----------------------------------------------------------

def test_cuda_sim_is_listed_with_include_sim():
    assert "cuda-sim" in pykernels.available_backends(include_sim=True)
    assert "cuda-sim" not in pykernels.available_backends()


def test_info_reports_cuda_build_and_sim():
    out = subprocess.run([sys.executable, "-m", "pykernels", "info"], capture_output=True, text=True, check=True,
                         cwd="/")
    assert "cuda-sim  available" in out.stdout
    assert "CUDA module: " in out.stdout
    try:
        import pykernels._cuda  # noqa: F401
    except ImportError:
        assert "CUDA module: not built" in out.stdout
    else:
        assert ("CUDA module: built, no device" in out.stdout) != ("cuda" in pykernels.available_backends())


@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_reads_nothing_past_its_operands(rt, rng, trans_a, trans_b):
    """The operands are followed by NaN in device memory: a tile load that reads one element too far
    (e.g. `p <= k` for `p < k`) turns the product into NaN even though the matching factor is 0."""
    m, n, k = 37, 29, 21

    def nan_tailed(shape):
        vals = rng.standard_normal(shape)
        buf = np.full(vals.size + 64, np.nan)
        buf[:vals.size] = vals.ravel()
        return vals, Foreign(rt.to_device(buf), shape=shape)

    a, da = nan_tailed((k, m) if trans_a else (m, k))
    b, db = nan_tailed((n, k) if trans_b else (k, n))
    got = pykernels.gemm(da, db, trans_a=trans_a, trans_b=trans_b, backend="cuda-sim").get()
    assert_close(got, pykernels.gemm(a, b, trans_a=trans_a, trans_b=trans_b, backend="numpy"), scale=k)


def test_events_time_a_kernel(rt, rng):
    native = rt.native
    x = rng.standard_normal((256, 256))
    start, end = native.event_create(), native.event_create()
    native.event_record(start)
    pykernels.gemm(x, x, backend="cuda-sim")
    native.event_record(end)
    native.event_synchronize(end)
    ms = native.event_elapsed_ms(start, end)
    native.event_destroy(start)
    native.event_destroy(end)
    assert 0.0 < ms < 60_000.0
