"""Benchmark cases for convolution: conv2d forward + backward, beside PyTorch CPU.

The torch peer runs the same work through autograd (forward, then ``backward(dy)`` into fresh leaf
tensors, so dx, dw and db are all computed) on the same float32 inputs.
"""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def _conv_inputs(n, c_in, c_out, hw, k, padding, seed=0):
    rng = np.random.default_rng(seed)
    oh = hw + 2 * padding - k + 1
    return {
        "x": rng.standard_normal((n, c_in, hw, hw)).astype(np.float32),
        "w": (rng.standard_normal((c_out, c_in, k, k)) / k).astype(np.float32),
        "b": rng.standard_normal(c_out).astype(np.float32),
        "dy": rng.standard_normal((n, c_out, oh, oh)).astype(np.float32),
        "padding": padding,
    }


def _ours_conv(inputs, backend):
    x, w, p = inputs["x"], inputs["w"], inputs["padding"]
    y = pykernels.conv2d(x, w, inputs["b"], 1, p, backend=backend)
    return (y, *pykernels.conv2d_backward(inputs["dy"], x, w, 1, p, backend=backend))


def _torch_conv(inputs):
    import torch

    x, w, b = (torch.from_numpy(inputs[k]).requires_grad_() for k in ("x", "w", "b"))
    y = torch.nn.functional.conv2d(x, w, b, padding=inputs["padding"])
    y.backward(torch.from_numpy(inputs["dy"]))
    return y, x.grad, w.grad, b.grad


def _ours_conv_forward(inputs, backend):
    return pykernels.conv2d(inputs["x"], inputs["w"], inputs["b"], 1, inputs["padding"], backend=backend)


def _torch_conv_forward(inputs):
    import torch

    with torch.no_grad():
        return torch.nn.functional.conv2d(*(torch.from_numpy(inputs[k]) for k in ("x", "w", "b")),
                                          padding=inputs["padding"])


def _digits_inputs(seed=0):
    """The conv layers of the digits CNN: 8x8 images, conv 1->16 3x3 pad 1, max pool 2,
    conv 16->32 3x3 pad 1, max pool 2; batch 32, upstream gradient for the (32, 32, 2, 2) output."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((32, 1, 8, 8)).astype(np.float32),
        "w1": (rng.standard_normal((16, 1, 3, 3)) / 3).astype(np.float32),
        "b1": rng.standard_normal(16).astype(np.float32),
        "w2": (rng.standard_normal((32, 16, 3, 3)) / 12).astype(np.float32),
        "b2": rng.standard_normal(32).astype(np.float32),
        "dy": rng.standard_normal((32, 32, 2, 2)).astype(np.float32),
    }


def _ours_digits(inputs, backend):
    opts = dict(backend=backend)
    x, w1, w2 = inputs["x"], inputs["w1"], inputs["w2"]
    y1 = pykernels.conv2d(x, w1, inputs["b1"], 1, 1, **opts)
    p1, i1 = pykernels.max_pool2d(y1, 2, **opts)
    y2 = pykernels.conv2d(p1, w2, inputs["b2"], 1, 1, **opts)
    p2, i2 = pykernels.max_pool2d(y2, 2, **opts)
    dy2 = pykernels.max_pool2d_backward(inputs["dy"], i2, y2.shape, **opts)
    dp1, dw2, db2 = pykernels.conv2d_backward(dy2, p1, w2, 1, 1, **opts)
    dy1 = pykernels.max_pool2d_backward(dp1, i1, y1.shape, **opts)
    dx, dw1, db1 = pykernels.conv2d_backward(dy1, x, w1, 1, 1, **opts)
    return p2, dx, dw1, db1, dw2, db2


def _torch_digits(inputs):
    import torch

    F = torch.nn.functional
    x, w1, b1, w2, b2 = (torch.from_numpy(inputs[k]).requires_grad_() for k in ("x", "w1", "b1", "w2", "b2"))
    p2 = F.max_pool2d(F.conv2d(F.max_pool2d(F.conv2d(x, w1, b1, padding=1), 2), w2, b2, padding=1), 2)
    p2.backward(torch.from_numpy(inputs["dy"]))
    return p2, x.grad, w1.grad, b1.grad, w2.grad, b2.grad


def cases(quick=False):
    mnist = "conv2d N=64 1->8 28x28 k5"
    found = [
        Case("conv", f"{mnist} fwd+bwd", lambda: _conv_inputs(64, 1, 8, 28, 5, 0), _ours_conv,
             peers={"torch": _torch_conv}, check_peers=("torch",), goals={"torch": 2.0}),
        Case("conv", "digits-cnn conv layers N=32 8x8 fwd+bwd", _digits_inputs, _ours_digits,
             peers={"torch": _torch_digits}, check_peers=("torch",), goals={"torch": 2.0}),
    ]
    if not quick:
        found += [
            Case("conv", f"{mnist} fwd", lambda: _conv_inputs(64, 1, 8, 28, 5, 0), _ours_conv_forward,
                 peers={"torch": _torch_conv_forward}, check_peers=("torch",)),
            Case("conv", "conv2d N=32 16->32 14x14 k3 pad1 fwd+bwd", lambda: _conv_inputs(32, 16, 32, 14, 3, 1),
                 _ours_conv, peers={"torch": _torch_conv}, check_peers=("torch",)),
        ]
    return found
