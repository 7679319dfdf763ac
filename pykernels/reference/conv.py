"""2-D convolution (cross-correlation, as in every deep-learning library) by im2col + matrix product.

Layout NCHW.  ``x`` (N, C, H, W), weights ``w`` (C_out, C, KH, KW), bias ``b`` (C_out,), ``stride``
(sh, sw) and ``padding`` (ph, pw) ints or pairs.  The input is zero-padded by ph rows above and below
and pw columns left and right; the output is (N, C_out, OH, OW) with

    OH = (H + 2*ph - KH) // sh + 1,   OW = (W + 2*pw - KW) // sw + 1,
    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * xpad[n, c, i*sh + p, j*sw + q].

im2col gathers every receptive field into one row: ``cols`` is (N*OH*OW, C*KH*KW), rows ordered
(n, i, j) and columns (c, p, q), both row-major, so ``y = cols @ w.reshape(C_out, -1).T`` (then
reordered to NCHW).  col2im is its adjoint: every entry of ``cols`` is added back into the input
position it was read from and entries that came from the padding are dropped, so
``<im2col(x), g> = <x, col2im(g)>``.

Backward, with ``dy`` (N, C_out, OH, OW) flattened to ``dY`` (N*OH*OW, C_out) in the row order of cols:

    dw = (dY.T @ cols).reshape(w.shape),   db = dy.sum(axis=(0, 2, 3)),
    dx = col2im(dY @ w.reshape(C_out, -1)).

Numerical notes: every output is one dot product of length C*KH*KW (plus bias) and every gradient
entry a sum of N*OH*OW (dw, db) or at most C_out*KH*KW (dx) products, so the float32 error grows
with those lengths; the compiled backends add in a different order than NumPy.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward"]


def pair(v):
    """An int or an (h, w) pair as a tuple of two."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def out_size(size, k, s, p):
    """Output length along one axis: (size + 2*p - k) // s + 1."""
    return (size + 2 * p - k) // s + 1


def windows(xp, kernel_size, stride, out_hw):
    """View (N, C, OH, OW, KH, KW) of the receptive fields of an already padded ``xp``."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, out_hw
    view = sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return view[:, :, : (oh - 1) * sh + 1 : sh, : (ow - 1) * sw + 1 : sw]


def im2col(x, kernel_size, stride=1, padding=0):
    """Receptive fields of ``x`` (N, C, H, W) as rows of (N*OH*OW, C*KH*KW); see the module docstring."""
    kernel_size, stride, padding = pair(kernel_size), pair(stride), pair(padding)
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    win = windows(xp, kernel_size, stride, (oh, ow))  # (N, C, OH, OW, KH, KW)
    return np.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(n * oh * ow, c * kh * kw)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0):
    """Adjoint of im2col: (N*OH*OW, C*KH*KW) summed back into an array of ``x_shape`` (N, C, H, W)."""
    kernel_size, stride, padding = pair(kernel_size), pair(stride), pair(padding)
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    oh, ow = out_size(h, kh, sh, ph), out_size(w, kw, sw, pw)
    g = cols.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)  # (N, C, OH, OW, KH, KW)
    xp = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for p in range(kh):
        for q in range(kw):
            xp[:, :, p : p + (oh - 1) * sh + 1 : sh, q : q + (ow - 1) * sw + 1 : sw] += g[..., p, q]
    return np.ascontiguousarray(xp[:, :, ph : ph + h, pw : pw + w])


def _to_nchw(rows, n, oh, ow):
    """(N*OH*OW, K) rows in (n, i, j) order → (N, K, OH, OW)."""
    return np.ascontiguousarray(rows.reshape(n, oh, ow, rows.shape[1]).transpose(0, 3, 1, 2))


def _from_nchw(y):
    """(N, K, OH, OW) → (N*OH*OW, K) rows in (n, i, j) order."""
    return y.transpose(0, 2, 3, 1).reshape(-1, y.shape[1])


def conv2d(x, w, b=None, stride=1, padding=0):
    """``y`` (N, C_out, OH, OW) = cross-correlation of ``x`` with ``w`` plus ``b``; see the module docstring."""
    n, _, h, wd = x.shape
    c_out, _, kh, kw = w.shape
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    oh, ow = out_size(h, kh, sh, ph), out_size(wd, kw, sw, pw)
    rows = im2col(x, (kh, kw), (sh, sw), (ph, pw)) @ w.reshape(c_out, -1).T
    if b is not None:
        rows += b
    return _to_nchw(rows, n, oh, ow)


def conv2d_backward(dy, x, w, stride=1, padding=0):
    """``(dx, dw, db)`` of conv2d for the upstream gradient ``dy`` (N, C_out, OH, OW)."""
    c_out, _, kh, kw = w.shape
    kernel_size, stride, padding = (kh, kw), pair(stride), pair(padding)
    d_rows = _from_nchw(dy)
    dw = (d_rows.T @ im2col(x, kernel_size, stride, padding)).reshape(w.shape)
    dx = col2im(d_rows @ w.reshape(c_out, -1), x.shape, kernel_size, stride, padding)
    db = dy.sum(axis=(0, 2, 3))
    return dx, dw, db
