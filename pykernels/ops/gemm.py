"""gemm: dispatch and validation.  Math: pykernels/reference/gemm.py."""
from pykernels import _backend
from pykernels.ops import checks

__all__ = ["gemm"]


def _row_major(m, trans):
    """A Fortran-ordered matrix is the transpose of a C-ordered one: pass that and flip the flag,
    so compiled kernels read it in place instead of copying it."""
    if not m.flags.c_contiguous and m.flags.f_contiguous:
        return m.T, not trans
    return m, trans


def gemm(a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False, backend=None):
    """``alpha * op(a) @ op(b) + beta * c``; see pykernels.reference.gemm."""
    op = "gemm"
    checks.float_array(op, "a", a, ndim=2)
    checks.float_array(op, "b", b, ndim=2)
    if c is not None:
        checks.float_array(op, "c", c, ndim=2)
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
    be = _backend.resolve(backend)
    if be.contiguous:
        a, trans_a = _row_major(a, trans_a)
        b, trans_b = _row_major(b, trans_b)
        a, b, c = be.arrays(a, b, c)
    return be.impl.gemm(a, b, c, alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)
