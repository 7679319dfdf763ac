"""2-D max and average pooling over NCHW arrays, and their backward passes.

``x`` (N, C, H, W); a KH x KW window moves with ``stride`` (sh, sw) (``None``: the kernel size) over
the input padded by ``padding`` (ph, pw) on each side, with 2*ph <= KH and 2*pw <= KW (as in torch,
so every window holds at least one input element).  The output is (N, C, OH, OW) with
OH = (H + 2*ph - KH) // sh + 1 and OW likewise; window (i, j) covers padded rows i*sh .. i*sh+KH-1
and columns j*sw .. j*sw+KW-1.

max_pool2d: the padding is -inf, so it never wins.  ``y`` is the window maximum and ``indices``
(int64, same shape) is the position ``h*W + w`` of the winner in its (H, W) input plane.  Ties go to
the first maximum in row-major window order (strict ``>`` scan); a NaN in the window wins (the last
NaN in window order, as torch's CPU kernel does), so NaN propagates to ``y``.
Backward: ``dx[n, c].flat[indices[n, c, i, j]] += dy[n, c, i, j]`` (overlapping windows may send
several terms to one input).

avg_pool2d: the padding is zero and counts in the divisor (torch's count_include_pad=True), so
``y = sum(window) / (KH*KW)``.  Backward: every input of window (i, j) receives ``dy[..., i, j] / (KH*KW)``.
"""
import numpy as np

from pykernels.reference.conv import col2im, out_size, pair, windows

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]


def _geometry(x_shape, kernel_size, stride, padding):
    """((KH, KW), (sh, sw), (ph, pw), (OH, OW)) with stride None meaning the kernel size."""
    kernel_size = pair(kernel_size)
    stride = kernel_size if stride is None else pair(stride)
    padding = pair(padding)
    h, w = x_shape[2:]
    out = (out_size(h, kernel_size[0], stride[0], padding[0]), out_size(w, kernel_size[1], stride[1], padding[1]))
    return kernel_size, stride, padding, out


def _window_positions(x_shape, kernel_size, stride, padding, out_hw):
    """(OH, OW, KH*KW) positions ``h*W + w`` of every window element, and whether it lies inside the input."""
    h, w = x_shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, out_hw
    rows = np.arange(oh)[:, None] * sh - ph + np.arange(kh)  # (OH, KH)
    cols = np.arange(ow)[:, None] * sw - pw + np.arange(kw)  # (OW, KW)
    pos = rows[:, None, :, None] * w + cols[None, :, None, :]
    valid = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[None, :, None, :]
    return pos.reshape(oh, ow, kh * kw), valid.reshape(oh, ow, kh * kw)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """``(y, indices)``: window maxima (N, C, OH, OW) and their int64 positions h*W + w; see the module docstring."""
    kernel_size, stride, padding, out_hw = _geometry(x.shape, kernel_size, stride, padding)
    n, c = x.shape[:2]
    (ph, pw), k = padding, kernel_size[0] * kernel_size[1]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=-np.inf)
    vals = windows(xp, kernel_size, stride, out_hw).reshape(n, c, *out_hw, k)
    pos, valid = _window_positions(x.shape, kernel_size, stride, padding, out_hw)
    nan = np.isnan(vals)
    best = np.where(nan, -np.inf, vals).max(axis=-1, keepdims=True)  # largest non-NaN value
    # NOTE: `& valid` matters only when a window holds nothing but -inf: torch then picks its first
    # element inside the input, never the padding.
    first_best = np.argmax((vals == best) & valid, axis=-1)
    last_nan = k - 1 - np.argmax(nan[..., ::-1], axis=-1)
    arg = np.where(nan.any(axis=-1), last_nan, first_best)[..., None]
    y = np.take_along_axis(vals, arg, axis=-1)[..., 0]
    indices = np.take_along_axis(np.broadcast_to(pos, vals.shape), arg, axis=-1)[..., 0]
    return y, indices.astype(np.int64, copy=False)


def max_pool2d_backward(dy, indices, x_shape):
    """``dx`` of ``x_shape``: each ``dy`` entry added to the input position its ``indices`` entry names."""
    n, c, h, w = x_shape
    dx = np.zeros((n * c, h * w), dtype=dy.dtype)
    planes = np.arange(n * c)[:, None]
    np.add.at(dx, (planes, indices.reshape(n * c, -1)), dy.reshape(n * c, -1))
    return dx.reshape(x_shape)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Window means (N, C, OH, OW), zero padding counted in the divisor KH*KW."""
    kernel_size, stride, padding, out_hw = _geometry(x.shape, kernel_size, stride, padding)
    (ph, pw), k = padding, kernel_size[0] * kernel_size[1]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    return np.ascontiguousarray(windows(xp, kernel_size, stride, out_hw).sum(axis=(-2, -1)) / k)


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0):
    """``dx`` of ``x_shape``: each window's ``dy / (KH*KW)`` spread over the inputs it covers."""
    kernel_size, stride, padding, (oh, ow) = _geometry(x_shape, kernel_size, stride, padding)
    n, c = x_shape[:2]
    (kh, kw), k = kernel_size, kernel_size[0] * kernel_size[1]
    share = (dy / k).transpose(0, 2, 3, 1)[..., None]  # (N, OH, OW, C, 1)
    cols = np.broadcast_to(share, (n, oh, ow, c, kh * kw)).reshape(n * oh * ow, c * kh * kw)
    return col2im(cols, x_shape, kernel_size, stride, padding)
