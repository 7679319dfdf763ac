"""pykernels.nn layers: backward passes against central differences (float64, tiny networks) on
every backend, backends agreeing after an optimizer step, and input validation."""
import numpy as np
import pytest

import pykernels
from pykernels import nn, optim
from helpers import concurrently, numeric_grad, tol


def _gradcheck(module, x, rng, backend, input_grad=True):
    """Compares module.backward (dx and every parameter's .grad) with central differences of
    ``sum(forward(x) * dy)`` for a random dy."""
    with pykernels.use_backend(backend):
        y = module.forward(x)
        dy = rng.standard_normal(y.shape)
        module.zero_grad()
        dx = module.backward(dy.copy())

        def f():
            return float(np.sum(module.forward(x) * dy))

        t = tol("numgrad", np.float64)
        if input_grad:
            np.testing.assert_allclose(dx, numeric_grad(f, x), **t)
        for p in module.parameters():
            np.testing.assert_allclose(p.grad, numeric_grad(f, p.data), **t, err_msg=p.name)
        assert module.parameters() or input_grad


def _f64(module):
    return module.astype(np.float64)


LAYERS = {
    "linear": (lambda: nn.Linear(5, 3, seed=1), (4, 5)),
    "linear-nobias": (lambda: nn.Linear(5, 3, bias=False, seed=1), (4, 5)),
    "linear-3d": (lambda: nn.Linear(5, 3, seed=1), (2, 4, 5)),
    "conv": (lambda: nn.Conv2d(2, 3, 3, seed=1), (2, 2, 5, 5)),
    "conv-stride-pad": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, seed=1), (2, 2, 5, 4)),
    "maxpool": (lambda: nn.MaxPool2d(2), (2, 3, 4, 4)),
    "maxpool-pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1), (1, 2, 5, 5)),
    "avgpool": (lambda: nn.AvgPool2d(2, stride=1, padding=1), (2, 2, 3, 3)),
    "relu": (lambda: nn.ReLU(), (3, 7)),
    "sigmoid": (lambda: nn.Sigmoid(), (3, 7)),
    "tanh": (lambda: nn.Tanh(), (2, 3, 4)),
    "flatten": (lambda: nn.Flatten(), (2, 3, 2, 2)),
    "rnn": (lambda: nn.RNN(3, 4, seed=1), (5, 2, 3)),
    "rnn-truncated": (lambda: nn.RNN(3, 4, truncate=1, seed=1), (5, 2, 3)),
    "sequential-cnn": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                                             nn.Flatten(), nn.Linear(8, 3, seed=2), nn.Tanh()), (2, 1, 4, 4)),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_backward_matches_central_differences(name, backend, rng):
    make, shape = LAYERS[name]
    module = _f64(make())
    x = rng.standard_normal(shape)
    if name == "rnn-truncated":
        # Truncated BPTT is not the exact gradient: check it with truncation >= T - 1 instead.
        module.truncate = shape[0]
    _gradcheck(module, x, rng, backend)


def test_rnn_truncation_cuts_the_gradient(backend, rng):
    full, cut = nn.RNN(3, 4, seed=1).astype(np.float64), nn.RNN(3, 4, truncate=0, seed=1).astype(np.float64)
    x = rng.standard_normal((4, 2, 3))
    dhs = np.zeros((4, 2, 4))
    dhs[-1] = 1.0
    with pykernels.use_backend(backend):
        full.forward(x)
        cut.forward(x)
        dx_full, dx_cut = full.backward(dhs), cut.backward(dhs)
    assert np.abs(dx_full[0]).sum() > 0 and np.all(dx_cut[:-1] == 0)


def test_charrnn_gradient(backend, rng):
    model = nn.CharRNN("abcd", 5, seed=3).astype(np.float64)
    idx = rng.integers(0, 4, (6, 2))
    with pykernels.use_backend(backend):
        logits = model.forward(idx)
        dy = rng.standard_normal(logits.shape)
        model.zero_grad()
        assert model.backward(dy) is None
        np.testing.assert_array_equal(model.forward(np.eye(4)[idx]), logits)  # one-hot rows work too
        model.zero_grad()
        model.backward(dy)

        def f():
            return float(np.sum(model.forward(idx) * dy))

        for p in model.parameters():
            np.testing.assert_allclose(p.grad, numeric_grad(f, p.data), **tol("numgrad", np.float64), err_msg=p.name)


@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
def test_softmax_cross_entropy_backward(backend, rng, target_kind):
    logits = rng.standard_normal((4, 5))
    target = rng.integers(0, 5, 4) if target_kind == "labels" else rng.dirichlet(np.ones(5), 4)
    loss = nn.SoftmaxCrossEntropy()
    with pykernels.use_backend(backend):
        value = loss(logits, target)
        grad = loss.backward()
        num = numeric_grad(lambda: loss(logits, target), logits)
    np.testing.assert_allclose(grad, num, **tol("numgrad", np.float64))
    # against the formula: mean of -log softmax at the label
    logp = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    t = np.eye(5)[target] if target_kind == "labels" else target
    assert value == pytest.approx(float(-(t * logp).sum(1).mean()), rel=1e-12)


def test_mse_loss_matches_torch_and_differences(rng, torch):
    pred, target = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    loss = nn.MSELoss()
    value = loss(pred, target)
    grad = loss.backward()
    tp = torch.tensor(pred, requires_grad=True)
    tl = torch.nn.functional.mse_loss(tp, torch.tensor(target))
    tl.backward()
    assert value == pytest.approx(tl.item(), rel=1e-12)
    np.testing.assert_allclose(grad, tp.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(lambda: loss(pred, target), pred), **tol("numgrad", np.float64))


def test_layers_match_torch_forward(rng, torch):
    """Same weights → same outputs as torch.nn (float64)."""
    F = torch.nn.functional
    conv = nn.Conv2d(2, 3, 3, stride=2, padding=1, seed=0).astype(np.float64)
    lin = nn.Linear(4, 2, seed=0).astype(np.float64)
    x = rng.standard_normal((2, 2, 5, 5))
    t = torch.from_numpy
    np.testing.assert_allclose(conv(x), F.conv2d(t(x), t(conv.weight.data), t(conv.bias.data), stride=2, padding=1).numpy(), rtol=1e-10, atol=1e-12)
    xl = rng.standard_normal((3, 4))
    np.testing.assert_allclose(lin(xl), F.linear(t(xl), t(lin.weight.data), t(lin.bias.data)).numpy(), rtol=1e-10, atol=1e-12)


def _cnn(seed=0):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16, 3, seed=seed + 1))


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_backends_agree_after_one_step(backend, rng, opt):
    x = rng.standard_normal((5, 1, 4, 4)).astype(np.float32)
    y = rng.integers(0, 3, 5)
    results = {}
    for be in ("numpy", backend):
        model = _cnn()
        o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if opt == "sgd" else optim.Adam(model.parameters(), lr=0.01)
        loss = nn.SoftmaxCrossEntropy()
        with pykernels.use_backend(be):
            o.zero_grad()
            loss(model(x), y)
            model.backward(loss.backward())
            o.step()
            results[be] = [p.data.copy() for p in model.parameters()] + [model(x)]
    for got, want in zip(results[backend], results["numpy"]):
        np.testing.assert_allclose(got, want, **tol("backward", np.float32))


def test_zero_grad_and_accumulation(rng):
    lin = nn.Linear(3, 2, seed=0).astype(np.float64)
    x, dy = rng.standard_normal((4, 3)), rng.standard_normal((4, 2))
    lin(x)
    lin.backward(dy)
    once = lin.weight.grad.copy()
    lin(x)
    lin.backward(dy)
    np.testing.assert_allclose(lin.weight.grad, 2 * once)
    np.testing.assert_allclose(once, dy.T @ x)
    lin.zero_grad()
    assert not lin.weight.grad.any() and not lin.bias.grad.any()


def test_parameters_names_and_modes():
    model = _cnn()
    names = [n for n, _ in model.named_parameters()]
    assert names == ["0.weight", "0.bias", "4.weight", "4.bias"]
    assert len(model.parameters()) == 4
    assert model.eval() is model and not model.layers[0].training
    assert model.train().layers[-1].training


def test_initialisation_is_seeded_and_pytorch_like():
    a, b = nn.Linear(100, 50, seed=7), nn.Linear(100, 50, seed=7)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert a.weight.data.dtype == np.float32
    assert np.abs(a.weight.data).max() <= 0.1 and np.abs(a.weight.data).max() > 0.09  # U(-1/sqrt(100), ..)
    nn.manual_seed(3)
    c = nn.Linear(4, 4)
    nn.manual_seed(3)
    np.testing.assert_array_equal(c.weight.data, nn.Linear(4, 4).weight.data)


@pytest.mark.parametrize("shape, bound, dtype", [((256, 784), 0.1, np.float32), ((8192,), 2.0, np.float64),
                                                  ((3, 8193), 1e-3, np.float32), ((5, 0), 1.0, np.float32),
                                                  ((), 0.5, np.float64), ((7,), 0.0, np.float32)])
def test_uniform_init_draws_numpys_uniform(shape, bound, dtype):
    """The layers' initial weights are NumPy's ``rng.uniform(-bound, bound)`` cast to the dtype, bit for
    bit, and leave the generator where it would (uniform_init draws them in chunks)."""
    from pykernels.nn.module import uniform_init
    mine, numpys = np.random.default_rng(11), np.random.default_rng(11)
    got = uniform_init(mine, shape, bound, dtype)
    want = numpys.uniform(-bound, bound, size=shape).astype(dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got.reshape(-1).view(np.uint8), want.reshape(-1).view(np.uint8))
    assert mine.random() == numpys.random()


@pytest.mark.parametrize("seed", [0, 5, 2**40 + 3])
def test_uniform_init_compiled_path(seed):
    """The compiled PCG64 fill (csrc/pcg64.cpp: jumped sub-streams, threads for large arrays) gives
    the values and the generator state of the NumPy loop: past the sub-streams' and threads' splits,
    with a buffered 32-bit draw in the state, and from a generator that draws concurrently; other bit
    generators take the loop."""
    cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")
    from pykernels.nn import module

    def both(rng_a, rng_b, shape, bound, dtype):
        got = module.uniform_init(rng_a, shape, bound, dtype)
        want = rng_b.uniform(-bound, bound, size=shape).astype(dtype)
        np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
        if isinstance(rng_a.bit_generator, np.random.PCG64):
            assert rng_a.bit_generator.state == rng_b.bit_generator.state
        assert rng_a.random() == rng_b.random()

    for shape in [(1,), (3,), (4,), (5,), (65536 * 2 + 3,), (1000, 1000)]:
        for dtype in (np.float32, np.float64):
            a, b = np.random.default_rng(seed), np.random.default_rng(seed)
            a.integers(0, 7, size=1, dtype=np.uint32), b.integers(0, 7, size=1, dtype=np.uint32)
            both(a, b, shape, 0.37, dtype)
            assert a.integers(0, 2**32, dtype=np.uint32) == b.integers(0, 2**32, dtype=np.uint32)
    # it runs: the compiled fill advances a state by itself as rng.random would
    state = np.random.default_rng(seed).bit_generator.state["state"]
    out = np.empty(10)
    hi, lo = cpu._pcg64_uniform(out, state["state"] >> 64, state["state"] & (2**64 - 1), state["inc"] >> 64,
                                state["inc"] & (2**64 - 1), 0.0, 1.0)
    ref = np.random.default_rng(seed)
    np.testing.assert_array_equal(out, ref.random(10))
    assert (hi << 64 | lo) == ref.bit_generator.state["state"]["state"]
    # another bit generator: the NumPy loop
    a, b = np.random.Generator(np.random.MT19937(seed)), np.random.Generator(np.random.MT19937(seed))
    both(a, b, (300, 7), 0.5, np.float32)
    # one generator, two threads: each array is one of two consecutive draws (the state is locked)
    shared, ref = np.random.default_rng(seed), np.random.default_rng(seed)
    results = [None, None]
    concurrently(lambda i: results.__setitem__(i, module.uniform_init(shared, (400, 500), 1.0, np.float32)), [(0,), (1,)])
    first, second = (ref.uniform(-1.0, 1.0, size=(400, 500)).astype(np.float32) for _ in range(2))
    assert {results[0].tobytes(), results[1].tobytes()} == {first.tobytes(), second.tobytes()}
    assert shared.bit_generator.state == ref.bit_generator.state


def test_bad_input_raises_clear_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="Linear: input must have 3 features"):
        lin(np.zeros((4, 5), np.float32))
    y = lin(np.ones((4, 3)))  # real data of another dtype is converted to the parameters' dtype
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, lin(np.ones((4, 3), np.float32)))
    with pytest.raises(TypeError, match="real numbers"):
        lin(np.zeros((4, 3), np.complex64))
    with pytest.raises(TypeError, match="numpy.ndarray"):
        lin([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="2-D"):
        lin(np.zeros(3, np.float32))
    conv = nn.Conv2d(2, 3, 3)
    with pytest.raises(ValueError, match="2 channels"):
        conv(np.zeros((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv(np.zeros((1, 2, 2, 2), np.float32))
    with pytest.raises(ValueError, match="label 7 is outside \\[0, 3\\)"):
        nn.SoftmaxCrossEntropy()(np.zeros((2, 3), np.float32), np.array([0, 7]))
    with pytest.raises(ValueError, match="label -1"):
        nn.SoftmaxCrossEntropy()(np.zeros((2, 3), np.float32), np.array([0, -1]))
    with pytest.raises(ValueError, match="shape of pred"):
        nn.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="in_features"):
        nn.Linear(0, 2)
    with pytest.raises(TypeError, match="Sequential: layer 1"):
        nn.Sequential(nn.ReLU(), "relu")
    with pytest.raises(RuntimeError, match="before forward"):
        nn.Linear(2, 2).backward(np.zeros((1, 2), np.float32))
    lin(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="dy must have shape"):
        lin.backward(np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="RNN: input must have shape"):
        nn.RNN(3, 4)(np.zeros((2, 1, 2), np.float32))
    with pytest.raises(ValueError, match="not in the vocabulary"):
        nn.CharRNN("abc", 4).sample("abz", 3)
