"""Benchmark cases for pooling: forward + backward beside PyTorch CPU.

The torch peer for max pooling calls the same two ops as ours, without autograd:
``max_pool2d_with_indices`` and ``max_pool2d_with_indices_backward``; for average pooling
``avg_pool2d`` and ``avg_pool2d_backward``.
"""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def _inputs(shape, kernel, seed=0):
    rng = np.random.default_rng(seed)
    n, c, h, w = shape
    return {
        "x": rng.standard_normal(shape).astype(np.float32),
        "dy": rng.standard_normal((n, c, h // kernel, w // kernel)).astype(np.float32),
        "kernel": kernel,
    }


def _ours_max(inputs, backend):
    x = inputs["x"]
    y, indices = pykernels.max_pool2d(x, inputs["kernel"], backend=backend)
    return y, indices, pykernels.max_pool2d_backward(inputs["dy"], indices, x.shape, backend=backend)


def _torch_max(inputs):
    import torch

    x, dy, k = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["dy"]), inputs["kernel"]
    aten = torch.ops.aten
    y, indices = aten.max_pool2d_with_indices(x, [k, k], [k, k])
    dx = aten.max_pool2d_with_indices_backward(dy, x, [k, k], [k, k], [0, 0], [1, 1], False, indices)
    return y, indices, dx


def _ours_avg(inputs, backend):
    x, k = inputs["x"], inputs["kernel"]
    y = pykernels.avg_pool2d(x, k, backend=backend)
    return y, pykernels.avg_pool2d_backward(inputs["dy"], x.shape, k, backend=backend)


def _torch_avg(inputs):
    import torch

    x, dy, k = torch.from_numpy(inputs["x"]), torch.from_numpy(inputs["dy"]), inputs["kernel"]
    aten = torch.ops.aten
    y = aten.avg_pool2d(x, [k, k], [k, k])
    return y, aten.avg_pool2d_backward(dy, x, [k, k], [k, k], [0, 0], False, True, None)


def cases(quick=False):
    shape = (64, 16, 24, 24)
    name = "x".join(map(str, shape))
    found = [
        Case("pool", f"max_pool2d {name} k2 fwd+bwd", lambda: _inputs(shape, 2), _ours_max,
             peers={"torch": _torch_max}, check_peers=("torch",), goals={"torch": 5.0}),
    ]
    if not quick:
        found.append(Case("pool", f"avg_pool2d {name} k2 fwd+bwd", lambda: _inputs(shape, 2), _ours_avg,
                          peers={"torch": _torch_avg}, check_peers=("torch",)))
    return found
