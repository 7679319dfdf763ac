"""Argument validation shared by every op and backend.

Errors are raised here, once, before any backend runs (STYLE.md principle 5).  Every message names
the op, the argument, what was expected and what came.
"""
from __future__ import annotations

import numbers
import operator

import numpy as np

from pykernels.backends.device import DeviceView, is_device_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _describe(x):
    if isinstance(x, np.ndarray):
        return f"ndarray of dtype {x.dtype} and shape {x.shape}"
    return type(x).__name__


def device_view(op, name, x):
    """The DeviceView of a device array argument (``__cuda_array_interface__``); only the cuda
    backends accept them, the others raise TypeError when they receive one."""
    try:
        return DeviceView.of(x)
    except TypeError as exc:
        raise TypeError(f"{op}: argument '{name}': {exc}") from None


def float_array(op, name, x, *, ndim=None, min_ndim=None):
    """``x`` as a float32/float64 ndarray (or DeviceView of a device array) of the given rank
    (TypeError / ValueError otherwise)."""
    if not isinstance(x, np.ndarray):
        if not is_device_array(x):
            raise TypeError(
                f"{op}: argument '{name}' must be a numpy.ndarray of float32 or float64, got {_describe(x)}")
        x = device_view(op, name, x)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{op}: argument '{name}' must have dtype float32 or float64, got {x.dtype}")
    check_ndim(op, name, x, ndim=ndim, min_ndim=min_ndim)
    return x


def _device_to_host(op, name, view):
    """Host copy of a (small) device array whose values validation must read, e.g. labels."""
    obj = view.obj
    for method in ("get", "copy_to_host"):  # DeviceArray, pycuda, CuPy / Numba
        fn = getattr(obj, method, None)
        if callable(fn):
            return np.asarray(fn())
    raise TypeError(f"{op}: argument '{name}': cannot read a {type(obj).__name__} on the host; pass a NumPy array")


def int_array(op, name, x, *, ndim=None):
    """``x`` as an int64 ndarray (any integer dtype accepted; bool, float and others are a TypeError).
    A device array of integers is copied to the host (its values are checked there)."""
    if not isinstance(x, np.ndarray) and is_device_array(x):
        view = device_view(op, name, x)
        if view.dtype.kind not in "iu":
            raise TypeError(f"{op}: argument '{name}' must have an integer dtype, got {view.dtype}")
        check_ndim(op, name, view, ndim=ndim)
        x = _device_to_host(op, name, view)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{op}: argument '{name}' must be a numpy.ndarray of integers, got {_describe(x)}")
    if x.dtype.kind not in "iu":
        raise TypeError(f"{op}: argument '{name}' must have an integer dtype, got {x.dtype}")
    check_ndim(op, name, x, ndim=ndim)
    if x.dtype.kind == "u" and x.size and int(x.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{op}: argument '{name}' has values beyond int64")
    return x.astype(np.int64, copy=False)


def check_ndim(op, name, x, *, ndim=None, min_ndim=None):
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{op}: argument '{name}' must be {ndim}-D, got {x.ndim}-D with shape {x.shape}")
    if min_ndim is not None and x.ndim < min_ndim:
        raise ValueError(f"{op}: argument '{name}' must have at least {min_ndim} dimensions, got shape {x.shape}")


def check_shape(op, name, x, expected):
    """``expected`` is a tuple whose None entries match any size."""
    expected = tuple(expected)
    ok = x.ndim == len(expected) and all(e is None or e == s for e, s in zip(expected, x.shape))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{op}: argument '{name}' must have shape {want}, got {x.shape}")


def same_dtype(op, **arrays):
    """All non-None arrays share one float dtype (mixing float32/float64 is a TypeError); returns it."""
    items = [(k, v) for k, v in arrays.items() if v is not None]
    dtype = items[0][1].dtype
    for k, v in items[1:]:
        if v.dtype != dtype:
            first = items[0][0]
            raise TypeError(
                f"{op}: arguments must share one dtype: '{first}' is {dtype} but '{k}' is {v.dtype} "
                "(cast explicitly; pykernels never casts silently)"
            )
    return dtype


# Sizes, strides and paddings must fit the kernels' int64 arithmetic with room for products.
MAX_SIZE = 2**62


def integer(op, name, value, *, minimum=None, maximum=MAX_SIZE):
    """A Python/NumPy integer (bool is rejected) in [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{op}: argument '{name}' must be an int, got {type(value).__name__}")
    value = operator.index(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{op}: argument '{name}' must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{op}: argument '{name}' must be <= {maximum}, got {value}")
    return value


def pair(op, name, value, *, minimum=None):
    """An int or an (h, w) pair of ints, as a tuple of two ints each at least ``minimum``."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: argument '{name}' must be an int or an (h, w) pair, got {value!r}")
        return tuple(integer(op, name, v, minimum=minimum) for v in value)
    v = integer(op, name, value, minimum=minimum)
    return (v, v)


def real(op, name, value):
    """A real number (int or float, not bool) as a Python float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{op}: argument '{name}' must be a real number, got {type(value).__name__}")
    return float(value)


def flag(op, name, value):
    """A bool (or NumPy bool)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: argument '{name}' must be a bool, got {type(value).__name__}")
    return bool(value)


def choice(op, name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{op}: argument '{name}' must be one of {list(options)}, got {value!r}")
    return value


def labels_in_range(op, name, labels, k):
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        bad = labels[(labels < 0) | (labels >= k)][0]
        raise ValueError(f"{op}: argument '{name}' holds label {int(bad)} outside [0, {k})")
