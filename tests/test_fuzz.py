"""Hypothesis fuzz of every op on every backend (issue: reliability hardening).

Valid inputs — random shapes (0 and 1 included), dtypes, memory layouts, NaN/Inf — must match the
NumPy reference.  Hostile inputs — one argument replaced by None, a list, a scalar, an integer,
float16 or complex array, an array of the wrong rank or dtype, a negative or absurd size — must raise
ValueError or TypeError (MemoryError only for absurd sizes), never crash or raise anything else.
Set PYKERNELS_FUZZ_EXAMPLES to run more examples (default 30 per op and backend).
"""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pykernels
from helpers import assert_close

EXAMPLES = int(os.environ.get("PYKERNELS_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
BACKENDS = pykernels.available_backends(include_sim=True)
ALLOWED = (ValueError, TypeError, MemoryError)


# ---- building blocks ---------------------------------------------------------------------------

def array(draw, shape, dtype, special=True, binary=False):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if binary:
        x = (rng.random(shape) < 0.5).astype(dtype)
    else:
        x = np.asarray(rng.standard_normal(shape) * draw(st.sampled_from([1.0, 1e-3, 30.0])), dtype=dtype)
        if special and x.size and draw(st.booleans()):
            idx = rng.integers(0, x.size)
            x.flat[idx] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    layout = draw(st.sampled_from(["c", "f", "strided"]))
    if layout == "f" and x.ndim:  # NOTE: np.asfortranarray turns a 0-d array into a 1-d one
        return np.asfortranarray(x)
    if layout == "strided" and x.ndim:
        big = np.zeros(tuple(2 * s + 1 for s in shape), dtype)
        view = big[tuple(slice(1, None, 2) for _ in shape)]
        view[...] = x
        return view
    return x


dtypes = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])
small = st.integers(0, 6)
pos = st.integers(1, 5)


@st.composite
def gemm_call(draw):
    dt = draw(dtypes)
    m, n, k = draw(small), draw(small), draw(small)
    ta, tb = draw(st.booleans()), draw(st.booleans())
    a = array(draw, (k, m) if ta else (m, k), dt)
    b = array(draw, (n, k) if tb else (k, n), dt)
    c = array(draw, (m, n), dt) if draw(st.booleans()) else None
    return "gemm", (a, b, c), dict(alpha=draw(st.sampled_from([1.0, -0.5, 2])),
                                   beta=draw(st.sampled_from([0.0, 1.0, 0.25])), trans_a=ta, trans_b=tb)


@st.composite
def elementwise_call(draw):
    dt = draw(dtypes)
    op = draw(st.sampled_from(["sigmoid", "tanh", "relu", "sigmoid_backward", "tanh_backward", "relu_backward"]))
    shape = tuple(draw(st.lists(small, min_size=0, max_size=3)))
    x = array(draw, shape, dt)
    if op.endswith("_backward"):
        return op, (x, array(draw, shape, dt)), {}
    return op, (x,), {}


@st.composite
def softmax_call(draw):
    dt = draw(dtypes)
    n, k = draw(small), draw(pos)
    x = array(draw, (n, k), dt)
    op = draw(st.sampled_from(["softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward"]))
    if op in ("softmax", "log_softmax"):
        return op, (x,), {}
    reduction = draw(st.sampled_from(["none"] + (["mean", "sum"] if n else [])))
    if draw(st.booleans()):
        target = np.random.default_rng(n).integers(0, k, n)
    else:
        target = np.abs(array(draw, (n, k), dt, special=False))
        target /= np.maximum(target.sum(axis=1, keepdims=True), dt.type(1e-3))
    if op == "softmax_cross_entropy":
        return op, (x, target), dict(reduction=reduction)
    dloss = array(draw, (n,), dt) if reduction == "none" else 0.5
    return op, (x, target), dict(reduction=reduction, dloss=dloss)


def conv_geometry(draw, pool=False):
    n, c = draw(pos), draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if pool:
        ph, pw = draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2))
    else:
        ph, pw = draw(st.integers(0, 2)), draw(st.integers(0, 2))
    h = draw(st.integers(max(1, kh - 2 * ph), 9))
    w = draw(st.integers(max(1, kw - 2 * pw), 9))
    sh, sw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c, h, w), (kh, kw), (sh, sw), (ph, pw)


def out_size(size, k, s, p):
    return (size + 2 * p - k) // s + 1


@st.composite
def conv_call(draw):
    dt = draw(dtypes)
    shape, k, s, p = conv_geometry(draw)
    n, c, h, w = shape
    oh, ow = out_size(h, k[0], s[0], p[0]), out_size(w, k[1], s[1], p[1])
    x = array(draw, shape, dt)
    op = draw(st.sampled_from(["im2col", "col2im", "conv2d", "conv2d_backward"]))
    if op == "im2col":
        return op, (x, k, s, p), {}
    if op == "col2im":
        return op, (array(draw, (n * oh * ow, c * k[0] * k[1]), dt), shape, k, s, p), {}
    cout = draw(st.integers(1, 3))
    wt = array(draw, (cout, c, *k), dt)
    if op == "conv2d":
        b = array(draw, (cout,), dt) if draw(st.booleans()) else None
        return op, (x, wt, b, s, p), {}
    return op, (array(draw, (n, cout, oh, ow), dt), x, wt, s, p), {}


@st.composite
def pool_call(draw):
    dt = draw(dtypes)
    shape, k, s, p = conv_geometry(draw, pool=True)
    stride = None if draw(st.booleans()) else s
    x = array(draw, shape, dt)
    op = draw(st.sampled_from(["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]))
    if op in ("max_pool2d", "avg_pool2d"):
        return op, (x, k, stride, p), {}
    y = getattr(pykernels, op[: -len("_backward")])(x, k, stride, p, backend="numpy")
    y = y[0] if isinstance(y, tuple) else y
    dy = array(draw, y.shape, dt)
    if op == "max_pool2d_backward":
        _, idx = pykernels.max_pool2d(x, k, stride, p, backend="numpy")
        return op, (dy, idx, shape), {}
    return op, (dy, shape, k, stride, p), {}


@st.composite
def rnn_call(draw):
    dt = draw(dtypes)
    t, n, i, h = draw(pos), draw(pos), draw(pos), draw(pos)
    x, h0 = array(draw, (t, n, i), dt, special=False), array(draw, (n, h), dt, special=False)
    w_ih, w_hh = array(draw, (h, i), dt, special=False) * dt.type(0.5), array(draw, (h, h), dt, special=False) * dt.type(0.5)
    b = array(draw, (h,), dt, special=False)
    if draw(st.booleans()):
        return "rnn_forward", (x, h0, w_ih, w_hh, b), {}
    hs = pykernels.rnn_forward(x, h0, w_ih, w_hh, b, backend="numpy")
    truncate = draw(st.one_of(st.none(), st.integers(0, 5)))
    return "rnn_backward", (array(draw, (t, n, h), dt), x, hs, h0, w_ih, w_hh), dict(truncate=truncate)


@st.composite
def rbm_call(draw):
    dt = draw(dtypes)
    n, nv, nh = draw(pos), draw(pos), draw(pos)
    w = array(draw, (nh, nv), dt, special=False)
    b, c = array(draw, (nv,), dt, special=False), array(draw, (nh,), dt, special=False)
    v = array(draw, (n, nv), dt, binary=True)
    op = draw(st.sampled_from(["rbm_hidden_probs", "rbm_visible_probs", "rbm_gibbs", "rbm_cd"]))
    if op == "rbm_hidden_probs":
        return op, (v, w, c), {}
    if op == "rbm_visible_probs":
        return op, (array(draw, (n, nh), dt, binary=True), w, b), {}
    kw = dict(seed=draw(st.integers(0, 2**64 - 1)), counter=draw(st.integers(0, 2**64 - 1)))
    k = draw(st.integers(0, 3))
    if op == "rbm_cd" and draw(st.booleans()):
        kw["chain"] = array(draw, (n, nv), dt, binary=True)
    return op, (v, w, b, c, k), kw


CALLS = {"gemm": gemm_call(), "elementwise": elementwise_call(), "softmax": softmax_call(),
         "conv": conv_call(), "pool": pool_call(), "rnn": rnn_call(), "rbm": rbm_call()}


def _float64_refused(backend, exc, args):
    """cuda backends are float32-only (API.md): a TypeError for float64 data is the contract."""
    return (backend.startswith("cuda") and isinstance(exc, TypeError)
            and any(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in args))


# ---- valid input matches the reference -----------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", list(CALLS))
def test_valid_input_matches_reference(family, backend):
    @FUZZ
    @given(CALLS[family])
    def check(call):
        op, args, kwargs = call
        # NaN/Inf propagate silently, as in PyTorch; NumPy's warnings about them are not failures here.
        with np.errstate(all="ignore"):
            want = getattr(pykernels, op)(*args, backend="numpy", **kwargs)
            try:
                got = getattr(pykernels, op)(*args, backend=backend, **kwargs)
            except TypeError as exc:
                if _float64_refused(backend, exc, args):
                    return
                raise
            assert_close(got, want, "backward", scale=50)

    check()


# ---- hostile input raises ValueError/TypeError -----------------------------------------------------

def _corruptions(value):
    bad = [None, "x", 3, -1, 2**70, 1.5, True, [1.0, 2.0], {"a": 1}]
    if isinstance(value, np.ndarray):
        bad += [value.tolist(), value.astype(np.int32), value.astype(np.float16), value.astype(np.complex64),
                value.astype(object), value[None], np.zeros((), value.dtype),
                np.zeros((2,) * (value.ndim + 1), value.dtype),
                value.astype(np.float32 if value.dtype == np.float64 else np.float64)]
    elif isinstance(value, tuple):
        bad += [(0, 1), (-1, 1), (1, 2, 3), (2**40, 2**40), (1.5, 1)]
    return bad


@st.composite
def hostile_call(draw, family):
    op, args, kwargs = draw(CALLS[family])
    np.seterr(all="ignore")  # casting NaN to int while corrupting is expected; restored by the test
    names = [("arg", i) for i in range(len(args))] + [("kw", k) for k in kwargs]
    where, key = draw(st.sampled_from(names))
    value = args[key] if where == "arg" else kwargs[key]
    replacement = draw(st.sampled_from(_corruptions(value)))
    if where == "arg":
        args = args[:key] + (replacement,) + args[key + 1:]
    else:
        kwargs = dict(kwargs, **{key: replacement})
    return op, args, kwargs


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", list(CALLS))
def test_hostile_input_raises_value_or_type_error(family, backend):
    @FUZZ
    @given(hostile_call(family))
    def check(call):
        op, args, kwargs = call
        try:
            with np.errstate(all="ignore"):
                getattr(pykernels, op)(*args, backend=backend, **kwargs)
        except ALLOWED:
            pass  # anything else propagates and fails the test

    old = np.geterr()
    try:
        check()
    finally:
        np.seterr(**old)


@pytest.mark.parametrize("backend", BACKENDS)
def test_absurd_sizes_raise(backend):
    x = np.zeros((1, 1, 4, 4), np.float32)
    for call in (lambda: pykernels.im2col(x, 2**40, backend=backend),
                 lambda: pykernels.im2col(x, 2, 1, 2**40, backend=backend),
                 lambda: pykernels.col2im(np.zeros((1, 1), np.float32), (2**31, 2**31, 2**31, 2**31), 1, backend=backend),
                 lambda: pykernels.max_pool2d(x, 2**62, backend=backend),
                 lambda: pykernels.conv2d(x, np.zeros((1, 1, 2**31, 2**31), np.float32)[:, :, :0], backend=backend),
                 lambda: pykernels.avg_pool2d_backward(np.zeros((1, 1, 1, 1), np.float32), (1, 1, 2**40, 2**40), 2**40,
                                                       backend=backend)):
        with pytest.raises(ALLOWED):
            call()


@pytest.mark.parametrize("op", ["col2im", "avg_pool2d_backward", "max_pool2d_backward"])
def test_overflowing_x_shape_is_refused_before_any_kernel(backend, op):
    """An x_shape whose element count overflows int64 is a ValueError at the boundary (the kernels
    compute plane sizes in int64, where it would be undefined behaviour)."""
    huge = (1, 1, 2**40, 2**40)
    calls = {
        "col2im": lambda: pykernels.col2im(np.zeros((1, 1), np.float32), huge, (2**40, 2**40),
                                           backend=backend),
        "avg_pool2d_backward": lambda: pykernels.avg_pool2d_backward(np.zeros((1, 1, 1, 1), np.float32), huge, 2**40,
                                                                     backend=backend),
        "max_pool2d_backward": lambda: pykernels.max_pool2d_backward(np.zeros((1, 1, 1, 1), np.float32),
                                                                     np.zeros((1, 1, 1, 1), np.int64), huge,
                                                                     backend=backend),
    }
    with pytest.raises(ValueError, match="x_shape"):
        calls[op]()


@pytest.mark.parametrize("op", ["im2col", "conv2d", "max_pool2d", "avg_pool2d"])
def test_overflowing_output_geometry_is_refused_before_any_kernel(backend, op):
    """Padding so large that OH*OW (or the padded extent) overflows int64 in the kernels is a
    ValueError at the boundary."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    huge = 2**40
    calls = {
        "im2col": lambda: pykernels.im2col(x, 2, 1, huge, backend=backend),
        "conv2d": lambda: pykernels.conv2d(x, np.zeros((1, 1, 2, 2), np.float32), None, 1, huge, backend=backend),
        "max_pool2d": lambda: pykernels.max_pool2d(x, 2**41, 1, 2**40, backend=backend),
        "avg_pool2d": lambda: pykernels.avg_pool2d(x, 2**41, 1, 2**40, backend=backend),
    }
    with pytest.raises(ValueError, match="patch entries|padded input"):
        calls[op]()
    with pytest.raises(ValueError, match="padded input"):
        pykernels.im2col(x, 1, 2**62, 2**62, backend=backend)
