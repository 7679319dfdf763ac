"""softmax, log_softmax, softmax_cross_entropy (+ backward) on every backend."""
import numpy as np
import pytest

import pykernels
from helpers import assert_close, numeric_grad, random, run_both, views

SHAPES = [(1, 1), (1, 7), (7, 1), (33, 10), (5, 1025), (64, 65)]
REDUCTIONS = ["mean", "sum", "none"]


def labels(rng, n, k):
    return rng.integers(0, k, size=n)


def soft(rng, n, k, dtype):
    t = rng.random((n, k)) ** 3
    return (t / t.sum(axis=1, keepdims=True)).astype(dtype)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape", SHAPES)
def test_softmax_matches_reference(backend, op, shape, dtype, rng):
    x = random(rng, shape, dtype, scale=3)
    got, want = run_both(op, backend, x)
    assert_close(got, want)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_kind", ["labels", "soft"])
def test_cross_entropy_matches_reference(backend, shape, reduction, target_kind, dtype, rng):
    n, k = shape
    x = random(rng, shape, dtype, scale=3)
    t = labels(rng, n, k) if target_kind == "labels" else soft(rng, n, k, dtype)
    (loss, probs), (loss_ref, probs_ref) = run_both("softmax_cross_entropy", backend, x, t, reduction=reduction)
    assert_close(probs, probs_ref)
    if reduction == "none":
        assert_close(loss, loss_ref, "backward")
    else:
        assert isinstance(loss, np.floating) and loss.dtype == dtype
        assert_close(np.asarray(loss), np.asarray(loss_ref), "backward")

    dloss = random(rng, (n,), dtype) if reduction == "none" else 0.7
    got, want = run_both("softmax_cross_entropy_backward", backend, probs_ref, t, reduction=reduction, dloss=dloss)
    assert_close(got, want, "backward")


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_extreme_logits(backend, dtype, rng, scale):
    x = (random(rng, (16, 12), np.float64) * scale).astype(dtype)
    x[0] = 0
    x[1, :] = dtype.type(scale)  # a row of equal huge logits
    t = labels(rng, 16, 12)
    with np.errstate(over="raise", invalid="raise"):
        loss, probs = pykernels.softmax_cross_entropy(x, t, reduction="none", backend=backend)
    assert np.all(np.isfinite(loss)) and np.all(np.isfinite(probs))
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(probs[1], 1 / 12, rtol=1e-5)
    # exact value from logsumexp in float64
    x64 = x.astype(np.float64)
    m = x64.max(axis=1)
    lse = m + np.log(np.exp(x64 - m[:, None]).sum(axis=1))
    np.testing.assert_allclose(loss, lse - x64[np.arange(16), t], rtol=1e-5, atol=1e-3)
    ls = pykernels.log_softmax(x, backend=backend)
    assert np.all(np.isfinite(ls))


def test_reference_vs_torch(dtype, rng, torch):
    F = torch.nn.functional
    x = random(rng, (20, 7), dtype, scale=5)
    t = labels(rng, 20, 7)
    ts = soft(rng, 20, 7, dtype)
    xt = torch.from_numpy(x)
    ref = pykernels.reference
    assert_close(ref.softmax(x), F.softmax(xt, dim=1).numpy(), "oracle")
    assert_close(ref.log_softmax(x), F.log_softmax(xt, dim=1).numpy(), "oracle")
    for reduction in REDUCTIONS:
        for target, tt in [(t, torch.from_numpy(t)), (ts, torch.from_numpy(ts))]:
            loss, probs = ref.softmax_cross_entropy(x, target, reduction=reduction)
            want = F.cross_entropy(xt, tt, reduction=reduction).numpy()
            assert_close(np.asarray(loss), want, "oracle")
            # gradient through torch autograd with a random upstream gradient
            xg = xt.clone().requires_grad_(True)
            out = F.cross_entropy(xg, tt, reduction=reduction)
            dloss = random(rng, (20,), dtype) if reduction == "none" else 1.3
            out.backward(torch.from_numpy(np.asarray(dloss, dtype=dtype)) if reduction == "none" else torch.tensor(dloss, dtype=xt.dtype))
            got = ref.softmax_cross_entropy_backward(probs, target, reduction=reduction, dloss=dloss)
            assert_close(got, xg.grad.numpy(), "oracle")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("target_kind", ["labels", "soft"])
def test_reference_backward_vs_central_differences(reduction, target_kind, rng):
    x = random(rng, (4, 6), np.float64, scale=2)
    t = labels(rng, 4, 6) if target_kind == "labels" else soft(rng, 4, 6, np.float64)
    ref = pykernels.reference
    w = random(rng, (4,), np.float64)

    def f():
        loss, _ = ref.softmax_cross_entropy(x, t, reduction=reduction)
        return float((loss * w).sum()) if reduction == "none" else float(loss) * 0.7

    _, probs = ref.softmax_cross_entropy(x, t, reduction=reduction)
    analytic = ref.softmax_cross_entropy_backward(probs, t, reduction=reduction, dloss=w if reduction == "none" else 0.7)
    assert_close(analytic, numeric_grad(f, x), "numgrad")


def test_softmax_formula_and_rows_sum_to_one(rng):
    x = random(rng, (3, 4), np.float64)
    e = np.exp(x)
    assert_close(pykernels.reference.softmax(x), e / e.sum(1, keepdims=True), "oracle")
    assert_close(pykernels.reference.log_softmax(x), np.log(e / e.sum(1, keepdims=True)), "oracle")


def test_non_contiguous(backend, rng):
    x = random(rng, (6, 9), np.float32, scale=2)
    t = labels(rng, 6, 9)
    want = pykernels.softmax_cross_entropy(x, t, backend="numpy")
    for v in views(x).values():
        got = pykernels.softmax_cross_entropy(v, t, backend=backend)
        assert_close(np.asarray(got[0]), np.asarray(want[0]), "backward")
        assert_close(got[1], want[1])
    strided_labels = np.repeat(t, 2)[::2]
    assert_close(pykernels.softmax_cross_entropy(x, strided_labels, backend=backend)[1], want[1])


def test_label_dtypes(backend, rng):
    x = random(rng, (5, 4), np.float64)
    t = labels(rng, 5, 4)
    want = pykernels.softmax_cross_entropy(x, t, backend="numpy")[0]
    for dt in (np.int8, np.uint8, np.int32, np.uint64):
        got = pykernels.softmax_cross_entropy(x, t.astype(dt), backend=backend)[0]
        assert_close(np.asarray(got), np.asarray(want), "backward")


def test_empty_batch(backend):
    x = np.zeros((0, 3))
    t = np.zeros(0, np.int64)
    for reduction in ("mean", "sum"):
        with pytest.raises(ValueError, match="empty batch"):
            pykernels.softmax_cross_entropy(x, t, reduction=reduction, backend=backend)
        with pytest.raises(ValueError, match="empty batch"):
            pykernels.softmax_cross_entropy_backward(x, t, reduction=reduction, backend=backend)
    loss, probs = pykernels.softmax_cross_entropy(x, t, reduction="none", backend=backend)
    assert loss.shape == (0,) and probs.shape == (0, 3)
    assert pykernels.softmax(x, backend=backend).shape == (0, 3)


def test_errors(backend):
    x = np.zeros((4, 3))
    t = np.array([0, 1, 2, 0])
    sce = pykernels.softmax_cross_entropy
    with pytest.raises(ValueError, match="'target' holds label 3"):
        sce(x, np.array([0, 1, 2, 3]), backend=backend)
    with pytest.raises(ValueError, match="label -1"):
        sce(x, np.array([0, -1, 2, 0]), backend=backend)
    with pytest.raises(ValueError, match="'target' must have shape"):
        sce(x, np.array([0, 1]), backend=backend)
    with pytest.raises(ValueError, match="'target' must have shape"):
        sce(x, np.full((4, 2), 0.5), backend=backend)
    with pytest.raises(TypeError, match="'target'"):
        sce(x, t.astype(bool), backend=backend)
    with pytest.raises(TypeError, match="dtype"):
        sce(x, np.full((4, 3), 1 / 3, np.float32), backend=backend)
    with pytest.raises(ValueError, match="'logits' must be 2-D"):
        sce(np.zeros(3), np.array([0]), backend=backend)
    with pytest.raises(ValueError, match="at least one class"):
        sce(np.zeros((2, 0)), np.array([0, 0]), backend=backend)
    with pytest.raises(ValueError, match="'reduction'"):
        sce(x, t, reduction="avg", backend=backend)
    with pytest.raises(TypeError, match="'logits'"):
        sce(x.astype(np.int64), t, backend=backend)
    with pytest.raises(ValueError, match="'dloss'"):
        pykernels.softmax_cross_entropy_backward(x, t, reduction="none", dloss=np.ones(3), backend=backend)
    with pytest.raises(TypeError, match="'dloss'"):
        pykernels.softmax_cross_entropy_backward(x, t, reduction="mean", dloss="1", backend=backend)
    with pytest.raises(ValueError, match="'x' must be 2-D"):
        pykernels.softmax(np.zeros((2, 3, 4)), backend=backend)
    with pytest.raises(TypeError, match="'x'"):
        pykernels.log_softmax(np.zeros((2, 3), np.float16), backend=backend)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmax_cross_entropy"])
def test_non_finite_rows_and_every_row_length_on_every_isa(op, isa, dtype, rng):
    """NaN, +inf and -inf logits and rows of every length from 1 to 70 (the vector loops' tails), on
    each instruction set: the same results as the reference, NaN where it has NaN."""
    for k in range(1, 71):
        x = random(rng, (6, k), dtype, scale=5)
        x[1, 0] = np.nan
        x[2, k - 1] = np.inf
        x[3, k // 2] = -np.inf
        x[4, :] = -np.inf
        x[5, :] = x[5, 0]
        if op == "softmax_cross_entropy":
            t = labels(rng, 6, k)
            with np.errstate(all="ignore"):
                got = pykernels.softmax_cross_entropy(x, t, reduction="none", backend="cpu")
                want = pykernels.softmax_cross_entropy(x, t, reduction="none", backend="numpy")
        else:
            with np.errstate(all="ignore"):
                got = getattr(pykernels, op)(x, backend="cpu")
                want = getattr(pykernels, op)(x, backend="numpy")
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), err_msg=f"{isa} k={k}")
            assert_close(np.nan_to_num(g), np.nan_to_num(w))
