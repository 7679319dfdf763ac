"""im2col, col2im, conv2d, conv2d_backward: every backend vs the reference, the reference vs PyTorch,
finite differences, the course example, adjointness, views, determinism and argument errors."""
import numpy as np
import pytest
from helpers import assert_close, numeric_grad, random, run_both, views

import pykernels
from pykernels import reference

# (N, C, H, W), C_out, kernel (KH, KW), stride, padding
CASES = {
    "tiny": ((1, 1, 3, 3), 1, (2, 2), 1, 0),
    "odd": ((2, 3, 7, 9), 4, (3, 2), (2, 1), (1, 0)),
    "kernel=input,pad": ((1, 1, 5, 5), 2, (5, 5), 1, 2),
    "thin-kernel": ((3, 2, 8, 8), 5, (1, 3), (3, 2), (0, 1)),
    "1x1": ((2, 4, 6, 5), 3, (1, 1), 1, 0),
    "odd-wide": ((1, 7, 33, 17), 5, (3, 3), 2, 1),
    "stride>kernel": ((2, 2, 9, 8), 3, (2, 3), (4, 3), 0),
    "big-pad": ((2, 3, 4, 6), 2, (4, 2), (3, 1), (3, 2)),
    "lenet-1": ((32, 1, 8, 8), 16, (3, 3), 1, 1),
    "lenet-2": ((32, 16, 4, 4), 32, (3, 3), 1, 1),
    # stride 1 with padding beyond the kernel (the windows reach past the padded plane's input part)
    "stride1-big-pad": ((2, 3, 5, 4), 2, (2, 3), 1, (3, 2)),
}
SMALL = ["tiny", "odd", "kernel=input,pad", "thin-kernel", "1x1", "stride>kernel", "big-pad"]


def make(rng, case, dtype, bias=True):
    x_shape, c_out, (kh, kw), stride, padding = CASES[case]
    x = random(rng, x_shape, dtype)
    w = random(rng, (c_out, x_shape[1], kh, kw), dtype, scale=0.5)
    b = random(rng, (c_out,), dtype) if bias else None
    return x, w, b, stride, padding


def conv_out(x, w, stride, padding):
    return reference.conv2d(x, w, None, stride, padding).shape


# ---- im2col / col2im ----------------------------------------------------------------------------


def test_im2col_course_example(backend):
    # The course's example: a 3-channel 7x7 image and a 5x5 kernel give 3x3 positions of 3*5*5 values.
    x = np.arange(147, dtype=np.float64).reshape(1, 3, 7, 7)
    cols = pykernels.im2col(x, 5, stride=1, padding=0, backend=backend)
    assert cols.shape == (9, 75)
    np.testing.assert_array_equal(cols[0, :7], [0, 1, 2, 3, 4, 7, 8])
    np.testing.assert_array_equal(cols[0], x[0, :, :5, :5].ravel())
    np.testing.assert_array_equal(cols[4], x[0, :, 1:6, 1:6].ravel())  # middle position (1, 1)
    np.testing.assert_array_equal(cols[8], x[0, :, 2:, 2:].ravel())


@pytest.mark.parametrize("case", list(CASES))
def test_im2col_matches_reference(backend, dtype, rng, case):
    x, w, _, stride, padding = make(rng, case, dtype)
    got, want = run_both("im2col", backend, x, w.shape[2:], stride, padding)
    np.testing.assert_array_equal(got, want)  # a pure gather: exact
    assert got.dtype == dtype


@pytest.mark.parametrize("case", list(CASES))
def test_col2im_matches_reference(backend, dtype, rng, case):
    x, w, _, stride, padding = make(rng, case, dtype)
    kernel = w.shape[2:]
    cols = random(rng, reference.im2col(x, kernel, stride, padding).shape, dtype)
    got, want = run_both("col2im", backend, cols, x.shape, kernel, stride, padding)
    assert_close(got, want, "forward")


@pytest.mark.parametrize("case", SMALL + ["lenet-2"])
def test_col2im_is_adjoint_of_im2col(backend, rng, case):
    x, w, _, stride, padding = make(rng, case, np.float64)
    kernel = w.shape[2:]
    cols = pykernels.im2col(x, kernel, stride, padding, backend=backend)
    g = random(rng, cols.shape)
    back = pykernels.col2im(g, x.shape, kernel, stride, padding, backend=backend)
    np.testing.assert_allclose(np.vdot(cols, g), np.vdot(x, back), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", ["odd", "big-pad", "lenet-1"])
def test_im2col_col2im_reference_vs_torch(torch, dtype, rng, case):
    x, w, _, stride, padding = make(rng, case, dtype)
    kernel = w.shape[2:]
    n, c = x.shape[:2]
    unfold = torch.nn.functional.unfold(torch.from_numpy(x), kernel, padding=padding, stride=stride)
    want = unfold.transpose(1, 2).reshape(-1, c * kernel[0] * kernel[1]).numpy()
    got = reference.im2col(x, kernel, stride, padding)
    np.testing.assert_array_equal(got, want)
    g = random(rng, got.shape, dtype)
    blocks = torch.from_numpy(g.reshape(n, -1, g.shape[1])).transpose(1, 2)
    folded = torch.nn.functional.fold(blocks, x.shape[2:], kernel, padding=padding, stride=stride)
    assert_close(reference.col2im(g, x.shape, kernel, stride, padding), folded.numpy(), "oracle")


# ---- conv2d forward -----------------------------------------------------------------------------


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_matches_reference(backend, dtype, rng, case, bias):
    x, w, b, stride, padding = make(rng, case, dtype, bias)
    got, want = run_both("conv2d", backend, x, w, b, stride, padding)
    assert got.shape == conv_out(x, w, stride, padding)
    assert_close(got, want, "forward")


@pytest.mark.parametrize("case", SMALL + ["odd-wide", "lenet-1", "lenet-2"])
def test_conv2d_reference_vs_torch(torch, dtype, rng, case):
    x, w, b, stride, padding = make(rng, case, dtype)
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), stride=stride, padding=padding)
    assert_close(reference.conv2d(x, w, b, stride, padding), want.numpy(), "oracle")


def test_conv2d_strided_inputs(backend, dtype, rng):
    x, w, b, stride, padding = make(rng, "odd", dtype)
    want = reference.conv2d(x, w, b, stride, padding)
    # channels-last storage seen as NCHW: the common layout of image data
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = pykernels.conv2d(nhwc.transpose(0, 3, 1, 2), w, b, stride, padding, backend=backend)
    assert_close(got, want, "forward")
    for xv, wv, bv in zip(views(x).values(), views(w).values(), views(b).values()):
        assert_close(pykernels.conv2d(xv, wv, bv, stride, padding, backend=backend), want, "forward")


def test_conv2d_empty_batch(backend, dtype, rng):
    _, w, b, _, _ = make(rng, "odd", dtype)
    x = np.zeros((0, 3, 7, 9), dtype)
    y = pykernels.conv2d(x, w, b, backend=backend)
    assert y.shape == (0, 4, 5, 8) and y.dtype == dtype
    dx, dw, db = pykernels.conv2d_backward(y, x, w, backend=backend)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dw, np.zeros_like(w))
    np.testing.assert_array_equal(db, np.zeros_like(b))


# ---- conv2d backward ----------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_conv2d_backward_matches_reference(backend, dtype, rng, case):
    x, w, _, stride, padding = make(rng, case, dtype)
    dy = random(rng, conv_out(x, w, stride, padding), dtype)
    got, want = run_both("conv2d_backward", backend, dy, x, w, stride, padding)
    assert [g.shape for g in got] == [x.shape, w.shape, (w.shape[0],)]
    assert_close(got, want, "backward")


@pytest.mark.parametrize("case", SMALL + ["lenet-2"])
def test_conv2d_backward_reference_vs_torch_autograd(torch, dtype, rng, case):
    x, w, b, stride, padding = make(rng, case, dtype)
    dy = random(rng, conv_out(x, w, stride, padding), dtype)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    torch.nn.functional.conv2d(xt, wt, bt, stride=stride, padding=padding).backward(torch.from_numpy(dy))
    got = reference.conv2d_backward(dy, x, w, stride, padding)
    assert_close(got, (xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()), "oracle")


@pytest.mark.parametrize("case", SMALL)
def test_conv2d_backward_central_differences(rng, case):
    x, w, b, stride, padding = make(rng, case, np.float64)
    dy = random(rng, conv_out(x, w, stride, padding))

    def loss():
        return float(np.sum(reference.conv2d(x, w, b, stride, padding) * dy))

    dx, dw, db = reference.conv2d_backward(dy, x, w, stride, padding)
    assert_close(dx, numeric_grad(loss, x), "numgrad")
    assert_close(dw, numeric_grad(loss, w), "numgrad")
    assert_close(db, numeric_grad(loss, b), "numgrad")


def test_conv2d_backward_strided_inputs(backend, dtype, rng):
    x, w, _, stride, padding = make(rng, "big-pad", dtype)
    dy = random(rng, conv_out(x, w, stride, padding), dtype)
    want = reference.conv2d_backward(dy, x, w, stride, padding)
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = pykernels.conv2d_backward(dy, nhwc.transpose(0, 3, 1, 2), w, stride, padding, backend=backend)
    assert_close(got, want, "backward")
    for dyv, xv, wv in zip(views(dy).values(), views(x).values(), views(w).values()):
        assert_close(pykernels.conv2d_backward(dyv, xv, wv, stride, padding, backend=backend), want, "backward")


def test_col2im_and_conv2d_backward_are_bit_identical_across_runs(compiled_backend, rng):
    x, w, _, stride, padding = make(rng, "lenet-2", np.float32)
    x = np.concatenate([x, x[:7]])  # a batch that does not split evenly
    dy = random(rng, conv_out(x, w, stride, padding), np.float32)
    cols = random(rng, reference.im2col(x, w.shape[2:], stride, padding).shape, np.float32)
    first = pykernels.conv2d_backward(dy, x, w, stride, padding, backend=compiled_backend)
    first_col2im = pykernels.col2im(cols, x.shape, w.shape[2:], stride, padding, backend=compiled_backend)
    for _ in range(5):
        again = pykernels.conv2d_backward(dy, x, w, stride, padding, backend=compiled_backend)
        for a, b in zip(again, first):
            np.testing.assert_array_equal(a, b)
        again_col2im = pykernels.col2im(cols, x.shape, w.shape[2:], stride, padding, backend=compiled_backend)
        np.testing.assert_array_equal(again_col2im, first_col2im)


# ---- argument errors ----------------------------------------------------------------------------


def _conv_ok(rng, dtype=np.float64):
    x = random(rng, (2, 3, 6, 6), dtype)
    w = random(rng, (4, 3, 3, 3), dtype)
    b = random(rng, (4,), dtype)
    return x, w, b


@pytest.mark.parametrize(
    "change, exc, name",
    [
        (dict(w=(4, 2, 3, 3)), ValueError, "channel"),
        (dict(w=(4, 3, 7, 3)), ValueError, "kernel"),
        (dict(w=(4, 3, 0, 3)), ValueError, "'w'"),
        (dict(w=(4, 3, 3)), ValueError, "'w'"),
        (dict(x=(3, 6, 6)), ValueError, "'x'"),
        (dict(b=(3,)), ValueError, "'b'"),
        (dict(b=(4, 1)), ValueError, "'b'"),
        (dict(stride=0), ValueError, "'stride'"),
        (dict(stride=(1, -2)), ValueError, "'stride'"),
        (dict(stride=(1, 2, 3)), ValueError, "'stride'"),
        (dict(stride=1.5), TypeError, "'stride'"),
        (dict(padding=-1), ValueError, "'padding'"),
        (dict(padding=(0, True)), TypeError, "'padding'"),
    ],
)
def test_conv2d_errors(rng, change, exc, name):
    x, w, b = _conv_ok(rng)
    args = dict(x=x, w=w, b=b, stride=1, padding=0)
    for k, v in change.items():
        args[k] = random(rng, v) if k in ("x", "w", "b") else v
    with pytest.raises(exc, match=name) as info:
        pykernels.conv2d(**args)
    assert "conv2d" in str(info.value)


def test_conv2d_dtype_errors(rng):
    x, w, b = _conv_ok(rng)
    with pytest.raises(TypeError, match="'w'"):
        pykernels.conv2d(x, w.astype(np.float32), b)
    with pytest.raises(TypeError, match="'b'"):
        pykernels.conv2d(x, w, b.astype(np.float32))
    with pytest.raises(TypeError, match="'x'"):
        pykernels.conv2d(x.astype(np.int64), w, b)
    with pytest.raises(TypeError, match="'x'"):
        pykernels.conv2d(x.tolist(), w, b)
    with pytest.raises(TypeError, match="'x'"):
        pykernels.im2col(x.astype(np.complex128), 3)
    with pytest.raises(TypeError, match="'cols'"):
        pykernels.col2im(np.zeros((32, 27), np.int32), x.shape, 3)


def test_conv2d_backward_errors(rng):
    x, w, _ = _conv_ok(rng)
    dy = random(rng, (2, 4, 4, 4))
    op = "conv2d_backward"
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.conv2d_backward(dy[:, :3], x, w)
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.conv2d_backward(dy, x, w, stride=2)
    with pytest.raises(ValueError, match=f"{op}.*'dy'"):
        pykernels.conv2d_backward(dy[0], x, w)
    with pytest.raises(TypeError, match=f"{op}.*'dy'"):
        pykernels.conv2d_backward(dy.astype(np.float32), x, w)
    with pytest.raises(ValueError, match=f"{op}.*channel"):
        pykernels.conv2d_backward(dy, x[:, :2], w)


def test_im2col_col2im_errors(rng):
    x, _, _ = _conv_ok(rng)
    cols = pykernels.im2col(x, 3)
    with pytest.raises(ValueError, match="im2col.*kernel"):
        pykernels.im2col(x, (7, 3))
    with pytest.raises(ValueError, match="im2col.*'kernel_size'"):
        pykernels.im2col(x, 0)
    with pytest.raises(ValueError, match="im2col.*'x'"):
        pykernels.im2col(x[0], 3)
    with pytest.raises(ValueError, match="col2im.*'cols'"):
        pykernels.col2im(cols[1:], x.shape, 3)
    with pytest.raises(ValueError, match="col2im.*'cols'"):
        pykernels.col2im(cols.reshape(2, -1, 27), x.shape, 3)
    with pytest.raises(ValueError, match="col2im.*'x_shape'"):
        pykernels.col2im(cols, x.shape[1:], 3)
    with pytest.raises(TypeError, match="col2im.*'x_shape'"):
        pykernels.col2im(cols, (2, 3, 6.0, 6), 3)
    with pytest.raises(TypeError, match="col2im.*'x_shape'"):
        pykernels.col2im(cols, 72, 3)
    with pytest.raises(ValueError, match="col2im.*'x_shape'"):
        pykernels.col2im(cols, (2, 3, -6, 6), 3)
    with pytest.raises(ValueError, match="col2im.*kernel"):
        pykernels.col2im(cols, (2, 3, 2, 6), 3)


def test_compiled_kernels_recheck_their_arguments(compiled_backend, rng):
    # Going around the Python checks must raise, never read or write out of bounds.
    impl = pykernels._backend.resolve(compiled_backend).impl
    x, w, b = _conv_ok(rng)
    with pytest.raises(ValueError, match="conv2d"):
        impl.conv2d(x, w[:, :2].copy(), b, (1, 1), (0, 0))
    with pytest.raises(ValueError, match="conv2d"):
        impl.conv2d(x, w, b[:2].copy(), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="conv2d_backward.*'dy'"):
        impl.conv2d_backward(x, x, w, (1, 1), (0, 0))
    with pytest.raises(ValueError, match="im2col"):
        impl.im2col(x, (7, 7), (1, 1), (0, 0))
    with pytest.raises(ValueError, match="col2im.*'cols'"):
        impl.col2im(np.zeros((3, 27)), (2, 3, 6, 6), (3, 3), (1, 1), (0, 0))
    with pytest.raises(TypeError, match="conv2d"):
        impl.conv2d(x, w.astype(np.float32), b, (1, 1), (0, 0))



def test_conv_and_pool_ops_from_several_threads(compiled_backend, rng):
    import threading

    x, w, b, stride, padding = make(rng, "odd", np.float32)
    dy = random(rng, conv_out(x, w, stride, padding), np.float32)
    _, idx = reference.max_pool2d(x, 3, 2, 1)
    dp = random(rng, idx.shape, np.float32)
    calls = [
        ("conv2d", (x, w, b, stride, padding)),
        ("conv2d_backward", (dy, x, w, stride, padding)),
        ("im2col", (x, w.shape[2:], stride, padding)),
        ("max_pool2d", (x, 3, 2, 1)),
        ("max_pool2d_backward", (dp, idx, x.shape)),
        ("avg_pool2d_backward", (dp, x.shape, 3, 2, 1)),
    ]
    want = [getattr(reference, op)(*args) for op, args in calls]
    errors = []

    def worker():
        try:
            for _ in range(10):
                for (op, args), expected in zip(calls, want):
                    assert_close(getattr(pykernels, op)(*args, backend=compiled_backend), expected, "backward")
        except Exception as exc:  # re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
