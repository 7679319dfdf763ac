"""im2col, col2im, conv2d and conv2d_backward on the CUDA backends (kernels: cuda/im2col.cu, cuda/conv.cu).

pykernels/ops/conv.py has validated the arguments and made the window canonical ((h, w) tuples); the
few checks here guard direct calls of the backend (``impl.conv2d(...)``), which must raise, never
run a kernel on inconsistent shapes.
"""
from pykernels.ops import checks
from pykernels.ops.conv import out_hw

OPS = ("im2col", "col2im", "conv2d", "conv2d_backward")


def geometry(x_shape, kernel_size, stride, padding):
    """The (N, C, H, W, KH, KW, sh, sw, ph, pw) tuple the conv and pool bindings take."""
    return (*(int(s) for s in x_shape), *kernel_size, *stride, *padding)


def _weights(op, x, w, b=None):
    """Shapes and dtypes of x (N, C, H, W), w (C_out, C, KH, KW) and b (C_out,) agree; returns KH, KW."""
    checks.check_ndim(op, "x", x, ndim=4)
    checks.check_ndim(op, "w", w, ndim=4)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"{op}: channel mismatch: 'x' has {x.shape[1]} channels but 'w' (shape {w.shape}) expects "
                         f"{w.shape[1]}")
    if b is not None:
        checks.check_shape(op, "b", b, (w.shape[0],))
    checks.same_dtype(op, x=x, w=w, b=b)
    return tuple(w.shape[2:])


def im2col(rt, x, kernel_size, stride, padding):
    op = "im2col"
    checks.check_ndim(op, "x", x, ndim=4)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    with rt.call(x) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        n, c = xd.shape[:2]
        cols = call.empty((n * oh * ow, c * kernel_size[0] * kernel_size[1]), xd.dtype)
        rt.native.im2col(xd.dtype.char, xd.ptr, cols.ptr, geometry(xd.shape, kernel_size, stride, padding))
        return call.result(cols)


def col2im(rt, cols, x_shape, kernel_size, stride, padding):
    op = "col2im"
    oh, ow = out_hw(op, "x_shape", x_shape, kernel_size, stride, padding)
    n, c = x_shape[:2]
    checks.check_shape(op, "cols", cols, (n * oh * ow, c * kernel_size[0] * kernel_size[1]))
    with rt.call(cols) as call:
        cd = call.input(cols, f"{op}: argument 'cols'")
        x = call.empty(x_shape, cd.dtype)
        rt.native.col2im(cd.dtype.char, cd.ptr, x.ptr, geometry(x_shape, kernel_size, stride, padding))
        return call.result(x)


def conv2d(rt, x, w, b, stride, padding):
    op = "conv2d"
    kernel_size = _weights(op, x, w, b)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    with rt.call(x, w, b) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        wd = call.input(w, f"{op}: argument 'w'")
        bd = call.input(b, f"{op}: argument 'b'")
        y = call.empty((xd.shape[0], wd.shape[0], oh, ow), xd.dtype)
        rt.native.conv2d(xd.dtype.char, xd.ptr, wd.ptr, 0 if bd is None else bd.ptr, y.ptr,
                         geometry(xd.shape, kernel_size, stride, padding), wd.shape[0])
        return call.result(y)


def conv2d_backward(rt, dy, x, w, stride, padding):
    op = "conv2d_backward"
    kernel_size = _weights(op, x, w)
    checks.same_dtype(op, dy=dy, x=x)
    oh, ow = out_hw(op, "x", x.shape, kernel_size, stride, padding)
    checks.check_shape(op, "dy", dy, (x.shape[0], w.shape[0], oh, ow))
    with rt.call(dy, x, w) as call:
        dyd = call.input(dy, f"{op}: argument 'dy'")
        xd = call.input(x, f"{op}: argument 'x'")
        wd = call.input(w, f"{op}: argument 'w'")
        dx = call.empty(xd.shape, xd.dtype)
        dw = call.empty(wd.shape, wd.dtype)
        db = call.empty((wd.shape[0],), wd.dtype)
        rt.native.conv2d_backward(xd.dtype.char, dyd.ptr, xd.ptr, wd.ptr, dx.ptr, dw.ptr, db.ptr,
                                  geometry(xd.shape, kernel_size, stride, padding), wd.shape[0])
        return call.result(dx), call.result(dw), call.result(db)
