"""Pooling (max_pool2d, avg_pool2d and their backward passes): dispatch and validation.
Math: pykernels/reference/pool.py.
"""
import numpy as np

from pykernels import _backend
from pykernels.ops import checks
from pykernels.ops.conv import out_hw, shape4, window_args

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]


def _forward_args(op, x, kernel_size, stride, padding):
    checks.float_array(op, "x", x, ndim=4)
    kernel_size, stride, padding = window_args(op, kernel_size, stride, padding, pool=True)
    out_hw(op, "x", x.shape, kernel_size, stride, padding)
    return kernel_size, stride, padding


def max_pool2d(x, kernel_size, stride=None, padding=0, *, backend=None):
    """``(y, indices)``: window maxima of x (N, C, H, W) and their int64 positions h*W + w."""
    kernel_size, stride, padding = _forward_args("max_pool2d", x, kernel_size, stride, padding)
    be = _backend.resolve(backend)
    return be.impl.max_pool2d(be.arrays(x), kernel_size, stride, padding)


def max_pool2d_backward(dy, indices, x_shape, *, backend=None):
    """``dx`` of ``x_shape``: every ``dy`` entry added at the input position its index names."""
    op = "max_pool2d_backward"
    checks.float_array(op, "dy", dy, ndim=4)
    indices = checks.int_array(op, "indices", indices, ndim=4)
    checks.check_shape(op, "indices", indices, dy.shape)
    x_shape = shape4(op, x_shape)
    checks.check_shape(op, "dy", dy, (*x_shape[:2], None, None))
    be = _backend.resolve(backend)
    if be.name == "numpy":
        _check_indices(op, indices, x_shape)
    host_indices = indices
    dy, indices = be.arrays(dy, indices)
    try:
        return be.impl.max_pool2d_backward(dy, indices, x_shape)
    except ValueError:
        # the compiled kernels check the indices as they scatter (a pass over them here made a
        # 64x16x24x24 forward and backward 0.35-0.38 ms instead of 0.29-0.31); name the first bad one
        _check_indices(op, host_indices, x_shape)
        raise


def _check_indices(op, indices, x_shape):
    plane = x_shape[2] * x_shape[3]
    # NOTE: viewed as unsigned, a negative index becomes huge, so one max() checks both ends.
    if indices.size and int(indices.view(np.uint64).max()) >= plane:
        bad = indices[(indices < 0) | (indices >= plane)].flat[0]
        raise ValueError(f"{op}: argument 'indices' holds {int(bad)} outside [0, H*W) = [0, {plane}) for x_shape {x_shape}")


def avg_pool2d(x, kernel_size, stride=None, padding=0, *, backend=None):
    """Window means of x (N, C, H, W), zero padding counted in the divisor."""
    kernel_size, stride, padding = _forward_args("avg_pool2d", x, kernel_size, stride, padding)
    be = _backend.resolve(backend)
    return be.impl.avg_pool2d(be.arrays(x), kernel_size, stride, padding)


def avg_pool2d_backward(dy, x_shape, kernel_size, stride=None, padding=0, *, backend=None):
    """``dx`` of ``x_shape``: each window's dy / (KH*KW) spread over the inputs it covers."""
    op = "avg_pool2d_backward"
    checks.float_array(op, "dy", dy, ndim=4)
    x_shape = shape4(op, x_shape)
    kernel_size, stride, padding = window_args(op, kernel_size, stride, padding, pool=True)
    oh, ow = out_hw(op, "x_shape", x_shape, kernel_size, stride, padding)
    checks.check_shape(op, "dy", dy, (*x_shape[:2], oh, ow))
    be = _backend.resolve(backend)
    return be.impl.avg_pool2d_backward(be.arrays(dy), x_shape, kernel_size, stride, padding)
