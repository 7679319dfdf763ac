"""Benchmark cases: elementwise activations."""
import numpy as np

import pykernels
from pykernels.benchmark.case import Case


def _torch(name):
    def run(inputs):
        import torch

        return getattr(torch, name)(inputs["xt"])
    return run


def cases(quick=False):
    n = (64, 4096) if quick else (256, 4096)

    def make():
        x = np.random.default_rng(0).standard_normal(n).astype(np.float32)
        try:
            import torch

            xt = torch.from_numpy(x)
        except ImportError:
            xt = None
        return {"x": x, "xt": xt}

    out = []
    for name, np_fn in [("sigmoid", lambda x: 1 / (1 + np.exp(-x))), ("tanh", np.tanh), ("relu", lambda x: np.maximum(x, 0))]:
        out.append(Case(
            group="activation", name=f"{name} {n[0]}x{n[1]} f32", make=make,
            ours=lambda inp, be, name=name: getattr(pykernels, name)(inp["x"], backend=be),
            peers={"numpy": lambda inp, f=np_fn: f(inp["x"]), "torch": _torch(name)},
        ))
    # the backward of ReLU: half the units negative, so a branch per unit would mispredict half the time
    out.append(Case(
        group="activation", name=f"relu_backward {n[0]}x{n[1]} f32", make=make,
        ours=lambda inp, be: pykernels.relu_backward(inp["x"], inp["x"], backend=be),
        peers={"numpy": lambda inp: np.where(inp["x"] > 0, inp["x"], np.float32(0)),
               "torch": lambda inp: __import__("torch").ops.aten.threshold_backward(inp["xt"], inp["xt"], 0)},
    ))
    return out
