"""Elementwise activations and their backward passes (any shape; output dtype = input dtype).

Each backward takes what its forward saved: the output ``y`` for sigmoid and tanh, the input ``x``
for relu, and the upstream gradient ``dy``; it returns ``dx``.  NaN propagates as in NumPy/PyTorch.
"""
import numpy as np

__all__ = ["sigmoid", "sigmoid_backward", "tanh", "tanh_backward", "relu", "relu_backward"]


def sigmoid(x):
    """``1 / (1 + exp(-x))``.

    NOTE: evaluated as ``exp(x) / (1 + exp(x))`` for negative x, so no exp ever overflows.
    """
    out = np.empty_like(x)
    pos = x >= 0
    np.divide(1, 1 + np.exp(-x, where=pos, out=np.zeros_like(x)), where=pos, out=out)
    neg = ~pos  # includes NaN, which then propagates through exp
    e = np.exp(x, where=neg, out=np.zeros_like(x))
    np.divide(e, 1 + e, where=neg, out=out)
    return out


def sigmoid_backward(y, dy):
    """``dx = dy * y * (1 - y)`` with ``y = sigmoid(x)``."""
    return dy * y * (1 - y)


def tanh(x):
    """``tanh(x)`` (saturates to ±1, never overflows)."""
    return np.tanh(x)


def tanh_backward(y, dy):
    """``dx = dy * (1 - y**2)`` with ``y = tanh(x)``."""
    return dy * (1 - y * y)


def relu(x):
    """``max(x, 0)``; NaN stays NaN."""
    return np.where(x > 0, x, np.where(np.isnan(x), x, x.dtype.type(0)))


def relu_backward(x, dy):
    """``dx = dy * (x > 0)``: the subgradient at 0 is taken as 0, as in PyTorch."""
    return np.where(x > 0, dy, dy.dtype.type(0))
