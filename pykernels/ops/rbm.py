"""Binary RBM: dispatch and validation.  Math and random stream: pykernels/reference/rbm.py."""
import numpy as np

from pykernels import _backend
from pykernels.ops import checks
from pykernels.random import check_seed

__all__ = ["rbm_hidden_probs", "rbm_visible_probs", "rbm_gibbs", "rbm_cd"]


_UNUSED = object()  # a bias the op does not take (None is a user's missing bias: a TypeError)


def _machine(op, w, b=_UNUSED, c=_UNUSED, **batches):
    """Checks w (n_hidden, n_visible), the biases the op takes and the named batches, each a pair
    ``(array, "visible" | "hidden")``; returns N."""
    checks.float_array(op, "w", w, ndim=2)
    n_hidden, n_visible = w.shape
    arrays = {"w": w}
    if b is not _UNUSED:
        arrays["b"] = checks.float_array(op, "b", b, ndim=1)
    if c is not _UNUSED:
        arrays["c"] = checks.float_array(op, "c", c, ndim=1)
    for name, (x, _) in batches.items():
        arrays[name] = checks.float_array(op, name, x, ndim=2)
    checks.same_dtype(op, **arrays)
    if b is not _UNUSED:
        checks.check_shape(op, "b", b, (n_visible,))
    if c is not _UNUSED:
        checks.check_shape(op, "c", c, (n_hidden,))
    n = None
    for name, (x, layer) in batches.items():
        checks.check_shape(op, name, x, (n, n_visible if layer == "visible" else n_hidden))
        n = x.shape[0]
    return n


def rbm_hidden_probs(v, w, c, *, backend=None):
    """``P(h=1 | v) = sigmoid(v @ w.T + c)``, (N, n_hidden); see pykernels.reference.rbm."""
    _machine("rbm_hidden_probs", w, c=c, v=(v, "visible"))
    be = _backend.resolve(backend)
    return be.impl.rbm_hidden_probs(*be.arrays(v, w, c))


def rbm_visible_probs(h, w, b, *, backend=None):
    """``P(v=1 | h) = sigmoid(h @ w + b)``, (N, n_visible)."""
    _machine("rbm_visible_probs", w, b=b, h=(h, "hidden"))
    be = _backend.resolve(backend)
    return be.impl.rbm_visible_probs(*be.arrays(h, w, b))


def _draws(op, k, seed, counter):
    return checks.integer(op, "k", k, minimum=0), check_seed(op, "seed", seed), check_seed(op, "counter", counter)


def rbm_gibbs(v0, w, b, c, k=1, *, seed, counter=0, backend=None):
    """``(vk, hk)``: k Gibbs steps from ``v0`` with counters ``counter .. counter + 2k`` of the
    ``seed`` stream; see pykernels.reference.rbm_gibbs."""
    op = "rbm_gibbs"
    _machine(op, w, b, c, v0=(v0, "visible"))
    k, seed, counter = _draws(op, k, seed, counter)
    be = _backend.resolve(backend)
    v0, w, b, c = be.arrays(v0, w, b, c)
    return be.impl.rbm_gibbs(v0, w, b, c, k, seed=seed, counter=counter)


def rbm_cd(v0, w, b, c, k=1, *, seed, counter=0, chain=None, backend=None):
    """``(dw, db, dc, chain_out)``: the CD-k ascent direction averaged over the batch; with ``chain``
    (binary (N, n_visible)) persistent CD.  Uses counters ``counter .. counter + 2k - 1``; advance
    the counter by ``2k + 1`` per mini-batch.  See pykernels.reference.rbm_cd."""
    op = "rbm_cd"
    if chain is None:
        n = _machine(op, w, b, c, v0=(v0, "visible"))
    else:
        n = _machine(op, w, b, c, v0=(v0, "visible"), chain=(chain, "visible"))
        # Cheap next to the products: one pass over (N, n_visible) (a device array's values are
        # read on the host).
        values = chain
        if not isinstance(chain, np.ndarray):
            values = checks._device_to_host(op, "chain", checks.device_view(op, "chain", chain))
        if ((values != 0) & (values != 1)).any():
            bad = values[(values != 0) & (values != 1)][0]
            raise ValueError(f"{op}: argument 'chain' must hold only 0 and 1 (binary units), got {float(bad)}")
    if n == 0:
        raise ValueError(f"{op}: the statistics average over the batch, which is empty (N = 0)")
    k, seed, counter = _draws(op, k, seed, counter)
    be = _backend.resolve(backend)
    v0, w, b, c, chain = be.arrays(v0, w, b, c, chain)
    return be.impl.rbm_cd(v0, w, b, c, k, seed=seed, counter=counter, chain=chain)

