"""Convolution (im2col, col2im, conv2d, conv2d_backward): dispatch and validation.
Math: pykernels/reference/conv.py.

The window helpers (window_args, out_hw, shape4) are shared with pykernels/ops/pool.py.
"""
import math

from pykernels import _backend
from pykernels.ops import checks

__all__ = ["im2col", "col2im", "conv2d", "conv2d_backward"]


def window_args(op, kernel_size, stride, padding, *, pool=False):
    """Canonical ``(kernel_size, stride, padding)`` as (h, w) tuples of ints.

    For pooling (``pool=True``) ``stride=None`` means the kernel size and the padding may be at most
    half the kernel, as in torch.
    """
    kernel_size = checks.pair(op, "kernel_size", kernel_size, minimum=1)
    stride = kernel_size if pool and stride is None else checks.pair(op, "stride", stride, minimum=1)
    padding = checks.pair(op, "padding", padding, minimum=0)
    if pool and any(2 * p > k for p, k in zip(padding, kernel_size)):
        raise ValueError(
            f"{op}: argument 'padding' must be at most half the kernel size {kernel_size}, got {padding}"
        )
    return kernel_size, stride, padding


def out_hw(op, name, shape, kernel_size, stride, padding):
    """(OH, OW) for an input of NCHW ``shape`` (named ``name``); the kernel must fit the padded input.

    Also refuses geometries whose sizes overflow the kernels' int64 arithmetic: a padded extent, or
    the N*C*OH*OW*KH*KW entries of the patch matrix (im2col's output, conv2d's workspace), beyond
    what an array can hold."""
    out = []
    for axis, size, k, s, p in zip(("height", "width"), shape[2:], kernel_size, stride, padding):
        if size + 2 * p > checks.MAX_SIZE:
            raise ValueError(f"{op}: argument 'padding' {p} makes the padded input {axis} {size} + 2*{p} "
                             f"larger than {checks.MAX_SIZE}")
        if size + 2 * p < k:
            raise ValueError(
                f"{op}: kernel {axis} {k} is larger than the padded input {axis} {size} + 2*{p} "
                f"(argument '{name}' has shape {tuple(shape)}, kernel_size {tuple(kernel_size)})"
            )
        out.append((size + 2 * p - k) // s + 1)
    patches = math.prod(shape[:2]) * math.prod(out) * math.prod(kernel_size)
    if patches > checks.MAX_SIZE // 8:
        raise ValueError(f"{op}: output size {tuple(out)} with kernel_size {tuple(kernel_size)} for argument "
                         f"'{name}' of shape {tuple(shape)} needs {patches} patch entries, more than an array "
                         f"can hold ({checks.MAX_SIZE // 8})")
    return tuple(out)


def shape4(op, x_shape):
    """``x_shape`` as a tuple of 4 non-negative ints (N, C, H, W)."""
    if not isinstance(x_shape, (tuple, list)):
        raise TypeError(f"{op}: argument 'x_shape' must be a tuple of 4 ints (N, C, H, W), got {type(x_shape).__name__}")
    if len(x_shape) != 4:
        raise ValueError(f"{op}: argument 'x_shape' must have 4 entries (N, C, H, W), got {tuple(x_shape)!r}")
    shape = tuple(checks.integer(op, "x_shape", v, minimum=0) for v in x_shape)
    # NOTE: the kernels compute plane and array sizes in int64; refuse shapes whose element count
    # could overflow them (NumPy could not allocate such an array anyway).
    if math.prod(shape) > checks.MAX_SIZE // 8:
        raise ValueError(f"{op}: argument 'x_shape' {shape} describes {math.prod(shape)} elements, more than "
                         f"an array can hold ({checks.MAX_SIZE // 8})")
    return shape


def _weights(op, x, w):
    """Checks ``w`` (C_out, C_in, KH, KW) against ``x``; returns the kernel size."""
    checks.float_array(op, "w", w, ndim=4)
    kernel_size = w.shape[2:]
    if min(kernel_size) < 1:
        raise ValueError(f"{op}: argument 'w' must have a kernel of at least 1x1, got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(
            f"{op}: channel mismatch: argument 'x' has {x.shape[1]} channels (shape {x.shape}) but "
            f"argument 'w' expects {w.shape[1]} (shape {w.shape}, i.e. (C_out, C_in, KH, KW))"
        )
    return kernel_size


def im2col(x, kernel_size, stride=1, padding=0, *, backend=None):
    """Receptive fields of ``x`` (N, C, H, W) as rows (N*OH*OW, C*KH*KW); see pykernels.reference.im2col."""
    op = "im2col"
    checks.float_array(op, "x", x, ndim=4)
    kernel_size, stride, padding = window_args(op, kernel_size, stride, padding)
    out_hw(op, "x", x.shape, kernel_size, stride, padding)
    be = _backend.resolve(backend)
    return be.impl.im2col(be.arrays(x), kernel_size, stride, padding)


def col2im(cols, x_shape, kernel_size, stride=1, padding=0, *, backend=None):
    """Adjoint of im2col: ``cols`` summed back into an array of ``x_shape``; see pykernels.reference.col2im."""
    op = "col2im"
    checks.float_array(op, "cols", cols, ndim=2)
    x_shape = shape4(op, x_shape)
    kernel_size, stride, padding = window_args(op, kernel_size, stride, padding)
    oh, ow = out_hw(op, "x_shape", x_shape, kernel_size, stride, padding)
    n, c = x_shape[:2]
    checks.check_shape(op, "cols", cols, (n * oh * ow, c * kernel_size[0] * kernel_size[1]))
    be = _backend.resolve(backend)
    return be.impl.col2im(be.arrays(cols), x_shape, kernel_size, stride, padding)


def conv2d(x, w, b=None, stride=1, padding=0, *, backend=None):
    """``y`` (N, C_out, OH, OW): x (N, C_in, H, W) cross-correlated with w (C_out, C_in, KH, KW), plus b."""
    op = "conv2d"
    checks.float_array(op, "x", x, ndim=4)
    kernel_size = _weights(op, x, w)
    if b is not None:
        checks.float_array(op, "b", b, ndim=1)
        checks.check_shape(op, "b", b, (w.shape[0],))
    checks.same_dtype(op, x=x, w=w, b=b)
    _, stride, padding = window_args(op, kernel_size, stride, padding)
    out_hw(op, "x", x.shape, kernel_size, stride, padding)
    be = _backend.resolve(backend)
    x, w, b = be.arrays(x, w, b)
    return be.impl.conv2d(x, w, b, stride, padding)


def conv2d_backward(dy, x, w, stride=1, padding=0, *, backend=None):
    """``(dx, dw, db)`` of conv2d for the upstream gradient ``dy`` (N, C_out, OH, OW)."""
    op = "conv2d_backward"
    checks.float_array(op, "dy", dy, ndim=4)
    checks.float_array(op, "x", x, ndim=4)
    kernel_size = _weights(op, x, w)
    checks.same_dtype(op, dy=dy, x=x, w=w)
    _, stride, padding = window_args(op, kernel_size, stride, padding)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    checks.check_shape(op, "dy", dy, (x.shape[0], w.shape[0], oh, ow))
    be = _backend.resolve(backend)
    dy, x, w = be.arrays(dy, x, w)
    return be.impl.conv2d_backward(dy, x, w, stride, padding)
