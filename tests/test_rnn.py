"""rnn_forward / rnn_backward (full and truncated BPTT) on every backend, against PyTorch, central
differences and a direct per-injection definition of truncated BPTT."""
import numpy as np
import pytest

import pykernels
from helpers import assert_close, numeric_grad, random, run_both, views

ref = pykernels.reference

# (T, N, I, H): tiny, odd sizes, a batch of zero, and the course's character RNN (65 symbols, 100 hidden)
SHAPES = [(1, 1, 1, 1), (7, 3, 5, 33), (2, 0, 3, 4), (4, 2, 0, 3), (25, 1, 65, 100)]
NAMES = ("x", "h0", "w_ih", "w_hh", "b")


def make(rng, shape, dtype, scale=0.5):
    steps, n, n_in, hidden = shape
    return {
        "x": random(rng, (steps, n, n_in), dtype),
        "h0": random(rng, (n, hidden), dtype, 0.5),
        "w_ih": random(rng, (hidden, n_in), dtype, scale / np.sqrt(max(n_in, 1))),
        "w_hh": random(rng, (hidden, hidden), dtype, 1.5 / np.sqrt(hidden)),
        "b": random(rng, (hidden,), dtype, 0.3),
    }


def backward_args(p, hs, dhs):
    return dhs, p["x"], hs, p["h0"], p["w_ih"], p["w_hh"]


def truncated_oracle(dhs, x, hs, h0, w_ih, w_hh, truncate):
    """The definition, one injection at a time: the error dhs[t] enters step t and is carried back
    through steps t, t-1, ..., max(0, t - truncate) (all the way for None); each step it reaches
    adds to that step's gradients, and step 0 passes it on to h0."""
    steps = x.shape[0]
    dx, dh0 = np.zeros_like(x), np.zeros_like(h0)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros(w_hh.shape[0], x.dtype)
    for t in range(steps):
        last = 0 if truncate is None else max(0, t - truncate)
        e = dhs[t] * (1 - hs[t] ** 2)
        for s in range(t, last - 1, -1):
            h_prev = h0 if s == 0 else hs[s - 1]
            dx[s] += e @ w_ih
            dw_ih += e.T @ x[s]
            dw_hh += e.T @ h_prev
            db += e.sum(axis=0)
            if s == 0:
                dh0 += e @ w_hh
            elif s > last:
                e = (e @ w_hh) * (1 - h_prev**2)
    return dx, dh0, dw_ih, dw_hh, db


@pytest.mark.parametrize("shape", SHAPES)
def test_forward_matches_reference(backend, shape, dtype, rng):
    p = make(rng, shape, dtype)
    got, want = run_both("rnn_forward", backend, *(p[k] for k in NAMES))
    assert got.shape == shape[:2] + shape[3:]
    assert_close(got, want, "forward", scale=2)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("truncate", [None, 0, 1, 3, 100])
def test_backward_matches_reference(backend, shape, truncate, dtype, rng):
    p = make(rng, shape, dtype)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    dhs = random(rng, hs.shape, dtype)
    got, want = run_both("rnn_backward", backend, *backward_args(p, hs, dhs), truncate=truncate)
    assert [g.shape for g in got] == [p[k].shape for k in NAMES]
    assert_close(got, want, "backward", scale=10)


@pytest.mark.parametrize("layout", ["f", "strided"])
def test_non_contiguous_inputs(backend, layout, rng):
    p = make(rng, (5, 3, 4, 6), np.float64)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    dhs = random(rng, hs.shape, np.float64)
    got = pykernels.rnn_forward(*(views(p[k])[layout] for k in NAMES), backend=backend)
    assert_close(got, hs)
    args = [views(a)[layout] for a in backward_args(p, hs, dhs)]
    for truncate in (None, 2):
        got = pykernels.rnn_backward(*args, truncate=truncate, backend=backend)
        assert_close(got, ref.rnn_backward(*backward_args(p, hs, dhs), truncate=truncate), "backward")


def test_reference_vs_torch(dtype, rng, torch):
    steps, n, n_in, hidden = 6, 4, 5, 7
    p = make(rng, (steps, n, n_in, hidden), dtype)
    rnn = torch.nn.RNN(n_in, hidden, nonlinearity="tanh").to(torch.float64 if dtype == np.float64 else torch.float32)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.from_numpy(p["w_ih"]))
        rnn.weight_hh_l0.copy_(torch.from_numpy(p["w_hh"]))
        rnn.bias_ih_l0.copy_(torch.from_numpy(p["b"]))
        rnn.bias_hh_l0.zero_()
    xt = torch.from_numpy(p["x"]).requires_grad_(True)
    h0t = torch.from_numpy(p["h0"])[None].clone().requires_grad_(True)
    out, h_last = rnn(xt, h0t)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    assert_close(hs, out.detach().numpy(), "oracle")
    assert_close(hs[-1], h_last[0].detach().numpy(), "oracle")
    dhs = random(rng, hs.shape, dtype)  # a random upstream gradient on every step
    (out * torch.from_numpy(dhs)).sum().backward()
    dx, dh0, dw_ih, dw_hh, db = ref.rnn_backward(*backward_args(p, hs, dhs))
    assert_close(dx, xt.grad.numpy(), "oracle")
    assert_close(dh0, h0t.grad[0].numpy(), "oracle")
    assert_close(dw_ih, rnn.weight_ih_l0.grad.numpy(), "oracle")
    assert_close(dw_hh, rnn.weight_hh_l0.grad.numpy(), "oracle")
    assert_close(db, rnn.bias_ih_l0.grad.numpy(), "oracle")
    assert_close(db, rnn.bias_hh_l0.grad.numpy(), "oracle")


def test_reference_backward_vs_central_differences(rng):
    p = make(rng, (4, 2, 3, 5), np.float64, scale=1.0)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    dhs = random(rng, hs.shape, np.float64)
    grads = dict(zip(NAMES, ref.rnn_backward(*backward_args(p, hs, dhs))))

    def loss():
        return float((ref.rnn_forward(*(p[k] for k in NAMES)) * dhs).sum())

    for name in NAMES:
        assert_close(grads[name], numeric_grad(loss, p[name]), "numgrad")


@pytest.mark.parametrize("truncate", [None, 0, 1, 2, 4, 5, 6, 9])
def test_truncated_bptt_matches_definition(backend, truncate, rng):
    """T = 7: windows cut at every depth, exactly reaching h0 (K = 6 = T-1) and beyond."""
    p = make(rng, (7, 3, 4, 5), np.float64, scale=1.0)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    dhs = random(rng, hs.shape, np.float64)
    got = pykernels.rnn_backward(*backward_args(p, hs, dhs), truncate=truncate, backend=backend)
    assert_close(got, truncated_oracle(*backward_args(p, hs, dhs), truncate), "backward")


def test_truncation_bounds(rng):
    steps = 6
    p = make(rng, (steps, 2, 3, 4), np.float64, scale=1.0)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    dhs = random(rng, hs.shape, np.float64)
    args = backward_args(p, hs, dhs)
    full = ref.rnn_backward(*args)
    for k in (steps - 1, steps, 50):
        assert_close(ref.rnn_backward(*args, truncate=k), full, "backward")
    # K = T-2 cuts exactly one path: dhs[T-1] no longer reaches step 0 or h0
    cut = ref.rnn_backward(*args, truncate=steps - 2)
    assert not np.allclose(cut[1], full[1]) and not np.allclose(cut[0][0], full[0][0])
    np.testing.assert_allclose(cut[0][1:], full[0][1:], rtol=1e-12, atol=1e-12)
    # K = 0: only the local step; dh0 then sees dhs[0] alone
    local = ref.rnn_backward(*args, truncate=0)
    slope = 1 - hs**2
    assert_close(local[0], (dhs * slope) @ p["w_ih"], "backward")
    assert_close(local[1], (dhs[0] * slope[0]) @ p["w_hh"], "backward")


def test_float32_matches_float64(backend, rng):
    p64 = make(rng, (25, 2, 65, 100), np.float64)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    hs64 = pykernels.rnn_forward(*(p64[k] for k in NAMES), backend=backend)
    hs32 = pykernels.rnn_forward(*(p32[k] for k in NAMES), backend=backend)
    assert hs32.dtype == np.float32
    np.testing.assert_allclose(hs32, hs64, rtol=1e-4, atol=1e-5)
    dhs = random(rng, hs64.shape, np.float64)
    for truncate in (None, 5):
        g64 = pykernels.rnn_backward(*backward_args(p64, hs64, dhs), truncate=truncate, backend=backend)
        g32 = pykernels.rnn_backward(*backward_args(p32, hs32, dhs.astype(np.float32)), truncate=truncate,
                                     backend=backend)
        for a, b in zip(g32, g64):
            assert a.dtype == np.float32
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * np.abs(b).max())


def test_saturated_units_stay_finite(backend, rng):
    p = make(rng, (5, 2, 3, 4), np.float64)
    p["b"][:] = 1e4  # tanh saturates to 1, 1 - h**2 = 0: no overflow, zero gradient through a
    hs = pykernels.rnn_forward(*(p[k] for k in NAMES), backend=backend)
    np.testing.assert_array_equal(hs, 1.0)
    grads = pykernels.rnn_backward(*backward_args(p, hs, random(rng, hs.shape)), backend=backend)
    for g in grads:
        np.testing.assert_array_equal(g, 0.0)


def _good(rng, dtype=np.float64):
    p = make(rng, (3, 2, 4, 5), dtype)
    hs = ref.rnn_forward(*(p[k] for k in NAMES))
    return p, hs


@pytest.mark.parametrize("name,bad,match", [
    ("x", np.zeros((3, 4)), "'x' must be 3-D"),
    ("x", np.zeros((0, 2, 4)), "T >= 1"),
    ("h0", np.zeros((2, 6)), r"'h0' must have shape \(2, 5\)"),
    ("h0", np.zeros((3, 5)), r"'h0' must have shape \(2, 5\)"),
    ("w_ih", np.zeros((5, 3)), r"'w_ih' must have shape \(5, 4\)"),
    ("w_hh", np.zeros((5, 4)), r"'w_hh' must have shape \(5, 5\)"),
    ("b", np.zeros(4), r"'b' must have shape \(5,\)"),
    ("b", np.zeros((1, 5)), "'b' must be 1-D"),
])
def test_forward_shape_errors(backend, name, bad, match, rng):
    p, _ = _good(rng)
    p[name] = bad
    with pytest.raises(ValueError, match=f"rnn_forward: .*{match}"):
        pykernels.rnn_forward(*(p[k] for k in NAMES), backend=backend)


def test_forward_type_errors(backend, rng):
    p, _ = _good(rng)
    for name in NAMES:
        mixed = dict(p, **{name: p[name].astype(np.float32)})
        with pytest.raises(TypeError, match="rnn_forward: .*dtype"):
            pykernels.rnn_forward(*(mixed[k] for k in NAMES), backend=backend)
        ints = dict(p, **{name: p[name].astype(np.int64)})
        with pytest.raises(TypeError, match=f"rnn_forward: argument '{name}'"):
            pykernels.rnn_forward(*(ints[k] for k in NAMES), backend=backend)
    with pytest.raises(TypeError, match="argument 'x'"):
        pykernels.rnn_forward(p["x"].tolist(), p["h0"], p["w_ih"], p["w_hh"], p["b"], backend=backend)


def test_backward_errors(backend, rng):
    p, hs = _good(rng)
    dhs = np.ones_like(hs)
    args = backward_args(p, hs, dhs)
    with pytest.raises(ValueError, match=r"rnn_backward: argument 'dhs' must have shape \(3, 2, 5\)"):
        pykernels.rnn_backward(dhs[:2], *args[1:], backend=backend)
    with pytest.raises(ValueError, match=r"rnn_backward: argument 'hs' must have shape \(3, 2, 5\)"):
        pykernels.rnn_backward(dhs, p["x"], hs[:, :1], *args[3:], backend=backend)
    with pytest.raises(TypeError, match="rnn_backward: .*dtype"):
        pykernels.rnn_backward(dhs.astype(np.float32), *args[1:], backend=backend)
    with pytest.raises(ValueError, match="rnn_backward: argument 'truncate' must be >= 0"):
        pykernels.rnn_backward(*args, truncate=-1, backend=backend)
    for bad in (1.0, True, "2"):
        with pytest.raises(TypeError, match="rnn_backward: argument 'truncate'"):
            pykernels.rnn_backward(*args, truncate=bad, backend=backend)
