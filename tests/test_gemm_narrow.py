"""The float32 GEMM kernels for narrow products (narrow:: in csrc/gemm_avx512.cpp and
csrc/gemm_avx2.cpp): at most 12 columns, A not transposed, m >= 8, 16 <= k <= 8192, vectors along K
(AVX-512: lane 8 jj + kk of an accumulator holds row i, column 2 g + jj, k = 8 s + kk; AVX2: lane kk
of accumulator (i, j)), a packed copy of B per thread, the 8 partial sums of each output added by
shuffles or horizontal adds at the end.

Checked, on each instruction set that has such a kernel, against float64 within the rounding bound
of its order of summation, exactly with integer operands (which pins every lane of the layout), for
IEEE special values, and for the same bits wherever a row falls. The blocked kernel, the oracle for
which products are taken, is reached with A in Fortran order (the transposed-A path). Skipped where
the CPU runs neither AVX-512 nor AVX2."""
import numpy as np
import pytest

import pykernels
from helpers import concurrently, cpu_setting, random

EPS32 = 2.0**-24


@pytest.fixture(autouse=True, params=["avx512", "avx2"])
def narrow_isa(request):
    """Each instruction set with a narrow kernel that this CPU runs, selected for the test."""
    with cpu_setting("get_isa", "set_isa", request.param):
        yield request.param


def ours(a, b, c=None, **kw):
    return pykernels.gemm(a, b, c, backend="cpu", **kw)


def blocked(a, b, c=None, **kw):
    """The same product on the blocked kernel: A in Fortran order is passed as the transpose."""
    return pykernels.gemm(np.asfortranarray(a), b, c, backend="cpu", **kw)


def operands(rng, m, n, k, trans_b=False):
    a = random(rng, (m, k), np.float32)
    b = random(rng, (n, k) if trans_b else (k, n), np.float32)
    return a, b


def op_b(b, trans_b):
    return b.T if trans_b else b


# every column count, k with and without a tail of 1-7, rows past the 4-, 6- and 8-row blocks
NS = list(range(1, 13))
MKS = [(8, 16), (13, 23), (37, 64), (130, 201), (9, 785)]


@pytest.mark.parametrize("n", NS)
@pytest.mark.parametrize("trans_b", [False, True], ids=["b", "bT"])
def test_within_the_rounding_bound(rng, n, trans_b):
    """|C - exact| <= (k/8 + 6) u sum |alpha a b| (+ |beta c|): k/8 sequential steps per partial
    sum, 3 levels of the tree, alpha and beta."""
    for m, k in MKS:
        a, b = operands(rng, m, n, k, trans_b)
        c = random(rng, (m, n), np.float32)
        a64, b64 = a.astype(np.float64), op_b(b, trans_b).astype(np.float64)
        for alpha, beta in [(1.0, 0.0), (-0.75, 1.5)]:
            kw = dict(alpha=alpha, beta=beta, trans_b=trans_b)
            got = ours(a, b, c, **kw).astype(np.float64)
            want = alpha * (a64 @ b64) + beta * c.astype(np.float64)
            mag = abs(alpha) * (np.abs(a64) @ np.abs(b64)) + abs(beta) * np.abs(c.astype(np.float64))
            bound = (np.ceil(k / 8) + 6) * EPS32 * mag
            err = np.abs(got - want)
            assert (err <= bound).all(), (m, k, n, alpha, beta, float((err / mag).max()))


@pytest.mark.parametrize("trans_b", [False, True], ids=["b", "bT"])
def test_exact_with_integer_operands(rng, trans_b):
    """Integers in [-8, 8] sum exactly in float32 (|C| < 2^24): every element must be the exact
    product, so any lane or row of the layout read or written in the wrong place shows."""
    for n in NS:
        for m, k in MKS + [(20, 8192)]:
            a = rng.integers(-8, 9, (m, k)).astype(np.float32)
            b = rng.integers(-8, 9, (n, k) if trans_b else (k, n)).astype(np.float32)
            want = a.astype(np.int64) @ op_b(b, trans_b).astype(np.int64)
            np.testing.assert_array_equal(ours(a, b, trans_b=trans_b), want.astype(np.float32),
                                          err_msg=f"m={m} k={k} n={n}")


def test_takes_the_narrow_products_only(rng):
    """The narrow kernel rounds differently from the blocked one: the products it takes differ from
    the blocked kernel's in the last bits, those it leaves are the same bits."""
    taken = [(128, 10, 64), (8, 12, 16), (64, 1, 784), (20, 10, 8192)]
    left = [(128, 13, 64), (7, 10, 64), (128, 10, 15), (20, 10, 8193)]
    for m, n, k in taken:
        a, b = operands(rng, m, n, k)
        assert not np.array_equal(ours(a, b), blocked(a, b)), (m, n, k)
    for m, n, k in left:
        a, b = operands(rng, m, n, k)
        np.testing.assert_array_equal(ours(a, b), blocked(a, b), err_msg=f"{(m, n, k)}")
    # transposed A and float64 stay on the blocked kernel (same bits as each other's layouts)
    a, b = operands(rng, 128, 10, 64)
    at = np.ascontiguousarray(a.T)
    np.testing.assert_array_equal(ours(at, b, trans_a=True), blocked(a, b))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_array_equal(ours(a64, b64), blocked(a64, b64))


@pytest.mark.parametrize("n", [9, 10])
def test_ieee_special_values(rng, n):
    """Inf and NaN propagate as in IEEE arithmetic (Inf * 0 is NaN) into their own row or column
    only, with odd n (a padding column beside the last one) and a k tail; the oracle is the float64
    sum of the elementwise products, which does no BLAS shortcuts."""
    m, k = 21, 37
    for where, value in [("a", np.inf), ("a", -np.inf), ("a", np.nan), ("b", np.inf), ("b", np.nan)]:
        a, b = operands(rng, m, n, k)
        b[rng.integers(k), rng.integers(n)] = 0.0
        a[rng.integers(m), rng.integers(k)] = 0.0
        if where == "a":
            a[5, 3] = value
            a[11, k - 1] = value  # in the tail
        else:
            b[3, n - 1] = value
            b[k - 1, 2] = value
        with np.errstate(invalid="ignore"):
            want = (a.astype(np.float64)[:, :, None] * b.astype(np.float64)[None, :, :]).sum(axis=1)
        got = ours(a, b)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{where} {value}")
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=f"{where} {value}")
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{where} {value}")
        fin = np.isfinite(want)
        assert fin.sum() > m * n // 2
        np.testing.assert_allclose(got[fin], want[fin], rtol=1e-5, atol=1e-4)


def test_beta_zero_never_reads_c(rng):
    a, b = operands(rng, 40, 10, 64)
    c = np.full((40, 10), np.nan, np.float32)
    got = ours(a, b, c, alpha=2.0, beta=0.0)
    np.testing.assert_array_equal(got, 2.0 * ours(a, b))


def test_each_row_the_same_bits_wherever_it_falls(rng):
    """A row's sum is formed the same way in any block and on either thread: the rows of a 2-thread
    product (10000x64x10) are the same bits as the same rows computed alone or in small products."""
    a, b = operands(rng, 10000, 10, 64)
    full = ours(a, b)
    for lo, hi in [(0, 8), (4997, 5011), (9990, 10000), (1, 130)]:
        np.testing.assert_array_equal(ours(a[lo:hi], b), full[lo:hi], err_msg=f"rows {lo}:{hi}")


def test_concurrent_callers(rng):
    cases = []
    for i, (m, n, k) in enumerate([(128, 10, 64), (3000, 7, 100), (64, 12, 2000), (200, 1, 16)] * 2):
        a, b = operands(np.random.default_rng(i), m, n, k)
        cases.append((a, b, ours(a, b)))

    def run(a, b, want):
        for _ in range(20):
            np.testing.assert_array_equal(ours(a, b), want)

    concurrently(run, cases)
