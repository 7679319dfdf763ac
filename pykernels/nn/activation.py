"""ReLU, Sigmoid and Tanh layers.  Math: pykernels/reference/activation.py."""
from __future__ import annotations

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.module import Module, register
from pykernels.ops import checks

__all__ = ["ReLU", "Sigmoid", "Tanh"]


class _Activation(Module):
    _op = ""
    _saves_output = True  # backward reads y (sigmoid, tanh) or x (relu)

    def __init__(self):
        self.saved = None

    def forward(self, x):
        if type(x) is not np.ndarray or x.dtype not in checks.FLOAT_DTYPES:
            checks.float_array(type(self).__name__, "input", x)
        be = _tensor.backend(x)
        x = _tensor.contiguous(be, x)
        y = getattr(be.impl, self._op)(x)
        self.be, self.saved = be, (y if self._saves_output else x)
        return y

    def backward(self, dy):
        saved = self.saved
        if saved is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        if type(dy) is not np.ndarray or dy.shape != saved.shape or dy.dtype != saved.dtype:
            checks.float_array(type(self).__name__ + ".backward", "dy", dy)
            checks.check_shape(type(self).__name__ + ".backward", "dy", dy, saved.shape)
            checks.same_dtype(type(self).__name__ + ".backward", dy=dy, input=saved)
        dy = _tensor.contiguous(self.be, dy)
        return getattr(self.be.impl, self._op + "_backward")(saved, dy)


@register
class ReLU(_Activation):
    """max(x, 0); backward ``dy * (x > 0)``."""

    _op = "relu"
    _saves_output = False


@register
class Sigmoid(_Activation):
    """1 / (1 + exp(-x)); backward ``dy * y * (1 - y)``."""

    _op = "sigmoid"


@register
class Tanh(_Activation):
    """tanh(x); backward ``dy * (1 - y**2)``."""

    _op = "tanh"
