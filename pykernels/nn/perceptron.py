"""Rosenblatt's perceptron: a threshold unit trained by the add/subtract rule."""
from __future__ import annotations

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.module import Module, Parameter, check_dtype, register, size_arg

__all__ = ["Perceptron"]


@register
class Perceptron(Module):
    """``y = 1 if x @ w + b > 0 else 0``; ``w`` (n_inputs,) and ``b`` (1,) start at zero.

    ``fit(x, y, max_epochs)`` visits the samples in order; on a mistake it adds the input to the
    weights (and 1 to the bias) when the target is 1, subtracts it when the target is 0.  Returns
    True when an epoch passes without a mistake (converged), False after ``max_epochs`` — which is
    what happens on data that no line separates, such as XOR.  Labels are 0/1, or -1/+1 as in
    Rosenblatt's papers (predictions then come back as -1/+1).
    """

    _device_ok = False

    _param_names = ("w", "b")

    def __init__(self, n_inputs, *, dtype=np.float32, negative_label=0):
        self.n_inputs = size_arg("Perceptron", "n_inputs", n_inputs)
        if negative_label not in (0, -1):
            raise ValueError(f"Perceptron: negative_label must be 0 or -1, got {negative_label!r}")
        self.negative_label = int(negative_label)
        dtype = check_dtype("Perceptron", dtype)
        self.w = Parameter(np.zeros(self.n_inputs, dtype), "w")
        self.b = Parameter(np.zeros(1, dtype), "b")
        self.epochs = 0

    def get_config(self):
        return {"n_inputs": self.n_inputs, "dtype": str(self.w.data.dtype), "negative_label": self.negative_label}

    def _inputs(self, where, x):
        if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
            raise TypeError(f"{where}: x must be a numpy.ndarray of numbers, got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"{where}: x must have shape (N, {self.n_inputs}), got {x.shape}")
        return x.astype(self.w.data.dtype, copy=False)

    def forward(self, x):
        """Predictions 1 / the negative label (0 or -1) as int64 (N,)."""
        x = self._inputs("Perceptron", x)
        be = _tensor.backend()
        z = be.impl.gemm(_tensor.contiguous(be, x), self.w.data.reshape(-1, 1), None)
        return np.where(z[:, 0] + self.b.data[0] > 0, 1, self.negative_label).astype(np.int64)

    predict = forward

    def fit(self, x, y, max_epochs=100):
        x = self._inputs("Perceptron.fit", x)
        y = np.asarray(y)
        if y.shape != (len(x),) or not (np.isin(y, (0, 1)).all() or np.isin(y, (-1, 1)).all()):
            raise ValueError(f"Perceptron.fit: y must hold {len(x)} labels of 0 or 1 (or -1 or 1), got {y!r}")
        if (y == -1).any():
            self.negative_label = -1
        elif (y == 0).any():
            self.negative_label = 0
        y = y == 1
        max_epochs = size_arg("Perceptron.fit", "max_epochs", max_epochs)
        w, b = self.w.data, self.b.data
        for epoch in range(max_epochs):
            mistakes = 0
            for xi, yi in zip(x, y):
                fired = float(xi @ w) + float(b[0]) > 0
                if fired != bool(yi):
                    mistakes += 1
                    if yi:
                        w += xi
                        b += 1
                    else:
                        w -= xi
                        b -= 1
            self.epochs = epoch + 1
            if mistakes == 0:
                return True
        return False

    def backward(self, dy):
        raise TypeError("Perceptron has no gradient: it learns by the add/subtract rule (fit)")
