"""gemm: every backend and every CPU instruction-set path against the NumPy reference; the
reference against PyTorch and the course's worked example; errors; concurrent callers."""
import threading

import numpy as np
import pytest

import pykernels
from helpers import assert_close, concurrently, random, reference, views

TRANS = [(False, False), (True, False), (False, True), (True, True)]
TRANS_IDS = ["nn", "tn", "nt", "tt"]


def operands(rng, m, n, k, dtype, trans_a=False, trans_b=False):
    """a, b stored so that op(a) is (m, k) and op(b) is (k, n), and a c of (m, n)."""
    a = random(rng, (k, m) if trans_a else (m, k), dtype)
    b = random(rng, (n, k) if trans_b else (k, n), dtype)
    c = random(rng, (m, n), dtype)
    return a, b, c


def check(backend, a, b, c=None, **kw):
    """The product on `backend` against the reference; atol grows like sqrt(K) (rounding of long
    sums in another order)."""
    k = a.shape[0] if kw.get("trans_a") else a.shape[1]
    got = pykernels.gemm(a, b, c, backend=backend, **kw)
    want = reference.gemm(a, b, c, **kw)
    assert_close(got, want, scale=np.sqrt(k + 1.0))
    return got


# ---- every backend ------------------------------------------------------------------------------

SHAPES = [(1, 1, 1), (1, 7, 1), (7, 1, 33), (7, 33, 1), (33, 7, 33), (129, 65, 257)]


@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_matches_reference(backend, dtype, rng, m, n, k, trans_a, trans_b):
    a, b, c = operands(rng, m, n, k, dtype, trans_a, trans_b)
    got = check(backend, a, b, trans_a=trans_a, trans_b=trans_b)
    assert got.shape == (m, n) and got.dtype == dtype
    check(backend, a, b, c, alpha=-0.7, beta=1.3, trans_a=trans_a, trans_b=trans_b)


@pytest.mark.parametrize("m,n,k", [(5, 6, 0), (0, 4, 3), (4, 0, 3), (0, 0, 0)])
def test_empty_dimensions(backend, dtype, rng, m, n, k):
    a, b, c = operands(rng, m, n, k, dtype)
    got = check(backend, a, b)
    assert got.shape == (m, n)
    # K = 0: op(a) @ op(b) is all zeros, so the result is beta * c.
    check(backend, a, b, c, alpha=2.0, beta=-0.5)


def test_alpha_beta(backend, dtype, rng):
    a, b, c = operands(rng, 9, 35, 13, dtype)
    check(backend, a, b, c, alpha=2, beta=-1)  # Python ints are accepted
    check(backend, a, b, c, alpha=0.0, beta=1.0)
    check(backend, a, b, c, alpha=np.float32(0.5), beta=np.float64(0.25))
    # c=None: beta has nothing to scale.
    check(backend, a, b, None, alpha=1.5, beta=3.0)
    c_before = c.copy()
    pykernels.gemm(a, b, c, beta=1.0, backend=backend)
    np.testing.assert_array_equal(c, c_before)  # c is read, never written


@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_beta_zero_does_not_read_c(backend, dtype, rng, trans_a, trans_b):
    a, b, _ = operands(rng, 13, 37, 11, dtype, trans_a, trans_b)
    c = np.full((13, 37), np.nan, dtype=dtype)
    got = pykernels.gemm(a, b, c, alpha=0.5, beta=0.0, trans_a=trans_a, trans_b=trans_b, backend=backend)
    assert np.isfinite(got).all()
    want = reference.gemm(a, b, alpha=0.5, trans_a=trans_a, trans_b=trans_b)
    assert_close(got, want, scale=np.sqrt(12.0))


@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_strided_and_fortran_views(backend, dtype, rng, trans_a, trans_b):
    a, b, c = operands(rng, 19, 23, 17, dtype, trans_a, trans_b)
    want = reference.gemm(a, b, c, alpha=1.25, beta=0.5, trans_a=trans_a, trans_b=trans_b)
    for va in views(a).values():
        for vb in views(b).values():
            for vc in views(c).values():
                got = pykernels.gemm(va, vb, vc, alpha=1.25, beta=0.5, trans_a=trans_a, trans_b=trans_b,
                                     backend=backend)
                assert_close(got, want, scale=np.sqrt(18.0))


def test_transposed_views_equal_flags(backend, dtype, rng):
    """a.T passed as an array and a with trans_a=True are the same product."""
    a, b, _ = operands(rng, 21, 10, 34, dtype, trans_a=True, trans_b=True)
    got_views = pykernels.gemm(a.T, b.T, backend=backend)
    got_flags = pykernels.gemm(a, b, trans_a=True, trans_b=True, backend=backend)
    assert_close(got_views, got_flags, scale=np.sqrt(35.0))


def test_real_case_mlp_layer(backend, rng):
    """The 784 -> 128 hidden layer of the digits network on a batch of 64, forward and both
    backward products (dW = x.T @ dy, dx = dy @ W.T)."""
    x = random(rng, (64, 784), np.float32)
    w = random(rng, (784, 128), np.float32, scale=0.05)
    dy = random(rng, (64, 128), np.float32)
    check(backend, x, w)
    check(backend, x, dy, trans_a=True)
    check(backend, dy, w, trans_b=True)


# ---- the reference itself -------------------------------------------------------------------------


@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_reference_matches_torch(torch, dtype, rng, trans_a, trans_b):
    a, b, c = operands(rng, 17, 12, 29, dtype, trans_a, trans_b)
    got = reference.gemm(a, b, c, alpha=0.75, beta=-2.0, trans_a=trans_a, trans_b=trans_b)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    want = torch.addmm(torch.from_numpy(c), ta.T if trans_a else ta, tb.T if trans_b else tb, beta=-2.0, alpha=0.75)
    assert_close(got, want.numpy(), kind="oracle")
    assert_close(reference.gemm(a, b, trans_a=trans_a, trans_b=trans_b),
                 torch.matmul(ta.T if trans_a else ta, tb.T if trans_b else tb).numpy(), kind="oracle")


def test_course_worked_example(backend, dtype):
    """A linear 2-2-1 network: input [2, 3], hidden weights [[0.11, 0.12], [0.21, 0.08]] (one column
    per hidden unit, so hidden = x @ W), output weights [0.14, 0.15]: hidden [0.85, 0.48], output
    0.191."""
    x = np.array([[2.0, 3.0]], dtype=dtype)
    w_hidden = np.array([[0.11, 0.12], [0.21, 0.08]], dtype=dtype)
    w_out = np.array([[0.14], [0.15]], dtype=dtype)
    hidden = pykernels.gemm(x, w_hidden, backend=backend)
    out = pykernels.gemm(hidden, w_out, backend=backend)
    rtol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(hidden, [[0.85, 0.48]], rtol=rtol)
    np.testing.assert_allclose(out, [[0.191]], rtol=rtol)
    # The same numbers as column vectors: hidden = W.T @ x.T, output = w_out.T @ hidden.
    hidden_col = pykernels.gemm(w_hidden, x, trans_a=True, trans_b=True, backend=backend)
    np.testing.assert_allclose(hidden_col, [[0.85], [0.48]], rtol=rtol)
    np.testing.assert_allclose(pykernels.gemm(w_out, hidden_col, trans_a=True, backend=backend), [[0.191]],
                               rtol=rtol)


# ---- every instruction-set path of the cpu backend ----------------------------------------------------

# Shapes past every edge and block of the kernels: micro-tile edges (MR 6/12, vectors of 2-16
# lanes), several KC blocks (K > 256), several NC blocks (N > 512; N > 2048 and 3072 per thread for
# the AVX2 GotoBLAS order), packed and in-place operands (A > 256 KiB, B > 512 KiB or transposed
# are packed), two threads and one, several MC blocks (M > 2040; M > 96 and 144 for AVX2).
ISA_SHAPES = [(1, 1, 1), (5, 3, 2), (13, 17, 19), (12, 32, 7), (25, 47, 300), (300, 530, 40),
              (400, 30, 200), (20, 700, 200), (2100, 9, 40), (40, 6500, 50),
              # one row of C (the RNN's per-step product): several passes of 8 vectors, a ragged edge
              (1, 100, 100), (1, 300, 33), (1, 17, 500)]


@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_every_isa_matches_reference(isa, dtype, rng, trans_a, trans_b):
    from pykernels import _cpu

    assert _cpu.get_isa() == isa
    for m, n, k in ISA_SHAPES:
        a, b, c = operands(rng, m, n, k, dtype, trans_a, trans_b)
        check("cpu", a, b, trans_a=trans_a, trans_b=trans_b)
        check("cpu", a, b, c, alpha=0.5, beta=-1.5, trans_a=trans_a, trans_b=trans_b)
        c[:] = np.nan
        got = check("cpu", a, b, c, alpha=1.5, beta=0.0, trans_a=trans_a, trans_b=trans_b)
        assert np.isfinite(got).all()


def test_every_isa_views_and_empty(isa, dtype, rng):
    a, b, c = operands(rng, 31, 45, 29, dtype)
    want = reference.gemm(a, b, c, beta=2.0)
    for va in views(a).values():
        for vb in views(b).values():
            assert_close(pykernels.gemm(va, vb, c, beta=2.0, backend="cpu"), want, scale=np.sqrt(30.0))
    a, b, c = operands(rng, 7, 9, 0, dtype)
    check("cpu", a, b, c, beta=3.0)
    check("cpu", a, b, c, beta=0.0)


# ---- the compiled fast entry of the plain product (no c, alpha 1, no transposes) ------------------


class _Sub(np.ndarray):
    pass


def test_fast_entry_takes_only_exact_contiguous_pairs(isa, dtype, rng):
    """_cpu.gemm_fast computes the product of exact, C-contiguous, aligned 2-D arrays of one native
    float dtype, and returns None (never raises) for anything else, which the Python layer then
    validates and converts as before."""
    from pykernels import _cpu

    for m, n, k in ISA_SHAPES + [(128, 10, 64), (64, 128, 784), (7, 9, 0)]:
        a, b, _ = operands(rng, m, n, k, dtype)
        got = _cpu.gemm_fast(a, b)
        assert got is not None and got.dtype == dtype and got.shape == (m, n) and got.flags.c_contiguous
        assert got.flags.writeable and got.flags.owndata and got.flags.aligned
        assert_close(got, reference.gemm(a, b), scale=np.sqrt(k + 1.0))
    assert _cpu.gemm_fast(np.ones((0, 3), dtype), np.ones((3, 4), dtype)).shape == (0, 4)
    a, b, _ = operands(rng, 6, 5, 4, dtype)
    other = np.float32 if dtype == np.float64 else np.float64
    unaligned = np.frombuffer(b"\0" + a.tobytes(), dtype=dtype, offset=1).reshape(a.shape)
    assert not unaligned.flags.aligned
    declined = [
        (np.asfortranarray(a), b), (a, np.asfortranarray(b)), (views(a)["strided"], b), (a, views(b)["strided"]),
        (a, b.astype(other)), (a.astype(other), b), (a.astype(np.int64), b.astype(np.int64)),
        (a.astype(a.dtype.newbyteorder()), b.astype(b.dtype.newbyteorder())), (unaligned, b),
        (a.view(_Sub), b), (a, b.view(_Sub)), (a.ravel(), b), (a, b[None]), (a, a), (a.tolist(), b), (a, None),
    ]
    for x, y in declined:
        assert _cpu.gemm_fast(x, y) is None
        if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == y.ndim == 2 and x.shape[1] == y.shape[0] \
                and x.dtype == y.dtype == dtype:
            # the ones the Python layer accepts still give the product through it
            assert_close(pykernels.gemm(x, y, backend="cpu"), reference.gemm(a, b), scale=2.0)


def test_fast_entry_only_for_the_cpu_backend(dtype, rng):
    """The plain product goes to the compiled fast entry on the cpu backend only, whichever way the
    backend is chosen; every other backend and an unknown name keep their own path and errors."""
    from pykernels import _cpu
    import importlib

    gemm_module = importlib.import_module("pykernels.ops.gemm")

    assert gemm_module._fast_entry("cpu") is _cpu.gemm_fast
    assert gemm_module._fast_entry("numpy") is None
    assert gemm_module._fast_entry("fortran") is None
    assert gemm_module._fast_entry(["cpu"]) is None
    a, b, _ = operands(rng, 12, 10, 64, dtype)
    calls = []
    original = gemm_module._fast.get("cpu")
    gemm_module._fast["cpu"] = lambda x, y: calls.append(1) or original(x, y)
    try:
        with pykernels.use_backend("numpy"):
            assert_close(pykernels.gemm(a, b), reference.gemm(a, b), scale=8.0)
        assert not calls
        with pykernels.use_backend("cpu"):
            assert_close(pykernels.gemm(a, b), reference.gemm(a, b), scale=8.0)
        assert calls == [1]
        assert_close(pykernels.gemm(a, b, backend="cpu"), reference.gemm(a, b), scale=8.0)
        assert calls == [1, 1]
        # anything but the plain call, and ints for the scalars, take the validated path
        pykernels.gemm(a, b, alpha=1, backend="cpu")
        pykernels.gemm(a, b, alpha=2.0, backend="cpu")
        pykernels.gemm(a, b.T.copy(), trans_b=True, backend="cpu")
        pykernels.gemm(a, b, np.zeros((12, 10), dtype), backend="cpu")
        assert calls == [1, 1]
    finally:
        gemm_module._fast["cpu"] = original
    with pytest.raises(ValueError, match="unknown backend 'fortran'"):
        pykernels.gemm(a, b, backend="fortran")
    with pytest.raises(ValueError, match="gemm: inner dimensions differ"):
        pykernels.gemm(a, a, backend="fortran")


def test_use_backend_stack_per_thread():
    """The per-thread use_backend stack starts empty in every thread (get_backend reads it directly)."""
    default = pykernels.get_backend()
    inner = "cpu" if default == "numpy" else "numpy"
    seen = []
    with pykernels.use_backend(inner):
        t = threading.Thread(target=lambda: seen.append(pykernels.get_backend()))
        t.start()
        t.join()
        assert pykernels.get_backend() == inner
    assert seen == [default] and pykernels.get_backend() == default


# ---- errors (API.md) ----------------------------------------------------------------------------------


def test_errors(backend):
    f32 = np.ones((3, 4), np.float32)
    g32 = np.ones((4, 5), np.float32)
    gemm = pykernels.gemm
    with pytest.raises(ValueError, match="'a' must be 2-D"):
        gemm(np.ones(4, np.float32), g32, backend=backend)
    with pytest.raises(ValueError, match="'b' must be 2-D"):
        gemm(f32, np.ones((4, 5, 1), np.float32), backend=backend)
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(f32, f32, backend=backend)
    with pytest.raises(ValueError, match="inner dimensions"):
        gemm(f32, g32, trans_a=True, backend=backend)
    with pytest.raises(ValueError, match=r"'c' must have shape \(3, 5\)"):
        gemm(f32, g32, np.ones((5, 3), np.float32), backend=backend)
    with pytest.raises(ValueError, match="'c' must be 2-D"):
        gemm(f32, g32, np.ones(5, np.float32), backend=backend)
    for bad in (np.ones((3, 4), np.int64), np.ones((3, 4), np.complex64), np.ones((3, 4), object),
                np.ones((3, 4), np.float16), np.ones((3, 4), bool)):
        with pytest.raises(TypeError, match="'a'"):
            gemm(bad, g32, backend=backend)
        with pytest.raises(TypeError, match="'b'"):
            gemm(g32.T, bad, backend=backend)
    with pytest.raises(TypeError, match="share one dtype"):
        gemm(f32, g32.astype(np.float64), backend=backend)
    with pytest.raises(TypeError, match="share one dtype"):
        gemm(f32, g32, np.ones((3, 5), np.float64), backend=backend)
    with pytest.raises(TypeError, match="'a' must be a numpy.ndarray"):
        gemm([[1.0, 2.0]], g32[:2], backend=backend)
    with pytest.raises(TypeError, match="'c' must be a numpy.ndarray"):
        gemm(f32, g32, 1.0, backend=backend)
    with pytest.raises(TypeError, match="'trans_a' must be a bool"):
        gemm(f32.T, g32[:3], trans_a=1, backend=backend)
    with pytest.raises(TypeError, match="'trans_b' must be a bool"):
        gemm(f32, g32.T, trans_b="yes", backend=backend)
    with pytest.raises(TypeError, match="'alpha' must be a real number"):
        gemm(f32, g32, alpha=1j, backend=backend)
    with pytest.raises(TypeError, match="'beta' must be a real number"):
        gemm(f32, g32, beta=None, backend=backend)
    with pytest.raises(TypeError, match="'alpha' must be a real number"):
        gemm(f32, g32, alpha=True, backend=backend)


def test_unknown_backend():
    a = np.ones((2, 2), np.float32)
    with pytest.raises(ValueError, match="unknown backend"):
        pykernels.gemm(a, a, backend="fortran")
    with pytest.raises(TypeError):
        pykernels.gemm(a, a, backend=["cpu"])


# ---- concurrency ------------------------------------------------------------------------------------------


def test_concurrent_callers(compiled_backend, rng):
    """Python threads calling gemm at once (the GIL is released) each get their own result."""
    cases = []
    for i, (m, n, k) in enumerate([(200, 150, 170), (64, 128, 784), (33, 7, 65), (128, 10, 64)] * 2):
        dtype = np.float32 if i % 2 == 0 else np.float64
        trans_a, trans_b = TRANS[i % 4]
        a, b, c = operands(rng, m, n, k, dtype, trans_a, trans_b)
        kw = dict(alpha=0.5, beta=2.0, trans_a=trans_a, trans_b=trans_b)
        cases.append((a, b, c, kw, reference.gemm(a, b, c, **kw)))

    def worker(a, b, c, kw, want):
        for _ in range(5):
            got = pykernels.gemm(a, b, c, backend=compiled_backend, **kw)
            k = a.shape[0] if kw["trans_a"] else a.shape[1]
            assert_close(got, want, scale=np.sqrt(k + 1.0))

    concurrently(worker, cases)


def test_concurrent_plain_callers(rng):
    """Threads calling the plain product (the compiled fast entry, GIL released) at once."""
    pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    cases = []
    for i, (m, n, k) in enumerate([(200, 150, 170), (64, 128, 784), (128, 10, 64), (1, 100, 100)] * 2):
        a, b, _ = operands(rng, m, n, k, np.float32 if i % 2 == 0 else np.float64)
        cases.append((a, b, reference.gemm(a, b)))

    def worker(a, b, want):
        for _ in range(20):
            assert_close(pykernels.gemm(a, b, backend="cpu"), want, scale=np.sqrt(a.shape[1] + 1.0))

    concurrently(worker, cases)


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_fast_entry_does_not_leak(dtype, rng):
    """The fast entry allocates its output through the NumPy C API: neither the output buffers nor
    references to the dtype may leak (thousands of calls, resident memory and dtype refcount)."""
    import gc
    import sys

    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    a = random(rng, (64, 64), dtype)  # 16-32 KiB outputs

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    for _ in range(200):
        cpu.gemm_fast(a, a)
        pykernels.gemm(a, a, backend="cpu")
    gc.collect()
    refs, before = sys.getrefcount(a.dtype), rss()
    for _ in range(3000):
        cpu.gemm_fast(a, a)
        pykernels.gemm(a, a, backend="cpu")
        assert cpu.gemm_fast(a, a.T) is None
    gc.collect()
    assert abs(sys.getrefcount(a.dtype) - refs) < 10
    assert rss() - before < 8 << 20  # 6000 leaked outputs would be 96-192 MiB
