"""Losses: SoftmaxCrossEntropy and MSELoss.  ``loss(pred, target)`` → float; ``loss.backward()`` →
the gradient with respect to ``pred`` (of the mean loss).  Math: pykernels/reference/softmax.py."""
from __future__ import annotations

import numpy as np

from pykernels.nn import _tensor
from pykernels.ops import checks

__all__ = ["SoftmaxCrossEntropy", "MSELoss"]


class SoftmaxCrossEntropy:
    """Mean over the batch of ``-sum_k t_k log softmax(logits)_k``; ``target`` is int labels (N,) in
    [0, K) or probabilities (N, K).  Backward: ``(softmax(logits) - t) / N``."""

    def __init__(self):
        self.probs = None

    def __call__(self, logits, target):
        return self.forward(logits, target)

    def forward(self, logits, target):
        op = "SoftmaxCrossEntropy"
        if type(logits) is not np.ndarray or logits.ndim != 2 or logits.dtype not in checks.FLOAT_DTYPES:
            checks.float_array(op, "logits", logits, ndim=2)
        n, k = logits.shape
        if n == 0 or k == 0:
            raise ValueError(f"{op}: logits must have at least one row and one class, got shape {logits.shape}")
        if isinstance(target, np.ndarray) and target.dtype.kind in "iu":
            if target.shape != (n,):
                raise ValueError(f"{op}: int labels must have shape ({n},) to match logits {logits.shape}, got {target.shape}")
            lo, hi = target.min(), target.max()
            if lo < 0 or hi >= k:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{op}: label {int(bad)} is outside [0, {k}) (the model has {k} outputs)")
            target = target.astype(np.int64, copy=False)
        else:
            checks.float_array(op, "target", target, ndim=2)
            checks.check_shape(op, "target", target, (n, k))
            checks.same_dtype(op, logits=logits, target=target)
        be = _tensor.backend(logits)
        logits, target = _tensor.contiguous(be, logits), _tensor.contiguous(be, target)
        target = _tensor.on_device_of(target, logits)  # device logits: the targets go over once
        loss, self.probs = be.impl.softmax_cross_entropy(logits, target, reduction="mean")
        self.target, self.be = target, be
        return float(_tensor.to_numpy(loss))  # the one value a device step copies back

    def backward(self):
        if self.probs is None:
            raise RuntimeError("SoftmaxCrossEntropy.backward called before the loss was computed")
        return self.be.impl.softmax_cross_entropy_backward(self.probs, self.target, reduction="mean", dloss=1.0)

    def __repr__(self):
        return "SoftmaxCrossEntropy()"


class MSELoss:
    """``mean((pred - target)**2)`` over every element (as torch.nn.MSELoss); backward
    ``2 (pred - target) / size``."""

    def __init__(self):
        self.diff = None

    def __call__(self, pred, target):
        return self.forward(pred, target)

    def forward(self, pred, target):
        op = "MSELoss"
        checks.float_array(op, "pred", pred)
        checks.float_array(op, "target", target)
        if pred.shape != target.shape:
            raise ValueError(f"{op}: target must have the shape of pred {pred.shape}, got {target.shape}")
        checks.same_dtype(op, pred=pred, target=target)
        if pred.size == 0:
            raise ValueError(f"{op}: the mean over an empty prediction (shape {pred.shape})")
        loss, self.diff = _tensor.mse(pred, target)
        return loss

    def backward(self):
        if self.diff is None:
            raise RuntimeError("MSELoss.backward called before the loss was computed")
        return _tensor.mse_backward(self.diff)

    def __repr__(self):
        return "MSELoss()"
