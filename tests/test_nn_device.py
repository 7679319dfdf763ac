"""Device-resident training on the cuda backends (cuda-sim here; cuda where a GPU exists).

- the 'tensor' family (cuda/tensor.cu): each kernel against NumPy, float32 and float64, odd sizes;
  the fused optimizer updates also against torch.optim (the independent oracle);
- a model moved by Module.to_device() trains to the same parameters as on the cpu backend, keeps
  parameters, gradients and optimizer state as DeviceArrays after every step, and a step copies only
  the input batch and labels in and the loss value out (a spy on the runtime's copy functions).
"""
import numpy as np
import pytest

import pykernels as pk
from pykernels import _backend, nn, optim
from pykernels.backends.cuda.runtime import DeviceArray
from pykernels.optim import _update

from helpers import tol

DEVICE_BACKENDS = ("cuda-sim", "cuda")


@pytest.fixture(params=DEVICE_BACKENDS)
def dev(request):
    """(backend name, its op namespace) for every cuda backend that runs here (others skip, with why)."""
    be, reason = _backend._get(request.param)
    if be is None:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    from pykernels.nn import _tensor

    be = _tensor.resolve(request.param)
    return request.param, be.impl


def _up(impl, a):
    return impl.runtime.to_device(np.ascontiguousarray(a))


# --------------------------------------------------------------------------- tensor kernels vs NumPy

@pytest.mark.parametrize("n", [1, 7, 257, 3001])
def test_fill_and_axpby(dev, dtype, rng, n):
    _, impl = dev
    x = rng.standard_normal(n).astype(dtype)
    y = rng.standard_normal(n).astype(dtype)
    xd, yd = _up(impl, x), _up(impl, y)
    np.testing.assert_array_equal(impl.axpby(1.0, xd).get(), x)  # a copy is exact
    np.testing.assert_allclose(impl.axpby(-0.5, xd).get(), dtype.type(-0.5) * x, **tol("forward", dtype))
    np.testing.assert_allclose(impl.axpby(2.0, xd, -3.0, yd).get(),
                               dtype.type(2.0) * x + dtype.type(-3.0) * y, **tol("forward", dtype))
    impl.axpby(1.0, xd, 1.0, yd, out=yd)  # in place, out aliases y
    np.testing.assert_allclose(yd.get(), x + y, **tol("forward", dtype))
    impl.fill(xd, 2.5)
    np.testing.assert_array_equal(xd.get(), np.full(n, 2.5, dtype))
    impl.fill(xd, 0.0)
    np.testing.assert_array_equal(xd.get(), np.zeros(n, dtype))
    impl.fill(xd, -0.0)
    assert np.all(np.signbit(xd.get()))


@pytest.mark.parametrize("rows,cols", [(1, 1), (5, 3), (33, 129)])
def test_bias_rows_and_column_sums(dev, dtype, rng, rows, cols):
    _, impl = dev
    y = rng.standard_normal((rows, cols)).astype(dtype)
    b = rng.standard_normal(cols).astype(dtype)
    yd = _up(impl, y)
    assert impl.add_bias_rows(yd, _up(impl, b)) is yd
    np.testing.assert_array_equal(yd.get(), y + b)
    g = rng.standard_normal(cols).astype(dtype)
    gd = _up(impl, g)
    impl.accumulate_column_sums(gd, _up(impl, y))
    # rows are added in order, then added to the gradient: exactly a sequential float loop
    np.testing.assert_array_equal(gd.get(), g + np.cumsum(y, axis=0, dtype=dtype)[-1])
    np.testing.assert_allclose(gd.get(), g + y.astype(np.float64).sum(axis=0), **tol("forward", dtype))


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (3, 5, 7, 2), (2, 17, 9, 11)])
def test_bias_channels(dev, dtype, rng, shape):
    _, impl = dev
    y = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape[1]).astype(dtype)
    yd = _up(impl, y)
    impl.add_bias_channels(yd, _up(impl, b))
    np.testing.assert_array_equal(yd.get(), y + b.reshape(1, -1, 1, 1))


@pytest.mark.parametrize("n", [0, 1, 255, 257, 10007])
def test_sum_squares_is_deterministic(dev, dtype, rng, n):
    _, impl = dev
    x = rng.standard_normal(n).astype(dtype)
    xd = _up(impl, x)
    s = impl.sum_squares(xd, 0.5)
    assert isinstance(s, DeviceArray) and s.shape == ()
    want = 0.5 * float(np.sum(x.astype(np.float64) ** 2))
    np.testing.assert_allclose(float(s.get()), want, **tol("backward", dtype))  # a long sum
    assert all(impl.sum_squares(xd, 0.5).get() == s.get() for _ in range(3))  # bit-identical reruns


def test_clip(dev, dtype, rng):
    _, impl = dev
    x = (3 * rng.standard_normal(1001)).astype(dtype)
    x[5] = np.nan
    xd = _up(impl, x)
    impl.clip(xd, 1.5)
    np.testing.assert_array_equal(xd.get(), np.clip(x, -1.5, 1.5))  # NaN stays NaN
    with pytest.raises(ValueError, match="clip: argument 'limit'"):
        impl.clip(xd, -1.0)


@pytest.mark.parametrize("rows,cols", [(1, 1), (7, 3), (300, 10)])
def test_argmax_hits(dev, dtype, rng, rows, cols):
    _, impl = dev
    logits = rng.integers(0, 3, (rows, cols)).astype(dtype)  # many ties: the first maximum wins
    if rows > 2 and cols > 1:
        logits[1, 1] = np.nan  # NumPy's argmax picks a NaN
    labels = rng.integers(0, cols, rows)
    want = int((logits.argmax(axis=1) == labels).sum())
    hits = impl.runtime.to_device(np.array([4], np.int64))
    impl.argmax_hits(_up(impl, logits), _up(impl, labels), hits)
    impl.argmax_hits(_up(impl, logits), _up(impl, labels), hits)
    assert hits.get()[0] == 4 + 2 * want


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.8, 0.05)])
def test_sgd_update_matches_numpy(dev, dtype, rng, momentum, weight_decay):
    _, impl = dev
    p = rng.standard_normal((5, 7)).astype(dtype)
    buf = np.zeros_like(p)
    pd, bd = _up(impl, p), _up(impl, buf)
    for step in range(3):
        g = rng.standard_normal(p.shape).astype(dtype)
        kw = dict(lr=0.1, momentum=momentum, weight_decay=weight_decay, first=step == 0)
        _update.sgd(p, g, buf, **kw)
        impl.sgd_update(pd, _up(impl, g), bd, **kw)
        np.testing.assert_allclose(pd.get(), p, **tol("forward", dtype))
        if momentum:
            np.testing.assert_allclose(bd.get(), buf, **tol("forward", dtype))


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_update_matches_numpy(dev, dtype, rng, weight_decay):
    _, impl = dev
    p = rng.standard_normal(301).astype(dtype)
    m, v, tmp = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
    pd, md, vd = _up(impl, p), _up(impl, m), _up(impl, v)
    for step in range(1, 5):
        g = rng.standard_normal(p.shape).astype(dtype)
        kw = dict(step=step, lr=0.01, beta1=0.8, beta2=0.95, eps=1e-6, weight_decay=weight_decay)
        _update.adam(p, g, m, v, tmp, **kw)
        impl.adam_update(pd, _up(impl, g), md, vd, **kw)
        for got, want in ((pd, p), (md, m), (vd, v)):
            np.testing.assert_allclose(got.get(), want, **tol("forward", dtype))


@pytest.mark.parametrize("kind", ["sgd-momentum-wd", "adam-wd"])
def test_device_optimizers_match_torch(dev, rng, torch, kind):
    name, impl = dev
    w = rng.standard_normal((4, 6))
    p = nn.Parameter(_up(impl, w), "w")
    p.grad = _up(impl, np.zeros_like(w))
    tp = torch.tensor(w.copy(), requires_grad=True)
    if kind.startswith("sgd"):
        kw = dict(lr=0.05, momentum=0.9, weight_decay=0.01)
        ours, theirs = optim.SGD([p], **kw), torch.optim.SGD([tp], **kw)
    else:
        kw = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.02)
        ours, theirs = optim.Adam([p], **kw), torch.optim.Adam([tp], **kw)
    for _ in range(4):
        g = rng.standard_normal(w.shape)
        p.grad = _up(impl, g)
        tp.grad = torch.tensor(g)
        ours.step()
        theirs.step()
        assert isinstance(p.data, DeviceArray)
        np.testing.assert_allclose(p.data.get(), tp.detach().numpy(), **tol("oracle", np.float64))


def test_view_shares_memory(dev, rng):
    _, impl = dev
    x = rng.standard_normal((4, 6))
    xd = _up(impl, x)
    v = impl.view(xd, (3, -1))
    assert v.shape == (3, 8) and v.ptr == xd.ptr
    vv = impl.view(v, (24,))
    impl.fill(vv, 1.0)
    np.testing.assert_array_equal(xd.get(), np.ones((4, 6)))
    with pytest.raises(ValueError, match="view: cannot view"):
        impl.view(xd, (5, -1))
    del xd, v
    np.testing.assert_array_equal(vv.get(), np.ones(24))  # the view keeps its base alive


def test_tensor_ops_reject_bad_arguments(dev):
    name, impl = dev
    xd = _up(impl, np.zeros(5, np.float32))
    with pytest.raises(TypeError, match="fill: argument 'x' must be a DeviceArray"):
        impl.fill(np.zeros(5, np.float32), 1.0)
    with pytest.raises(TypeError, match="axpby: argument 'y' must have dtype float32"):
        impl.axpby(1.0, xd, 1.0, _up(impl, np.zeros(5)))
    with pytest.raises(ValueError, match=r"add_bias_rows: argument 'b' must have shape \(3,\)"):
        impl.add_bias_rows(_up(impl, np.zeros((2, 3), np.float32)), xd)
    with pytest.raises(TypeError, match="argmax_hits: argument 'labels' must have dtype int64"):
        impl.argmax_hits(_up(impl, np.zeros((5, 2), np.float32)), xd, _up(impl, np.zeros(1, np.int64)))
    with pytest.raises(TypeError, match="fill: argument 'x' must be float32 or float64"):
        impl.fill(_up(impl, np.zeros(3, np.int32)), 0)


# --------------------------------------------------------------------------- device-resident models

def _mlp(dtype):
    return nn.Sequential(nn.Linear(11, 13, dtype=dtype, seed=1), nn.Tanh(), nn.Linear(13, 9, dtype=dtype, seed=2),
                         nn.ReLU(), nn.Linear(9, 4, dtype=dtype, seed=3))


def _lenet(dtype):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, dtype=dtype, seed=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, dtype=dtype, seed=2), nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(),
                         nn.Linear(6 * 2 * 2, 5, dtype=dtype, seed=3))


def _data(kind, dtype, n=10):
    r = np.random.default_rng(7)
    x = r.standard_normal((n, 11) if kind == "mlp" else (n, 1, 12, 12)).astype(dtype)
    return x, r.integers(0, 4 if kind == "mlp" else 5, n)


def _optimizer(kind, params):
    if kind == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=0.01)
    return optim.Adam(params, lr=0.01, weight_decay=0.01)


def _state(opt):
    if isinstance(opt, optim.SGD):
        return list(opt.buffers)
    return list(opt.m) + list(opt.v)


def _train(model, opt, x, y, steps, on_step=None):
    loss = nn.SoftmaxCrossEntropy()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        losses.append(loss(model(x), y))
        model.backward(loss.backward())
        opt.step()
        if on_step is not None:
            on_step(model, opt)
    return losses


def _host(a):
    return a.get() if isinstance(a, DeviceArray) else a


@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
@pytest.mark.parametrize("arch", ["mlp", "lenet"])
def test_device_training_matches_cpu(dev, dtype, arch, opt_kind):
    name, _ = dev
    build = _mlp if arch == "mlp" else _lenet
    x, y = _data(arch, dtype)
    with pk.use_backend("cpu"):
        ref = build(dtype)
        ref_losses = _train(ref, _optimizer(opt_kind, ref.parameters()), x, y, 4)

    def stays_on_device(model, opt):
        for p in model.parameters():
            assert isinstance(p.data, DeviceArray) and isinstance(p.grad, DeviceArray), p
            assert p.data.runtime.name == name
        for s in _state(opt):
            assert isinstance(s, DeviceArray)

    model = build(dtype).to_device(name)  # the active backend stays "numpy": the model computes where it lives
    assert model.device == name
    losses = _train(model, _optimizer(opt_kind, model.parameters()), x, y, 4, stays_on_device)
    assert all(isinstance(v, float) for v in losses)
    np.testing.assert_allclose(losses, ref_losses, **tol("backward", dtype))
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.data.get(), q.data, **tol("backward", dtype), err_msg=p.name)
        np.testing.assert_allclose(p.grad.get(), q.grad, **tol("backward", dtype), err_msg=p.name)
    assert ref_losses[-1] < ref_losses[0]  # it did train


class _CopySpy:
    """Counts the runtime's host<->device copies (the native functions every upload/download uses)."""

    def __init__(self, monkeypatch, impl):
        native = impl.runtime.native
        self.htod, self.dtoh, self.htod_bytes = 0, 0, 0
        orig_htod, orig_dtoh = native.memcpy_htod, native.memcpy_dtoh

        def htod(dst, src):
            self.htod += 1
            self.htod_bytes += src.nbytes
            return orig_htod(dst, src)

        def dtoh(dst, src):
            self.dtoh += 1
            return orig_dtoh(dst, src)

        monkeypatch.setattr(native, "memcpy_htod", htod)
        monkeypatch.setattr(native, "memcpy_dtoh", dtoh)


@pytest.mark.parametrize("arch", ["mlp", "lenet"])
@pytest.mark.parametrize("opt_kind", ["sgd", "adam"])
def test_a_step_copies_only_the_batch_in_and_the_loss_out(dev, monkeypatch, arch, opt_kind):
    name, impl = dev
    x, y = _data(arch, np.float32)
    model = (_mlp if arch == "mlp" else _lenet)(np.float32).to_device(name)
    opt = _optimizer(opt_kind, model.parameters())
    _train(model, opt, x, y, 1)  # warm up (nothing is allocated lazily on the host side anyway)
    spy = _CopySpy(monkeypatch, impl)
    steps = 3
    _train(model, opt, x, y, steps)
    assert spy.htod == 2 * steps  # the input batch and its labels
    assert spy.htod_bytes == steps * (x.nbytes + y.astype(np.int64).nbytes)
    assert spy.dtoh == steps  # the loss value


def test_spy_sees_the_copies_of_a_host_model(dev, monkeypatch):
    """The spy is not blind: the same step with NumPy parameters on the device backend copies much more."""
    name, impl = dev
    x, y = _data("mlp", np.float32)
    model = _mlp(np.float32)
    opt = _optimizer("sgd", model.parameters())
    spy = _CopySpy(monkeypatch, impl)
    with pk.use_backend(name):
        _train(model, opt, x, y, 1)
    assert spy.htod > 10 and spy.dtoh > 5


def test_mse_loss_on_device(dev, dtype):
    name, _ = dev
    r = np.random.default_rng(3)
    x, t = r.standard_normal((9, 11)).astype(dtype), r.standard_normal((9, 4)).astype(dtype)
    results = []
    for where in (None, name):
        model = _mlp(dtype)
        if where:
            model.to_device(where)
        opt, loss = optim.SGD(model, lr=0.05), nn.MSELoss()
        with pk.use_backend("cpu"):
            vals = []
            for _ in range(3):
                opt.zero_grad()
                vals.append(loss(model(x), t))
                model.backward(loss.backward())
                opt.step()
        results.append((vals, [_host(p.data) for p in model.parameters()]))
    np.testing.assert_allclose(results[1][0], results[0][0], **tol("backward", dtype))
    for a, b in zip(results[1][1], results[0][1]):
        np.testing.assert_allclose(a, b, **tol("backward", dtype))


def test_fit_on_device(dev, monkeypatch):
    name, impl = dev
    r = np.random.default_rng(5)
    x = r.standard_normal((50, 11)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    xv, yv = x[:20], y[:20]
    hists, models = [], []
    for where in (None, name):
        model = _mlp(np.float32)
        if where:
            model.to_device(where)
        opt = optim.Adam(model, lr=0.02)
        with pk.use_backend("cpu"):
            hists.append(nn.fit(model, nn.SoftmaxCrossEntropy(), opt, x, y, epochs=3, batch_size=16,
                                validation=(xv, yv), early_stopping=2, progress=False, seed=1))
        models.append(model)
    host_h, dev_h = hists
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(dev_h[key], host_h[key], **tol("backward", np.float32))
    assert dev_h["accuracy"] == host_h["accuracy"] and dev_h["val_accuracy"] == host_h["val_accuracy"]
    assert all(isinstance(p.data, DeviceArray) for p in models[1].parameters())
    out = nn.predict(models[1], xv)
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(out, nn.predict(models[0], xv), **tol("backward", np.float32))
    # without validation: per epoch, one loss value per batch and one accuracy count come back
    spy = _CopySpy(monkeypatch, impl)
    nn.fit(models[1], nn.SoftmaxCrossEntropy(), optim.SGD(models[1], lr=0.1, momentum=0.5), x, y, epochs=2,
           batch_size=16, progress=False)
    batches = 2 * 4
    assert spy.dtoh == batches + 2
    assert spy.htod == 2 * batches + 0  # batch and labels; the momentum buffers are zeroed on the device


def test_save_load_and_moves(dev, tmp_path):
    name, _ = dev
    model = _mlp(np.float32).to_device(name)
    x, y = _data("mlp", np.float32)
    _train(model, _optimizer("adam", model.parameters()), x, y, 2)
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = nn.load(path)
    assert loaded.device is None
    for p, q in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(p.data.get(), q.data)
    loaded.to_device(name)
    np.testing.assert_array_equal(nn.predict(loaded, x), nn.predict(model, x))
    model.to_host()
    assert model.device is None and all(isinstance(p.data, np.ndarray) for p in model.parameters())
    for p, q in zip(model.parameters(), loaded.parameters()):
        np.testing.assert_array_equal(p.data, q.data.get())
    # the host model computes on the active backend (numpy): same weights, other rounding
    np.testing.assert_allclose(nn.predict(loaded, x), nn.predict(model, x), **tol("forward", np.float32))


def test_state_follows_a_model_moved_after_its_optimizer(dev, dtype):
    name, _ = dev
    x, y = _data("mlp", dtype)
    ref = _mlp(dtype)
    _train(ref, _optimizer("sgd", ref.parameters()), x, y, 3)
    model = _mlp(dtype)
    opt = _optimizer("sgd", model.parameters())
    _train(model, opt, x, y, 1)
    model.to_device(name)  # the momentum buffers move with it at the next step
    _train(model, opt, x, y, 2)
    assert all(isinstance(b, DeviceArray) for b in opt.buffers)
    for p, q in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(p.data.get(), q.data, **tol("backward", dtype))


def test_to_device_needs_a_cuda_backend():
    with pytest.raises(ValueError, match="to_device: backend must be 'cuda' or 'cuda-sim'"):
        _mlp(np.float32).to_device("cpu")


def test_device_input_must_have_the_model_dtype(dev):
    name, impl = dev
    model = _mlp(np.float32).to_device(name)
    with pytest.raises(TypeError, match="Linear: a device input must have the model's dtype float32"):
        model(_up(impl, np.zeros((2, 11))))
    out = model(_up(impl, np.zeros((2, 11), np.float32)))  # a device batch is used in place
    assert isinstance(out, DeviceArray) and out.shape == (2, 4)


def test_char_rnn_fit_on_device(dev, monkeypatch):
    """CharRNN.fit (Adam, elementwise gradient clipping, hidden state carried between windows) on the
    device: the cpu backend's losses and weights, state on the device, and per step only the one-hot
    window and its labels go over and the loss value comes back."""
    name, impl = dev
    text = "the quick brown fox jumps over the lazy dog; " * 6
    kw = dict(steps=6, seq_length=8, batch_size=2, lr=0.05, clip=0.5, seed=3, log_every=1)
    with pk.use_backend("cpu"):
        ref = nn.CharRNN(text, 12, seed=4)
        ref_hist = ref.fit(text, **kw)
    model = nn.CharRNN(text, 12, seed=4).to_device(name)
    spy = _CopySpy(monkeypatch, impl)
    hist = model.fit(text, **kw)
    assert spy.dtoh == kw["steps"] and spy.htod == 2 * kw["steps"]
    np.testing.assert_allclose(hist["loss"], ref_hist["loss"], **tol("backward", np.float32))
    for p, q in zip(model.parameters(), ref.parameters()):
        assert isinstance(p.data, DeviceArray) and isinstance(p.grad, DeviceArray)
        np.testing.assert_allclose(p.data.get(), q.data, **tol("backward", np.float32), err_msg=p.name)
    assert isinstance(model.rnn.hs, DeviceArray)
    with pk.use_backend("cpu"):
        got, want = model.sample("the ", 20, seed=1), ref.sample("the ", 20, seed=1)
    assert len(got) == 24 and got.startswith("the ")
    if name == "cuda-sim":  # same weights, same draws (a GPU's FMA rounding could flip a close draw)
        assert got == want


def test_last_is_a_view_of_the_last_step(dev, rng):
    _, impl = dev
    x = rng.standard_normal((4, 3, 5))
    xd = _up(impl, x)
    np.testing.assert_array_equal(impl.last(xd).get(), x[-1])
    v = impl.view(xd, (2, 2, 15))
    np.testing.assert_array_equal(impl.last(impl.last(v)).get(), x.reshape(2, 2, 15)[-1, -1])
    impl.fill(impl.last(xd), 0.0)
    x[-1] = 0
    np.testing.assert_array_equal(xd.get(), x)
    with pytest.raises(ValueError, match="last: argument 'x' must have a non-empty first axis"):
        impl.last(_up(impl, np.zeros((0, 3))))


@pytest.mark.parametrize("make", [lambda: nn.RBM(6, 3), lambda: nn.DBN([6, 4, 3]), lambda: nn.Perceptron(4)],
                         ids=["rbm", "dbn", "perceptron"])
def test_host_only_models_refuse_to_device(dev, make):
    name, _ = dev
    model = make()
    with pytest.raises(TypeError, match="trains on the host only"):
        model.to_device(name)
    assert model.device is None


def test_layers_built_or_loaded_on_an_auto_device_backend_start_there(dev, monkeypatch, tmp_path):
    """API.md: parameters live on the active backend's device.  On "cuda" that is automatic; here the
    same mechanism is switched on for the backend under test (cuda-sim keeps NumPy parameters by
    default)."""
    from pykernels.nn import module

    name, _ = dev
    monkeypatch.setattr(module, "AUTO_DEVICE_BACKENDS", (name,))
    x, y = _data("mlp", np.dtype(np.float32))
    with pk.use_backend(name):
        model = _mlp(np.float32)
        assert model.device == name
        assert all(isinstance(p.data, DeviceArray) and isinstance(p.grad, DeviceArray)
                   for p in model.parameters())
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        before = [_host(p.data).copy() for p in model.parameters()]
        _train(model, opt, x, y, 2)
        assert all(isinstance(p.data, DeviceArray) for p in model.parameters())
        assert any(not np.array_equal(b, _host(p.data)) for b, p in zip(before, model.parameters()))
        path = tmp_path / "m.npz"
        model.save(path)
        loaded = nn.load(path)
        assert loaded.device == name
        for p, q in zip(model.parameters(), loaded.parameters()):
            np.testing.assert_array_equal(_host(p.data), _host(q.data))
    with pk.use_backend("cpu"):  # elsewhere nothing moves
        assert _mlp(np.float32).device is None
        assert nn.load(path).device is None
    # a model with a host-only part stays on the host
    with pk.use_backend(name):
        assert nn.RBM(4, 3).device is None
