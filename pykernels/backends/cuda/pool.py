"""max_pool2d, avg_pool2d and their backward passes on the CUDA backends (kernels: cuda/pool.cu).

pykernels/ops/pool.py has validated the arguments; the kernel itself rejects an index outside its
plane (ValueError), so a direct call of the backend cannot write out of bounds.
"""
import numpy as np

from pykernels.backends.cuda.conv import geometry
from pykernels.ops import checks
from pykernels.ops.conv import out_hw

OPS = ("max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward")


def max_pool2d(rt, x, kernel_size, stride, padding):
    op = "max_pool2d"
    checks.check_ndim(op, "x", x, ndim=4)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    with rt.call(x) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        shape = (*xd.shape[:2], oh, ow)
        y = call.empty(shape, xd.dtype)
        indices = call.empty(shape, np.int64)
        rt.native.max_pool2d(xd.dtype.char, xd.ptr, y.ptr, indices.ptr, geometry(xd.shape, kernel_size, stride, padding))
        return call.result(y), call.result(indices)


def max_pool2d_backward(rt, dy, indices, x_shape):
    op = "max_pool2d_backward"
    checks.check_ndim(op, "dy", dy, ndim=4)
    checks.check_shape(op, "indices", indices, dy.shape)
    checks.check_shape(op, "dy", dy, (*x_shape[:2], None, None))
    if np.dtype(indices.dtype) != np.int64:
        raise TypeError(f"{op}: argument 'indices' must have dtype int64, got {indices.dtype}")
    with rt.call(dy, indices) as call:
        dyd = call.input(dy, f"{op}: argument 'dy'")
        idx = call.input(indices, f"{op}: argument 'indices'")
        dx = call.empty(x_shape, dyd.dtype)
        n, c, h, w = x_shape
        rt.native.max_pool2d_backward(dyd.dtype.char, dyd.ptr, idx.ptr, dx.ptr, n * c, h * w,
                                      dyd.shape[2] * dyd.shape[3])
        return call.result(dx)


def avg_pool2d(rt, x, kernel_size, stride, padding):
    op = "avg_pool2d"
    checks.check_ndim(op, "x", x, ndim=4)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    with rt.call(x) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        y = call.empty((*xd.shape[:2], oh, ow), xd.dtype)
        rt.native.avg_pool2d(xd.dtype.char, xd.ptr, y.ptr, geometry(xd.shape, kernel_size, stride, padding))
        return call.result(y)


def avg_pool2d_backward(rt, dy, x_shape, kernel_size, stride, padding):
    op = "avg_pool2d_backward"
    oh, ow = out_hw(op, "x_shape", x_shape, kernel_size, stride, padding)
    checks.check_shape(op, "dy", dy, (*x_shape[:2], oh, ow))
    with rt.call(dy) as call:
        dyd = call.input(dy, f"{op}: argument 'dy'")
        dx = call.empty(x_shape, dyd.dtype)
        rt.native.avg_pool2d_backward(dyd.dtype.char, dyd.ptr, dx.ptr, geometry(x_shape, kernel_size, stride, padding))
        return call.result(dx)
