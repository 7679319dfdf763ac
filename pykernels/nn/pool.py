"""MaxPool2d and AvgPool2d layers.  Math: pykernels/reference/pool.py."""
from __future__ import annotations

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.module import Module, register
from pykernels.ops import checks
from pykernels.ops.conv import out_hw, window_args

__all__ = ["MaxPool2d", "AvgPool2d"]


class _Pool2d(Module):
    _name = "Pool2d"

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = window_args(self._name, kernel_size, stride, padding, pool=True)
        self.x_shape = None
        self._checked = None

    def get_config(self):
        return {"kernel_size": list(self.kernel_size), "stride": list(self.stride), "padding": list(self.padding)}

    def _input(self, x):
        if type(x) is not np.ndarray or (x.shape, x.dtype) != self._checked:
            checks.float_array(self._name, "input", x, ndim=4)
            out_hw(self._name, "input", x.shape, self.kernel_size, self.stride, self.padding)
            self._checked = (x.shape, x.dtype)
        be = _tensor.backend(x)
        self.be, self.x_shape = be, x.shape
        return be, _tensor.contiguous(be, x)

    def _dy(self, dy):
        if self.x_shape is None:
            raise RuntimeError(f"{self._name}.backward called before forward")
        n, c, h, w = self.x_shape
        oh, ow = out_hw(self._name, "input", self.x_shape, self.kernel_size, self.stride, self.padding)
        if type(dy) is not np.ndarray or dy.shape != (n, c, oh, ow) or dy.dtype != self._checked[1]:
            checks.float_array(self._name + ".backward", "dy", dy, ndim=4)
            checks.check_shape(self._name + ".backward", "dy", dy, (n, c, oh, ow))
            if dy.dtype != self._checked[1]:
                raise TypeError(f"{self._name}.backward: dy has dtype {dy.dtype}, the input had {self._checked[1]}")
        return _tensor.contiguous(self.be, dy)


@register
class MaxPool2d(_Pool2d):
    """Window maxima; backward routes dy to the position that won (indices as in torch)."""

    _name = "MaxPool2d"

    def forward(self, x):
        be, x = self._input(x)
        y, self.indices = be.impl.max_pool2d(x, self.kernel_size, self.stride, self.padding)
        return y

    def backward(self, dy):
        dy = self._dy(dy)
        return self.be.impl.max_pool2d_backward(dy, self.indices, tuple(self.x_shape))


@register
class AvgPool2d(_Pool2d):
    """Window means (zero padding counted in the divisor)."""

    _name = "AvgPool2d"

    def forward(self, x):
        be, x = self._input(x)
        return be.impl.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def backward(self, dy):
        dy = self._dy(dy)
        return self.be.impl.avg_pool2d_backward(dy, tuple(self.x_shape), self.kernel_size, self.stride, self.padding)
