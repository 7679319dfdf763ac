"""The fused RBM training epoch (pykernels._cpu.rbm_fit_epoch, float32 with AVX-512 and AMX), which
nn.RBM.fit takes on the cpu backend: against the loop of rbm_cd calls it replaces (same draws, the
same update arithmetic), with its sums and dw over the units on ('sparse') and by dense tile
products ('dense', and 'auto' choosing between them), against the reference through the numpy
backend and float64, its data check, its argument errors, threads."""
import numpy as np
import pytest

import pykernels
from helpers import concurrently, cpu_setting, rbm_data as data, rbm_layer as layer
from pykernels import nn

cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
pytestmark = pytest.mark.skipif(not cpu.rbm_fit_epoch_supported(),
                                reason="the fused epoch needs AVX-512 and AMX-BF16 (the loop of rbm_cd calls runs)")


def products(value):
    """rbm_fit_epoch's hidden sums and dw ('auto', 'sparse', 'dense') for a block."""
    return cpu_setting("_rbm_epoch_products", "_set_rbm_epoch_products", value)


def fit(x, nh, *, fused, epochs=2, seed=0, **kwargs):
    """nn.RBM.fit from fixed initial weights, on the fused epoch or on the loop of rbm_cd calls (the
    'exact' visible path, whose draws are the fused epoch's, turns the fused epoch off)."""
    calls = []
    fused_epoch = cpu.rbm_fit_epoch

    def spy(*args, **kw):
        calls.append(kw["counter"])
        return fused_epoch(*args, **kw)

    def run():
        rbm = nn.RBM(x.shape[1], nh, seed=0)
        rbm.w.data[...], rbm.b.data[...], rbm.c.data[...] = layer(x.shape[1], nh, seed)
        history = rbm.fit(x, epochs, seed=seed, **kwargs)
        return rbm, history

    with pytest.MonkeyPatch.context() as mp, pykernels.use_backend("cpu"):
        mp.setattr(cpu, "rbm_fit_epoch", spy)
        if fused:
            result = run()
            assert len(calls) == epochs
        else:
            with cpu_setting("rbm_visible_path", "set_rbm_visible_path", "exact"):
                assert not cpu.rbm_fit_epoch_supported()
                result = run()
            assert not calls
    return result


def assert_same_training(a, b, *, atol=1e-5):
    (ra, ha), (rb, hb) = a, b
    for name in ("w", "b", "c"):
        pa, pb = getattr(ra, name), getattr(rb, name)
        np.testing.assert_allclose(pa.data, pb.data, rtol=0, atol=atol, err_msg=name)
        np.testing.assert_allclose(pa.grad, pb.grad, rtol=0, atol=atol, err_msg=f"{name}.grad")
    np.testing.assert_allclose(ha["reconstruction_error"], hb["reconstruction_error"], rtol=1e-5)


# (N, n_visible, n_hidden, batch): MNIST-sized columns; odd sizes (a partial tile of 16 visible
# units, hidden units not a multiple of 32, a short last mini-batch); a batch past 128 rows (two
# words of the bitmaps) and one of a single row; odd mini-batches with nv a multiple of 4 (every
# row's visible uniforms starting at a Philox block)
CASES = [(300, 784, 64, 100), (130, 70, 17, 32), (150, 40, 40, 150), (9, 33, 5, 1), (45, 64, 20, 7)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("k, persistent", [(1, False), (2, False), (1, True), (3, True)])
@pytest.mark.parametrize("how", ["sparse", "dense"])
def test_fused_epoch_matches_the_loop(case, k, persistent, how):
    """Same mini-batches, counters and draws as the loop of rbm_cd calls; the statistics differ
    only in the order of their sums (and, dense, the bf16 split of the probabilities in dw), so the
    weights agree to float rounding."""
    n, nv, nh, batch = case
    x = data(n, nv)
    kw = dict(batch_size=batch, k=k, persistent=persistent, lr=0.05, momentum=0.5, weight_decay=1e-3)
    with products(how):
        fast = fit(x, nh, fused=True, **kw)
    assert_same_training(fast, fit(x, nh, fused=False, **kw))


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01)])
@pytest.mark.parametrize("how", ["sparse", "dense"])
def test_fused_epoch_update_options(momentum, weight_decay, how):
    x = data(200, 100)
    kw = dict(batch_size=50, lr=0.1, momentum=momentum, weight_decay=weight_decay)
    with products(how):
        fast = fit(x, 48, fused=True, **kw)
    assert_same_training(fast, fit(x, 48, fused=False, **kw))


@pytest.mark.parametrize("how", ["sparse", "dense"])
def test_fused_epoch_probabilities_as_data(how):
    """Data that are probabilities (the column lists, not the bitmaps of binary data; dense: only the
    sample's sums, binary, go by the tile products)."""
    x = data(120, 90, binary=False)
    assert np.any((x > 0) & (x < 1))
    kw = dict(batch_size=40, k=1, lr=0.05)
    with products(how):
        fast = fit(x, 24, fused=True, **kw)
    assert_same_training(fast, fit(x, 24, fused=False, **kw))


def test_dense_products_within_their_bound():
    """One mini-batch of binary data half on, with a persistent chain so that the sample is known:
    dw and dc against float64 from the same units (the data and the chain's end).  The sums over
    the units on are within a few times the error of NumPy's float32 products; the dense tile
    products within that plus the bound of their bf16 splits (each weight and probability within
    2^-17 of itself, the sigmoid's slope at most 1/4), about ten times NumPy's error here."""
    rng = np.random.default_rng(4)
    x = (rng.random((100, 784)) < 0.5).astype(np.float32)
    chain = (rng.random((100, 784)) < 0.5).astype(np.float32)
    w, b, c = layer(784, 256, scale=0.1)
    grads = {}
    for how in ("dense", "sparse"):
        end = chain.copy()
        g = tuple(np.zeros_like(a) for a in (w, b, c))
        with products(how):
            cpu.rbm_fit_epoch(x, None, w.copy(), b.copy(), c.copy(), batch_size=100, k=1, lr=0.1, momentum=0.0,
                              weight_decay=0.0, seed=0, counter=0, chain=end, grads=g)
        grads[how] = g, end
    np.testing.assert_array_equal(grads["dense"][1], grads["sparse"][1])  # the same draws
    assert not np.array_equal(grads["dense"][0][0], grads["sparse"][0][0])  # by other products
    end = grads["dense"][1]

    def statistics(dtype):
        W, C = w.astype(dtype), c.astype(dtype)
        ph0 = 1 / (1 + np.exp(-(x.astype(dtype) @ W.T + C)))
        phk = 1 / (1 + np.exp(-(end.astype(dtype) @ W.T + C)))
        return (ph0.T @ x - phk.T @ end) / dtype(100), (ph0 - phk).mean(0, dtype=dtype), ph0, phk

    exact, single = statistics(np.float64), statistics(np.float32)
    # the splits' bound: a sum's error at most 2^-17 of the sum of its |weights|, a probability's a
    # quarter of that, and dw's products also 2^-17 of each probability
    aw = np.abs(w.astype(np.float64)).T
    e0, ek = 0.25 * 2.0**-17 * (x @ aw), 0.25 * 2.0**-17 * (end @ aw)
    ph0, phk = exact[2], exact[3]
    bound = {"dw": ((e0 + 2.0**-17 * ph0).T @ x + (ek + 2.0**-17 * phk).T @ end) / 100, "dc": (e0 + ek).mean(0)}
    for i, name in ((0, "dw"), (2, "dc")):
        yardstick = np.abs(single[i // 2] - exact[i // 2])
        err = np.abs(grads["sparse"][0][i] - exact[i // 2])
        assert err.mean() < 4 * yardstick.mean() and err.max() < 4 * yardstick.max(), name
        err = np.abs(grads["dense"][0][i] - exact[i // 2])
        assert np.all(err <= bound[name] + 4 * yardstick.max()), name
        # and not far from NumPy's float32 error: the bound is not loose enough to hide a lost part
        assert err.mean() < 16 * yardstick.mean(), name


@pytest.mark.parametrize("density, expect", [(0.5, "dense"), (0.03, "sparse")])
def test_auto_products(density, expect):
    """'auto' (the default): dense tile products for binary data with many units on, sums over the
    units on for sparse data (the same bits as the setting it picks, not those of the other)."""
    x = (np.random.default_rng(2).random((300, 200)) < density).astype(np.float32)

    def run(how):
        w, b, c = layer(200, 48)
        b[:] = 0.0 if expect == "dense" else -4.0  # the sample as dense as the data
        vel = tuple(np.zeros_like(a) for a in (w, b, c))
        with products(how):
            error = cpu.rbm_fit_epoch(x, np.arange(300), w, b, c, velocity=vel, batch_size=50, k=1, lr=0.1,
                                      momentum=0.5, weight_decay=0.0, seed=1, counter=0, probe=50)
        return [w, b, c, *vel, np.float64(error)]

    assert cpu._rbm_epoch_products() == "auto"
    got, want, other = run("auto"), run(expect), run("sparse" if expect == "dense" else "dense")
    for g, wt in zip(got, want):
        np.testing.assert_array_equal(g, wt)
    assert not np.array_equal(got[0], other[0])


def test_products_setting():
    before = cpu._set_rbm_epoch_products("dense")
    try:
        assert before == "auto" and cpu._rbm_epoch_products() == "dense"
        with pytest.raises(ValueError, match="'auto', 'sparse' or 'dense', got 'fast'"):
            cpu._set_rbm_epoch_products("fast")
        assert cpu._rbm_epoch_products() == "dense"
    finally:
        cpu._set_rbm_epoch_products(before)


def test_fused_epoch_against_the_reference():
    """The numpy backend (the reference's rbm_cd in the same loop) as the oracle: the same chains
    and weights up to float rounding after three epochs."""
    x = data(200, 64)
    kw = dict(batch_size=50, k=1, persistent=True, lr=0.05, momentum=0.5)
    got = fit(x, 32, fused=True, epochs=3, **kw)
    with pykernels.use_backend("numpy"):
        rbm = nn.RBM(64, 32, seed=0)
        rbm.w.data[...], rbm.b.data[...], rbm.c.data[...] = layer(64, 32)
        want = rbm, rbm.fit(x, 3, seed=0, **kw)
    assert_same_training(got, want)


def test_fused_epoch_learns():
    """Reconstruction error falls on structured data (two prototypes and noise)."""
    rng = np.random.default_rng(3)
    protos = rng.random((2, 100)) < 0.3
    x = protos[rng.integers(0, 2, 400)] ^ (rng.random((400, 100)) < 0.03)
    x = x.astype(np.float32)
    w, b, c = layer(100, 16)
    initial = np.mean((pykernels.rbm_visible_probs(pykernels.rbm_hidden_probs(x, w, c), w, b) - x) ** 2)
    rbm, history = fit(x, 16, fused=True, epochs=10, batch_size=20, lr=0.1)
    errors = history["reconstruction_error"]
    assert errors[-1] < errors[0] < initial and errors[-1] < 0.2 * initial


def epoch_after(how, x, **kw):
    """The fused epoch over x (a layer of 20 hidden units) right after one that took `how` products
    (the epoch reads its data with or without the row lists as the last sums went): its outputs."""
    warm = data(200, x.shape[1], density=0.5)
    w, b, c = layer(x.shape[1], 20, seed=5)
    with products(how):
        cpu.rbm_fit_epoch(warm, None, w, b, c, batch_size=50, k=1, lr=0.1, momentum=0.0, weight_decay=0.0,
                          seed=0, counter=0)
    w, b, c = layer(x.shape[1], 20)
    grads = tuple(np.zeros_like(a) for a in (w, b, c))
    error = cpu.rbm_fit_epoch(x, np.arange(len(x)), w, b, c, velocity=None, grads=grads, k=1, lr=0.1, momentum=0.0,
                              weight_decay=0.0, seed=0, counter=0, probe=32, **kw)
    return [w, b, c, *grads, np.float64(error)]


@pytest.mark.parametrize("x", [data(130, 70, density=0.05), data(130, 70, density=0.5), data(130, 70, binary=False)],
                         ids=["sparse", "dense", "probabilities"])
def test_fused_epoch_whatever_ran_before(x):
    """The data's row lists a mini-batch skips where the last sums went by the tile products, and
    makes when it needs them after all: the same bits whichever way the epoch before went."""
    outs = [epoch_after(how, x, batch_size=32) for how in ("sparse", "dense", "auto", "sparse")]
    for out in outs[1:]:
        for g, want in zip(out, outs[0]):
            np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan])
@pytest.mark.parametrize("persistent", [False, True])
@pytest.mark.parametrize("after", ["sparse", "dense"])
def test_fused_epoch_checks_the_data_and_changes_nothing(bad, persistent, after):
    """A value outside [0, 1] in a late mini-batch: ValueError naming x, and the parameters as they
    were (the fused epoch checks the data as it reads it, after some mini-batches ran; with or
    without the row lists, as after an epoch that took the sparse or the dense products)."""
    x = data(300, 50)
    x[257, 7] = bad
    epoch_after(after, data(64, 50), batch_size=32)
    rbm = nn.RBM(50, 20, seed=0)
    before = [p.data.copy() for p in rbm.parameters()]
    with pykernels.use_backend("cpu"), pytest.raises(ValueError, match=r"RBM.fit: x must hold values in \[0, 1\]"):
        rbm.fit(x, 1, 10, persistent=persistent, seed=0)
    for p, b in zip(rbm.parameters(), before):
        np.testing.assert_array_equal(p.data, b)
    # the compiled epoch itself, with a chain: the chain and every array as they were
    w, b, c = layer(50, 20)
    arrays = [w, b, c] + [np.zeros_like(a) for a in (w, b, c)]
    chain = data(10, 50, seed=9)
    saved = [a.copy() for a in arrays + [chain]]
    with pytest.raises(ValueError, match="rbm_fit_epoch: argument 'x'"):
        cpu.rbm_fit_epoch(x, np.arange(300), w, b, c, velocity=tuple(arrays[3:]), batch_size=10, k=1, lr=0.1,
                          momentum=0.5, weight_decay=0.0, seed=0, counter=0, chain=chain, check=True)
    for a, s in zip(arrays + [chain], saved):
        np.testing.assert_array_equal(a, s)


def epoch_args(n=60, nv=40, nh=20):
    w, b, c = layer(nv, nh)
    return dict(x=data(n, nv), order=np.arange(n), w=w, b=b, c=c, velocity=None, batch_size=16, k=1, lr=0.1,
                momentum=0.0, weight_decay=0.0, seed=0, counter=0)


@pytest.mark.parametrize("name, value, exc, match", [
    ("x", np.zeros((60, 40)), TypeError, "'x' must be float32"),
    ("x", np.zeros((60, 41), np.float32), ValueError, "'x' must have shape"),
    ("x", np.zeros((40, 60), np.float32).T, ValueError, "'x' must be C-contiguous"),
    ("w", np.zeros((20, 40)), TypeError, "'w' must be float32"),
    ("b", np.zeros(41, np.float32), ValueError, "'b' must have shape"),
    ("order", np.arange(60, dtype=np.int32), TypeError, "'order' must be a C-contiguous, aligned int64"),
    ("order", np.arange(1, 61), ValueError, "'order' must index the rows"),
    ("order", np.arange(59), ValueError, "'order' must have shape"),
    ("batch_size", 0, ValueError, "'batch_size' must be >= 1"),
    ("k", 0, ValueError, "'k' must be >= 1"),
    ("lr", np.inf, ValueError, "must be finite"),
    ("momentum", 0.5, ValueError, "momentum needs argument 'velocity'"),
    ("probe", 61, ValueError, "'probe' must be in"),
    ("chain", np.zeros((15, 40), np.float32), ValueError, "'chain' must have shape"),
    ("grads", (np.zeros((20, 40), np.float32),), ValueError, "'grads' must be"),
])
def test_fused_epoch_argument_errors(name, value, exc, match):
    args = epoch_args()
    args[name] = value
    before = args["w"].copy()
    with pytest.raises(exc, match=match):
        cpu.rbm_fit_epoch(**args)
    np.testing.assert_array_equal(args["w"], before)


def test_fused_epoch_rejects_shared_and_read_only_arrays():
    args = epoch_args()
    args.update(momentum=0.5, velocity=(args["w"], np.zeros(40, np.float32), np.zeros(20, np.float32)))
    with pytest.raises(ValueError, match="'velocity\\[0\\]' and 'w' share memory"):
        cpu.rbm_fit_epoch(**args)
    args = epoch_args()
    args["chain"] = args["x"][:16]
    with pytest.raises(ValueError, match="'chain' and 'x' share memory"):
        cpu.rbm_fit_epoch(**args)
    args = epoch_args()
    args["w"].flags.writeable = False
    with pytest.raises(ValueError, match="'w' must be writeable"):
        cpu.rbm_fit_epoch(**args)


def test_fused_epoch_probe_and_empty_data():
    args = epoch_args()
    assert cpu.rbm_fit_epoch(**args) is None
    args = epoch_args()
    w, b, c = args["w"].copy(), args["b"], args["c"]
    error = cpu.rbm_fit_epoch(**dict(args, probe=60))
    rec = pykernels.rbm_visible_probs(pykernels.rbm_hidden_probs(args["x"], args["w"], c), args["w"], b)
    np.testing.assert_allclose(error, np.mean((rec.astype(np.float64) - args["x"]) ** 2), rtol=1e-5)
    assert not np.array_equal(w, args["w"])
    empty = dict(epoch_args(), x=np.zeros((0, 40), np.float32), order=np.zeros(0, np.int64))
    w = empty["w"].copy()
    assert cpu.rbm_fit_epoch(**empty) is None
    np.testing.assert_array_equal(empty["w"], w)


def test_fused_epoch_threads_share_nothing():
    """Concurrent epochs on their own arrays (each calling thread keeps its own layouts) give what
    they give one at a time."""
    def run(seed):
        args = epoch_args(n=80, nv=100, nh=40)
        args["seed"] = seed
        cpu.rbm_fit_epoch(**args)
        return args["w"]

    alone = {seed: run(seed) for seed in range(4)}
    together = {}
    concurrently(lambda seed: together.__setitem__(seed, run(seed)), [(seed,) for seed in range(4)])
    for seed in range(4):
        np.testing.assert_array_equal(together[seed], alone[seed])


@pytest.mark.parametrize("how", ["sparse", "dense"])
def test_fused_epoch_extreme_weights(how):
    """Subnormal weights (flushed by the bf16 split; the error bound covers them) and a column whose
    weights are beyond the bound (every draw of that unit from the exact sum): the loop's draws."""
    x = data(160, 48)
    w, b, c = layer(48, 40)
    w[:, 3] = np.float32(1e-40)
    w[::2, 5] = np.float32(3e-39)
    w[:, 7] = np.float32(1e29) * np.sign(w[:, 7])
    runs = []
    for fused in (True, False):
        def run():
            rbm = nn.RBM(48, 40, seed=0)
            rbm.w.data[...], rbm.b.data[...], rbm.c.data[...] = w, b, c
            return rbm, rbm.fit(x, 1, 16, seed=4, lr=1e-3, momentum=0.0)
        with pykernels.use_backend("cpu"), products(how):
            if fused:
                runs.append(run())
            else:
                with cpu_setting("rbm_visible_path", "set_rbm_visible_path", "exact"):
                    runs.append(run())
    (fast, _), (loop, _) = runs
    np.testing.assert_array_equal(fast.b.data, loop.b.data)  # the same visible draws
    np.testing.assert_allclose(fast.w.data, loop.w.data, rtol=1e-6, atol=1e-6)
