"""Softmax, log-softmax and softmax cross-entropy over the last axis of (N, K) arrays.

Overflow-safe for any finite logits: every exponent is taken of ``x - max(x)`` (at most 0), and the
log-probabilities are formed as ``x - max - log(sum exp(x - max))`` rather than ``log(softmax)``, so a
probability that underflows to 0 still has a finite log.
"""
import numpy as np

__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "softmax_cross_entropy_backward"]


def _shifted(x):
    return x - np.max(x, axis=1, keepdims=True)


def softmax(x):
    """``p_ik = exp(x_ik) / sum_j exp(x_ij)``, row by row; rows of (N, K) sum to 1."""
    e = np.exp(_shifted(x))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(x):
    """``log p_ik = x_ik - logsumexp_j x_ij``."""
    s = _shifted(x)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _targets(target, shape, dtype):
    """Soft targets (N, K) from int labels (N,) or the float probabilities themselves."""
    if target.ndim == 1:
        t = np.zeros(shape, dtype=dtype)
        t[np.arange(shape[0]), target] = 1
        return t
    return target


def softmax_cross_entropy(logits, target, *, reduction="mean"):
    """Cross-entropy of ``softmax(logits)`` against ``target``: returns ``(loss, probs)``.

    ``target`` is int labels (N,) in [0, K) or float probabilities (N, K).  Per row
    ``loss_i = -sum_k t_ik log p_ik``; ``reduction`` "mean" averages over rows, "sum" adds them
    (both give a scalar of the logits' dtype), "none" returns the (N,) vector.
    ``probs = softmax(logits)`` is returned for the backward pass.
    """
    logp = log_softmax(logits)
    t = _targets(target, logits.shape, logits.dtype)
    # NOTE: t * logp with t = 0 and logp = -inf would be NaN; zero targets contribute nothing.
    per_row = -np.where(t != 0, t * logp, 0).sum(axis=1)
    per_row = per_row.astype(logits.dtype, copy=False)
    probs = np.exp(logp)
    if reduction == "none":
        return per_row, probs
    total = per_row.astype(np.float64).sum()
    if reduction == "mean":
        total /= per_row.shape[0]
    return logits.dtype.type(total), probs


def softmax_cross_entropy_backward(probs, target, *, reduction="mean", dloss=1.0):
    """``dlogits = (probs - t) * dloss / N`` for "mean", ``* dloss`` for "sum"; for "none", ``dloss``
    is (N,) and scales each row."""
    t = _targets(target, probs.shape, probs.dtype)
    diff = probs - t
    if reduction == "none":
        return diff * np.asarray(dloss, dtype=probs.dtype)[:, None]
    scale = dloss / probs.shape[0] if reduction == "mean" else dloss
    return diff * probs.dtype.type(scale)
