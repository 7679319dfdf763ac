"""Module, Parameter, Sequential and the seeded initialisation shared by the layers.

A module computes ``forward(x)`` (also ``module(x)``) and, given the upstream gradient ``dy``,
``backward(dy)`` → the gradient with respect to its input, adding the gradients of its parameters
into their ``.grad`` (``zero_grad()`` clears them).  No autograd tape: each layer keeps what its
backward pass needs from the last forward pass (named for what it holds: ``x``, ``y``, ``indices``).
"""
from __future__ import annotations

import numbers

import numpy as np

from pykernels.nn import _tensor

__all__ = ["Parameter", "Module", "Sequential", "manual_seed", "register"]

_FLOAT = (np.dtype(np.float32), np.dtype(np.float64))

# Initialisation draws from one seeded generator (PyTorch-like: a program that builds the same
# layers in the same order gets the same weights); ``seed=`` on a layer overrides it.
_init_rng = np.random.default_rng(0)


def manual_seed(seed):
    """Reseed the generator that initialises layers built without ``seed=``."""
    global _init_rng
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _init_rng = np.random.default_rng(int(seed))


def init_rng(seed=None):
    if seed is None:
        return _init_rng
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise TypeError(f"seed must be a non-negative int or None, got {seed!r}")
    return np.random.default_rng(int(seed))


def check_dtype(where, dtype):
    dtype = np.dtype(dtype)
    if dtype not in _FLOAT:
        raise TypeError(f"{where}: dtype must be float32 or float64, got {dtype}")
    return dtype


_MASK64 = (1 << 64) - 1


def _native_uniform(rng, flat, low, span):
    """The values of uniform_init's loop below from the compiled PCG64 (csrc/pcg64.cpp: several
    jumped sub-streams and threads, the same doubles and roundings), and rng advanced past them as
    rng.random would have; False (nothing drawn) without the extension or for other generators."""
    bg = rng.bit_generator
    if type(bg) is not np.random.PCG64:
        return False
    try:
        from pykernels import _cpu
    except ImportError:
        return False
    # NOTE: measured (256 x 784 float32 right after an RBM epoch): 0.66 ms for the loop below
    # (rng.random 0.53 of it), 0.24 ms here.
    with bg.lock:
        state = bg.state
        s, inc = state["state"]["state"], state["state"]["inc"]
        hi, lo = _cpu._pcg64_uniform(flat, s >> 64, s & _MASK64, inc >> 64, inc & _MASK64, low, span)
        state["state"]["state"] = (hi << 64) | lo
        bg.state = state
    return True


def uniform_init(rng, shape, bound, dtype):
    """U(-bound, bound) of ``shape`` (PyTorch's default for Linear/Conv2d/RNN with bound 1/sqrt(fan_in)):
    the values of ``rng.uniform(-bound, bound, size=shape).astype(dtype)``, drawn in chunks."""
    # NOTE: rng.uniform computes low + (high - low) * u in float64 from the generator's doubles; the
    # same operations on chunks of rng.random's doubles give the same values without a float64 array
    # of the whole shape (measured, 256 x 784 float32 right after an RBM epoch: 1.02 ms against 1.42).
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    if flat.size == 0:
        return out
    low, span = -float(bound), float(bound) - (-float(bound))
    if _native_uniform(rng, flat, low, span):
        return out
    chunk = np.empty(min(flat.size, 8192))
    for start in range(0, flat.size, chunk.size):
        part = chunk[: min(chunk.size, flat.size - start)]
        rng.random(out=part)
        part *= span
        part += low
        flat[start:start + part.size] = part
    return out


def size_arg(where, name, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{where}: argument '{name}' must be an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{where}: argument '{name}' must be >= {minimum}, got {value}")
    return int(value)


# API.md: parameters live on the active backend's device.  Layers built (or loaded) while the active
# backend is one of these start on its device; on "cuda-sim" (whose device memory is host memory: a
# test vehicle) parameters stay NumPy arrays unless to_device() is called.
AUTO_DEVICE_BACKENDS = ("cuda",)


class Parameter:
    """A trainable array ``data`` with its gradient ``grad`` (same shape and dtype) and a ``name``."""

    __slots__ = ("data", "grad", "name")

    def __init__(self, data, name):
        self.data = data
        self.grad = _tensor.zeros_like(data)
        self.name = name

    @property
    def shape(self):
        return self.data.shape

    def __repr__(self):
        return f"Parameter({self.name!r}, shape={tuple(self.data.shape)}, dtype={self.data.dtype})"


_REGISTRY: dict = {}


def register(cls):
    """Class decorator: the class can be rebuilt by ``pykernels.nn.load``."""
    _REGISTRY[cls.__name__] = cls
    return cls


class Module:
    """Base class of layers and models (see the module docstring)."""

    training = True
    _param_names: tuple = ()  # attributes holding this module's own Parameters, in order
    _device_ok = True  # False: its own training loop works on host arrays (to_device refuses it)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - abstract
        raise NotImplementedError

    def children(self):
        """Sub-modules whose parameters belong to this one."""
        return []

    def parameters(self):
        """Every Parameter of this module and its children, in a fixed order."""
        params = [getattr(self, n) for n in self._param_names]
        for child in self.children():
            params.extend(child.parameters())
        return params

    def named_parameters(self, prefix=""):
        out = [(prefix + p.name, p) for p in (getattr(self, n) for n in self._param_names)]
        for i, child in enumerate(self.children()):
            out.extend(child.named_parameters(f"{prefix}{i}."))
        return out

    def zero_grad(self):
        for p in self.parameters():
            _tensor.zero_(p.grad)

    def train(self, mode=True):
        self.training = bool(mode)
        for child in self.children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)

    @property
    def dtype(self):
        params = self.parameters()
        return params[0].data.dtype if params else None

    def astype(self, dtype):
        """Convert every parameter (and gradient) to ``dtype`` in place; returns self."""
        dtype = check_dtype(type(self).__name__ + ".astype", dtype)
        for p in self.parameters():
            if _tensor.is_device(p.data):
                rt = p.data.runtime
                p.data = rt.to_device(p.data.get().astype(dtype))
                p.grad = rt.to_device(p.grad.get().astype(dtype))
            else:
                p.data = p.data.astype(dtype)
                p.grad = p.grad.astype(dtype)
        return self

    def to_device(self, backend=None):
        """Move every parameter and gradient to the device of a cuda backend (``backend``, default the
        active one: "cuda" or "cuda-sim") as DeviceArrays; returns self.

        Training then stays there: forward/backward run on device arrays, optimizer state is kept
        beside the parameters, and a step copies only the input batch (and targets) in and the loss
        value out.  ``predict`` still returns NumPy, ``save`` downloads, ``to_host()`` moves back."""
        from pykernels import _backend

        name = _backend.get_backend() if backend is None else backend
        if name not in ("cuda", "cuda-sim"):
            raise ValueError(f"{type(self).__name__}.to_device: backend must be 'cuda' or 'cuda-sim' (the active "
                             f"backend or backend=), got {name!r}")
        stack = [self]
        while stack:
            m = stack.pop()
            if not m._device_ok:
                raise TypeError(f"{type(self).__name__}.to_device: {type(m).__name__} trains on the host only "
                                f"(its own training loop); keep it there")
            stack.extend(m.children())
        rt = _tensor.resolve(name).impl.runtime
        for p in self.parameters():
            for attr in ("data", "grad"):
                a = getattr(p, attr)
                if _tensor.is_device(a) and a.runtime is rt:
                    continue
                setattr(p, attr, rt.to_device(np.ascontiguousarray(_tensor.to_numpy(a))))
        return self

    def _place_parameters(self):
        """Called when a layer is built or loaded: under an AUTO_DEVICE_BACKENDS backend the
        parameters move to its device (models with a host-only part stay on the host); returns self."""
        from pykernels import _backend

        name = _backend.get_backend()
        if name not in AUTO_DEVICE_BACKENDS:
            return self
        stack = [self]
        while stack:
            m = stack.pop()
            if not m._device_ok:
                return self
            stack.extend(m.children())
        return self.to_device(name)

    def to_host(self):
        """Move every parameter and gradient back to NumPy arrays; returns self."""
        for p in self.parameters():
            p.data = np.ascontiguousarray(_tensor.to_numpy(p.data))
            p.grad = np.ascontiguousarray(_tensor.to_numpy(p.grad))
        return self

    @property
    def device(self):
        """The cuda backend name the parameters live on ("cuda" / "cuda-sim"), or None (host)."""
        params = self.parameters()
        if params and _tensor.is_device(params[0].data):
            return params[0].data.runtime.name
        return None

    # --- what nn.load needs to rebuild the module: constructor arguments (JSON) -------------------
    def get_config(self):
        """Constructor keyword arguments as JSON-serialisable values."""
        return {}

    def spec(self):
        return {"type": type(self).__name__, "config": self.get_config()}

    @classmethod
    def from_spec(cls, spec):
        return cls(**spec["config"])

    def save(self, path):
        """Write the model to ``path`` (.npz, atomically: a crash mid-save leaves the old file)."""
        from pykernels.nn.serialize import save

        save(self, path)

    def __repr__(self):
        cfg = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "dtype")
        return f"{type(self).__name__}({cfg})"


@register
class Sequential(Module):
    """Layers applied in order; backward runs them in reverse."""

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} must be a pykernels.nn.Module, got {type(layer).__name__}")
        self.layers = list(layers)

    def children(self):
        return self.layers

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __iter__(self):
        return iter(self.layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dy):
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def spec(self):
        return {"type": "Sequential", "config": {}, "layers": [layer.spec() for layer in self.layers]}

    @classmethod
    def from_spec(cls, spec):
        from pykernels.nn.serialize import build

        return cls(*[build(s) for s in spec["layers"]])

    def __repr__(self):
        inner = "\n".join(f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
