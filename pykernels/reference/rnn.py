"""Vanilla (Elman) tanh RNN over a whole sequence, time-major, and its back-propagation through time.

Shapes: ``x`` (T, N, I), ``h0`` (N, H), ``w_ih`` (H, I), ``w_hh`` (H, H), ``b`` (H,),
``hs`` (T, N, H); T >= 1 steps (the ops layer rejects T = 0), any N, I, H >= 0.

Forward, for t = 0 .. T-1 with ``h_{-1} = h0``::

    a_t = x_t @ w_ih.T + h_{t-1} @ w_hh.T + b,      h_t = hs[t] = tanh(a_t)

Backward.  ``dhs[t]`` is the error injected at step t (dLoss/dh_t from the layers above, not
counting the recurrence).  Back-propagating the error of injection t to step s <= t gives the
pre-activation error (rows are batch entries, ``*`` is elementwise)::

    e_t^t = dhs[t] * (1 - h_t**2)
    e_t^s = (e_t^{s+1} @ w_hh) * (1 - h_s**2)            for s < t

With ``truncate=K`` the error of injection t flows back through steps t, t-1, ..., max(0, t-K)
only, i.e. ``e_t^s`` is kept for ``t-K <= s <= t`` and dropped below.  (``truncate=None`` keeps every
``s <= t``: the exact gradient.)  The error reaching step s is ``g_s = sum_t e_t^s`` over the
injections t whose window contains s, and every quantity step s reads gets its share::

    dx[s]   = g_s @ w_ih
    dw_ih   = sum_s g_s.T @ x_s
    dw_hh   = sum_s g_s.T @ h_{s-1}            (h_{-1} = h0)
    db      = sum_s sum_rows g_s
    dh0     = g_0 @ w_hh

``h0`` is an input of step 0 exactly as ``x[0]`` is, so an error that reaches step 0 (injection
t with t <= K) reaches ``h0`` too; the truncation only cuts the flow from step s into the *step*
s-1.  K = 0 keeps only the local step.  For K >= T-1 no window is cut: full BPTT.

Computation.  Full BPTT is the usual backward recurrence
``g_s = (dhs[s] + g_{s+1} @ w_hh) * (1 - h_s**2)``.  The truncated sum is formed depth by depth:
``D_0 = dhs * (1 - hs**2)`` holds every injection at its own step; ``D_d[s] = e_{s+d}^s =
(D_{d-1}[s+1] @ w_hh) * (1 - h_s**2)`` moves all of them one step further back at once (one
(T-d)N x H x H product), and ``g = sum_{d=0..K} D_d`` (``D_d`` aligned at s = 0).  That is
O(T K N H^2) work, as any exact truncated scheme needs, but as K+1 large products instead of T*K
small ones.

Numerics: tanh saturates to +-1 without overflow; ``1 - h**2`` is formed from the saved ``hs``.
"""
import numpy as np

__all__ = ["rnn_forward", "rnn_backward"]


def rnn_forward(x, h0, w_ih, w_hh, b):
    """``hs`` (T, N, H) with ``hs[t] = tanh(x[t] @ w_ih.T + hs[t-1] @ w_hh.T + b)``, ``hs[-1] = h0``."""
    hs = np.matmul(x, w_ih.T) + b  # input projection for all steps at once
    h = h0
    for t in range(x.shape[0]):
        h = np.tanh(hs[t] + h @ w_hh.T)
        hs[t] = h
    return hs


def rnn_backward(dhs, x, hs, h0, w_ih, w_hh, *, truncate=None):
    """``(dx, dh0, dw_ih, dw_hh, db)``: exact BPTT for ``truncate=None``, else truncated to
    ``truncate`` steps back from each injection (module docstring)."""
    steps, n, n_in = x.shape
    rows, n_hidden = steps * n, hs.shape[2]
    slope = 1 - hs * hs  # dtanh/da at every step
    if truncate is None or truncate >= steps - 1:
        g = np.empty_like(hs)
        carry = np.zeros_like(h0)
        for t in range(steps - 1, -1, -1):
            g[t] = (dhs[t] + carry) * slope[t]
            carry = g[t] @ w_hh
    else:
        d = dhs * slope
        g = d.copy()
        for depth in range(1, truncate + 1):
            d = (d[1:] @ w_hh) * slope[: steps - depth]
            g[: steps - depth] += d
    h_prev = np.concatenate([h0[None], hs[:-1]], axis=0)
    g2 = g.reshape(rows, n_hidden)
    dx = g @ w_ih
    dh0 = g[0] @ w_hh
    dw_ih = g2.T @ x.reshape(rows, n_in)
    dw_hh = g2.T @ h_prev.reshape(rows, n_hidden)
    db = g2.sum(axis=0)
    return dx, dh0, dw_ih, dw_hh, db
