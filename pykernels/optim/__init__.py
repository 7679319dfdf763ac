"""Optimizers: ``SGD`` and ``Adam`` with PyTorch's semantics; ``step()`` and ``zero_grad()``.

Parameters (``pykernels.nn.Parameter``) are updated in place, so the arrays a layer holds stay the
same objects between steps; optimizer state (momentum buffers, Adam moments) is allocated once,
beside each parameter, in its dtype.  For a model on a cuda backend (``Module.to_device()``) the
state lives on the device beside the parameters, each update is one fused kernel, and a model moved
after its optimizer was built carries its state along at the next step.
"""
from __future__ import annotations

import numbers

from pykernels.optim import _update

__all__ = ["Optimizer", "SGD", "Adam"]


def _real(where, name, value, minimum=0.0):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: argument '{name}' must be a real number, got {type(value).__name__}")
    value = float(value)
    if not value >= minimum:
        raise ValueError(f"{where}: argument '{name}' must be >= {minimum}, got {value}")
    return value


class Optimizer:
    def __init__(self, params, where):
        from pykernels.nn.module import Module, Parameter

        if isinstance(params, Module):
            params = params.parameters()
        params = list(params)
        if not params:
            raise ValueError(f"{where}: got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Parameter):
                raise TypeError(f"{where}: params[{i}] must be a pykernels.nn.Parameter, got {type(p).__name__}")
        self.params = params
        self.steps = 0

    def zero_grad(self):
        from pykernels.nn import _tensor

        for p in self.params:
            _tensor.zero_(p.grad)

    def step(self):  # pragma: no cover - abstract
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum and L2 weight decay (as torch.optim.SGD)."""

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0):
        super().__init__(params, "SGD")
        self.lr = _real("SGD", "lr", lr)
        self.momentum = _real("SGD", "momentum", momentum)
        self.weight_decay = _real("SGD", "weight_decay", weight_decay)
        self.buffers = [_update.zeros_like(p.data) if self.momentum else None for p in self.params]

    def step(self):
        first = self.steps == 0
        self.steps += 1
        self.buffers = [_update.placed(buf, p.data) for p, buf in zip(self.params, self.buffers)]
        for p, buf in zip(self.params, self.buffers):
            _update.sgd(p.data, p.grad, buf, lr=self.lr, momentum=self.momentum,
                        weight_decay=self.weight_decay, first=first)


class Adam(Optimizer):
    """Adam (Kingma and Ba) with bias correction; ``weight_decay`` adds L2 to the gradient (as
    torch.optim.Adam, not AdamW)."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, "Adam")
        self.lr = _real("Adam", "lr", lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"Adam: argument 'betas' must be a pair of floats, got {betas!r}")
        self.betas = tuple(_real("Adam", "betas", b) for b in betas)
        if not all(b < 1.0 for b in self.betas):
            raise ValueError(f"Adam: argument 'betas' must lie in [0, 1), got {betas!r}")
        self.eps = _real("Adam", "eps", eps)
        self.weight_decay = _real("Adam", "weight_decay", weight_decay)
        self.m = [_update.zeros_like(p.data) for p in self.params]
        self.v = [_update.zeros_like(p.data) for p in self.params]
        self.tmp = [_update.zeros_like(p.data) for p in self.params]

    def step(self):
        self.steps += 1
        b1, b2 = self.betas
        for state in (self.m, self.v, self.tmp):
            state[:] = [_update.placed(s, p.data) for p, s in zip(self.params, state)]
        for p, m, v, tmp in zip(self.params, self.m, self.v, self.tmp):
            _update.adam(p.data, p.grad, m, v, tmp, step=self.steps, lr=self.lr, beta1=b1, beta2=b2,
                         eps=self.eps, weight_decay=self.weight_decay)
