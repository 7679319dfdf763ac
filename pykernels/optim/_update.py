"""The optimizers' elementwise updates, in place on a parameter's arrays.

Kept apart from the optimizers' bookkeeping: for DeviceArrays (a model moved by
``Module.to_device()``) each update is one fused kernel on the device (cuda/tensor.cu), so
parameters, gradients and optimizer state never leave it; NumPy arrays are updated here.  Formulas are PyTorch's (torch.optim.SGD with
dampening 0 and nesterov off; torch.optim.Adam with amsgrad off).
"""
from __future__ import annotations

import math

import numpy as np

from pykernels.nn import _tensor


def zeros_like(x):
    return _tensor.zeros_like(x)


def placed(state, like):
    """Optimizer state ``state`` where the parameter ``like`` lives now (a model moved to or from the
    device after its optimizer was built carries its state along, once)."""
    if state is None:
        return None
    on_device, wanted = _tensor.is_device(state), _tensor.is_device(like)
    if on_device == wanted and (not wanted or state.runtime is like.runtime):
        return state
    host = _tensor.to_numpy(state)
    return like.runtime.to_device(host) if wanted else host


def sgd(p, g, buf, *, lr, momentum, weight_decay, first):
    """``g += weight_decay * p``; with momentum ``buf = g`` on the first step, else
    ``buf = momentum * buf + g``, and ``g = buf``; then ``p -= lr * g``."""
    if _tensor.is_device(p):
        _tensor.backend(p).impl.sgd_update(p, g, buf, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                           first=first)
        return
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

    ``tmp`` is a work array of p's shape (unused on the device, where the update is one kernel)."""
    if _tensor.is_device(p):
        _tensor.backend(p).impl.adam_update(p, g, m, v, step=step, lr=lr, beta1=beta1, beta2=beta2, eps=eps,
                                            weight_decay=weight_decay)
        return
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
    if _tensor.is_device(g):
        _tensor.backend(g).impl.clip(g, limit)
        return
    np.clip(g, -limit, limit, out=g)
