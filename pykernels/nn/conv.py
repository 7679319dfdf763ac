"""Conv2d layer.  Math: pykernels/reference/conv.py."""
from __future__ import annotations

import math

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.linear import check_input
from pykernels.nn.module import Module, Parameter, check_dtype, init_rng, register, size_arg, uniform_init
from pykernels.ops import checks
from pykernels.ops.conv import out_hw, window_args

__all__ = ["Conv2d"]


@register
class Conv2d(Module):
    """x (N, C_in, H, W) → (N, C_out, OH, OW): cross-correlation with ``weight`` (C_out, C_in, KH, KW)
    plus ``bias`` (C_out,), zero padding; initialised U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    fan_in = C_in*KH*KW, as in PyTorch."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True, *,
                 dtype=np.float32, seed=None):
        self.in_channels = size_arg("Conv2d", "in_channels", in_channels)
        self.out_channels = size_arg("Conv2d", "out_channels", out_channels)
        self.kernel_size, self.stride, self.padding = window_args("Conv2d", kernel_size, stride, padding)
        dtype = check_dtype("Conv2d", dtype)
        rng = init_rng(seed)
        kh, kw = self.kernel_size
        bound = 1.0 / math.sqrt(self.in_channels * kh * kw)
        self.weight = Parameter(uniform_init(rng, (self.out_channels, self.in_channels, kh, kw), bound, dtype), "weight")
        if bias:
            self.bias = Parameter(uniform_init(rng, (self.out_channels,), bound, dtype), "bias")
            self._param_names = ("weight", "bias")
        else:
            self.bias = None
            self._param_names = ("weight",)
        self.x = None
        self.be = None
        self._place_parameters()
        self._checked_shape = None

    def get_config(self):
        return {"in_channels": self.in_channels, "out_channels": self.out_channels,
                "kernel_size": list(self.kernel_size), "stride": list(self.stride),
                "padding": list(self.padding), "bias": self.bias is not None,
                "dtype": str(self.weight.data.dtype)}

    def _check(self, x):
        x = check_input("Conv2d", x, self.weight.data.dtype, 4, "(N, C_in, H, W)")
        if x.shape[1] != self.in_channels:
            raise ValueError(f"Conv2d: input must have {self.in_channels} channels (N, {self.in_channels}, H, W), got shape {x.shape}")
        out_hw("Conv2d", "input", x.shape, self.kernel_size, self.stride, self.padding)
        self._checked_shape = x.shape
        return x

    def forward(self, x):
        if type(x) is not np.ndarray or x.shape != self._checked_shape or x.dtype != self.weight.data.dtype:
            x = self._check(x)
        be = _tensor.backend(self.weight.data, x)
        x = _tensor.contiguous(be, _tensor.on_device_of(x, self.weight.data))
        self.x, self.be = x, be
        b = None if self.bias is None else self.bias.data
        return be.impl.conv2d(x, self.weight.data, b, self.stride, self.padding)

    def backward(self, dy):
        x, be = self.x, self.be
        if x is None:
            raise RuntimeError("Conv2d.backward called before forward")
        oh, ow = out_hw("Conv2d", "input", x.shape, self.kernel_size, self.stride, self.padding)
        if type(dy) is not np.ndarray or dy.dtype != x.dtype or dy.shape != (x.shape[0], self.out_channels, oh, ow):
            dy = check_input("Conv2d.backward", dy, x.dtype, 4, "dy (N, C_out, OH, OW)")
            checks.check_shape("Conv2d.backward", "dy", dy, (x.shape[0], self.out_channels, oh, ow))
        dy = _tensor.contiguous(be, dy)
        dx, dw, db = be.impl.conv2d_backward(dy, x, self.weight.data, self.stride, self.padding)
        _tensor.accumulate(self.weight.grad, dw)
        if self.bias is not None:
            _tensor.accumulate(self.bias.grad, db)
        return dx
