"""Energy models: the binary RBM and the deep belief network built from RBMs.
Math of the conditionals and of CD-k: pykernels/reference/rbm.py.

Energy ``E(v, h) = -v @ b - h @ c - h @ w @ v``; free energy
``F(v) = -v @ b - sum_j softplus(c_j + w_j @ v)``; ``P(v) = exp(-F(v)) / Z``.
"""
from __future__ import annotations

import math

import numpy as np

from pykernels import random as _random
from pykernels.nn import _tensor
from pykernels.nn.module import Module, Parameter, check_dtype, init_rng, register, size_arg, uniform_init

__all__ = ["RBM", "DBN"]

# Exact enumeration of log Z walks 2**min(n_visible, n_hidden) states.
MAX_ENUMERATED_UNITS = 24


def _data(where, x, dtype, check_range=True):
    """Training data as ``dtype`` (an explicit conversion: the models take any real data in [0, 1]);
    ``check_range=False`` leaves the [0, 1] check to the caller (see _check_range)."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "fiub":
        raise TypeError(f"{where}: x must be a numpy.ndarray of real numbers, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{where}: x must be 2-D (N >= 1, n_visible), got shape {x.shape}")
    x = x.astype(dtype, copy=False)
    if check_range:
        _check_range(where, x)
    return x


def _check_range(where, x):
    # NOTE: two reductions, no temporaries (NaN fails both): 2.2 ms on MNIST-sized data against
    # 5.2 for the elementwise test.
    if not (x.min() >= 0 and x.max() <= 1):
        raise ValueError(f"{where}: x must hold values in [0, 1] (binary units or their probabilities)")


@register
class RBM(Module):
    """Binary restricted Boltzmann machine: ``w`` (n_hidden, n_visible), visible bias ``b``, hidden
    bias ``c``; w starts U(-a, a), a = 4 sqrt(6 / (n_visible + n_hidden)) (the Glorot range for
    sigmoid units, as in the deeplearning.net RBM tutorial: large enough to break the symmetry
    between hidden units quickly on small data sets), biases at 0."""

    _device_ok = False

    _param_names = ("w", "b", "c")

    def __init__(self, n_visible, n_hidden, *, dtype=np.float32, seed=None):
        self.n_visible = size_arg("RBM", "n_visible", n_visible)
        self.n_hidden = size_arg("RBM", "n_hidden", n_hidden)
        dtype = check_dtype("RBM", dtype)
        rng = init_rng(seed)
        bound = 4.0 * math.sqrt(6.0 / (self.n_visible + self.n_hidden))
        self.w = Parameter(uniform_init(rng, (self.n_hidden, self.n_visible), bound, dtype), "w")
        self.b = Parameter(np.zeros(self.n_visible, dtype), "b")
        self.c = Parameter(np.zeros(self.n_hidden, dtype), "c")

    def get_config(self):
        return {"n_visible": self.n_visible, "n_hidden": self.n_hidden, "dtype": str(self.w.data.dtype)}

    def _visible(self, where, v, check_range=True):
        v = _data(where, v, self.w.data.dtype, check_range)
        if v.shape[1] != self.n_visible:
            raise ValueError(f"{where}: x must have {self.n_visible} visible units per row, got shape {v.shape}")
        return v

    def hidden_probs(self, v):
        """P(h = 1 | v), (N, n_hidden)."""
        v = self._visible("RBM.hidden_probs", v)
        be = _tensor.backend()
        return be.impl.rbm_hidden_probs(_tensor.contiguous(be, v), self.w.data, self.c.data)

    transform = hidden_probs
    forward = hidden_probs

    def visible_probs(self, h):
        """P(v = 1 | h), (N, n_visible)."""
        if not isinstance(h, np.ndarray) or h.ndim != 2 or h.shape[1] != self.n_hidden:
            raise ValueError(f"RBM.visible_probs: h must be (N, {self.n_hidden})")
        be = _tensor.backend()
        h = _tensor.contiguous(be, h.astype(self.w.data.dtype, copy=False))
        return be.impl.rbm_visible_probs(h, self.w.data, self.b.data)

    def reconstruct(self, v):
        """Mean-field reconstruction P(v | P(h | v))."""
        return self.visible_probs(self.hidden_probs(v))

    def fit(self, x, epochs, batch_size, k=1, persistent=False, lr=0.1, seed=0, momentum=0.5,
            weight_decay=0.0, progress=False):
        """CD-k (or persistent CD-k) gradient ascent on the log-likelihood of ``x`` (N, n_visible),
        values in [0, 1]; mini-batches of ``batch_size`` in a seeded random order each epoch.
        Returns ``{"reconstruction_error": [per epoch, the mean squared error of the mean-field
        reconstruction of (the first 1024 rows of) x]}``."""
        where = "RBM.fit"
        x = self._visible(where, x, check_range=False)  # checked below (by the fused epoch if it runs)
        epochs = size_arg(where, "epochs", epochs, minimum=0)
        batch_size = size_arg(where, "batch_size", batch_size)
        k = size_arg(where, "k", k)
        seed = _random.check_seed(where, "seed", seed)
        lr, momentum, weight_decay = float(lr), float(momentum), float(weight_decay)
        if not (lr > 0 and 0 <= momentum < 1 and weight_decay >= 0):
            raise ValueError(f"{where}: need lr > 0, 0 <= momentum < 1 and weight_decay >= 0, "
                             f"got lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        be = _tensor.backend()
        w, b, c = self.w, self.b, self.c
        # (only with momentum: right after an epoch's native call three zeroed copies of the
        # parameters cost about 0.4 ms, 1% of an MNIST-sized epoch)
        velocity = [np.zeros_like(p.data) for p in (w, b, c)] if momentum else [None, None, None]
        fused = self._fused_epoch(be, x, velocity)
        if fused is None or epochs == 0:
            _check_range(where, x)
        else:
            x = np.ascontiguousarray(x)
        order_rng = np.random.default_rng(seed)
        counter = 0
        chain = None
        if persistent:
            start = x[order_rng.permutation(len(x))[: min(batch_size, len(x))]]
            chain = _random.bernoulli(np.ascontiguousarray(start), seed, counter)
            counter += 1
        history = {"reconstruction_error": []}
        bar = _bar(epochs, progress, "RBM")
        for epoch in range(epochs):
            order = order_rng.permutation(len(x))
            probe = min(len(x), 1024)
            if fused is not None:
                # the whole epoch in one native call (float32 on the cpu backend): with AVX-512 and
                # AMX the fused epoch, the same mini-batches, counters, draws and update as
                # _epoch_loop, with w kept in the kernels' own layouts between mini-batches
                # (csrc/rbm_epoch_amx.cpp); elsewhere rbm_fit_loop, _epoch_loop itself in C++ (the
                # same bits); the first epoch also checks the data (and changes nothing if it
                # fails), and each returns the reconstruction error below
                try:
                    error = fused(x, order, w.data, b.data, c.data, velocity=tuple(velocity) if momentum else None,
                                  batch_size=batch_size, k=k, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                  seed=seed, counter=counter % 2**64, chain=chain,
                                  grads=(w.grad, b.grad, c.grad) if epoch == epochs - 1 else None, check=epoch == 0,
                                  probe=probe)
                except ValueError:
                    _check_range(where, x)  # raises the message of the loop's path
                    raise
                counter += -(-len(x) // batch_size) * (2 * k + 1)
                history["reconstruction_error"].append(error)
            else:
                counter = self._epoch_loop(be, x, order, batch_size, k, lr, momentum, weight_decay, seed, counter,
                                           chain, velocity, last=epoch == epochs - 1)
                rows = _tensor.contiguous(be, x[:probe])
                rec = be.impl.rbm_visible_probs(be.impl.rbm_hidden_probs(rows, w.data, c.data), w.data, b.data)
                rec -= rows
                history["reconstruction_error"].append(float(np.square(rec, out=rec).mean()))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return history

    def _epoch_loop(self, be, x, order, batch_size, k, lr, momentum, weight_decay, seed, counter, chain, velocity,
                    last):
        """One epoch of fit as a loop of ``rbm_cd`` calls; returns the next counter."""
        w, b, c = self.w, self.b, self.c
        for start in range(0, len(x), batch_size):
            v0 = _tensor.contiguous(be, x[order[start:start + batch_size]])
            ch = None if chain is None else chain[: len(v0)]
            dw, db, dc, chain_out = be.impl.rbm_cd(v0, w.data, b.data, c.data, k, seed=seed, counter=counter, chain=ch)
            counter += 2 * k + 1
            if chain is not None:
                chain[: len(v0)] = chain_out
            # gradient ascent; the last mini-batch's grads are left in .grad (ascent direction) for
            # inspection
            if last and start + batch_size >= len(x):
                w.grad[...], b.grad[...], c.grad[...] = dw, db, dc
            if weight_decay:
                dw = dw - weight_decay * w.data
            # NOTE: in place on the fresh arrays rbm_cd returned, no temporaries (the same
            # arithmetic as vel = momentum * vel + lr * d): on the MNIST-sized layer the update's
            # allocations and extra passes cost a third of the epoch.
            for p, d, vel in zip((w, b, c), (dw, db, dc), velocity):
                d *= lr
                if momentum:
                    vel *= momentum
                    vel += d
                    p.data += vel
                else:
                    p.data += d
        return counter

    def _fused_epoch(self, be, x, velocity):
        """The backend's one-call epoch when it takes these arrays, else None: ``rbm_fit_epoch`` (the
        AMX epoch) where this CPU has it, else ``rbm_fit_loop`` (this class's loop of rbm_cd calls,
        _epoch_loop, in one native call: the same bits without the Python around each mini-batch)."""
        fused = getattr(be.impl, "rbm_fit_epoch", None)
        if fused is None or not be.impl.rbm_fit_epoch_supported():
            fused = getattr(be.impl, "rbm_fit_loop", None)
        if fused is None:
            return None
        arrays = [self.w.data, self.b.data, self.c.data, self.w.grad, self.b.grad, self.c.grad,
                  *(v for v in velocity if v is not None)]
        if x.dtype != np.float32 or not all(isinstance(a, np.ndarray) and a.dtype == np.float32 and a.flags.c_contiguous
                                            and a.flags.writeable for a in arrays):
            return None
        return fused

    def free_energy(self, v):
        """``F(v) = -v @ b - sum_j softplus(c_j + w_j @ v)`` per row, (N,), in float64."""
        v = self._visible("RBM.free_energy", v).astype(np.float64)
        w, b, c = (p.data.astype(np.float64) for p in (self.w, self.b, self.c))
        return -(v @ b) - np.logaddexp(0.0, v @ w.T + c).sum(axis=1)

    def log_partition(self):
        """Exact ``log Z`` by enumerating every state of the smaller layer (float64).  ValueError when
        that layer has more than MAX_ENUMERATED_UNITS units."""
        small = min(self.n_visible, self.n_hidden)
        if small > MAX_ENUMERATED_UNITS:
            raise ValueError(
                f"RBM.log_partition: exact enumeration needs 2**{small} states (the smaller layer has "
                f"{small} units); it is limited to layers of at most {MAX_ENUMERATED_UNITS} units")
        w, b, c = (p.data.astype(np.float64) for p in (self.w, self.b, self.c))
        if self.n_hidden <= self.n_visible:
            # sum over h of exp(h @ c) * prod_i (1 + exp(b_i + (h @ w)_i))
            bias_small, bias_big, weights = c, b, w
        else:
            bias_small, bias_big, weights = b, c, w.T
        total = None
        chunk = 1 << min(small, 16)
        for first in range(0, 1 << small, chunk):
            codes = np.arange(first, first + chunk, dtype=np.int64)
            states = ((codes[:, None] >> np.arange(small)) & 1).astype(np.float64)
            terms = states @ bias_small + np.logaddexp(0.0, states @ weights + bias_big).sum(axis=1)
            part = np.logaddexp.reduce(terms)
            total = part if total is None else np.logaddexp(total, part)
        return float(total)

    def log_likelihood(self, v):
        """Mean ``log P(v)`` over the rows of ``v`` (exact; small models only, see log_partition)."""
        return float(np.mean(-self.free_energy(v))) - self.log_partition()


@register
class DBN(Module):
    """Deep belief network: a stack of RBMs ``sizes[0] → sizes[1] → ...`` trained greedily, then
    unrolled into a sigmoid classifier to fine-tune."""

    _device_ok = False

    def __init__(self, sizes, *, dtype=np.float32, seed=None):
        if not isinstance(sizes, (list, tuple)) or len(sizes) < 2:
            raise ValueError(f"DBN: sizes must be a list of at least 2 layer sizes, got {sizes!r}")
        sizes = [size_arg("DBN", "sizes", s) for s in sizes]
        rng = init_rng(seed)
        self.sizes = sizes
        self.rbms = [RBM(a, b, dtype=dtype, seed=int(rng.integers(2**31))) for a, b in zip(sizes, sizes[1:])]

    def children(self):
        return self.rbms

    def get_config(self):
        return {"sizes": list(self.sizes), "dtype": str(self.rbms[0].w.data.dtype)}

    def forward(self, x):
        """Hidden probabilities of the top layer (each RBM's P(h | v) fed to the next)."""
        for rbm in self.rbms:
            x = rbm.hidden_probs(x)
        return x

    def pretrain(self, x, epochs, batch_size, k=1, lr=0.1, seed=0, persistent=False, momentum=0.5,
                 weight_decay=0.0, progress=False):
        """Greedy layer-wise training: RBM i learns the hidden probabilities of RBM i-1.
        Returns one history per RBM."""
        histories = []
        for i, rbm in enumerate(self.rbms):
            histories.append(rbm.fit(x, epochs, batch_size, k=k, persistent=persistent, lr=lr,
                                     seed=seed + i, momentum=momentum, weight_decay=weight_decay,
                                     progress=progress))
            x = rbm.hidden_probs(x)
        return histories

    def to_classifier(self, n_classes, seed=None):
        """A Sequential of Linear + Sigmoid per RBM (weights ``w``, bias ``c``, copied) and a new
        Linear output layer of ``n_classes`` logits (for SoftmaxCrossEntropy)."""
        from pykernels.nn.activation import Sigmoid
        from pykernels.nn.linear import Linear
        from pykernels.nn.module import Sequential

        n_classes = size_arg("DBN.to_classifier", "n_classes", n_classes)
        dtype = self.rbms[0].w.data.dtype
        layers = []
        for rbm in self.rbms:
            lin = Linear(rbm.n_visible, rbm.n_hidden, dtype=dtype, seed=0)
            lin.weight.data[...] = rbm.w.data
            lin.bias.data[...] = rbm.c.data
            layers += [lin, Sigmoid()]
        layers.append(Linear(self.sizes[-1], n_classes, dtype=dtype, seed=seed))
        return Sequential(*layers)


def _bar(total, enabled, desc):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False)
