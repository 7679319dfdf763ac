"""Linear and Flatten layers.  Math of the products: pykernels/reference/gemm.py."""
from __future__ import annotations

import math

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.module import Module, Parameter, check_dtype, init_rng, register, size_arg, uniform_init

__all__ = ["Linear", "Flatten"]


def check_input(where, x, dtype, ndim, what):
    """``x`` as an ndarray of ``dtype`` and rank ``ndim``: TypeError for anything but a NumPy array of
    real numbers, ValueError for the wrong rank.  A layer computes in its parameters' dtype, so real
    input of another dtype (float64 data into a float32 model, integer or bool inputs) is converted —
    the documented rule of the nn layer, like ``fit`` and ``predict``; the ops never convert.
    A DeviceArray (a model on a cuda backend) must already have ``dtype``: device data is not converted."""
    if _tensor.is_device(x):
        if x.dtype != dtype:
            raise TypeError(f"{where}: a device input must have the model's dtype {np.dtype(dtype)} (device arrays are "
                            f"not converted), got {x.dtype}")
        if x.ndim != ndim:
            raise ValueError(f"{where}: input must be {ndim}-D {what}, got shape {x.shape}")
        return x
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{where}: input must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype.kind not in "fiub" or x.dtype.itemsize > 8:
        raise TypeError(f"{where}: input must hold real numbers (float32/float64), got dtype {x.dtype}")
    if x.ndim != ndim:
        raise ValueError(f"{where}: input must be {ndim}-D {what}, got shape {x.shape}")
    return x if x.dtype == dtype else x.astype(dtype)


@register
class Linear(Module):
    """``y = x @ weight.T + bias``: x (N, in_features) → y (N, out_features).

    ``weight`` (out_features, in_features) and ``bias`` (out_features,) start U(-1/sqrt(in), 1/sqrt(in))
    as in PyTorch.  Backward: ``dx = dy @ weight``, ``weight.grad += dy.T @ x``, ``bias.grad += sum_rows dy``.
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, seed=None):
        self.in_features = size_arg("Linear", "in_features", in_features)
        self.out_features = size_arg("Linear", "out_features", out_features)
        dtype = check_dtype("Linear", dtype)
        rng = init_rng(seed)
        bound = 1.0 / math.sqrt(self.in_features)
        self.weight = Parameter(uniform_init(rng, (self.out_features, self.in_features), bound, dtype), "weight")
        if bias:
            self.bias = Parameter(uniform_init(rng, (self.out_features,), bound, dtype), "bias")
            self._param_names = ("weight", "bias")
        else:
            self.bias = None
            self._param_names = ("weight",)
        self.x = None
        self.be = None
        self._place_parameters()

    def get_config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": str(self.weight.data.dtype)}

    def forward(self, x):
        """x (N, in_features), or (..., in_features) as PyTorch, → (..., out_features)."""
        w = self.weight.data
        if type(x) is not np.ndarray or x.ndim != 2 or x.shape[1] != self.in_features or x.dtype != w.dtype:
            if not (isinstance(x, np.ndarray) or _tensor.is_device(x)) or x.ndim < 2:
                check_input("Linear", x, w.dtype, 2, "(N, in_features)")
            x = check_input("Linear", x, w.dtype, x.ndim, "(N, in_features)")
            if x.shape[-1] != self.in_features:
                raise ValueError(f"Linear: input must have {self.in_features} features (N, {self.in_features}), got shape {x.shape}")
        be = _tensor.backend(w, x)
        x = _tensor.on_device_of(x, w)  # a device model: the batch is copied in once, here
        lead = x.shape[:-1]
        if x.ndim != 2:
            x = _tensor.reshape(x, (-1, self.in_features))
        x = _tensor.contiguous(be, x)
        self.x, self.be, self.lead = x, be, lead
        y = be.impl.gemm(x, w, None, alpha=1.0, beta=0.0, trans_a=False, trans_b=True)
        if self.bias is not None:
            _tensor.add_bias_rows(y, self.bias.data)
        return y if len(lead) == 1 else _tensor.reshape(y, lead + (self.out_features,))

    def backward(self, dy):
        x, be, w = self.x, self.be, self.weight
        if x is None:
            raise RuntimeError("Linear.backward called before forward")
        want = self.lead + (self.out_features,)
        if type(dy) is not np.ndarray or dy.shape != want or dy.dtype != x.dtype:
            dy = check_input("Linear.backward", dy, x.dtype, len(want), "(N, out_features)")
            if dy.shape != want:
                raise ValueError(f"Linear.backward: dy must have shape {want}, got {dy.shape}")
        if dy.ndim != 2:
            dy = _tensor.reshape(dy, (-1, self.out_features))
        dy = _tensor.contiguous(be, dy)
        # NOTE: the weight gradient is accumulated by the product itself (beta=1), one native call.
        w.grad = be.impl.gemm(dy, x, w.grad, alpha=1.0, beta=1.0, trans_a=True, trans_b=False)
        if self.bias is not None:
            _tensor.accumulate_column_sums(self.bias.grad, dy)
        dx = be.impl.gemm(dy, w.data, None, alpha=1.0, beta=0.0, trans_a=False, trans_b=False)
        return dx if len(self.lead) == 1 else _tensor.reshape(dx, self.lead + (self.in_features,))


@register
class Flatten(Module):
    """(N, ...) → (N, prod(...)); backward restores the input shape."""

    def __init__(self):
        self.x_shape = None

    def forward(self, x):
        if not (isinstance(x, np.ndarray) or _tensor.is_device(x)) or x.ndim < 1:
            raise TypeError(f"Flatten: input must be a numpy.ndarray with a batch axis, got {type(x).__name__}")
        self.x_shape = x.shape
        return _tensor.reshape(x, (x.shape[0], -1))

    def backward(self, dy):
        if self.x_shape is None:
            raise RuntimeError("Flatten.backward called before forward")
        return _tensor.reshape(dy, self.x_shape)
