"""Vanilla tanh RNN: dispatch and validation.  Math: pykernels/reference/rnn.py."""
from pykernels import _backend
from pykernels.ops import checks

__all__ = ["rnn_forward", "rnn_backward"]


def _sequence(op, x, h0, w_ih, w_hh, **more):
    """Checks the arrays both directions share (plus ``more``, of shape (T, N, H)); returns x's
    (T, N, I) and H.  NOTE: kept to plain attribute reads: for the course's N = 1 character RNN
    this validation is a visible part of the whole call."""
    checks.float_array(op, "x", x, ndim=3)
    checks.float_array(op, "h0", h0, ndim=2)
    checks.float_array(op, "w_ih", w_ih, ndim=2)
    checks.float_array(op, "w_hh", w_hh, ndim=2)
    for name, a in more.items():
        checks.float_array(op, name, a, ndim=3)
    checks.same_dtype(op, x=x, h0=h0, w_ih=w_ih, w_hh=w_hh, **more)
    steps, n, n_in = x.shape
    if steps == 0:
        raise ValueError(f"{op}: the sequence must have T >= 1 steps, got 'x' of shape {x.shape}")
    hidden = w_hh.shape[0]
    checks.check_shape(op, "w_hh", w_hh, (hidden, hidden))
    checks.check_shape(op, "w_ih", w_ih, (hidden, n_in))
    checks.check_shape(op, "h0", h0, (n, hidden))
    for name, a in more.items():
        checks.check_shape(op, name, a, (steps, n, hidden))
    return hidden


def rnn_forward(x, h0, w_ih, w_hh, b, *, backend=None):
    """``hs`` (T, N, H), ``hs[t] = tanh(x[t] @ w_ih.T + hs[t-1] @ w_hh.T + b)``; see
    pykernels.reference.rnn_forward."""
    op = "rnn_forward"
    hidden = _sequence(op, x, h0, w_ih, w_hh)
    checks.float_array(op, "b", b, ndim=1)
    checks.same_dtype(op, x=x, b=b)
    checks.check_shape(op, "b", b, (hidden,))
    be = _backend.resolve(backend)
    return be.impl.rnn_forward(*be.arrays(x, h0, w_ih, w_hh, b))


def rnn_backward(dhs, x, hs, h0, w_ih, w_hh, *, truncate=None, backend=None):
    """``(dx, dh0, dw_ih, dw_hh, db)`` by full (``truncate=None``) or truncated BPTT; see
    pykernels.reference.rnn_backward."""
    op = "rnn_backward"
    _sequence(op, x, h0, w_ih, w_hh, dhs=dhs, hs=hs)
    if truncate is not None:
        truncate = checks.integer(op, "truncate", truncate, minimum=0)
    be = _backend.resolve(backend)
    return be.impl.rnn_backward(*be.arrays(dhs, x, hs, h0, w_ih, w_hh), truncate=truncate)
