"""The optimizers' elementwise updates, in place on a parameter's arrays.

Kept apart from the optimizers' bookkeeping so that a device implementation can be slotted in for
device arrays (see pykernels/nn/_tensor.py).  Formulas are PyTorch's (torch.optim.SGD with
dampening 0 and nesterov off; torch.optim.Adam with amsgrad off).
"""
from __future__ import annotations

import math

import numpy as np


def zeros_like(x):
    return np.zeros_like(x)


def sgd(p, g, buf, *, lr, momentum, weight_decay, first):
    """``g += weight_decay * p``; with momentum ``buf = g`` on the first step, else
    ``buf = momentum * buf + g``, and ``g = buf``; then ``p -= lr * g``."""
    if weight_decay:
        g = g + weight_decay * p
    if momentum:
        if first:
            buf[...] = g
        else:
            buf *= momentum
            buf += g
        g = buf
    p -= lr * g


def adam(p, g, m, v, tmp, *, step, lr, beta1, beta2, eps, weight_decay):
    """PyTorch's Adam at step ``step`` (1-based)::

        g = g + weight_decay * p
        m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
        p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)

    ``tmp`` is a work array of p's shape."""
    if weight_decay:
        g = g + weight_decay * p
    m *= beta1
    np.multiply(g, 1.0 - beta1, out=tmp)
    m += tmp
    v *= beta2
    np.multiply(g, g, out=tmp)
    tmp *= 1.0 - beta2
    v += tmp
    np.sqrt(v, out=tmp)
    tmp *= 1.0 / math.sqrt(1.0 - beta2**step)
    tmp += eps
    np.divide(m, tmp, out=tmp)
    tmp *= lr / (1.0 - beta1**step)
    p -= tmp


def clip(g, limit):
    """Clip ``g`` elementwise to [-limit, limit] in place."""
    np.clip(g, -limit, limit, out=g)
