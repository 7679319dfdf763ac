"""Benchmark cases: one epoch of RBM training by CD-1 over binary, MNIST-sized data: image-like
(as sparse as binarised MNIST, its pixels on in the middle) and uniform (every pixel on with
probability 1/2: no unit is rare, the hardest case for kernels that skip the units off)."""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case

_LR = 0.05


def _make(n, nv, nh, batch, kind="images"):
    def make():
        rng = np.random.default_rng(0)
        if kind == "images":
            # binary "images": each pixel on with its own probability (0.6 in the middle, falling to 0
            # at half the width's distance: the corners always off), 15% of the pixels on overall and
            # most pixels on in some image of a batch, as in MNIST binarised at 1/2 (13%)
            side = int(np.sqrt(nv))
            yy, xx = np.mgrid[:side, :side] / max(side - 1, 1) - 0.5
            p = np.resize(np.clip(0.6 - 1.2 * np.sqrt(yy**2 + xx**2), 0, 1).ravel(), nv)
        else:
            p = np.full(nv, 0.5)
        data = (rng.random((n, nv)) < p).astype(np.float32)
        return {
            "data": data,
            "batch": batch,
            "w": (rng.standard_normal((nh, nv)) * 0.01).astype(np.float32),
            "b": np.zeros(nv, np.float32),
            "c": np.zeros(nh, np.float32),
        }
    return make


def _ours(inp, backend):
    w, b, c = inp["w"].copy(), inp["b"].copy(), inp["c"].copy()
    data, batch = inp["data"], inp["batch"]
    counter = 0
    for start in range(0, len(data), batch):
        dw, db, dc, _ = pykernels.rbm_cd(data[start:start + batch], w, b, c, 1, seed=0, counter=counter,
                                         backend=backend)
        counter += 3  # 2k + 1 counters per mini-batch
        w += _LR * dw
        b += _LR * db
        c += _LR * dc
    return w, b, c


def _ours_fit(inp, backend, persistent=False):
    """The same epoch through the layer API: nn.RBM.fit (its batches in a seeded random order, plain
    gradient ascent like scikit-learn's), from the same initial weights; ``persistent``: PCD-1, the
    negative phase from a persistent chain, the algorithm of scikit-learn's own loop (its chain is
    the hidden sample drawn with the weights before the update; ours is the visible sample, whose
    hidden sums each mini-batch takes with the updated weights: one product more)."""
    from pykernels import nn

    nh, nv = inp["w"].shape
    with pykernels.use_backend(backend):
        rbm = nn.RBM(nv, nh, seed=0)
        rbm.w.data[...], rbm.b.data[...], rbm.c.data[...] = inp["w"], inp["b"], inp["c"]
        rbm.fit(inp["data"], 1, inp["batch"], lr=_LR, momentum=0.0, persistent=persistent)
    return rbm.w.data, rbm.b.data, rbm.c.data


def _ours_fit_persistent(inp, backend):
    return _ours_fit(inp, backend, persistent=True)


def _sklearn(inp):
    """One epoch of scikit-learn's own loop: ``fit`` with ``n_iter=1`` (the same mini-batches in
    order; a loop of ``partial_fit`` calls would be about 1.6x slower, each call validating its
    input again)."""
    from sklearn.neural_network import BernoulliRBM

    data, batch = inp["data"], inp["batch"]
    rbm = BernoulliRBM(n_components=inp["w"].shape[0], learning_rate=_LR, batch_size=batch, n_iter=1, random_state=0)
    rbm.fit(data)
    return rbm.components_, rbm.intercept_visible_, rbm.intercept_hidden_


def _check(got, want):
    """After 100 updates, float32 runs on two backends may part where one unit's draw flipped on a
    last-bit difference of its probability (see tests/test_rbm.py); such a flip moves a few weights
    by about lr / batch, so compare the bulk tightly and single entries loosely."""
    for g, r in zip(got, want):
        g, r = np.asarray(g, np.float64), np.asarray(r, np.float64)
        assert np.mean(np.abs(g - r)) < 1e-4, "mean difference from the reference too large"
        np.testing.assert_allclose(g, r, rtol=0, atol=0.05)


def cases(quick=False):
    n, nv, nh, batch = (2000, 784, 256, 100) if quick else (10000, 784, 256, 100)
    shape = f"{n}x{nv} -> {nh}, batch {batch} f32"
    return [
        Case(group="rbm", name=f"rbm CD-1 epoch {shape}, images", make=_make(n, nv, nh, batch), ours=_ours,
             peers={"sklearn": _sklearn}, check=_check, goals={"sklearn": 10.0}),
        Case(group="rbm", name=f"rbm CD-1 epoch by nn.RBM.fit {shape}, images", make=_make(n, nv, nh, batch),
             ours=_ours_fit, peers={"sklearn": _sklearn}, check=_check, goals={"sklearn": 10.0}),
        Case(group="rbm", name=f"rbm CD-1 epoch by nn.RBM.fit {shape}, uniform", make=_make(n, nv, nh, batch, "uniform"),
             ours=_ours_fit, peers={"sklearn": _sklearn}, check=_check, goals={"sklearn": 10.0}),
        # (no goal: the performance issue's row is CD-1; this one is the like-for-like algorithm)
        Case(group="rbm", name=f"rbm PCD-1 epoch by nn.RBM.fit {shape}, images", make=_make(n, nv, nh, batch),
             ours=_ours_fit_persistent, peers={"sklearn": _sklearn}, check=_check),
    ]
