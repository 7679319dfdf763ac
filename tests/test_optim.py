"""pykernels.optim: SGD (momentum, weight decay) and Adam against their formulas and torch.optim."""
import numpy as np
import pytest

from pykernels import nn, optim


def _param(rng, shape=(3, 4)):
    p = nn.Parameter(rng.standard_normal(shape), "w")
    return p


def _grads(rng, steps, shape=(3, 4)):
    return [rng.standard_normal(shape) for _ in range(steps)]


@pytest.mark.parametrize("momentum,weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.1), (0.8, 0.05)])
def test_sgd_matches_formula(rng, momentum, weight_decay):
    p = _param(rng)
    w = p.data.copy()
    opt = optim.SGD([p], lr=0.1, momentum=momentum, weight_decay=weight_decay)
    buf = None
    for g in _grads(rng, 4):
        p.grad[...] = g
        opt.step()
        d = g + weight_decay * w
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = buf
        w = w - 0.1 * d
        np.testing.assert_allclose(p.data, w, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_adam_matches_formula(rng, weight_decay):
    p = _param(rng)
    w = p.data.copy()
    b1, b2, eps, lr = 0.8, 0.95, 1e-6, 0.05
    opt = optim.Adam([p], lr=lr, betas=(b1, b2), eps=eps, weight_decay=weight_decay)
    m = v = 0.0
    for t, g in enumerate(_grads(rng, 5), start=1):
        p.grad[...] = g
        opt.step()
        g = g + weight_decay * w
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        np.testing.assert_allclose(p.data, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["sgd", "sgd-momentum-wd", "adam", "adam-wd"])
def test_optimizers_match_torch(rng, torch, kind):
    p = _param(rng)
    tp = torch.tensor(p.data.copy(), requires_grad=True)
    if kind.startswith("sgd"):
        kw = dict(lr=0.05, momentum=0.9, weight_decay=0.01) if "momentum" in kind else dict(lr=0.05)
        ours, theirs = optim.SGD([p], **kw), torch.optim.SGD([tp], **kw)
    else:
        kw = dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.02 if "wd" in kind else 0.0)
        ours, theirs = optim.Adam([p], **kw), torch.optim.Adam([tp], **kw)
    for g in _grads(rng, 6):
        p.grad[...] = g
        ours.step()
        tp.grad = torch.tensor(g)
        theirs.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_zero_grad_and_module_params(rng):
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    opt = optim.SGD(model, lr=0.1)
    assert len(opt.params) == 4
    for p in opt.params:
        p.grad[...] = 1.0
    opt.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())


def test_float32_parameters_stay_float32(rng):
    p = nn.Parameter(rng.standard_normal(5).astype(np.float32), "w")
    p.grad[...] = 1.0
    before = p.data
    optim.Adam([p], lr=0.1).step()
    assert p.data.dtype == np.float32 and p.data is before  # updated in place


def test_bad_arguments():
    p = nn.Parameter(np.zeros(2), "w")
    with pytest.raises(ValueError, match="lr"):
        optim.SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="empty"):
        optim.Adam([])
    with pytest.raises(TypeError, match="Parameter"):
        optim.SGD([np.zeros(2)], lr=0.1)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(TypeError, match="lr"):
        optim.SGD([p], lr="0.1")
