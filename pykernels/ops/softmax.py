"""Softmax and cross-entropy: dispatch and validation.  Math: pykernels/reference/softmax.py."""
import numpy as np

from pykernels import _backend
from pykernels.backends.device import is_device_array
from pykernels.ops import checks

__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward"]

_REDUCTIONS = ("mean", "sum", "none")


def _rows(op, name, x):
    x = checks.float_array(op, name, x, ndim=2)
    if x.shape[1] == 0:
        raise ValueError(f"{op}: argument '{name}' must have at least one class (K >= 1), got shape {x.shape}")
    return x


def _integer_target(op, target):
    if isinstance(target, np.ndarray):
        return target.dtype.kind in "iu"
    return is_device_array(target) and checks.device_view(op, "target", target).dtype.kind in "iu"


def _target(op, target, n, k, dtype):
    """int labels (N,) in [0, K) → int64; float probabilities (N, K) of the same dtype."""
    if _integer_target(op, target):
        labels = checks.int_array(op, "target", target, ndim=1)
        checks.check_shape(op, "target", labels, (n,))
        checks.labels_in_range(op, "target", labels, k)
        return labels
    target = checks.float_array(op, "target", target)
    if target.ndim != 2:
        raise ValueError(
            f"{op}: argument 'target' must be int labels (N,) or float probabilities (N, K), got shape {target.shape}"
        )
    checks.check_shape(op, "target", target, (n, k))
    if target.dtype != dtype:
        raise TypeError(f"{op}: soft 'target' must have dtype {dtype} like the input, got {target.dtype}")
    return target


def softmax(x, *, backend=None):
    """Row-wise softmax of (N, K); see pykernels.reference.softmax."""
    x = _rows("softmax", "x", x)
    be = _backend.resolve(backend)
    return be.impl.softmax(be.arrays(x))


def log_softmax(x, *, backend=None):
    """Row-wise log-softmax of (N, K)."""
    x = _rows("log_softmax", "x", x)
    be = _backend.resolve(backend)
    return be.impl.log_softmax(be.arrays(x))


def softmax_cross_entropy(logits, target, *, reduction="mean", backend=None):
    """``(loss, probs)``; see pykernels.reference.softmax_cross_entropy."""
    op = "softmax_cross_entropy"
    logits = _rows(op, "logits", logits)
    reduction = checks.choice(op, "reduction", reduction, _REDUCTIONS)
    n, k = logits.shape
    target = _target(op, target, n, k, logits.dtype)
    if reduction != "none" and n == 0:
        raise ValueError(f"{op}: reduction {reduction!r} over an empty batch (N = 0)")
    be = _backend.resolve(backend)
    logits, target = be.arrays(logits, target)
    return be.impl.softmax_cross_entropy(logits, target, reduction=reduction)


def softmax_cross_entropy_backward(probs, target, *, reduction="mean", dloss=1.0, backend=None):
    """``dlogits``; see pykernels.reference.softmax_cross_entropy_backward."""
    op = "softmax_cross_entropy_backward"
    probs = _rows(op, "probs", probs)
    reduction = checks.choice(op, "reduction", reduction, _REDUCTIONS)
    n, k = probs.shape
    target = _target(op, target, n, k, probs.dtype)
    if reduction == "none":
        dloss = checks.float_array(op, "dloss", dloss, ndim=1)
        checks.check_shape(op, "dloss", dloss, (n,))
        checks.same_dtype(op, probs=probs, dloss=dloss)
    else:
        if n == 0:
            raise ValueError(f"{op}: reduction {reduction!r} over an empty batch (N = 0)")
        dloss = checks.real(op, "dloss", dloss)
    be = _backend.resolve(backend)
    if reduction == "none":
        probs, target, dloss = be.arrays(probs, target, dloss)
    else:
        probs, target = be.arrays(probs, target)
    return be.impl.softmax_cross_entropy_backward(probs, target, reduction=reduction, dloss=dloss)
