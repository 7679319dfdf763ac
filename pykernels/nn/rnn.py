"""Recurrent layers: RNN (vanilla tanh, time-major) and CharRNN (character language model).
Math: pykernels/reference/rnn.py."""
from __future__ import annotations

import math

import numpy as np

from pykernels.nn import _tensor
from pykernels.nn.linear import Linear, check_input
from pykernels.nn.module import Module, Parameter, check_dtype, init_rng, register, size_arg, uniform_init

__all__ = ["RNN", "CharRNN"]


@register
class RNN(Module):
    """``hs[t] = tanh(x[t] @ w_ih.T + hs[t-1] @ w_hh.T + b)``; x (T, N, I) → hs (T, N, H).

    ``forward(x, h0=None)`` (zeros by default); ``backward(dhs)`` → dx by full BPTT, or truncated
    after ``truncate`` steps; the gradient for ``h0`` is left in ``.dh0``.  Weights start
    U(-1/sqrt(H), 1/sqrt(H)) as in PyTorch.
    """

    _param_names = ("w_ih", "w_hh", "b")

    def __init__(self, input_size, hidden_size, truncate=None, *, dtype=np.float32, seed=None):
        self.input_size = size_arg("RNN", "input_size", input_size)
        self.hidden_size = size_arg("RNN", "hidden_size", hidden_size)
        if truncate is not None:
            truncate = size_arg("RNN", "truncate", truncate, minimum=0)
        self.truncate = truncate
        dtype = check_dtype("RNN", dtype)
        rng = init_rng(seed)
        bound = 1.0 / math.sqrt(self.hidden_size)
        h, i = self.hidden_size, self.input_size
        self.w_ih = Parameter(uniform_init(rng, (h, i), bound, dtype), "w_ih")
        self.w_hh = Parameter(uniform_init(rng, (h, h), bound, dtype), "w_hh")
        self.b = Parameter(uniform_init(rng, (h,), bound, dtype), "b")
        self.x = None
        self.be = None
        self.dh0 = None
        self._place_parameters()

    def get_config(self):
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "truncate": self.truncate, "dtype": str(self.w_ih.data.dtype)}

    def forward(self, x, h0=None):
        dtype = self.w_ih.data.dtype
        x = check_input("RNN", x, dtype, 3, "(T, N, input_size)")
        steps, n, size = x.shape
        if size != self.input_size or steps == 0:
            raise ValueError(f"RNN: input must have shape (T >= 1, N, {self.input_size}), got {x.shape}")
        w = self.w_ih.data
        if h0 is None:
            h0 = _tensor.zeros((n, self.hidden_size), dtype, like=w)
        else:
            h0 = check_input("RNN", h0, dtype, 2, "h0 (N, hidden_size)")
            if h0.shape != (n, self.hidden_size):
                raise ValueError(f"RNN: h0 must have shape {(n, self.hidden_size)}, got {h0.shape}")
        be = _tensor.backend(w, x)
        # a device model: the input goes over once, here
        x, h0 = _tensor.contiguous(be, _tensor.on_device_of(x, w)), _tensor.contiguous(be, _tensor.on_device_of(h0, w))
        self.hs = be.impl.rnn_forward(x, h0, self.w_ih.data, self.w_hh.data, self.b.data)
        self.x, self.h0, self.be = x, h0, be
        return self.hs

    def backward(self, dhs):
        if self.x is None:
            raise RuntimeError("RNN.backward called before forward")
        if type(dhs) is not np.ndarray or dhs.shape != self.hs.shape or dhs.dtype != self.hs.dtype:
            dhs = check_input("RNN.backward", dhs, self.hs.dtype, 3, "(T, N, hidden_size)")
            if dhs.shape != self.hs.shape:
                raise ValueError(f"RNN.backward: dhs must have shape {self.hs.shape}, got {dhs.shape}")
        be = self.be
        dx, self.dh0, dw_ih, dw_hh, db = be.impl.rnn_backward(
            _tensor.contiguous(be, dhs), self.x, self.hs, self.h0, self.w_ih.data, self.w_hh.data,
            truncate=self.truncate)
        _tensor.accumulate(self.w_ih.grad, dw_ih)
        _tensor.accumulate(self.w_hh.grad, dw_hh)
        _tensor.accumulate(self.b.grad, db)
        return dx


def _alphabet(vocab):
    if isinstance(vocab, str):
        chars = sorted(set(vocab))
    elif isinstance(vocab, (list, tuple)) and all(isinstance(c, str) and len(c) == 1 for c in vocab):
        chars = sorted(set(vocab))
    else:
        raise TypeError(f"CharRNN: vocab must be a str (its distinct characters) or a list of characters, got {type(vocab).__name__}")
    if len(chars) < 2:
        raise ValueError(f"CharRNN: vocab must hold at least 2 distinct characters, got {chars!r}")
    return "".join(chars)


@register
class CharRNN(Module):
    """Character-level language model (Karpathy's min-char-rnn): one-hot characters → RNN → Linear.

    ``vocab``: a str whose distinct characters form the alphabet (e.g. the training text).
    ``forward(indices (T, N))`` → logits (T, N, V) for the next character; ``fit(text, ...)`` trains
    on a text; ``sample(prefix, n, temperature=1.0, seed=0)`` → ``prefix`` followed by ``n``
    sampled characters.
    """

    def __init__(self, vocab, hidden_size, truncate=None, *, dtype=np.float32, seed=None):
        self.vocab = _alphabet(vocab)
        self.index = {c: i for i, c in enumerate(self.vocab)}
        size = len(self.vocab)
        rng = init_rng(seed)
        self.rnn = RNN(size, hidden_size, truncate, dtype=dtype, seed=int(rng.integers(2**31)))
        self.out = Linear(hidden_size, size, dtype=dtype, seed=int(rng.integers(2**31)))
        self.hidden_size = self.rnn.hidden_size

    def children(self):
        return [self.rnn, self.out]

    def get_config(self):
        return {"vocab": self.vocab, "hidden_size": self.hidden_size, "truncate": self.rnn.truncate,
                "dtype": str(self.rnn.w_ih.data.dtype)}

    def encode(self, text):
        """Indices of the characters of ``text`` (ValueError for characters outside the vocab)."""
        try:
            return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))
        except KeyError as exc:
            raise ValueError(f"CharRNN: character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, indices):
        return "".join(self.vocab[int(i)] for i in indices)

    def forward(self, indices, h0=None):
        """``indices``: int character indices (T, N), or their one-hot rows (T, N, V) as floats."""
        v = len(self.vocab)
        if isinstance(indices, np.ndarray) and indices.dtype.kind == "f" and indices.ndim == 3 and indices.shape[2] == v:
            x = indices
        else:
            if not isinstance(indices, np.ndarray) or indices.dtype.kind not in "iu" or indices.ndim != 2:
                raise TypeError(f"CharRNN: input must be int character indices (T, N) or one-hot rows (T, N, {v})")
            if indices.size and (indices.min() < 0 or indices.max() >= v):
                raise ValueError(f"CharRNN: character indices must lie in [0, {v})")
            x = _tensor.one_hot(indices, v, self.rnn.w_ih.data.dtype)
        hs = self.rnn.forward(x, h0)
        return self.out.forward(hs)

    def backward(self, dlogits):
        """Accumulates the parameter gradients; the input is discrete, so returns None."""
        self.rnn.backward(self.out.backward(dlogits))
        return None

    def fit(self, text, *, steps=1000, seq_length=25, batch_size=1, optimizer=None, lr=1e-2, clip=5.0,
            seed=0, progress=False, log_every=100):
        """Trains on ``text`` with truncated BPTT over windows of ``seq_length``, carrying the hidden
        state from window to window (``batch_size`` streams that start at evenly spaced offsets),
        Adam(lr) unless ``optimizer`` is given, gradients clipped elementwise to [-clip, clip].
        Returns the history: ``{"loss": [mean loss per character of each logged block of steps]}``."""
        from pykernels.nn.loss import SoftmaxCrossEntropy
        from pykernels.optim import Adam, _update

        steps = size_arg("CharRNN.fit", "steps", steps)
        seq_length = size_arg("CharRNN.fit", "seq_length", seq_length)
        batch_size = size_arg("CharRNN.fit", "batch_size", batch_size)
        data = self.encode(text)
        span = len(data) // batch_size
        if span < seq_length + 1:
            raise ValueError(f"CharRNN.fit: the text ({len(data)} characters) is too short for "
                             f"{batch_size} streams of windows of {seq_length} + 1")
        optimizer = optimizer or Adam(self.parameters(), lr=lr)
        loss_fn = SoftmaxCrossEntropy()
        rng = np.random.default_rng(seed)
        offsets = (np.arange(batch_size) * span + rng.integers(span)) % (span * batch_size)
        pos = 0
        h = None
        history = {"loss": []}
        block = []
        bar = _progress(steps, progress)
        for step in range(steps):
            if pos + seq_length + 1 > span:
                pos, h = 0, None
            idx = (offsets[None, :] + pos + np.arange(seq_length + 1)[:, None]) % len(data)
            chunk = data[idx]  # (T + 1, N)
            logits = self.forward(chunk[:-1], h)
            v = len(self.vocab)
            loss = loss_fn(_tensor.reshape(logits, (-1, v)), chunk[1:].reshape(-1))
            optimizer.zero_grad()
            self.backward(_tensor.reshape(loss_fn.backward(), logits.shape))
            if clip:
                for p in self.parameters():
                    _update.clip(p.grad, clip)
            optimizer.step()
            h = _tensor.copy(_tensor.last(self.rnn.hs))
            pos += seq_length
            block.append(loss)
            if (step + 1) % log_every == 0 or step + 1 == steps:
                history["loss"].append(float(np.mean(block)))
                block = []
                if bar is not None:
                    bar.set_postfix(loss=f"{history['loss'][-1]:.3f}")
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        return history

    def sample(self, prefix, n, temperature=1.0, seed=0):
        """``prefix`` followed by ``n`` characters drawn one at a time from softmax(logits / temperature)."""
        if not isinstance(prefix, str):
            raise TypeError(f"CharRNN.sample: prefix must be a str, got {type(prefix).__name__}")
        n = size_arg("CharRNN.sample", "n", n, minimum=0)
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
            raise ValueError(f"CharRNN.sample: temperature must be a positive number, got {temperature!r}")
        rng = np.random.default_rng(seed)
        codes = list(self.encode(prefix)) if prefix else [int(rng.integers(len(self.vocab)))]
        out = list(codes)
        h = None
        logits = _tensor.to_numpy(self.forward(np.asarray(codes, dtype=np.int64)[:, None], h))[-1, 0]
        h = _tensor.copy(_tensor.last(self.rnn.hs))
        for _ in range(n):
            z = _tensor.to_numpy(logits).astype(np.float64) / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            c = int(rng.choice(len(p), p=p))
            out.append(c)
            logits = _tensor.to_numpy(self.forward(np.array([[c]], dtype=np.int64), h))[-1, 0]
            h = _tensor.copy(_tensor.last(self.rnn.hs))
        text = self.decode(out)
        return text if prefix else text[1:]


def _progress(total, enabled):
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, leave=False)
