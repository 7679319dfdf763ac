"""The float32 GEMM on AMX-BF16 tiles (csrc/gemm_amx.cpp): each operand split into three bf16 parts,
six part products accumulated in float32. Checked against float64 next to the FMA kernel's own
error, for every layout and at every edge of its tiles; inputs outside the tiles' range go to the FMA
kernel. Skipped (with the reason) on CPUs without AMX-BF16 and AVX512-BF16."""
import os

import numpy as np
import pytest

import pykernels
from helpers import concurrently, cpu_setting, random, reference, run_python, views

TRANS = [(False, False), (True, False), (False, True), (True, True)]
TRANS_IDS = ["nn", "tn", "nt", "tt"]

# Products the tiles take (m, n, k >= 128 and m n k >= 2^25), past every edge: 16-row and 16-column
# tiles, 32-row / 32-column blocks, K steps of 32, several chunks of column blocks.
SHAPES = [(256, 256, 512), (333, 517, 201), (130, 300, 1000), (128, 1040, 511), (1100, 130, 481)]


@pytest.fixture
def amx():
    with cpu_setting("sgemm_path", "set_sgemm_path", "amx"):
        yield


def fma_product(*args, **kw):
    with cpu_setting("sgemm_path", "set_sgemm_path", "fma"):
        return pykernels.gemm(*args, backend="cpu", **kw)


def operands(rng, m, n, k, trans_a=False, trans_b=False):
    a = random(rng, (k, m) if trans_a else (m, k), np.float32)
    b = random(rng, (n, k) if trans_b else (k, n), np.float32)
    c = random(rng, (m, n), np.float32)
    return a, b, c


def exact(a, b, c=None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """The product in float64 and the sums of magnitudes |alpha| |op(a)| |op(b)| + |beta c| that
    bound its rounding."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    oa, ob = (a64.T if trans_a else a64), (b64.T if trans_b else b64)
    want = alpha * (oa @ ob)
    mag = abs(alpha) * (np.abs(oa) @ np.abs(ob))
    if beta != 0.0:
        want = want + beta * c.astype(np.float64)
        mag = mag + abs(beta) * np.abs(c.astype(np.float64))
    return want, mag


def relative_errors(got, want, mag):
    """Largest and mean error relative to the sum of magnitudes, element by element."""
    e = np.abs(got.astype(np.float64) - want) / np.maximum(mag, 1e-300)
    return e.max(), e.mean()


@pytest.mark.parametrize("m,n,k", SHAPES, ids=[f"{m}x{n}x{k}" for m, n, k in SHAPES])
@pytest.mark.parametrize("trans_a,trans_b", TRANS, ids=TRANS_IDS)
def test_as_accurate_as_the_fma_kernel(amx, rng, m, n, k, trans_a, trans_b):
    a, b, c = operands(rng, m, n, k, trans_a, trans_b)
    for kw in ({}, {"c": c, "alpha": 0.75, "beta": -1.25}):
        kw = dict(kw, trans_a=trans_a, trans_b=trans_b)
        cc = kw.pop("c", None)
        got = pykernels.gemm(a, b, cc, backend="cpu", **kw)
        fma = fma_product(a, b, cc, **kw)
        # the tiles ran: their sums round in another order than the FMA kernel's
        assert not np.array_equal(got, fma)
        want, mag = exact(a, b, cc, **kw)
        worst, mean = relative_errors(got, want, mag)
        worst_fma, mean_fma = relative_errors(fma, want, mag)
        # one float32 rounding per pair of products against one per product: the same order of error
        # (a dropped part product would leave errors of 2^-17 |a b|, some 30x the FMA kernel's mean)
        assert mean <= 2.0 * mean_fma, (mean, mean_fma)
        assert worst <= 4.0 * worst_fma, (worst, worst_fma)
        np.testing.assert_allclose(got, reference.gemm(a, b, cc, **kw), rtol=1e-4, atol=1e-4 * np.sqrt(k))


def test_parts_cover_all_24_bits(amx, rng):
    """Operands that need all three bf16 parts (24 significant bits) times operands exact in bf16,
    with sums exact in float32: every part product that matters must be there, to the last bit."""
    m, n, k = 128, 160, 4096
    # a: odd integers below 2^24 (24 bits, 3 parts) times 2^-12; b: one nonzero in {1, 2, 4} per
    # column and row block, so each entry of the product is one product, exact in float32
    a = (rng.integers(2**23, 2**24, size=(m, k)) | 1).astype(np.float32) * np.float32(2.0**-12)
    b = np.zeros((k, n), np.float32)
    rows = rng.integers(0, k, size=n)
    b[rows, np.arange(n)] = 2.0 ** rng.integers(0, 3, size=n)
    got = pykernels.gemm(a, b, backend="cpu")
    np.testing.assert_array_equal(got, (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32))
    # and the other way round: the 24-bit operand on the right
    got = pykernels.gemm(b.T.copy(), a.T.copy(), backend="cpu")
    np.testing.assert_array_equal(got, (b.T.astype(np.float64) @ a.T.astype(np.float64)).astype(np.float32))


def test_beta_zero_does_not_read_c(amx, rng):
    a, b, c = operands(rng, 300, 200, 600)
    c[:] = np.nan
    got = pykernels.gemm(a, b, c, beta=0.0, backend="cpu")
    assert np.isfinite(got).all()
    want, mag = exact(a, b)
    assert relative_errors(got, want, mag)[0] < 1e-5


def test_strided_views(amx, rng):
    a, b, _ = operands(rng, 300, 260, 500)
    want = fma_product(a, b)
    for name, va in views(a).items():
        got = pykernels.gemm(va, b, backend="cpu")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)
    for name, vb in views(b).items():
        got = pykernels.gemm(a, vb, backend="cpu")
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4, err_msg=name)


SPECIAL = {"subnormal": 1e-40, "tiny": 1e-20, "huge": 1e20, "inf": np.inf, "-inf": -np.inf, "nan": np.nan}


@pytest.mark.parametrize("where", ["a", "b"])
@pytest.mark.parametrize("value", list(SPECIAL.values()), ids=list(SPECIAL))
def test_values_outside_the_range_take_the_fma_kernel(amx, rng, where, value):
    """The tiles flush subnormals and would turn infinities into NaN through the split: any such
    value makes the whole product go to the FMA kernel, bit for bit, as IEEE arithmetic has it."""
    a, b, c = operands(rng, 200, 190, 900)
    (a if where == "a" else b)[7, 11] = value
    got = pykernels.gemm(a, b, c, alpha=1.5, beta=0.5, backend="cpu")
    np.testing.assert_array_equal(got, fma_product(a, b, c, alpha=1.5, beta=0.5))
    # ... and in range just inside the limits, the tiles take it (rounded otherwise than the FMA kernel)
    (a if where == "a" else b)[7, 11] = 2.0**-50 if value == value and abs(value) < 1 else 2.0**50
    got = pykernels.gemm(a, b, c, alpha=1.5, beta=0.5, backend="cpu")
    assert not np.array_equal(got, fma_product(a, b, c, alpha=1.5, beta=0.5))
    want, mag = exact(a, b, c, alpha=1.5, beta=0.5)
    assert relative_errors(got, want, mag)[0] < 1e-5


def test_float64_small_and_skinny_products_keep_the_fma_kernel(amx, rng):
    # 2^18 multiply-adds: below the tiles' threshold; then m, n or k under 128 (packing the big
    # operand for a few blocks costs what the tiles save)
    for m, n, k in [(64, 64, 64), (96, 1024, 1024), (1024, 1024, 100), (1024, 120, 1024)]:
        a, b, _ = operands(rng, m, n, k)
        np.testing.assert_array_equal(pykernels.gemm(a, b, backend="cpu"), fma_product(a, b))
    a, b, _ = operands(rng, 64, 64, 64)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    with cpu_setting("sgemm_path", "set_sgemm_path", "fma"):
        want = pykernels.gemm(a64, b64, backend="cpu")
    np.testing.assert_array_equal(pykernels.gemm(a64, b64, backend="cpu"), want)


def test_concurrent_callers(amx, rng):
    """Each thread configures its own tiles and packs into its own workspace."""
    cases = [operands(rng, 256 + 32 * i, 320 - 16 * i, 512) for i in range(4)]
    want = [pykernels.gemm(a, b, backend="cpu") for a, b, _ in cases]

    def run(i):
        a, b, _ = cases[i]
        for _ in range(3):
            np.testing.assert_array_equal(pykernels.gemm(a, b, backend="cpu"), want[i])

    concurrently(run, [(i,) for i in range(len(cases))])


def test_path_setting():
    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    assert cpu.sgemm_path() in ("amx", "fma")
    with pytest.raises(ValueError, match="'name'"):
        cpu.set_sgemm_path("bf16")
    with cpu_setting("get_isa", "set_isa", "avx2"):
        assert cpu.sgemm_path() == "fma"
        with pytest.raises(ValueError, match="does not support 'amx'"):
            cpu.set_sgemm_path("amx")


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_large_packed_operands_are_not_kept(amx, rng):
    """The three-part packs of a large product (here 38 MB) are freed after the call."""

    def resident_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    a = random(rng, (1536, 2048), np.float32)
    b = random(rng, (2048, 1536), np.float32)
    c = np.empty((1536, 1536), np.float32)
    c[...] = 0.0
    before = resident_mb()
    for _ in range(3):
        c[...] = pykernels.gemm(a, b, backend="cpu")
    assert resident_mb() - before < 20


def test_environment_turns_the_tiles_off(amx):
    """PYKERNELS_SGEMM=fma at load keeps every float32 product on the FMA kernels."""
    code = "import pykernels._cpu as c; print(c.sgemm_path())"
    for value, want in (("fma", "fma"), ("", "amx")):
        out = run_python(code, dict(os.environ, PYKERNELS_SGEMM=value))
        assert out.stdout.strip() == want
