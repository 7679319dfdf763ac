"""gemm on the CUDA backends (kernel: cuda/gemm.cu).  Arguments are validated by pykernels/ops/gemm.py."""

OPS = ("gemm",)


def gemm(rt, a, b, c=None, *, alpha=1.0, beta=0.0, trans_a=False, trans_b=False):
    with rt.call(a, b, c) as call:
        ad = call.input(a, "gemm: argument 'a'")
        bd = call.input(b, "gemm: argument 'b'")
        m, k = ad.shape[::-1] if trans_a else ad.shape
        n = bd.shape[0] if trans_b else bd.shape[1]
        out = call.empty((m, n), ad.dtype)
        use_c = c is not None and beta != 0.0
        if use_c and out.nbytes:
            cd = call.input(c, "gemm: argument 'c'")
            rt.native.memcpy_dtod(out.ptr, cd.ptr, out.nbytes)
        rt.native.gemm(ad.dtype.char, bool(trans_a), bool(trans_b), m, n, k, float(alpha), ad.ptr, ad.shape[1], bd.ptr,
                       bd.shape[1], float(beta) if use_c else 0.0, out.ptr, n)
        return call.result(out)
