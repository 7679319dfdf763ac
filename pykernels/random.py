"""Counter-based random numbers: the Philox4x32-10 stream every backend draws from.

A counter-based generator is a pure function of (key, counter): no state is carried between calls,
so the NumPy reference, the C++ kernels and the CUDA kernels produce bit-identical numbers for the
same ``(seed, counter)`` in any order and on any number of threads.  The generator is Philox4x32-10
of Salmon, Moraes, Dror and Shaw, "Parallel random numbers: as easy as 1, 2, 3" (SC11), checked
against the Random123 known-answer vectors; csrc/common/philox.h is the same function for C++/CUDA.

Mapping of a draw ``uniform(shape, seed, counter)`` onto Philox:
- ``seed`` and ``counter`` are ints in [0, 2**64).
- key = ``(seed & 0xffffffff, seed >> 32)``.
- Element ``i`` of the output (row-major, i.e. C order) uses the Philox block counter
  ``(j & 0xffffffff, j >> 32, counter & 0xffffffff, counter >> 32)`` with ``j = i // 4``, and takes
  output word ``i % 4`` of that block.
- ``u = (word >> 8) * 2**-24``: the top 24 bits, exactly representable in float32 (and float64),
  uniform on the grid ``{0, 2**-24, ..., 1 - 2**-24}`` in [0, 1).
- A binary unit with probability ``p`` is on exactly when ``u < p``, compared in ``p``'s dtype
  (``bernoulli``), so the chance of "on" is ``ceil(p * 2**24) / 2**24``.

Ops that draw several arrays use consecutive counters (the RBM's Gibbs step ``s`` draws the hidden
units with ``counter + 2s`` and the visible units with ``counter + 2s + 1``; see
pykernels.reference.rbm); counters are taken modulo 2**64.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

__all__ = ["philox4x32_10", "uniform", "bernoulli", "check_seed"]

_MUL = (np.uint64(0xD2511F53), np.uint64(0xCD9E8D57))
_WEYL = (0x9E3779B9, 0xBB67AE85)
_MASK32 = 0xFFFFFFFF
_U64_LIMIT = 1 << 64
_SCALE24 = 2.0**-24


def check_seed(op, name, value):
    """``value`` as a Python int in [0, 2**64): TypeError for non-integers (bool included),
    ValueError when out of range."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{op}: argument '{name}' must be an int in [0, 2**64), got {type(value).__name__}")
    value = operator.index(value)
    if not 0 <= value < _U64_LIMIT:
        raise ValueError(f"{op}: argument '{name}' must be in [0, 2**64), got {value}")
    return value


def philox4x32_10(counter, key):
    """The raw Philox4x32-10 bijection.

    ``counter``: four uint32 arrays (or ints) of one shape, the words c0..c3; ``key``: two ints.
    Returns the four output words as uint32 arrays of that shape.
    """
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = (int(k) & _MASK32 for k in key)
    for rnd in range(10):
        if rnd:
            k0 = (k0 + _WEYL[0]) & _MASK32
            k1 = (k1 + _WEYL[1]) & _MASK32
        p0 = _MUL[0] * c0  # a 32x32-bit product always fits in uint64
        p1 = _MUL[1] * c2
        c0, c1, c2, c3 = (
            (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0),
            p1 & np.uint64(_MASK32),
            (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1),
            p0 & np.uint64(_MASK32),
        )
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def _shape(op, shape):
    if isinstance(shape, (numbers.Integral, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: argument 'shape' must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: argument 'shape' must not have negative sizes, got {shape}")
    return shape


def _words(n, seed, counter):
    """The first ``n`` words of the (seed, counter) stream as uint32, element i = word i."""
    blocks = np.arange(-(-n // 4), dtype=np.uint64)
    counter_words = (
        blocks & np.uint64(_MASK32),
        blocks >> np.uint64(32),
        np.full(blocks.shape, counter & _MASK32, dtype=np.uint64),
        np.full(blocks.shape, counter >> 32, dtype=np.uint64),
    )
    out = philox4x32_10(counter_words, (seed & _MASK32, seed >> 32))
    return np.stack(out, axis=1).reshape(-1)[:n]


def uniform(shape, seed, counter=0, dtype=np.float32):
    """Uniforms in [0, 1) on the 2**-24 grid, drawn from the ``(seed, counter)`` stream (module
    docstring); an array of ``shape`` and ``dtype`` (float32 or float64: the same values)."""
    op = "uniform"
    shape = _shape(op, shape)
    seed = check_seed(op, "seed", seed)
    counter = check_seed(op, "counter", counter)
    dtype = np.dtype(dtype)
    if dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"{op}: argument 'dtype' must be float32 or float64, got {dtype}")
    n = int(np.prod(shape, dtype=np.int64))
    words = _words(n, seed, counter)
    return ((words >> np.uint32(8)).astype(dtype) * dtype.type(_SCALE24)).reshape(shape)


def bernoulli(p, seed, counter=0):
    """Binary samples of ``p``'s shape and dtype: 1 exactly where ``uniform < p`` (in p's dtype)."""
    u = uniform(p.shape, seed, counter % _U64_LIMIT, p.dtype)
    return (u < p).astype(p.dtype)
