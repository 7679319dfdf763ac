"""Benchmark case for training: one epoch of the digits CNN, beside PyTorch CPU.

The network of ``python -m pykernels demo digits-cnn``: conv 1→16 3x3 pad 1, ReLU, max pool 2,
conv 16→32 3x3 pad 1, ReLU, max pool 2, linear 128→10; softmax cross-entropy, Adam(lr=1e-3),
batch 32, on scikit-learn's 1797 digits (8x8), float32, the same initial weights and sample order
on both sides.  PyTorch runs the usual loop (zero_grad, forward, loss, backward, step).
The check compares the weights after the epoch (training amplifies rounding, hence the loose
tolerance).
"""
import numpy as np

from pykernels.benchmark.case import Case

_BATCH = 32


def _digits(quick):
    try:
        from sklearn.datasets import load_digits

        d = load_digits()
        x, y = d.data.astype(np.float32) / 16.0, d.target.astype(np.int64)
    except ImportError:  # scikit-learn absent: random data of the same shapes
        rng = np.random.default_rng(0)
        x, y = rng.random((1797, 64), dtype=np.float32), rng.integers(0, 10, 1797)
    if quick:
        x, y = x[:512], y[:512]
    return x.reshape(-1, 1, 8, 8), y


def _model(seed=0):
    from pykernels import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, seed=seed), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, seed=seed + 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(128, 10, seed=seed + 2),
    )


def _inputs(quick=False):
    x, y = _digits(quick)
    weights = [p.data.copy() for p in _model().parameters()]
    order = np.random.default_rng(0).permutation(len(x))
    return {"x": x, "y": y, "weights": weights, "order": order}


def _ours(inputs, backend):
    import pykernels
    from pykernels import nn, optim

    model = _model()
    for p, w in zip(model.parameters(), inputs["weights"]):
        p.data[...] = w
    x, y, order = inputs["x"], inputs["y"], inputs["order"]
    loss = nn.SoftmaxCrossEntropy()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    with pykernels.use_backend(backend):
        for start in range(0, len(x), _BATCH):
            idx = order[start:start + _BATCH]
            opt.zero_grad()
            loss(model.forward(x[idx]), y[idx])
            model.backward(loss.backward())
            opt.step()
    return [p.data for p in model.parameters()]


def _torch(inputs):
    import torch

    F = torch.nn.functional
    params = [torch.from_numpy(w.copy()).requires_grad_() for w in inputs["weights"]]
    w1, b1, w2, b2, w3, b3 = params
    opt = torch.optim.Adam(params, lr=1e-3)
    x, y = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["y"])
    order = torch.from_numpy(inputs["order"])
    for start in range(0, len(x), _BATCH):
        idx = order[start:start + _BATCH]
        opt.zero_grad()
        h = F.max_pool2d(F.relu(F.conv2d(x[idx], w1, b1, padding=1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2, padding=1)), 2)
        F.cross_entropy(F.linear(h.flatten(1), w3, b3), y[idx]).backward()
        opt.step()
    return [p.detach().numpy() for p in params]


def _check(got, want):
    from pykernels.benchmark import default_check

    default_check(got, want, rtol=2e-2, atol=2e-3)


def cases(quick=False):
    return [
        Case("train", "digits-cnn training epoch N=1797 batch 32 Adam", lambda: _inputs(quick), _ours,
             peers={"torch": _torch}, check=_check, check_peers=("torch",), goals={"torch": 2.0}),
    ]
