"""Benchmark cases: softmax cross-entropy forward + backward."""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def cases(quick=False):
    n, k = (256, 100) if quick else (1024, 1000)

    def make():
        rng = np.random.default_rng(0)
        return {"x": rng.standard_normal((n, k)).astype(np.float32), "t": rng.integers(0, k, n)}

    def ours(inp, be):
        loss, probs = pykernels.softmax_cross_entropy(inp["x"], inp["t"], backend=be)
        return loss, pykernels.softmax_cross_entropy_backward(probs, inp["t"], backend=be)

    def numpy_peer(inp):
        x, t = inp["x"], inp["t"]
        s = x - x.max(axis=1, keepdims=True)
        e = np.exp(s)
        total = e.sum(axis=1, keepdims=True)
        loss = (np.log(total[:, 0]) - s[np.arange(n), t]).mean()
        d = e / total
        d[np.arange(n), t] -= 1
        return loss, d / n

    def torch_peer(inp):
        import torch

        x = torch.from_numpy(inp["x"]).requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(x, torch.from_numpy(inp["t"]))
        loss.backward()
        return loss.detach(), x.grad

    return [Case(group="softmax", name=f"softmax_cross_entropy fwd+bwd {n}x{k} f32", make=make, ours=ours,
                 peers={"numpy": numpy_peer, "torch": torch_peer}, check_peers=("numpy", "torch"))]
