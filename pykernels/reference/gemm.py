"""GEMM reference."""
import numpy as np

__all__ = ["gemm"]


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    """General matrix multiply: ``alpha * op(a) @ op(b) + beta * c``.

    ``op(m)`` is ``m.T`` when its flag is set.  Shapes: ``op(a)`` (M, K), ``op(b)`` (K, N), ``c`` (M, N).
    Returns a new (M, N) array of the inputs' dtype; ``c`` is read, never written.
    As in BLAS, ``beta == 0`` (or ``c is None``) means ``c`` is not read, so NaN in ``c`` does not
    reach the result.  ``alpha`` and ``beta`` are rounded to the dtype before use.
    """
    dtype = a.dtype
    opa = a.T if trans_a else a
    opb = b.T if trans_b else b
    out = np.matmul(opa, opb)
    if alpha != 1.0:
        out *= dtype.type(alpha)
    if c is not None and beta != 0.0:
        out += dtype.type(beta) * c
    return out
