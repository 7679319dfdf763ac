"""max_pool2d, avg_pool2d and their backward passes: every backend vs the reference, the reference vs
PyTorch (ties, NaN, -inf), finite differences, views, determinism and argument errors."""
import numpy as np
import pytest
from helpers import assert_close, numeric_grad, random, run_both, views

import pykernels
from pykernels import reference

# (N, C, H, W), kernel, stride, padding
CASES = {
    "tiny": ((1, 1, 2, 2), 2, None, 0),
    "2x2": ((3, 5, 8, 8), 2, None, 0),
    "overlap": ((2, 3, 7, 9), (3, 2), (2, 1), (1, 0)),
    "pad": ((1, 1, 6, 6), 2, None, 1),
    "overlap-pad": ((2, 2, 9, 9), 3, 2, 1),
    "odd": ((1, 7, 33, 17), (3, 5), (1, 2), (1, 2)),
    "kernel=input": ((2, 1, 5, 5), 5, 1, 2),
    "stride>kernel": ((2, 3, 7, 7), 1, 3, 0),
    "lenet-1": ((32, 16, 8, 8), 2, None, 0),
    "lenet-2": ((32, 32, 4, 4), 2, None, 0),
}
SMALL = ["tiny", "2x2", "overlap", "pad", "overlap-pad", "kernel=input", "stride>kernel"]


def geometry(case):
    return CASES[case][1:]


def out_shape(case):
    (n, c, h, w), kernel, stride, padding = CASES[case]
    return reference.avg_pool2d(np.zeros((n, c, h, w)), kernel, stride, padding).shape


def torch_args(case):
    _, kernel, stride, padding = CASES[case]
    return dict(kernel_size=kernel, stride=stride, padding=padding)


def max_pool_torch(torch, x, **geometry):
    y, idx = torch.nn.functional.max_pool2d(torch.from_numpy(x), return_indices=True, **geometry)
    return y.numpy(), idx.numpy()


def assert_max_pool_equal(got, want):
    """Max pooling selects, it does not compute: values (NaN included) and indices must match exactly."""
    (y, idx), (y_want, idx_want) = got, want
    assert y.dtype == y_want.dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_want)  # NaN == NaN for assert_array_equal
    np.testing.assert_array_equal(idx, idx_want)


def with_ties_nan_inf(rng, shape, dtype):
    """Small integers (many ties) with some NaN, +inf and windows of -inf."""
    x = rng.integers(-2, 3, size=shape).astype(dtype)
    x[rng.random(shape) < 0.05] = np.nan
    x[rng.random(shape) < 0.03] = np.inf
    x[rng.random(shape) < 0.2] = -np.inf
    x[0, 0, :3, :3] = -np.inf
    return x


# ---- max pooling --------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_max_pool2d_matches_reference(backend, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    assert_max_pool_equal(*run_both("max_pool2d", backend, x, *geometry(case)))


@pytest.mark.parametrize("case", SMALL + ["odd"])
def test_max_pool2d_ties_nan_inf_match_reference(backend, dtype, rng, case):
    x = with_ties_nan_inf(rng, CASES[case][0], dtype)
    assert_max_pool_equal(*run_both("max_pool2d", backend, x, *geometry(case)))


@pytest.mark.parametrize("case", SMALL + ["odd", "lenet-1"])
def test_max_pool2d_reference_vs_torch(torch, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    assert_max_pool_equal(reference.max_pool2d(x, *geometry(case)), max_pool_torch(torch, x, **torch_args(case)))
    x = with_ties_nan_inf(rng, CASES[case][0], dtype)
    assert_max_pool_equal(reference.max_pool2d(x, *geometry(case)), max_pool_torch(torch, x, **torch_args(case)))


def test_max_pool2d_nan_rule_matches_torch(torch, backend):
    # Window (2, 4) in row-major order: 1, nan, 3, nan / 5, 2, 7, 0 -> the last NaN (index 3) wins.
    x = np.array([[[[1, np.nan, 3, np.nan], [5, 2, 7, 0]]]])
    y, idx = pykernels.max_pool2d(x, (2, 4), backend=backend)
    assert np.isnan(y[0, 0, 0, 0]) and idx[0, 0, 0, 0] == 3
    assert_max_pool_equal((y, idx), max_pool_torch(torch, x, kernel_size=(2, 4)))


def test_max_pool2d_ties_take_first(backend):
    x = np.array([[[[2.0, 2.0], [2.0, 2.0]]]])
    _, idx = pykernels.max_pool2d(x, 2, backend=backend)
    assert idx[0, 0, 0, 0] == 0


def test_max_pool2d_all_minus_inf_picks_first_input_not_padding(backend):
    x = np.full((1, 1, 3, 3), -np.inf)
    y, idx = pykernels.max_pool2d(x, 2, stride=2, padding=1, backend=backend)
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


@pytest.mark.parametrize("case", list(CASES))
def test_max_pool2d_backward_matches_reference(backend, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    _, idx = reference.max_pool2d(x, *geometry(case))
    dy = random(rng, idx.shape, dtype)
    got, want = run_both("max_pool2d_backward", backend, dy, idx, x.shape)
    assert_close(got, want, "backward")


@pytest.mark.parametrize("case", SMALL + ["odd"])
def test_max_pool2d_backward_reference_vs_torch_autograd(torch, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    dy = random(rng, out_shape(case), dtype)
    xt = torch.from_numpy(x).requires_grad_()
    y, idx = torch.nn.functional.max_pool2d(xt, return_indices=True, **torch_args(case))
    y.backward(torch.from_numpy(dy))
    assert_close(reference.max_pool2d_backward(dy, idx.numpy(), x.shape), xt.grad.numpy(), "oracle")


@pytest.mark.parametrize("case", SMALL)
def test_max_pool2d_backward_central_differences(rng, case):
    # Distinct values spaced far apart compared with eps: no window changes its maximum (no kinks).
    shape = CASES[case][0]
    x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64) * 0.01
    dy = random(rng, out_shape(case))
    _, idx = reference.max_pool2d(x, *geometry(case))

    def loss():
        return float(np.sum(reference.max_pool2d(x, *geometry(case))[0] * dy))

    assert_close(reference.max_pool2d_backward(dy, idx, x.shape), numeric_grad(loss, x), "numgrad")


def test_max_pool2d_strided_inputs(backend, dtype, rng):
    x = random(rng, CASES["overlap-pad"][0], dtype)
    want = reference.max_pool2d(x, *geometry("overlap-pad"))
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    assert_max_pool_equal(pykernels.max_pool2d(nhwc.transpose(0, 3, 1, 2), *geometry("overlap-pad"), backend=backend), want)
    for xv in views(x).values():
        assert_max_pool_equal(pykernels.max_pool2d(xv, *geometry("overlap-pad"), backend=backend), want)
    dy = random(rng, want[1].shape, dtype)
    dx_want = reference.max_pool2d_backward(dy, want[1], x.shape)
    for dyv, idxv in zip(views(dy).values(), views(want[1]).values()):
        assert_close(pykernels.max_pool2d_backward(dyv, idxv, x.shape, backend=backend), dx_want, "backward")
    # any integer dtype is accepted for the indices
    got = pykernels.max_pool2d_backward(dy, want[1].astype(np.int32), list(x.shape), backend=backend)
    assert_close(got, dx_want, "backward")


# ---- average pooling ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_avg_pool2d_matches_reference(backend, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    assert_close(*run_both("avg_pool2d", backend, x, *geometry(case)), "forward")


@pytest.mark.parametrize("case", list(CASES))
def test_avg_pool2d_backward_matches_reference(backend, dtype, rng, case):
    dy = random(rng, out_shape(case), dtype)
    assert_close(*run_both("avg_pool2d_backward", backend, dy, CASES[case][0], *geometry(case)), "backward")


@pytest.mark.parametrize("case", SMALL + ["odd", "lenet-1"])
def test_avg_pool2d_reference_vs_torch(torch, dtype, rng, case):
    x = random(rng, CASES[case][0], dtype)
    dy = random(rng, out_shape(case), dtype)
    xt = torch.from_numpy(x).requires_grad_()
    y = torch.nn.functional.avg_pool2d(xt, count_include_pad=True, **torch_args(case))
    y.backward(torch.from_numpy(dy))
    assert_close(reference.avg_pool2d(x, *geometry(case)), y.detach().numpy(), "oracle")
    assert_close(reference.avg_pool2d_backward(dy, x.shape, *geometry(case)), xt.grad.numpy(), "oracle")


@pytest.mark.parametrize("case", SMALL)
def test_avg_pool2d_backward_central_differences(rng, case):
    x = random(rng, CASES[case][0])
    dy = random(rng, out_shape(case))

    def loss():
        return float(np.sum(reference.avg_pool2d(x, *geometry(case)) * dy))

    assert_close(reference.avg_pool2d_backward(dy, x.shape, *geometry(case)), numeric_grad(loss, x), "numgrad")


def test_avg_pool2d_strided_inputs(backend, dtype, rng):
    x = random(rng, CASES["odd"][0], dtype)
    want = reference.avg_pool2d(x, *geometry("odd"))
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    assert_close(pykernels.avg_pool2d(nhwc.transpose(0, 3, 1, 2), *geometry("odd"), backend=backend), want)
    for xv in views(x).values():
        assert_close(pykernels.avg_pool2d(xv, *geometry("odd"), backend=backend), want)
    dy = random(rng, want.shape, dtype)
    dx_want = reference.avg_pool2d_backward(dy, x.shape, *geometry("odd"))
    for dyv in views(dy).values():
        assert_close(pykernels.avg_pool2d_backward(dyv, x.shape, *geometry("odd"), backend=backend), dx_want, "backward")


def test_pool_backward_bit_identical_across_runs(compiled_backend, rng):
    x = random(rng, (33, 7, 9, 9), np.float32)
    geo = (3, 1, 1)  # overlapping windows: several terms per input
    _, idx = reference.max_pool2d(x, *geo)
    dy = random(rng, idx.shape, np.float32)
    first = (pykernels.max_pool2d_backward(dy, idx, x.shape, backend=compiled_backend),
             pykernels.avg_pool2d_backward(dy, x.shape, *geo, backend=compiled_backend))
    for _ in range(5):
        again = (pykernels.max_pool2d_backward(dy, idx, x.shape, backend=compiled_backend),
                 pykernels.avg_pool2d_backward(dy, x.shape, *geo, backend=compiled_backend))
        for a, b in zip(again, first):
            np.testing.assert_array_equal(a, b)


# ---- argument errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@pytest.mark.parametrize(
    "args, exc, match",
    [
        (dict(kernel_size=3, padding=2), ValueError, "'padding'.*half"),
        (dict(kernel_size=(2, 4), padding=(1, 3)), ValueError, "'padding'.*half"),
        (dict(kernel_size=9), ValueError, "kernel"),
        (dict(kernel_size=(2, 9), padding=(0, 1)), ValueError, "kernel"),
        (dict(kernel_size=0), ValueError, "'kernel_size'"),
        (dict(kernel_size=2, stride=0), ValueError, "'stride'"),
        (dict(kernel_size=2, stride=(1, -1)), ValueError, "'stride'"),
        (dict(kernel_size=2, padding=-1), ValueError, "'padding'"),
        (dict(kernel_size=2.0), TypeError, "'kernel_size'"),
        (dict(kernel_size=(2, 2, 2)), ValueError, "'kernel_size'"),
    ],
)
def test_pool_forward_errors(rng, op, args, exc, match):
    x = random(rng, (2, 3, 6, 6))
    with pytest.raises(exc, match=f"{op}.*{match}"):
        getattr(pykernels, op)(x, **args)


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
def test_pool_forward_data_errors(rng, op):
    x = random(rng, (2, 3, 6, 6))
    with pytest.raises(ValueError, match=f"{op}.*'x'.*4-D"):
        getattr(pykernels, op)(x[0], 2)
    with pytest.raises(TypeError, match=f"{op}.*'x'"):
        getattr(pykernels, op)(x.astype(np.int32), 2)
    with pytest.raises(TypeError, match=f"{op}.*'x'"):
        getattr(pykernels, op)(x.astype(np.float16), 2)


def test_max_pool2d_backward_errors(rng):
    op = "max_pool2d_backward"
    x = random(rng, (2, 3, 6, 6))
    _, idx = reference.max_pool2d(x, 2)
    dy = random(rng, idx.shape)
    with pytest.raises(ValueError, match=f"{op}.*'indices'"):
        pykernels.max_pool2d_backward(dy, idx[:, :, :2], x.shape)
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.max_pool2d_backward(dy[:1], idx[:1], x.shape)
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.max_pool2d_backward(dy[0], idx[0], x.shape)
    with pytest.raises(TypeError, match=f"{op}.*'indices'"):
        pykernels.max_pool2d_backward(dy, idx.astype(np.float64), x.shape)
    with pytest.raises(TypeError, match=f"{op}.*'dy'"):
        pykernels.max_pool2d_backward(dy.astype(np.int64), idx, x.shape)
    for bad in (-1, 36):
        wrong = idx.copy()
        wrong[1, 2, 0, 1] = bad
        with pytest.raises(ValueError, match=f"{op}.*'indices'.*{bad}"):
            pykernels.max_pool2d_backward(dy, wrong, x.shape)
    with pytest.raises(ValueError, match=f"{op}.*'x_shape'"):
        pykernels.max_pool2d_backward(dy, idx, (2, 3, 6))
    with pytest.raises(TypeError, match=f"{op}.*'x_shape'"):
        pykernels.max_pool2d_backward(dy, idx, (2, 3, 6, "6"))
    with pytest.raises(TypeError, match=f"{op}.*'x_shape'"):
        pykernels.max_pool2d_backward(dy, idx, np.array([2, 3, 6, 6]))


def test_max_pool2d_backward_bad_indices_raise_in_compiled_kernel(compiled_backend, rng):
    # Going around the Python checks must raise too, never write out of bounds.
    impl = pykernels._backend.resolve(compiled_backend).impl
    dy = random(rng, (1, 2, 2, 2))
    idx = np.zeros((1, 2, 2, 2), np.int64)
    idx[0, 1, 1, 1] = 1 << 40
    with pytest.raises(ValueError, match="indices"):
        impl.max_pool2d_backward(dy, idx, (1, 2, 4, 4))


def test_avg_pool2d_backward_errors(rng):
    op = "avg_pool2d_backward"
    dy = random(rng, (2, 3, 3, 3))
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.avg_pool2d_backward(dy, (2, 3, 8, 8), 2)
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.avg_pool2d_backward(dy, (2, 4, 6, 6), 2)
    with pytest.raises(ValueError, match=f"{op}.*'padding'"):
        pykernels.avg_pool2d_backward(dy, (2, 3, 6, 6), 2, padding=2)
    with pytest.raises(ValueError, match=f"{op}.*kernel"):
        pykernels.avg_pool2d_backward(dy, (2, 3, 1, 1), 2)
    with pytest.raises(TypeError, match=f"{op}.*'dy'"):
        pykernels.avg_pool2d_backward(dy.astype(np.int16), (2, 3, 6, 6), 2)
    with pytest.raises(TypeError, match=f"{op}.*'x_shape'"):
        pykernels.avg_pool2d_backward(dy, (2, 3, 6, None), 2)

