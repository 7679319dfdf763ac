"""CUDA-specific checks of the convolution, pooling, RNN and RBM kernels on the cuda and cuda-sim
backends: launch configurations the op suites do not reach (grid-stride loops beyond the block cap,
sizes that are not multiples of a block, a convolution split into several groups of images),
bit-identity with the CPU backend where both add in the same order, and the device's Philox stream."""
import numpy as np
import pytest
from helpers import assert_close, random

import pykernels
from pykernels import _backend, reference
from pykernels.random import uniform

CUDA_BACKENDS = ("cuda-sim", "cuda")

# cuda/grid.cuh: at most 4096 blocks of 256 threads; larger problems loop inside each thread.
GRID_THREADS = 4096 * 256


@pytest.fixture(params=CUDA_BACKENDS)
def cuda_backend(request):
    backend, reason = _backend._get(request.param)
    if backend is None:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    return request.param


@pytest.fixture
def cpu():
    backend, reason = _backend._get("cpu")
    if backend is None:
        pytest.skip(f"backend 'cpu' unavailable: {reason}")
    return "cpu"


def test_im2col_col2im_beyond_the_grid_cap(cuda_backend, rng):
    x = random(rng, (1, 1, 1100, 1000), np.float32)
    assert x.size > GRID_THREADS
    cols = pykernels.im2col(x, 2, 2, 0, backend=cuda_backend)
    np.testing.assert_array_equal(cols, reference.im2col(x, 2, 2, 0))  # a selection: exact
    back = pykernels.col2im(cols, x.shape, 2, 2, 0, backend=cuda_backend)
    np.testing.assert_array_equal(back, x)  # non-overlapping windows: every element comes back once
    x = random(rng, (2, 3, 190, 170), np.float64)
    cols = pykernels.im2col(x, 3, 1, 1, backend=cuda_backend)
    assert cols.size > GRID_THREADS
    np.testing.assert_array_equal(cols, reference.im2col(x, 3, 1, 1))
    assert_close(pykernels.col2im(cols, x.shape, 3, 1, 1, backend=cuda_backend), reference.col2im(cols, x.shape, 3, 1, 1))


def test_pooling_beyond_the_grid_cap(cuda_backend, rng):
    x = random(rng, (3, 4, 300, 301), np.float32)
    assert x.size > GRID_THREADS
    y, idx = pykernels.max_pool2d(x, 3, 1, 1, backend=cuda_backend)
    y_want, idx_want = reference.max_pool2d(x, 3, 1, 1)
    np.testing.assert_array_equal(y, y_want)
    np.testing.assert_array_equal(idx, idx_want)
    dy = random(rng, y.shape, np.float32)
    assert_close(pykernels.max_pool2d_backward(dy, idx, x.shape, backend=cuda_backend),
                 reference.max_pool2d_backward(dy, idx, x.shape))
    assert_close(pykernels.avg_pool2d(x, 3, 1, 1, backend=cuda_backend), reference.avg_pool2d(x, 3, 1, 1))
    assert_close(pykernels.avg_pool2d_backward(dy, x.shape, 3, 1, 1, backend=cuda_backend),
                 reference.avg_pool2d_backward(dy, x.shape, 3, 1, 1))


def test_max_pool2d_backward_with_more_planes_than_threads(cuda_backend, rng):
    # one thread per (n, c) plane: 1.1 million planes of one pixel each
    dy = random(rng, (1100, 1000, 1, 1), np.float32)
    idx = np.zeros(dy.shape, np.int64)
    np.testing.assert_array_equal(pykernels.max_pool2d_backward(dy, idx, dy.shape, backend=cuda_backend), dy)


def test_conv2d_in_several_groups_of_images(cuda_backend, rng):
    # 16*5*5 patch entries x 64*64 pixels = 1.6M per image: the 2**24-entry workspace takes 10
    # images at a time, so 12 images need two groups (and dw sums over both).
    x = random(rng, (12, 16, 64, 64), np.float32)
    w = random(rng, (4, 16, 5, 5), np.float32, 0.1)
    b = random(rng, (4,), np.float32)
    y = pykernels.conv2d(x, w, b, 1, 2, backend=cuda_backend)
    assert_close(y, reference.conv2d(x, w, b, 1, 2), scale=10)
    dy = random(rng, y.shape, np.float32)
    got = pykernels.conv2d_backward(dy, x, w, 1, 2, backend=cuda_backend)
    want = reference.conv2d_backward(dy, x, w, 1, 2)
    # dw and db sum 12*64*64 = 49152 products each
    assert_close(got, want, "backward", scale=100)


def test_sizes_that_are_not_multiples_of_a_block(cuda_backend, rng):
    # conv db: one block per channel, 2*17*19 = 646 terms over 256 threads; RNN db: 300 columns
    x = random(rng, (2, 3, 19, 21), np.float64)
    w = random(rng, (3, 3, 3, 3), np.float64)
    dy = random(rng, (2, 3, 17, 19), np.float64)
    assert_close(pykernels.conv2d_backward(dy, x, w, backend=cuda_backend), reference.conv2d_backward(dy, x, w),
                 "backward")
    steps, n, n_in, hidden = 3, 5, 7, 300
    args = (random(rng, (steps, n, n_in)), random(rng, (n, hidden)), random(rng, (hidden, n_in), scale=0.3),
            random(rng, (hidden, hidden), scale=0.05), random(rng, (hidden,)))
    hs = pykernels.rnn_forward(*args, backend=cuda_backend)
    assert_close(hs, reference.rnn_forward(*args))
    dhs = random(rng, hs.shape)
    for truncate in (None, 1):
        assert_close(pykernels.rnn_backward(dhs, args[0], hs, *args[1:4], truncate=truncate, backend=cuda_backend),
                     reference.rnn_backward(dhs, args[0], hs, *args[1:4], truncate=truncate), "backward")


def test_bernoulli_draws_beyond_the_grid_cap(cuda_backend, rng):
    # one thread per Philox block of 4 units: 4200*1000/4 > 4096*256 threads
    n, nv, nh = 4200, 1000, 1
    assert n * nv // 4 > GRID_THREADS
    w = random(rng, (nh, nv), np.float32, 0.05)
    b = random(rng, (nv,), np.float32)
    c = random(rng, (nh,), np.float32)
    v0 = (rng.random((n, nv)) < 0.5).astype(np.float32)
    vk, hk = pykernels.rbm_gibbs(v0, w, b, c, 1, seed=11, counter=2**64 - 1, backend=cuda_backend)
    vk_ref, hk_ref = reference.rbm_gibbs(v0, w, b, c, 1, seed=11, counter=2**64 - 1)
    np.testing.assert_array_equal(vk, vk_ref)
    np.testing.assert_array_equal(hk, hk_ref)


@pytest.mark.parametrize("seed,counter", [(0, 0), (42, 7), (2**33 + 1, 2**35 + 3), (2**64 - 1, 2**64 - 1)])
def test_device_stream_is_bit_identical(cuda_backend, seed, counter):
    impl = _backend.resolve(cuda_backend).impl
    for n in (0, 1, 5, 1027):
        np.testing.assert_array_equal(impl.philox_uniform(n, seed, counter), uniform(n, seed, counter))


def test_same_order_as_cpu_gives_identical_bits(cuda_backend, cpu, dtype, rng):
    """col2im (kernel rows then columns), max pooling (window order) and its backward (output order)
    and avg_pool2d (window rows then columns) add in the CPU kernels' order: equal to the last bit."""
    x = random(rng, (2, 3, 13, 11), dtype)
    cases = [
        ("im2col", (x, (3, 2), (2, 1), (1, 1))),
        ("col2im", (random(rng, (2 * 7 * 12, 3 * 3 * 2), dtype), x.shape, (3, 2), (2, 1), (1, 1))),
        ("max_pool2d", (x, 3, 2, 1)),
        ("avg_pool2d", (x, (3, 2), (1, 2), (1, 1))),
    ]
    _, idx = reference.max_pool2d(x, 3, 1, 1)
    idx[0, 0] = rng.integers(0, 13 * 11, size=idx.shape[2:])  # arbitrary positions, many repeated
    cases.append(("max_pool2d_backward", (random(rng, idx.shape, dtype), idx, x.shape)))
    for op, args in cases:
        got = getattr(pykernels, op)(*args, backend=cuda_backend)
        want = getattr(pykernels, op)(*args, backend=cpu)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            assert g.dtype == w.dtype and g.shape == w.shape, op
            np.testing.assert_array_equal(g, w, err_msg=op)


def test_device_arrays_in_device_arrays_out(cuda_backend, rng):
    """Every conv, pool, RNN and RBM op takes device arrays (used in place) and returns device arrays
    holding the reference's results."""
    rt = _backend.resolve(cuda_backend).impl.runtime
    dev = rt.to_device

    def check(op, args, kwargs, want):
        got = getattr(pykernels, op)(*(dev(a) if isinstance(a, np.ndarray) else a for a in args),
                                     backend=cuda_backend, **kwargs)
        got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
        assert all(hasattr(g, "__cuda_array_interface__") for g in got), op
        assert_close(tuple(g.get() for g in got), want, "backward")

    x, w, b = random(rng, (2, 3, 9, 8)), random(rng, (4, 3, 3, 2)), random(rng, (4,))
    dy = random(rng, reference.conv2d(x, w, b, 2, 1).shape)
    cols = reference.im2col(x, (3, 2), 2, 1)
    y, idx = reference.max_pool2d(x, 3, 2, 1)
    for op, args in [("im2col", (x, (3, 2), 2, 1)), ("col2im", (cols, x.shape, (3, 2), 2, 1)),
                     ("conv2d", (x, w, b, 2, 1)), ("conv2d_backward", (dy, x, w, 2, 1)),
                     ("max_pool2d", (x, 3, 2, 1)), ("max_pool2d_backward", (y, idx, x.shape)),
                     ("avg_pool2d", (x, 3, 2, 1)), ("avg_pool2d_backward", (y, x.shape, 3, 2, 1))]:
        check(op, args, {}, getattr(reference, op)(*args))
    seq = (random(rng, (4, 2, 3)), random(rng, (2, 5)), random(rng, (5, 3)), random(rng, (5, 5), scale=0.3),
           random(rng, (5,)))
    hs = reference.rnn_forward(*seq)
    check("rnn_forward", seq, {}, hs)
    check("rnn_backward", (hs, seq[0], hs, *seq[1:4]), {"truncate": 1},
          reference.rnn_backward(hs, seq[0], hs, *seq[1:4], truncate=1))
    wm, bv, ch = random(rng, (3, 6)), random(rng, (6,)), random(rng, (3,))
    v = (rng.random((4, 6)) < 0.5).astype(np.float64)
    check("rbm_hidden_probs", (v, wm, ch), {}, reference.rbm_hidden_probs(v, wm, ch))
    check("rbm_visible_probs", (v[:, :3], wm, bv), {}, reference.rbm_visible_probs(v[:, :3], wm, bv))
    check("rbm_gibbs", (v, wm, bv, ch, 2), {"seed": 1}, reference.rbm_gibbs(v, wm, bv, ch, 2, seed=1))
    chain = (rng.random((4, 6)) < 0.5).astype(np.float64)
    check("rbm_cd", (v, wm, bv, ch, 2), {"seed": 1, "chain": dev(chain)},
          reference.rbm_cd(v, wm, bv, ch, 2, seed=1, chain=chain))
    bad = chain.copy()
    bad[1, 2] = 0.5
    with pytest.raises(ValueError, match="rbm_cd: argument 'chain' must hold only 0 and 1"):
        pykernels.rbm_cd(dev(v), dev(wm), dev(bv), dev(ch), seed=1, chain=dev(bad), backend=cuda_backend)
