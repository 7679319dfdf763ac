"""RBM conditionals, Gibbs sampling and CD-k on the CUDA backends (kernels: cuda/rbm.cu), drawing from
the Philox stream of pykernels.random.  Arguments are validated by pykernels/ops/rbm.py.

``philox_uniform(n, seed, counter)`` (not an API op) returns the first n uniforms of a stream drawn
on the device, as the CPU backend's does, for the cross-backend stream tests.
"""
import numpy as np

OPS = ("rbm_hidden_probs", "rbm_visible_probs", "rbm_gibbs", "rbm_cd", "philox_uniform")


def rbm_hidden_probs(rt, v, w, c):
    op = "rbm_hidden_probs"
    with rt.call(v, w, c) as call:
        vd = call.input(v, f"{op}: argument 'v'")
        wd = call.input(w, f"{op}: argument 'w'")
        cd = call.input(c, f"{op}: argument 'c'")
        nh, nv = wd.shape
        ph = call.empty((vd.shape[0], nh), vd.dtype)
        rt.native.rbm_hidden_probs(vd.dtype.char, vd.ptr, wd.ptr, cd.ptr, ph.ptr, vd.shape[0], nv, nh)
        return call.result(ph)


def rbm_visible_probs(rt, h, w, b):
    op = "rbm_visible_probs"
    with rt.call(h, w, b) as call:
        hd = call.input(h, f"{op}: argument 'h'")
        wd = call.input(w, f"{op}: argument 'w'")
        bd = call.input(b, f"{op}: argument 'b'")
        nh, nv = wd.shape
        pv = call.empty((hd.shape[0], nv), hd.dtype)
        rt.native.rbm_visible_probs(hd.dtype.char, hd.ptr, wd.ptr, bd.ptr, pv.ptr, hd.shape[0], nv, nh)
        return call.result(pv)


def rbm_gibbs(rt, v0, w, b, c, k, *, seed, counter):
    op = "rbm_gibbs"
    with rt.call(v0, w, b, c) as call:
        vd = call.input(v0, f"{op}: argument 'v0'")
        wd = call.input(w, f"{op}: argument 'w'")
        bd = call.input(b, f"{op}: argument 'b'")
        cd = call.input(c, f"{op}: argument 'c'")
        n = vd.shape[0]
        nh, nv = wd.shape
        vk = call.empty((n, nv), vd.dtype)
        hk = call.empty((n, nh), vd.dtype)
        rt.native.rbm_gibbs(vd.dtype.char, vd.ptr, wd.ptr, bd.ptr, cd.ptr, int(k), int(seed), int(counter), vk.ptr,
                            hk.ptr, n, nv, nh)
        return call.result(vk), call.result(hk)


def rbm_cd(rt, v0, w, b, c, k, *, seed, counter, chain=None):
    op = "rbm_cd"
    with rt.call(v0, w, b, c, chain) as call:
        vd = call.input(v0, f"{op}: argument 'v0'")
        wd = call.input(w, f"{op}: argument 'w'")
        bd = call.input(b, f"{op}: argument 'b'")
        cd = call.input(c, f"{op}: argument 'c'")
        chd = call.input(chain, f"{op}: argument 'chain'")
        n = vd.shape[0]
        nh, nv = wd.shape
        dw = call.empty((nh, nv), vd.dtype)
        db = call.empty((nv,), vd.dtype)
        dc = call.empty((nh,), vd.dtype)
        chain_out = call.empty((n, nv), vd.dtype)
        rt.native.rbm_cd(vd.dtype.char, vd.ptr, wd.ptr, bd.ptr, cd.ptr, int(k), int(seed), int(counter),
                         0 if chd is None else chd.ptr, dw.ptr, db.ptr, dc.ptr, chain_out.ptr, n, nv, nh)
        return tuple(call.result(a) for a in (dw, db, dc, chain_out))


def philox_uniform(rt, n, seed, counter):
    out = rt.empty((n,), np.float32)
    rt.native.philox_uniform(int(seed), int(counter), out.ptr, int(n))
    return out.get()
