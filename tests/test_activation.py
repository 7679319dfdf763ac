"""sigmoid / tanh / relu and their backward passes on every backend."""
import numpy as np
import pytest

import pykernels
from helpers import assert_close, numeric_grad, random, run_both, views

FORWARD = ["sigmoid", "tanh", "relu"]
BACKWARD = {"sigmoid": ("sigmoid_backward", "y"), "tanh": ("tanh_backward", "y"), "relu": ("relu_backward", "x")}
SHAPES = [(1,), (7,), (33, 5), (2, 3, 4), (1025,), (3, 1, 7, 33)]


@pytest.mark.parametrize("op", FORWARD)
@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(backend, op, shape, dtype, rng):
    x = random(rng, shape, dtype, scale=4)
    got, want = run_both(op, backend, x)
    assert_close(got, want)


@pytest.mark.parametrize("op", FORWARD)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_matches_reference(backend, op, shape, dtype, rng):
    x = random(rng, shape, dtype, scale=3)
    dy = random(rng, shape, dtype)
    bop, saved_name = BACKWARD[op]
    saved = x if saved_name == "x" else getattr(pykernels, op)(x, backend="numpy")
    got, want = run_both(bop, backend, saved, dy)
    assert_close(got, want, "backward")


@pytest.mark.parametrize("op", FORWARD)
def test_non_contiguous_inputs(backend, op, rng):
    x = random(rng, (9, 13), np.float32, scale=3)
    want = getattr(pykernels, op)(x, backend="numpy")
    for kind, v in views(x).items():
        assert_close(getattr(pykernels, op)(v, backend=backend), want)
    # a transposed view
    assert_close(getattr(pykernels, op)(x.T, backend=backend), want.T)


@pytest.mark.parametrize("op", FORWARD)
def test_reference_backward_vs_central_differences(op, rng):
    x = random(rng, (4, 5), np.float64, scale=2)
    x[np.abs(x) < 1e-3] = 0.5  # relu has a kink at 0: keep away from it
    dy = random(rng, (4, 5), np.float64)
    f = getattr(pykernels.reference, op)
    bop, saved_name = BACKWARD[op]
    saved = x if saved_name == "x" else f(x)
    analytic = getattr(pykernels.reference, bop)(saved, dy)
    numeric = numeric_grad(lambda: float((f(x) * dy).sum()), x)
    assert_close(analytic, numeric, "numgrad")


@pytest.mark.parametrize("op", FORWARD)
def test_reference_vs_torch(op, dtype, rng, torch):
    x = random(rng, (17, 9), dtype, scale=5)
    want = getattr(torch, op)(torch.from_numpy(x)).numpy()
    assert_close(pykernels.reference.__dict__[op](x), want, "oracle")


def test_sigmoid_extremes_do_not_overflow(backend, dtype):
    x = np.array([-1e4, -800.0, -100.0, 0.0, 100.0, 800.0, 1e4], dtype=dtype)
    with np.errstate(over="raise", invalid="raise"):
        y = pykernels.sigmoid(x, backend=backend)
    assert np.all(np.isfinite(y))
    assert y[0] == 0 and y[-1] == 1 and y[3] == 0.5
    assert np.all(np.diff(y) >= 0)


def test_tanh_saturates(backend, dtype):
    y = pykernels.tanh(np.array([-1e4, 0.0, 1e4], dtype=dtype), backend=backend)
    np.testing.assert_array_equal(y, np.array([-1, 0, 1], dtype=dtype))


@pytest.mark.parametrize("op", FORWARD)
def test_nan_propagates(backend, op, dtype):
    x = np.array([np.nan, 1.0, -1.0], dtype=dtype)
    y = getattr(pykernels, op)(x, backend=backend)
    assert np.isnan(y[0]) and not np.isnan(y[1:]).any()


def test_relu_backward_kink_is_zero(backend, dtype):
    x = np.array([-1.0, 0.0, 2.0], dtype=dtype)
    dx = pykernels.relu_backward(x, np.ones(3, dtype), backend=backend)
    np.testing.assert_array_equal(dx, np.array([0, 0, 1], dtype=dtype))


def test_empty_and_scalar_shapes(backend, dtype):
    for shape in [(0,), (3, 0), ()]:
        x = np.zeros(shape, dtype)
        y = pykernels.sigmoid(x, backend=backend)
        assert y.shape == shape and y.dtype == dtype


@pytest.mark.parametrize("op", FORWARD)
def test_bad_input(backend, op):
    f = getattr(pykernels, op)
    with pytest.raises(TypeError, match=f"{op}: argument 'x'"):
        f(np.arange(4), backend=backend)
    with pytest.raises(TypeError, match="'x'"):
        f(np.ones(3, np.complex64), backend=backend)
    with pytest.raises(TypeError, match="'x'"):
        f([1.0, 2.0], backend=backend)
    with pytest.raises(TypeError, match="'x'"):
        f(None, backend=backend)


@pytest.mark.parametrize("op", FORWARD)
def test_bad_input_backward(backend, op):
    bop, saved_name = BACKWARD[op]
    f = getattr(pykernels, bop)
    with pytest.raises(ValueError, match="same shape"):
        f(np.ones(3), np.ones(4), backend=backend)
    with pytest.raises(TypeError, match="dtype"):
        f(np.ones(3, np.float32), np.ones(3, np.float64), backend=backend)
    with pytest.raises(TypeError, match="'dy'"):
        f(np.ones(3), np.ones(3, np.int32), backend=backend)


def test_output_is_new_array_and_input_untouched(backend, rng):
    x = random(rng, (5, 5), np.float32)
    x0 = x.copy()
    dy = random(rng, (5, 5), np.float32)
    dy0 = dy.copy()
    y = pykernels.sigmoid(x, backend=backend)
    pykernels.sigmoid_backward(y, dy, backend=backend)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(dy, dy0)
    assert not np.shares_memory(x, y)


def _isas():
    cpu = pytest.importorskip("pykernels._cpu", reason="C++ extension not built")
    order = ["generic", "avx2", "avx512"]
    return cpu, order[: order.index(cpu.detected_isa()) + 1]


@pytest.mark.parametrize("op", FORWARD)
def test_every_instruction_set_path(op, rng):
    """The float32 loops are compiled per ISA; run each one this CPU supports."""
    cpu, isas = _isas()
    x = np.concatenate([random(rng, (1031,), np.float32, scale=6),
                        np.array([-1e4, -90, -87.5, -20, -0.7, -0.6, 0, 0.6, 0.7, 20, 90, 1e4, np.nan], np.float32)])
    want = getattr(pykernels.reference, op)(x.astype(np.float64))
    before = cpu.get_isa()
    try:
        for isa in isas:
            cpu.set_isa(isa)
            got = getattr(pykernels, op)(x, backend="cpu")
            np.testing.assert_allclose(got, want.astype(np.float32), rtol=3e-7, atol=1.2e-38, err_msg=isa)
    finally:
        cpu.set_isa(before)


@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
def test_every_instruction_set_path_dense_sweep(op):
    """Relative error below 3e-7 (about 2.5 ulp) against float64 over a dense sweep of the range where
    the results are not 0 or +-1 in float32, on every instruction set this CPU has."""
    cpu, isas = _isas()
    rng = np.random.default_rng(7)
    x = np.concatenate([np.linspace(-90, 90, 400_001, dtype=np.float32),
                        (rng.standard_normal(100_000) * 3).astype(np.float32),
                        (rng.standard_normal(20_000) * 1e-3).astype(np.float32)])
    want = getattr(pykernels.reference, op)(x.astype(np.float64))
    before = cpu.get_isa()
    try:
        for isa in isas:
            cpu.set_isa(isa)
            got = getattr(pykernels, op)(x, backend="cpu").astype(np.float64)
            bad = np.abs(got - want) > 3e-7 * np.abs(want) + 1.2e-38
            assert not bad.any(), f"{isa}: {bad.sum()} points off, e.g. x={x[bad][:3]}"
    finally:
        cpu.set_isa(before)


def test_avx512_tanh_mostly_correctly_rounded():
    """The AVX-512 tanh (one expm1 path, its quotient corrected for the rounding of d + 2) gives the
    correctly rounded float32 at nearly every point of [-8, 8] (the two-path fastmath tanh of the
    other instruction sets at about half), and within one ulp of it where tanh nears +-1."""
    cpu, isas = _isas()
    if "avx512" not in isas:
        pytest.skip("this CPU has no AVX-512")
    before = cpu.get_isa()
    try:
        cpu.set_isa("avx512")
        x = np.linspace(-8, 8, 1_000_001, dtype=np.float32)
        want = np.tanh(x.astype(np.float64)).astype(np.float32)
        assert np.mean(pykernels.tanh(x, backend="cpu") == want) > 0.95
        x = np.concatenate([np.linspace(8, 12, 400_001, dtype=np.float32), np.linspace(-12, -8, 400_001, dtype=np.float32)])
        want = np.tanh(x.astype(np.float64)).astype(np.float32)
        got = pykernels.tanh(x, backend="cpu")
        assert np.max(np.abs(got.astype(np.float64) - want)) <= np.spacing(np.float32(0.9999999))
    finally:
        cpu.set_isa(before)
