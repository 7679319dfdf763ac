"""Training: fit (history, validation, early stopping, determinism), predict, accuracy,
confusion_matrix; energy models (RBM log Z by brute force, DBN); the perceptron."""
import itertools

import numpy as np
import pytest

import pykernels
from pykernels import nn, optim


def _blobs(rng, n=120, k=3, d=4):
    centers = rng.standard_normal((k, d)) * 3
    y = rng.integers(0, k, n)
    return (centers[y] + rng.standard_normal((n, d))).astype(np.float32), y


def _mlp(seed=0, d=4, k=3):
    return nn.Sequential(nn.Linear(d, 8, seed=seed), nn.Tanh(), nn.Linear(8, k, seed=seed + 1))


def test_fit_learns_and_reports_history(backend, rng):
    x, y = _blobs(rng)
    model = _mlp()
    with pykernels.use_backend(backend):
        h = nn.fit(model, nn.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.05), x, y, epochs=15,
                   batch_size=16, validation=(x[:30], y[:30]), progress=False)
        acc = nn.accuracy(nn.predict(model, x), y)
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(v) == 15 for v in h.values())
    assert h["loss"][-1] < 0.5 * h["loss"][0]
    assert acc > 0.9 and h["val_accuracy"][-1] > 0.9


def test_fit_with_progress_bar_and_float_targets(rng, capsys):
    x = rng.standard_normal((20, 2)).astype(np.float32)
    t = (x @ np.array([[1.0], [-2.0]], np.float32)).astype(np.float32)
    model = nn.Sequential(nn.Linear(2, 1, seed=0))
    h = nn.fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.1), x, t, epochs=50, batch_size=5, progress=True)
    assert set(h) == {"loss"} and h["loss"][-1] < 1e-3
    np.testing.assert_allclose(model[0].weight.data, [[1.0, -2.0]], atol=0.02)


def test_early_stopping_restores_best_weights(rng):
    x, y = _blobs(rng)
    xv, yv = x[:40], (y[:40] + 1) % 3  # validation labels that disagree: val loss rises as training fits
    model = _mlp()
    loss = nn.SoftmaxCrossEntropy()
    h = nn.fit(model, loss, optim.Adam(model.parameters(), lr=0.05), x, y, epochs=40, batch_size=16,
               validation=(xv, yv), early_stopping=3, progress=False)
    best = int(np.argmin(h["val_loss"]))
    assert len(h["val_loss"]) == best + 1 + 3 < 40  # stopped 3 epochs after the best
    assert loss(nn.predict(model, xv), yv) == pytest.approx(h["val_loss"][best], rel=1e-6)


def test_early_stopping_needs_validation(rng):
    x, y = _blobs(rng, n=10)
    model = _mlp()
    with pytest.raises(ValueError, match="early_stopping needs validation"):
        nn.fit(model, nn.SoftmaxCrossEntropy(), optim.SGD(model.parameters(), lr=0.1), x, y, epochs=1,
               batch_size=4, early_stopping=2, progress=False)


@pytest.mark.parametrize("be", ["cpu", "numpy"])
def test_same_seed_same_training_bit_for_bit(be, rng):
    if be not in pykernels.available_backends():
        pytest.skip(f"backend {be} unavailable")
    x = rng.standard_normal((64, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 3, 64)

    def train(seed):
        nn.manual_seed(seed)
        model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(16, 3))
        with pykernels.use_backend(be):
            h = nn.fit(model, nn.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=0.01), x, y,
                       epochs=3, batch_size=8, progress=False, seed=seed)
        return [p.data for p in model.parameters()], h["loss"]

    (a, la), (b, lb), (c, _) = train(1), train(1), train(2)
    assert la == lb
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p, q)
    assert any(not np.array_equal(p, q) for p, q in zip(a, c))


def test_fit_rejects_bad_input(rng):
    x, y = _blobs(rng, n=10)
    model = _mlp()
    opt = optim.SGD(model.parameters(), lr=0.1)
    loss = nn.SoftmaxCrossEntropy()
    with pytest.raises(ValueError, match="must have 10 rows"):
        nn.fit(model, loss, opt, x, y[:5], epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="label 5 is outside"):
        nn.fit(model, loss, opt, x, np.full(10, 5), epochs=1, batch_size=4, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        nn.fit(model, loss, opt, x, y, epochs=1, batch_size=0, progress=False)
    with pytest.raises(TypeError, match="x"):
        nn.fit(model, loss, opt, x.tolist(), y, epochs=1, batch_size=4, progress=False)


def test_predict_accuracy_confusion_matrix(rng):
    model = _mlp()
    x, y = _blobs(rng, n=600)
    out = nn.predict(model, x, batch_size=7)
    np.testing.assert_allclose(out, model.forward(x), rtol=1e-6)
    assert nn.accuracy(np.array([[0.1, 0.9], [2.0, 1.0], [0.0, 3.0]]), np.array([1, 0, 0])) == pytest.approx(2 / 3)
    cm = nn.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    np.testing.assert_array_equal(cm, [[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    with pytest.raises(ValueError, match="outside"):
        nn.confusion_matrix(np.array([0, 3]), np.array([0, 1]), 3)
    with pytest.raises(TypeError, match="integer labels"):
        nn.accuracy(out, y.astype(np.float32))


# --- energy models -----------------------------------------------------------------------------

def _brute_log_z(w, b, c):
    """log of the sum of exp(-E(v, h)) over every joint state, E = -v.b - h.c - h.w.v."""
    nh, nv = w.shape
    terms = []
    for v in itertools.product([0, 1], repeat=nv):
        for h in itertools.product([0, 1], repeat=nh):
            v_, h_ = np.array(v, float), np.array(h, float)
            terms.append(v_ @ b + h_ @ c + h_ @ w @ v_)
    return np.logaddexp.reduce(terms)


@pytest.mark.parametrize("nv,nh", [(4, 3), (3, 5)])
def test_rbm_exact_log_partition(rng, nv, nh):
    rbm = nn.RBM(nv, nh, dtype=np.float64)
    rbm.w.data[...] = rng.standard_normal((nh, nv))
    rbm.b.data[...] = rng.standard_normal(nv)
    rbm.c.data[...] = rng.standard_normal(nh)
    want = _brute_log_z(rbm.w.data, rbm.b.data, rbm.c.data)
    assert rbm.log_partition() == pytest.approx(want, rel=1e-12)
    # the probabilities of all visible states sum to one
    states = np.array(list(itertools.product([0, 1], repeat=nv)), dtype=np.float64)
    assert np.exp(-rbm.free_energy(states) - rbm.log_partition()).sum() == pytest.approx(1.0, rel=1e-12)


def test_rbm_log_partition_too_large():
    with pytest.raises(ValueError, match="exact enumeration"):
        nn.RBM(30, 40).log_partition()


def test_rbm_training_raises_likelihood(backend):
    rng = np.random.default_rng(0)
    protos = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], float)
    x = protos[rng.integers(0, 2, 200)]
    x = np.abs(x - (rng.random(x.shape) < 0.05))
    rbm = nn.RBM(6, 4, seed=0)
    before = rbm.log_likelihood(x)
    with pykernels.use_backend(backend):
        h = rbm.fit(x, epochs=30, batch_size=20, k=1, lr=0.1, seed=1)
    after = rbm.log_likelihood(x)
    assert after > before + 1.0
    assert h["reconstruction_error"][-1] < h["reconstruction_error"][0]
    pcd = nn.RBM(6, 4, seed=0)
    with pykernels.use_backend(backend):
        pcd.fit(x, epochs=30, batch_size=20, k=1, persistent=True, lr=0.1, seed=1)
    assert pcd.log_likelihood(x) > before + 1.0


def test_rbm_fit_is_the_same_on_every_backend(backend):
    rng = np.random.default_rng(1)
    x = (rng.random((30, 5)) < 0.5).astype(np.float32)
    runs = {}
    for be in ("numpy", backend):
        rbm = nn.RBM(5, 3, seed=2)
        with pykernels.use_backend(be):
            rbm.fit(x, epochs=2, batch_size=10, k=2, seed=3)
        runs[be] = [p.data for p in rbm.parameters()]
    for a, b in zip(runs[backend], runs["numpy"]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_dbn_pretrain_and_finetune_beats_chance():
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.data[:600] / 16).astype(np.float32), d.target[:600]
    dbn = nn.DBN([64, 32, 16], seed=0)
    hist = dbn.pretrain(x[:400], epochs=3, batch_size=20, lr=0.1, seed=0)
    assert len(hist) == 2 and all(len(h["reconstruction_error"]) == 3 for h in hist)
    assert hist[0]["reconstruction_error"][-1] < hist[0]["reconstruction_error"][0]
    clf = dbn.to_classifier(10, seed=1)
    np.testing.assert_array_equal(clf[0].weight.data, dbn.rbms[0].w.data)
    np.testing.assert_array_equal(clf[2].bias.data, dbn.rbms[1].c.data)
    nn.fit(clf, nn.SoftmaxCrossEntropy(), optim.SGD(clf.parameters(), lr=0.1, momentum=0.9), x[:400], y[:400],
           epochs=10, batch_size=20, progress=False)
    assert nn.accuracy(nn.predict(clf, x[400:]), y[400:]) > 0.6  # chance is 0.1


def test_rbm_rejects_bad_data():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        nn.RBM(3, 2).fit(np.full((4, 3), 2.0), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match="3 visible units"):
        nn.RBM(3, 2).fit(np.zeros((4, 5)), epochs=1, batch_size=2)


def test_perceptron_rule():
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    for table, separable in (([0, 0, 0, 1], True), ([0, 1, 1, 1], True), ([1, 0, 0, 0], True), ([0, 1, 1, 0], False)):
        p = nn.Perceptron(2)
        assert p.fit(x, np.array(table), max_epochs=50) is separable
        if separable:
            np.testing.assert_array_equal(p.predict(x), table)
    p = nn.Perceptron(2)
    p.fit(x[:1], np.array([1]), max_epochs=1)  # one mistake on a positive: add the input, bias += 1
    np.testing.assert_array_equal(p.w.data, [0, 0])
    assert p.b.data[0] == 1
    pm = nn.Perceptron(2)  # Rosenblatt's -1/+1 labels
    assert pm.fit(x, np.array([-1, 1, 1, 1]), max_epochs=20)
    np.testing.assert_array_equal(pm.predict(x), [-1, 1, 1, 1])
    with pytest.raises(ValueError, match="labels of 0 or 1"):
        nn.Perceptron(2).fit(x, np.array([0, 1, 2, 0]))


def test_mlp_on_a_medical_tabular_data_set():
    """scikit-learn's bundled Wisconsin breast-cancer data (569 patients, 30 features): a small MLP with
    early stopping reaches the accuracy of a logistic regression."""
    from sklearn.datasets import load_breast_cancer

    d = load_breast_cancer()
    order = np.random.default_rng(0).permutation(len(d.target))
    x, y = d.data[order], d.target[order]
    x = (x - x[:400].mean(0)) / x[:400].std(0)
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(30, 16), nn.ReLU(), nn.Linear(16, 2))
    h = nn.fit(model, nn.SoftmaxCrossEntropy(), optim.Adam(model.parameters(), lr=1e-3), x[:400], y[:400],
               epochs=100, batch_size=32, validation=(x[400:480], y[400:480]), early_stopping=10, progress=False)
    assert nn.accuracy(nn.predict(model, x[480:]), y[480:]) > 0.93
    assert h["val_accuracy"][int(np.argmin(h["val_loss"]))] > 0.93
