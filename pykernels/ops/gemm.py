"""gemm: dispatch and validation.  Math: pykernels/reference/gemm.py."""
import numpy as np

from pykernels import _backend
from pykernels.ops import checks

__all__ = ["gemm"]

_FLOAT_DTYPES = frozenset(checks.FLOAT_DTYPES)


def _row_major(m, trans):
    """A Fortran-ordered matrix is the transpose of a C-ordered one: pass that and flip the flag,
    so compiled kernels read it in place instead of copying it."""
    if not m.flags.c_contiguous and m.flags.f_contiguous:
        return m.T, not trans
    return m, trans


# Backend objects by explicit name. _backend.resolve(name) always returns the same object for a
# name once it has resolved (its own cache), so keeping it here only skips a lock and a name check
# per call, which is a tenth of a 128x64x10 product.
_resolved = {}


def _resolve(backend):
    be = _resolved.get(backend) if type(backend) is str else None
    if be is None:
        be = _backend.resolve(backend)
        if type(backend) is str:
            _resolved[backend] = be
    return be


# The compiled entry point for the plain product (see gemm below) by backend name, None for the
# backends without one; filled on first use of a name that resolves.
_fast = {}


def _fast_entry(name):
    try:
        return _fast[name]
    except (KeyError, TypeError):  # TypeError: an unhashable backend argument
        pass
    if type(name) is not str:
        return None
    try:
        be = _resolve(name)
    except (TypeError, ValueError, RuntimeError):
        return None  # the full path raises it, after the argument checks, as it always has
    fn = getattr(be.impl, "gemm_fast", None) if be.name == "cpu" else None
    _fast[name] = fn
    return fn


def _validate(a, b, c, alpha, beta, trans_a, trans_b):
    """The full checks, with messages (checks.py); returns a, b, c (device arrays as DeviceView),
    alpha, beta, trans_a, trans_b."""
    op = "gemm"
    a = checks.float_array(op, "a", a, ndim=2)
    b = checks.float_array(op, "b", b, ndim=2)
    if c is not None:
        c = checks.float_array(op, "c", c, ndim=2)
    checks.same_dtype(op, a=a, b=b, c=c)
    alpha = checks.real(op, "alpha", alpha)
    beta = checks.real(op, "beta", beta)
    trans_a = checks.flag(op, "trans_a", trans_a)
    trans_b = checks.flag(op, "trans_b", trans_b)
    m, k = a.shape[::-1] if trans_a else a.shape
    kb, n = b.shape[::-1] if trans_b else b.shape
    if k != kb:
        raise ValueError(
            f"gemm: inner dimensions differ: op(a) is {m}x{k} but op(b) is {kb}x{n} "
            f"(a.shape={a.shape}, trans_a={trans_a}, b.shape={b.shape}, trans_b={trans_b})"
        )
    if c is not None:
        checks.check_shape(op, "c", c, (m, n))
    return a, b, c, alpha, beta, trans_a, trans_b


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, backend=None):
    """``alpha * op(a) @ op(b) + beta * c``; see pykernels.reference.gemm."""
    # NOTE: for the small products of the networks (e.g. 128x64x10, a few microseconds) Python
    # overhead is a large share of the call. The common case (exact ndarrays, one float dtype,
    # 2-D, matching inner dimensions, Python float/int scalars, bool flags) is recognised with a
    # few cheap tests; anything else, including every error, goes through _validate.
    # The plainest call (no c, alpha 1, no transposes) on the cpu backend goes straight to a
    # compiled entry point that checks the arrays itself and returns None for anything that is not
    # an exact, C-contiguous, aligned 2-D float32/float64 pair with matching inner dimensions.
    if (
        c is None
        and trans_a is False
        and trans_b is False
        and type(alpha) is float
        and alpha == 1.0
        and type(beta) is float
    ):
        name = _backend.get_backend() if backend is None else backend
        try:
            fast = _fast[name]
        except (KeyError, TypeError):
            fast = _fast_entry(name)
        if fast is not None:
            out = fast(a, b)
            if out is not None:
                return out
    if (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.ndim == 2
        and b.ndim == 2
        and a.dtype in _FLOAT_DTYPES
        and b.dtype == a.dtype
        and (trans_a is False or trans_a is True)
        and (trans_b is False or trans_b is True)
        and (type(alpha) is float or type(alpha) is int)
        and (type(beta) is float or type(beta) is int)
        and (a.shape[0] if trans_a else a.shape[1]) == (b.shape[1] if trans_b else b.shape[0])
        and (
            c is None
            or (
                type(c) is np.ndarray
                and c.dtype == a.dtype
                and c.shape == (a.shape[1] if trans_a else a.shape[0], b.shape[0] if trans_b else b.shape[1])
            )
        )
    ):
        alpha = float(alpha)
        beta = float(beta)
    else:
        a, b, c, alpha, beta, trans_a, trans_b = _validate(a, b, c, alpha, beta, trans_a, trans_b)
        _resolve(backend).host_only(a, b, c)  # device arrays: cuda backends only
    be = _resolve(backend)
    if be.contiguous and not (
        a.flags.c_contiguous and b.flags.c_contiguous and (c is None or c.flags.c_contiguous)
        and a.flags.aligned and b.flags.aligned and (c is None or c.flags.aligned)
    ):
        a, trans_a = _row_major(a, trans_a)
        b, trans_b = _row_major(b, trans_b)
        a, b, c = be.arrays(a, b, c)
    if c is None and alpha == 1.0 and not trans_a and not trans_b:
        return be.impl.gemm(a, b)  # keywords cost a measurable share of a small call
    return be.impl.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
