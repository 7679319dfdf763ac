"""Benchmark cases: a vanilla tanh RNN, forward + backpropagation through time over a sequence."""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def _make(steps, n, n_in, hidden):
    def make():
        rng = np.random.default_rng(0)
        # one-hot symbols, as a character RNN feeds them, and min-char-rnn's small initial weights
        x = np.zeros((steps, n, n_in), np.float32)
        x[np.arange(steps)[:, None], np.arange(n)[None, :], rng.integers(0, n_in, (steps, n))] = 1
        return {
            "x": x,
            "h0": (rng.standard_normal((n, hidden)) * 0.1).astype(np.float32),
            "w_ih": (rng.standard_normal((hidden, n_in)) * 0.01).astype(np.float32),
            "w_hh": (rng.standard_normal((hidden, hidden)) * 0.01).astype(np.float32),
            "b": (rng.standard_normal(hidden) * 0.1).astype(np.float32),
            "dhs": rng.standard_normal((steps, n, hidden)).astype(np.float32),
        }
    return make


def _ours(inp, backend):
    x, h0, w_ih, w_hh = inp["x"], inp["h0"], inp["w_ih"], inp["w_hh"]
    hs = pykernels.rnn_forward(x, h0, w_ih, w_hh, inp["b"], backend=backend)
    return (hs, *pykernels.rnn_backward(inp["dhs"], x, hs, h0, w_ih, w_hh, backend=backend))


def _torch(inp):
    import torch

    rnn = inp.get("torch_rnn")
    if rnn is None:  # built once per inputs, outside the timed region after the first call
        steps, n, n_in = inp["x"].shape
        rnn = torch.nn.RNN(n_in, inp["w_hh"].shape[0], nonlinearity="tanh")
        with torch.no_grad():
            rnn.weight_ih_l0.copy_(torch.from_numpy(inp["w_ih"]))
            rnn.weight_hh_l0.copy_(torch.from_numpy(inp["w_hh"]))
            rnn.bias_ih_l0.copy_(torch.from_numpy(inp["b"]))
            rnn.bias_hh_l0.zero_()
        inp["torch_rnn"] = rnn
        inp["torch_in"] = tuple(torch.from_numpy(inp[k]) for k in ("x", "h0", "dhs"))
    x, h0, dhs = (t.detach().requires_grad_(k != 2) for k, t in enumerate(inp["torch_in"]))
    rnn.zero_grad(set_to_none=True)
    out, _ = rnn(x, h0[None])
    out.backward(dhs)
    return (out.detach(), x.grad, h0.grad, rnn.weight_ih_l0.grad, rnn.weight_hh_l0.grad, rnn.bias_ih_l0.grad)


def _numpy_min_char_rnn(inp):
    """Karpathy's min-char-rnn loop (one sample, column vectors, a step at a time)."""
    w_ih, w_hh, b = inp["w_ih"], inp["w_hh"], inp["b"][:, None]
    xs, dhs = inp["x"][:, 0, :, None], inp["dhs"][:, 0, :, None]
    steps = len(xs)
    hs = {-1: inp["h0"][0][:, None]}
    for t in range(steps):
        hs[t] = np.tanh(w_ih @ xs[t] + w_hh @ hs[t - 1] + b)
    dw_ih, dw_hh, db = np.zeros_like(w_ih), np.zeros_like(w_hh), np.zeros_like(b)
    dx = np.zeros_like(xs)
    dh_next = np.zeros_like(hs[0])
    for t in reversed(range(steps)):
        draw = (1 - hs[t] * hs[t]) * (dhs[t] + dh_next)
        db += draw
        dw_ih += draw @ xs[t].T
        dw_hh += draw @ hs[t - 1].T
        dx[t] = w_ih.T @ draw
        dh_next = w_hh.T @ draw
    out = np.stack([hs[t][:, 0] for t in range(steps)])[:, None]
    return out, dx[:, None, :, 0], dh_next.T, dw_ih, dw_hh, db[:, 0]


def cases(quick=False):
    char = (25, 1, 65, 100)  # the course's character RNN: 25 steps, one sequence, 65 symbols, 100 hidden
    batch = (25, 16, 65, 128) if quick else (50, 64, 128, 256)
    return [
        Case(group="rnn", name="rnn fwd+bptt T=25 N=1 I=65 H=100 f32", make=_make(*char), ours=_ours,
             peers={"torch": _torch, "numpy": _numpy_min_char_rnn}, check_peers=("torch", "numpy"),
             goals={"torch": 10.0}),
        Case(group="rnn", name="rnn fwd+bptt T={} N={} I={} H={} f32".format(*batch), make=_make(*batch), ours=_ours,
             peers={"torch": _torch}, check_peers=("torch",)),
    ]
