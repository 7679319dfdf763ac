"""Softmax and cross-entropy on the CUDA backends (kernels: cuda/softmax.cu).

Validation (pykernels/ops/softmax.py) has already checked shapes, dtypes and label ranges; int labels
arrive as int64.
"""
import numpy as np

OPS = ("softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward")


def _rowwise(rt, op, x):
    with rt.call(x) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        y = call.empty(xd.shape, xd.dtype)
        getattr(rt.native, op)(xd.dtype.char, xd.ptr, y.ptr, *xd.shape)
        return call.result(y)


def softmax(rt, x):
    return _rowwise(rt, "softmax", x)


def log_softmax(rt, x):
    return _rowwise(rt, "log_softmax", x)


def _target(call, target, op):
    """(labels pointer, soft-target pointer, operand): one of the pointers is 0."""
    td = call.input(target, f"{op}: argument 'target'")
    if np.dtype(td.dtype).kind in "iu":
        return td.ptr, 0, td
    return 0, td.ptr, td


def softmax_cross_entropy(rt, logits, target, *, reduction="mean"):
    op = "softmax_cross_entropy"
    with rt.call(logits, target) as call:
        xd = call.input(logits, f"{op}: argument 'logits'")
        n, k = xd.shape
        labels, soft, _keep = _target(call, target, op)
        loss = call.empty((n,), xd.dtype)
        probs = call.empty((n, k), xd.dtype)
        rt.native.softmax_cross_entropy(xd.dtype.char, xd.ptr, labels, soft, loss.ptr, probs.ptr, n, k)
        if reduction == "none":
            return call.result(loss), call.result(probs)
        total = call.empty((), xd.dtype)
        rt.native.sum_scaled(xd.dtype.char, loss.ptr, n, 1.0 / n if reduction == "mean" else 1.0, total.ptr)
        total = call.result(total)
        if isinstance(total, np.ndarray):
            total = total[()]  # a NumPy scalar of the logits' dtype, as the reference returns
        return total, call.result(probs)


def softmax_cross_entropy_backward(rt, probs, target, *, reduction="mean", dloss=1.0):
    op = "softmax_cross_entropy_backward"
    with rt.call(probs, target, dloss if reduction == "none" else None) as call:
        pd = call.input(probs, f"{op}: argument 'probs'")
        n, k = pd.shape
        labels, soft, _keep = _target(call, target, op)
        if reduction == "none":
            sd = call.input(dloss, f"{op}: argument 'dloss'")
            scale_rows, scale = sd.ptr, 0.0
        else:
            scale_rows, scale = 0, (float(dloss) / n if reduction == "mean" else float(dloss))
        dlogits = call.empty((n, k), pd.dtype)
        rt.native.softmax_cross_entropy_backward(pd.dtype.char, pd.ptr, labels, soft, scale_rows, scale, dlogits.ptr,
                                                 n, k)
        return call.result(dlogits)
