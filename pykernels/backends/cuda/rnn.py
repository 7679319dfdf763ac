"""rnn_forward and rnn_backward on the CUDA backends (kernels: cuda/rnn.cu).  Arguments are validated
by pykernels/ops/rnn.py; ``truncate=None`` (exact BPTT) goes to the kernel as -1."""

OPS = ("rnn_forward", "rnn_backward")


def rnn_forward(rt, x, h0, w_ih, w_hh, b):
    op = "rnn_forward"
    with rt.call(x, h0, w_ih, w_hh, b) as call:
        xd = call.input(x, f"{op}: argument 'x'")
        h0d = call.input(h0, f"{op}: argument 'h0'")
        wih = call.input(w_ih, f"{op}: argument 'w_ih'")
        whh = call.input(w_hh, f"{op}: argument 'w_hh'")
        bd = call.input(b, f"{op}: argument 'b'")
        steps, n, n_in = xd.shape
        hidden = whh.shape[0]
        hs = call.empty((steps, n, hidden), xd.dtype)
        rt.native.rnn_forward(xd.dtype.char, xd.ptr, h0d.ptr, wih.ptr, whh.ptr, bd.ptr, hs.ptr, steps, n, n_in, hidden)
        return call.result(hs)


def rnn_backward(rt, dhs, x, hs, h0, w_ih, w_hh, *, truncate=None):
    op = "rnn_backward"
    with rt.call(dhs, x, hs, h0, w_ih, w_hh) as call:
        dhsd = call.input(dhs, f"{op}: argument 'dhs'")
        xd = call.input(x, f"{op}: argument 'x'")
        hsd = call.input(hs, f"{op}: argument 'hs'")
        h0d = call.input(h0, f"{op}: argument 'h0'")
        wih = call.input(w_ih, f"{op}: argument 'w_ih'")
        whh = call.input(w_hh, f"{op}: argument 'w_hh'")
        steps, n, n_in = xd.shape
        hidden = whh.shape[0]
        dx = call.empty(xd.shape, xd.dtype)
        dh0 = call.empty(h0d.shape, xd.dtype)
        dw_ih = call.empty(wih.shape, xd.dtype)
        dw_hh = call.empty(whh.shape, xd.dtype)
        db = call.empty((hidden,), xd.dtype)
        rt.native.rnn_backward(xd.dtype.char, dhsd.ptr, xd.ptr, hsd.ptr, h0d.ptr, wih.ptr, whh.ptr,
                               -1 if truncate is None else int(truncate), dx.ptr, dh0.ptr, dw_ih.ptr, dw_hh.ptr, db.ptr,
                               steps, n, n_in, hidden)
        return tuple(call.result(a) for a in (dx, dh0, dw_ih, dw_hh, db))
