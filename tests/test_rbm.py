"""RBM conditionals, Gibbs sampling and CD-k on every backend: against the reference (samples bit for
bit), the exact distribution of a small machine, the CD-k formulas, and argument errors."""
import itertools

import numpy as np
import pytest

import pykernels
from helpers import assert_close, cpu_setting, random, run_both, views
from pykernels.random import uniform

ref = pykernels.reference

# (N, n_visible, n_hidden): tiny, odd, empty batch, and an MNIST-sized layer
SHAPES = [(1, 1, 1), (7, 33, 5), (0, 4, 3), (20, 784, 64)]


def machine(rng, nv, nh, dtype, scale=1.0):
    return (random(rng, (nh, nv), dtype, scale / np.sqrt(max(nv, 1)) * 3),
            random(rng, (nv,), dtype, 0.5), random(rng, (nh,), dtype, 0.5))


def binary(rng, shape, dtype, p=0.4):
    return (rng.random(shape) < p).astype(dtype)


def sigmoid64(x):
    """An independent, overflow-free sigmoid in float64."""
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(x, dtype=np.float64)))


@pytest.mark.parametrize("shape", SHAPES)
def test_probs_match_reference(backend, shape, dtype, rng):
    n, nv, nh = shape
    w, b, c = machine(rng, nv, nh, dtype)
    v = rng.random((n, nv)).astype(dtype)  # probabilities are valid inputs too
    h = binary(rng, (n, nh), dtype)
    got, want = run_both("rbm_hidden_probs", backend, v, w, c)
    assert got.shape == (n, nh)
    assert_close(got, want, scale=2)
    got, want = run_both("rbm_visible_probs", backend, h, w, b)
    assert got.shape == (n, nv)
    assert_close(got, want, scale=2)


def test_reference_probs_vs_torch(dtype, rng, torch):
    w, b, c = machine(rng, 9, 4, dtype)
    v, h = binary(rng, (6, 9), dtype), binary(rng, (6, 4), dtype)
    wt = torch.from_numpy(w)
    assert_close(ref.rbm_hidden_probs(v, w, c), torch.sigmoid(torch.from_numpy(v) @ wt.T + torch.from_numpy(c)).numpy(),
                 "oracle")
    assert_close(ref.rbm_visible_probs(h, w, b), torch.sigmoid(torch.from_numpy(h) @ wt + torch.from_numpy(b)).numpy(),
                 "oracle")


def test_reference_probs_vs_sklearn(rng):
    neural_network = pytest.importorskip("sklearn.neural_network", reason="scikit-learn not installed")
    w, b, c = machine(rng, 12, 5, np.float64)
    rbm = neural_network.BernoulliRBM(n_components=5)
    rbm.components_, rbm.intercept_hidden_, rbm.intercept_visible_ = w, c, b
    v = binary(rng, (8, 12), np.float64)
    assert_close(ref.rbm_hidden_probs(v, w, c), rbm.transform(v), "oracle")


def test_probs_saturate_without_overflow(backend, dtype, rng):
    w, b, c = machine(rng, 5, 3, dtype)
    w *= dtype.type(1e4)
    v, h = binary(rng, (9, 5), dtype, 0.5), binary(rng, (9, 3), dtype, 0.5)
    for probs in (pykernels.rbm_hidden_probs(v, w, c, backend=backend), pykernels.rbm_visible_probs(h, w, b, backend=backend)):
        assert np.all((probs >= 0) & (probs <= 1))
    assert_close(pykernels.rbm_hidden_probs(v, w, c, backend=backend), sigmoid64(v @ w.T + c).astype(dtype))


@pytest.mark.parametrize("k", [0, 1, 3])
@pytest.mark.parametrize("shape", [(1, 1, 1), (7, 33, 5), (64, 70, 17)])
def test_gibbs_samples_are_bit_identical(backend, shape, k, dtype, rng):
    # NOTE: float32 probabilities of two backends may differ in the last bit (other summation order);
    # a draw can then flip only when its uniform lies between the two, a chance of about 1e-7 per unit.
    n, nv, nh = shape
    w, b, c = machine(rng, nv, nh, dtype)
    v0 = binary(rng, (n, nv), dtype)
    (vk, hk), (vk_ref, hk_ref) = run_both("rbm_gibbs", backend, v0, w, b, c, k, seed=77, counter=5)
    assert vk.dtype == hk.dtype == dtype
    np.testing.assert_array_equal(vk, vk_ref)
    np.testing.assert_array_equal(hk, hk_ref)
    assert set(np.unique(vk)) <= {0, 1} and set(np.unique(hk)) <= {0, 1}


def test_gibbs_counter_layout(backend, rng):
    """Step s draws h with counter + 2s and v with counter + 2s + 1; the last h with counter + 2k;
    counters wrap modulo 2**64."""
    n, nv, nh = 6, 9, 4
    w, b, c = machine(rng, nv, nh, np.float64)
    v0 = binary(rng, (n, nv), np.float64)
    seed = 2**40 + 3
    for counter in (11, 2**64 - 2):
        v = v0
        for s in range(2):
            h = (uniform((n, nh), seed, (counter + 2 * s) % 2**64, np.float64) < sigmoid64(v @ w.T + c)) * 1.0
            v = (uniform((n, nv), seed, (counter + 2 * s + 1) % 2**64, np.float64) < sigmoid64(h @ w + b)) * 1.0
        hk = (uniform((n, nh), seed, (counter + 4) % 2**64, np.float64) < sigmoid64(v @ w.T + c)) * 1.0
        got = pykernels.rbm_gibbs(v0, w, b, c, 2, seed=seed, counter=counter, backend=backend)
        np.testing.assert_array_equal(got[0], v)
        np.testing.assert_array_equal(got[1], hk)


def test_gibbs_composes_and_k0_copies(backend, rng):
    w, b, c = machine(rng, 10, 6, np.float64)
    v0 = binary(rng, (8, 10), np.float64)
    vk, _ = pykernels.rbm_gibbs(v0, w, b, c, 3, seed=1, counter=20, backend=backend)
    v1, _ = pykernels.rbm_gibbs(v0, w, b, c, 1, seed=1, counter=20, backend=backend)
    v3, _ = pykernels.rbm_gibbs(v1, w, b, c, 2, seed=1, counter=22, backend=backend)
    np.testing.assert_array_equal(vk, v3)
    v, h = pykernels.rbm_gibbs(v0, w, b, c, 0, seed=1, counter=20, backend=backend)
    np.testing.assert_array_equal(v, v0)
    assert v is not v0
    np.testing.assert_array_equal(h, (uniform(h.shape, 1, 20, np.float64) < sigmoid64(v0 @ w.T + c)) * 1.0)


def test_seeds_and_counters_change_the_samples(backend, rng):
    w, b, c = machine(rng, 50, 40, np.float64, scale=0.1)
    v0 = binary(rng, (30, 50), np.float64, 0.5)
    base = pykernels.rbm_gibbs(v0, w, b, c, 1, seed=5, counter=0, backend=backend)
    again = pykernels.rbm_gibbs(v0, w, b, c, 1, seed=5, counter=0, backend=backend)
    np.testing.assert_array_equal(base[0], again[0])
    for seed, counter in [(6, 0), (5, 1), (5 + 2**32, 0), (5, 2**32)]:
        other = pykernels.rbm_gibbs(v0, w, b, c, 1, seed=seed, counter=counter, backend=backend)
        # units near p = 1/2 agree by chance half the time; identical streams would agree everywhere
        assert np.mean(other[0] == base[0]) < 0.8 and np.mean(other[1] == base[1]) < 0.8


# The small machine of the course: 3 visible, 2 hidden units, small enough to enumerate.
SMALL_W = np.array([[2.0, -1.0, 1.5], [-1.5, 2.0, 0.5]])
SMALL_B = np.array([-0.5, 0.3, -1.0])
SMALL_C = np.array([0.2, -0.4])


def exact_joint():
    """P(v, h) over the 32 states, indexed by the bits (v0 v1 v2 h0 h1), from the partition function."""
    states = np.array(list(itertools.product([0, 1], repeat=5)), dtype=np.float64)
    v, h = states[:, :3], states[:, 3:]
    log_weight = v @ SMALL_B + h @ SMALL_C + np.einsum("sj,ji,si->s", h, SMALL_W, v)
    weight = np.exp(log_weight)
    return weight / weight.sum()  # weight.sum() is the partition function Z


def chi_square(counts, probs):
    expected = probs * counts.sum()
    return float(((counts - expected) ** 2 / expected).sum())


def test_long_chains_sample_the_exact_distribution(backend, dtype):
    """20000 independent chains, 200 Gibbs steps in one call: (vk, hk) must follow P(v, h).

    Chi-square statistics with 31 (joint) and 7 (marginal of v) degrees of freedom; the bounds are
    their 1e-6 upper quantiles (83.6 and 40.5), so a correct sampler fails with probability ~1e-6
    while a wrong conditional or a biased stream shifts the counts by far more (e.g. a 1% error in
    one state's probability adds ~20 to the statistic at this N)."""
    n, steps = 20000, 200
    w, b, c = (a.astype(dtype) for a in (SMALL_W, SMALL_B, SMALL_C))
    v0 = np.zeros((n, 3), dtype)
    vk, hk = pykernels.rbm_gibbs(v0, w, b, c, steps, seed=2024, counter=0, backend=backend)
    bits = np.concatenate([vk, hk], axis=1).astype(int)
    index = bits @ (1 << np.arange(4, -1, -1))
    joint = exact_joint()
    counts = np.bincount(index, minlength=32)
    assert chi_square(counts, joint) < 83.6
    v_counts = np.bincount(index >> 2, minlength=8)
    assert chi_square(v_counts, joint.reshape(8, 4).sum(axis=1)) < 40.5


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("persistent", [False, True])
def test_cd_matches_reference(backend, k, persistent, dtype, rng):
    n, nv, nh = 33, 20, 9
    w, b, c = machine(rng, nv, nh, dtype)
    v0 = binary(rng, (n, nv), dtype)
    chain = binary(rng, (n, nv), dtype, 0.6) if persistent else None
    got, want = run_both("rbm_cd", backend, v0, w, b, c, k, seed=3, counter=8, chain=chain)
    assert [g.dtype for g in got] == [dtype] * 4
    assert [g.shape for g in got] == [(nh, nv), (nv,), (nh,), (n, nv)]
    np.testing.assert_array_equal(got[3], want[3])
    assert_close(got[:3], want[:3], "backward")


@pytest.mark.parametrize("persistent", [False, True])
def test_cd_formulas(backend, persistent, rng):
    """dw = (ph0.T @ v0 - phk.T @ vk) / N, db = mean(v0 - vk), dc = mean(ph0 - phk), and the chain is
    rbm_gibbs's chain from the same start with the same counters."""
    n, nv, nh, k = 40, 15, 7, 2
    w, b, c = machine(rng, nv, nh, np.float64)
    v0 = binary(rng, (n, nv), np.float64)
    chain = binary(rng, (n, nv), np.float64) if persistent else None
    dw, db, dc, vk = pykernels.rbm_cd(v0, w, b, c, k, seed=9, counter=4, chain=chain, backend=backend)
    start = v0 if chain is None else chain
    np.testing.assert_array_equal(vk, pykernels.rbm_gibbs(start, w, b, c, k, seed=9, counter=4, backend=backend)[0])
    ph0, phk = sigmoid64(v0 @ w.T + c), sigmoid64(vk @ w.T + c)
    assert_close(dw, (ph0.T @ v0 - phk.T @ vk) / n, "oracle")
    assert_close(db, (v0 - vk).mean(axis=0), "oracle")
    assert_close(dc, (ph0 - phk).mean(axis=0), "oracle")
    # CD-0 from the data: the negative phase is the positive one, every statistic vanishes (up to
    # the rounding of two differently ordered sums)
    zero = pykernels.rbm_cd(v0, w, b, c, 0, seed=9, counter=4, backend=backend)
    for g in zero[:3]:
        np.testing.assert_allclose(g, 0, atol=1e-14)
    np.testing.assert_array_equal(zero[3], v0)


def test_cd_estimates_the_exact_gradient_of_the_small_machine(backend):
    """Averaged over many chains, CD with a long (well mixed) chain estimates the exact gradient of
    the mean log-likelihood: E_data[v h^T-stats] - E_model[...]."""
    rng = np.random.default_rng(7)
    data = binary(rng, (4000, 3), np.float64, 0.5)
    joint = exact_joint().reshape(8, 4)  # (v state, h state)
    v_states = np.array(list(itertools.product([0, 1], repeat=3)), dtype=np.float64)
    h_states = np.array(list(itertools.product([0, 1], repeat=2)), dtype=np.float64)
    model_dw = np.einsum("vh,hj,vi->ji", joint, h_states, v_states)
    ph_data = sigmoid64(data @ SMALL_W.T + SMALL_C)
    exact_dw = ph_data.T @ data / len(data) - model_dw
    dw, db, dc, _ = pykernels.rbm_cd(data, SMALL_W, SMALL_B, SMALL_C, 100, seed=1, counter=0, backend=backend)
    # Monte Carlo error of the model term with 4000 chains: entries are means of values in [0, 1],
    # standard error <= 0.5 / sqrt(4000) ~ 0.008; 0.04 is five standard errors
    np.testing.assert_allclose(dw, exact_dw, atol=0.04)
    exact_db = data.mean(axis=0) - joint.sum(axis=1) @ v_states
    np.testing.assert_allclose(db, exact_db, atol=0.04)


def test_non_contiguous_inputs(backend, rng):
    w, b, c = machine(rng, 6, 4, np.float64)
    v0 = binary(rng, (5, 6), np.float64)
    chain = binary(rng, (5, 6), np.float64)
    want = ref.rbm_cd(v0, w, b, c, 2, seed=4, counter=1, chain=chain)
    for layout in ("f", "strided"):
        args = [views(a)[layout] for a in (v0, w, b, c)]
        got = pykernels.rbm_cd(*args, 2, seed=4, counter=1, chain=views(chain)[layout], backend=backend)
        assert_close(got, want, "backward")
        got = pykernels.rbm_gibbs(*args, 2, seed=4, counter=1, backend=backend)
        assert_close(got, ref.rbm_gibbs(v0, w, b, c, 2, seed=4, counter=1))
        assert_close(pykernels.rbm_hidden_probs(args[0], args[1], args[3], backend=backend), ref.rbm_hidden_probs(v0, w, c))


def _small(rng, dtype=np.float64):
    w, b, c = machine(rng, 5, 3, dtype)
    return binary(rng, (4, 5), dtype), w, b, c


@pytest.mark.parametrize("op", ["rbm_gibbs", "rbm_cd"])
def test_shape_errors(backend, op, rng):
    v0, w, b, c = _small(rng)
    call = getattr(pykernels, op)
    cases = [
        ((v0[0], w, b, c), "'v0' must be 2-D"),
        ((v0[:, :4], w, b, c), r"'v0' must have shape \(\*, 5\)"),
        ((v0, w[0], b, c), "'w' must be 2-D"),
        ((v0, w, b[:4], c), r"'b' must have shape \(5,\)"),
        ((v0, w, b, c[:, None]), "'c' must be 1-D"),
        ((v0, w, b, c[:2]), r"'c' must have shape \(3,\)"),
    ]
    for args, match in cases:
        with pytest.raises(ValueError, match=f"{op}: argument {match}"):
            call(*args, seed=0, backend=backend)


def test_probs_shape_errors(backend, rng):
    v0, w, b, c = _small(rng)
    with pytest.raises(ValueError, match=r"rbm_hidden_probs: argument 'v' must have shape \(\*, 5\)"):
        pykernels.rbm_hidden_probs(v0[:, :3], w, c, backend=backend)
    with pytest.raises(ValueError, match=r"rbm_hidden_probs: argument 'c' must have shape \(3,\)"):
        pykernels.rbm_hidden_probs(v0, w, b, backend=backend)
    with pytest.raises(ValueError, match=r"rbm_visible_probs: argument 'h' must have shape \(\*, 3\)"):
        pykernels.rbm_visible_probs(v0, w, b, backend=backend)
    with pytest.raises(ValueError, match=r"rbm_visible_probs: argument 'b' must have shape \(5,\)"):
        pykernels.rbm_visible_probs(v0[:, :3], w, c, backend=backend)


@pytest.mark.parametrize("op", ["rbm_gibbs", "rbm_cd"])
@pytest.mark.parametrize("name,value,exc", [
    ("k", -1, ValueError), ("k", 1.0, TypeError), ("k", True, TypeError),
    ("seed", -1, ValueError), ("seed", 2**64, ValueError), ("seed", 3.0, TypeError), ("seed", True, TypeError),
    ("counter", -5, ValueError), ("counter", 2**64 + 1, ValueError), ("counter", 0.5, TypeError),
    ("counter", False, TypeError),
])
def test_draw_argument_errors(backend, op, name, value, exc, rng):
    v0, w, b, c = _small(rng)
    kwargs = {"k": 1, "seed": 0, "counter": 0, name: value}
    with pytest.raises(exc, match=f"{op}: argument '{name}'"):
        getattr(pykernels, op)(v0, w, b, c, backend=backend, **kwargs)


def test_seed_is_required(rng):
    v0, w, b, c = _small(rng)
    with pytest.raises(TypeError, match="seed"):
        pykernels.rbm_gibbs(v0, w, b, c)


def test_dtype_errors(backend, rng):
    v0, w, b, c = _small(rng)
    args = [v0, w, b, c]
    for i, name in enumerate(["v0", "w", "b", "c"]):
        mixed = list(args)
        mixed[i] = mixed[i].astype(np.float32)
        with pytest.raises(TypeError, match="rbm_cd: arguments must share one dtype"):
            pykernels.rbm_cd(*mixed, seed=0, backend=backend)
        ints = list(args)
        ints[i] = ints[i].astype(np.int32)
        with pytest.raises(TypeError, match=f"rbm_gibbs: argument '{name}' must have dtype float32 or float64"):
            pykernels.rbm_gibbs(*ints, seed=0, backend=backend)
    with pytest.raises(TypeError, match="rbm_cd: arguments must share one dtype"):
        pykernels.rbm_cd(v0, w, b, c, seed=0, chain=v0.astype(np.float32), backend=backend)


def test_cd_chain_and_batch_errors(backend, rng):
    v0, w, b, c = _small(rng)
    with pytest.raises(ValueError, match=r"rbm_cd: argument 'chain' must have shape \(4, 5\)"):
        pykernels.rbm_cd(v0, w, b, c, seed=0, chain=v0[:3], backend=backend)
    bad = v0.copy()
    bad[2, 1] = 0.5
    with pytest.raises(ValueError, match="rbm_cd: argument 'chain' must hold only 0 and 1.*0.5"):
        pykernels.rbm_cd(v0, w, b, c, seed=0, chain=bad, backend=backend)
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="rbm_cd: argument 'chain' must hold only 0 and 1"):
        pykernels.rbm_cd(v0, w, b, c, seed=0, chain=bad, backend=backend)
    with pytest.raises(ValueError, match=r"rbm_cd: .*empty \(N = 0\)"):
        pykernels.rbm_cd(v0[:0], w, b, c, seed=0, backend=backend)


# ---- the cpu backend's sparse products and every instruction-set path ---------------------------------
# Batches with at most ~35 % nonzeros (binarised images, their reconstructions) take sums of the rows
# of w^T and of the hidden probabilities that the nonzeros select instead of GEMMs; denser ones take
# the GEMMs.  Shapes cross the kernels' edges: 16-lane vectors (n_hidden 1, 17), 256-wide hidden
# chunks (300), 32-column blocks of the visible units (33, 70), 16 x 16 transpose tiles (n_visible 33).
SPARSE_SHAPES = [(1, 1, 1), (9, 33, 17), (40, 70, 300), (64, 784, 64)]


@pytest.mark.parametrize("density", [0.0, 0.1, 0.3, 0.6])
@pytest.mark.parametrize("shape", SPARSE_SHAPES)
def test_every_isa_sparse_and_dense_paths(isa, shape, density, dtype):
    rng = np.random.default_rng(int(density * 10) + shape[1])
    n, nv, nh = shape
    w, b, c = machine(rng, nv, nh, dtype)
    b -= dtype.type(1.5)  # sparse reconstructions, as after training on sparse data
    v0 = binary(rng, (n, nv), dtype, density)
    for k in (1, 2):
        (vk, hk), (vk_ref, hk_ref) = run_both("rbm_gibbs", "cpu", v0, w, b, c, k, seed=11, counter=3)
        np.testing.assert_array_equal(vk, vk_ref)
        np.testing.assert_array_equal(hk, hk_ref)
        got, want = run_both("rbm_cd", "cpu", v0, w, b, c, k, seed=11, counter=3)
        np.testing.assert_array_equal(got[3], want[3])
        assert_close(got[:3], want[:3], "backward")
        chain = binary(rng, (n, nv), dtype, density)
        got, want = run_both("rbm_cd", "cpu", v0, w, b, c, k, seed=11, counter=3, chain=chain)
        np.testing.assert_array_equal(got[3], want[3])
        assert_close(got[:3], want[:3], "backward")
    got, want = run_both("rbm_hidden_probs", "cpu", v0, w, c)
    assert_close(got, want, scale=2)


def test_every_isa_sparse_non_binary_data(isa, dtype, rng):
    """Data that are probabilities (mostly 0 here) enter the sparse products with their values."""
    n, nv, nh = 30, 50, 20
    w, b, c = machine(rng, nv, nh, dtype)
    v0 = (rng.random((n, nv)) * binary(rng, (n, nv), np.float64, 0.2)).astype(dtype)
    got, want = run_both("rbm_cd", "cpu", v0, w, b, c, 1, seed=2, counter=0)
    np.testing.assert_array_equal(got[3], want[3])
    assert_close(got[:3], want[:3], "backward")
    assert_close(*run_both("rbm_hidden_probs", "cpu", v0, w, c), scale=2)


def test_sparse_cd0_statistics_vanish(isa, dtype, rng):
    w, b, c = machine(rng, 40, 30, dtype)
    v0 = binary(rng, (25, 40), dtype, 0.1)
    dw, db, dc, vk = pykernels.rbm_cd(v0, w, b, c, 0, seed=1, backend="cpu")
    for g in (dw, db, dc):
        np.testing.assert_array_equal(g, 0)
    np.testing.assert_array_equal(vk, v0)


def test_sparse_training_loop_matches_reference():
    """The benchmark's loop (MNIST-sized, sparse data) on a few batches: same chains, same weights."""
    from pykernels.benchmark import rbm as bench

    inp = bench._make(300, 784, 64, 100)()
    bench._check(bench._ours(inp, "cpu"), bench._ours(inp, "numpy"))


def test_every_isa_probs_accurate_over_the_range(isa, dtype):
    """The fused sigmoid of the cpu kernels against the exact value (float64 formulas): a few ulp
    over the whole range, no overflow at the ends, NaN propagated."""
    x = np.concatenate([np.linspace(-100, 100, 20001), [0.0, -0.0, 1e-8, -1e-8, 88.0, -87.3, -104.0, -1e4, 1e4,
                                                        np.inf, -np.inf, np.nan]]).astype(dtype)
    v, w, c = np.ones((1, 1), dtype), x[:, None].copy(), np.zeros(len(x), dtype)
    got = pykernels.rbm_hidden_probs(v, w, c, backend="cpu")[0].astype(np.float64)
    xd = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        want = np.where(xd >= 0, 1 / (1 + np.exp(-xd)), np.exp(xd) / (1 + np.exp(xd)))
    finite = np.isfinite(xd)
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got[finite], want[finite], rtol=4 * eps, atol=np.finfo(dtype).tiny)
    np.testing.assert_array_equal(got[np.isinf(xd)], (xd[np.isinf(xd)] > 0) * 1.0)
    assert np.isnan(got[-1])


def test_large_sparse_batch_takes_the_gemm_path(dtype, rng):
    """A sparse batch beyond the sparse path's scratch limit (2**21 visible units) gives the same
    samples and statistics through the GEMMs."""
    n, nv, nh = 2700, 784, 6
    w, b, c = machine(rng, nv, nh, dtype)
    b -= dtype.type(1.5)
    v0 = binary(rng, (n, nv), dtype, 0.1)
    got, want = run_both("rbm_cd", "cpu", v0, w, b, c, 1, seed=5, counter=1)
    np.testing.assert_array_equal(got[3], want[3])
    assert_close(got[:3], want[:3], "backward")


@pytest.mark.parametrize("n", [4096, 4097])
def test_tall_sparse_batch_statistics(dtype, n):
    """A sparse batch of many short rows: the sparse products, and the sparse statistics up to 4096
    rows (their per-pass copies of ph0 and phk grow with the batch), the GEMMs beyond; both match the
    reference."""
    rng = np.random.default_rng(n)
    nv, nh = 40, 37
    w, b, c = machine(rng, nv, nh, dtype)
    v0 = binary(rng, (n, nv), dtype, 0.1)
    got, want = run_both("rbm_cd", "cpu", v0, w, b, c, 1, seed=5, counter=1)
    np.testing.assert_array_equal(got[3], want[3])
    assert_close(got[:3], want[:3], "backward")


@pytest.mark.parametrize("op,args", [
    ("rbm_hidden_probs", ("v", "w", "c")),
    ("rbm_visible_probs", ("h", "w", "b")),
    ("rbm_gibbs", ("v0", "w", "b", "c")),
    ("rbm_cd", ("v0", "w", "b", "c")),
])
def test_missing_arrays_are_type_errors(backend, op, args, rng):
    """None for any array argument (a bias included) is a TypeError naming it, on every backend."""
    shapes = {"v": (3, 5), "v0": (3, 5), "h": (3, 4), "w": (4, 5), "b": (5,), "c": (4,)}
    valid = {name: (rng.random(shapes[name]) < 0.5).astype(np.float32) for name in args}
    kwargs = {"seed": 1} if op in ("rbm_gibbs", "rbm_cd") else {}
    for missing in args:
        call = [None if name == missing else valid[name] for name in args]
        with pytest.raises(TypeError, match=f"argument '{missing}'"):
            getattr(pykernels, op)(*call, backend=backend, **kwargs)


# ---- the visible draw's paths on the cpu backend (csrc/rbm.h, RbmVisiblePath) ---------------------
# "gemm": the GEMM; "amx": an AMX-BF16 tile product whose error bound settles most draws, the others
# recomputed exactly; "exact": that exact recomputation for every unit.  amx and exact must give the
# same bits; every path must match the reference.

@pytest.fixture(params=["gemm", "amx", "exact"])
def visible_path(request):
    """Each visible-draw path this CPU supports, selected in-process and restored afterwards."""
    with cpu_setting("rbm_visible_path", "set_rbm_visible_path", request.param):
        yield request.param


def _on_path(name, fn):
    with cpu_setting("rbm_visible_path", "set_rbm_visible_path", name):
        return fn()


def test_visible_path_argument_errors():
    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    assert cpu.rbm_visible_path() in ("gemm", "amx", "exact")
    with pytest.raises(ValueError, match="set_rbm_visible_path: argument 'name'"):
        cpu.set_rbm_visible_path("fast")
    cpu.set_rbm_visible_path(cpu.rbm_visible_path())


@pytest.mark.parametrize("density", [0.1, 0.6])
@pytest.mark.parametrize("shape", SPARSE_SHAPES + [(100, 784, 256), (17, 20, 33)])
def test_every_visible_path_matches_reference(visible_path, shape, density):
    rng = np.random.default_rng(int(density * 10) + shape[1] + shape[2])
    n, nv, nh = shape
    dtype = np.dtype(np.float32)
    w, b, c = machine(rng, nv, nh, dtype)
    v0 = binary(rng, (n, nv), dtype, density)
    for k in (1, 2):
        (vk, hk), (vk_ref, hk_ref) = run_both("rbm_gibbs", "cpu", v0, w, b, c, k, seed=11, counter=3)
        np.testing.assert_array_equal(vk, vk_ref)
        np.testing.assert_array_equal(hk, hk_ref)
        got, want = run_both("rbm_cd", "cpu", v0, w, b, c, k, seed=11, counter=3, chain=binary(rng, (n, nv), dtype))
        np.testing.assert_array_equal(got[3], want[3])
        assert_close(got[:3], want[:3], "backward")


def _amx_and_exact(*args, op="rbm_gibbs", **kwargs):
    fn = getattr(pykernels, op)
    return (_on_path("amx", lambda: fn(*args, backend="cpu", **kwargs)),
            _on_path("exact", lambda: fn(*args, backend="cpu", **kwargs)))


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 17, 31), (16, 33, 32), (33, 70, 65), (100, 784, 256)])
def test_amx_draws_are_the_exact_draws_over_many_seeds(shape):
    n, nv, nh = shape
    rng = np.random.default_rng(nv + nh)
    for seed in range(25):
        scale = [0.3, 1.0, 5.0, 50.0][seed % 4]  # large weights: loose bounds, many draws recomputed
        w, b, c = machine(rng, nv, nh, np.dtype(np.float32), scale)
        v0 = binary(rng, (n, nv), np.float32, [0.05, 0.2, 0.5][seed % 3])
        fast, exact = _amx_and_exact(v0, w, b, c, 1 + seed % 3, seed=seed, counter=seed * 7)
        for f, e in zip(fast, exact):
            np.testing.assert_array_equal(f, e)
        fast, exact = _amx_and_exact(v0, w, b, c, 1, op="rbm_cd", seed=seed, counter=1)
        for f, e in zip(fast, exact):
            np.testing.assert_array_equal(f, e)


def _threshold_bias(v0, w, c, seed, counter, jitter, rng):
    """A visible bias that puts every unit's probability of the first visible draw of row 0 on (or
    within `jitter` in logit of) its uniform: each such draw hangs on the last bits of its
    pre-activation.  Also returns those logit distances (float64)."""
    nv = v0.shape[1]
    _, h0 = pykernels.rbm_gibbs(v0, w, np.zeros(nv, np.float32), c, 0, seed=seed, counter=counter, backend="cpu")
    u = np.clip(uniform(nv, seed=seed, counter=counter + 1).astype(np.float64), 1e-6, 1 - 1e-6)
    a = h0[0].astype(np.float64) @ w.astype(np.float64)
    b = (np.log(u) - np.log1p(-u) - a + jitter * rng.standard_normal(nv)).astype(np.float32)
    return b, a + b - (np.log(u) - np.log1p(-u))


@pytest.mark.parametrize("jitter", [0.0, 1e-7, 1e-6, 1e-4, 1e-3])
def test_amx_draws_are_exact_at_the_threshold(jitter):
    """Adversarial: biases that put units right at their sampling threshold, far inside the tile
    product's error bound, so that the draws must come from the exact recomputation (jitter <=
    1e-6), or at about the coarse sigmoid's margin (2^-11 relative), where the first test decides
    some and leaves the others to the accurate one (1e-4, 1e-3 in logit)."""
    nv, nh = 784, 256
    rng = np.random.default_rng(3)
    for seed in range(30):
        w, _, c = machine(rng, nv, nh, np.dtype(np.float32), 1.0 + seed % 5)
        v0 = binary(rng, (1, nv), np.float32, 0.2)
        b, distance = _threshold_bias(v0, w, c, seed, 5, jitter, rng)
        # the setting is what it claims: most units within 1e-5 (in logit) of their threshold
        assert np.mean(np.abs(distance) < max(1e-5, 3 * jitter)) > 0.5
        fast, exact = _amx_and_exact(v0, w, b, c, 1, seed=seed, counter=5)
        np.testing.assert_array_equal(fast[0], exact[0])
        np.testing.assert_array_equal(fast[1], exact[1])


def test_coarse_sigmoid_within_its_bound():
    """The coarse sigmoid the AMX draws test first is within 2^-13 relative (plus 2^-126) of the
    exact sigmoid on a fine grid over its whole range (every fraction of the 2^f polynomial, both
    signs, the clamp at |x| ~ 104, subnormal and zero results) and on random magnitudes; NaN stays
    NaN (so that no draw is settled on it)."""
    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    rng = np.random.default_rng(11)
    x = np.concatenate([np.linspace(-120, 120, 2_400_001), rng.standard_normal(200_000) * 10.0 ** rng.uniform(-30, 2.5, 200_000),
                        [0.0, -0.0, np.inf, -np.inf, 87.3, -87.3, 103.97, -103.97, 104.0, -104.0, 150.0, -150.0]])
    x = x.astype(np.float32)
    q = cpu._rbm_sigmoid_coarse(x)
    if q is None:
        pytest.skip("the coarse sigmoid is AVX-512 only")
    with np.errstate(over="ignore"):
        s = 1.0 / (1.0 + np.exp(-x.astype(np.float64)))
    excess = np.abs(q.astype(np.float64) - s) / (2.0**-13 * s + 2.0**-126)
    assert excess.max() <= 1.0, f"x = {x[np.argmax(excess)]}: {excess.max():.3f} times the bound"
    assert np.isnan(cpu._rbm_sigmoid_coarse(np.float32([np.nan, -np.nan]))).all()


def test_amx_path_falls_back_for_weights_beyond_its_bound():
    """Non-finite or huge weights: the AMX path declines and the draws are the GEMM path's."""
    rng = np.random.default_rng(4)
    n, nv, nh = 20, 40, 30
    w, b, c = machine(rng, nv, nh, np.dtype(np.float32))
    v0 = binary(rng, (n, nv), np.float32, 0.3)
    for bad in (np.inf, 1e35, np.nan):
        w2 = w.copy()
        w2[3, 5] = bad
        fast = _on_path("amx", lambda: pykernels.rbm_gibbs(v0, w2, b, c, 1, seed=1, backend="cpu"))
        gemm = _on_path("gemm", lambda: pykernels.rbm_gibbs(v0, w2, b, c, 1, seed=1, backend="cpu"))
        for f, g in zip(fast, gemm):
            np.testing.assert_array_equal(f, g)
