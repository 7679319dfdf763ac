"""``python -m pykernels demo NAME [options]``: the course's systems end to end, each on data that
ships with the install (scikit-learn's digits, generated data, or the text in demos/data) and each
printing what it learned.  ``run(name, argv)`` → exit status; ``main(name, argv)`` → the result dict
(what the tests check)."""
from __future__ import annotations

import argparse
import importlib
import time

NAMES = ("perceptron", "xor", "digits-mlp", "digits-cnn", "dbn", "binary-add", "char-rnn")

_MODULES = {"perceptron": "perceptron", "xor": "xor", "digits-mlp": "digits", "digits-cnn": "digits",
            "dbn": "dbn", "binary-add": "binary_add", "char-rnn": "char_rnn"}


def parser(name, description, epochs=None):
    """The options every demo shares: --backend, --seed, --fast, --epochs, --no-progress."""
    p = argparse.ArgumentParser(prog=f"python -m pykernels demo {name}", description=description)
    p.add_argument("--backend", default=None, help="pykernels backend (default: the active one, e.g. cpu)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation and the sample order")
    p.add_argument("--fast", action="store_true", help="a few seconds' version (used by the tests)")
    if epochs is not None:
        p.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {epochs})")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(name, argv=(), out=print):
    """Runs demo ``name`` with command-line options ``argv``; returns its result dict."""
    if name not in NAMES:
        raise ValueError(f"unknown demo {name!r}; choose from: {', '.join(NAMES)}")
    mod = importlib.import_module(f"pykernels.demos.{_MODULES[name]}")
    args = mod.parser(name).parse_args(list(argv))
    import pykernels
    from pykernels import nn

    backend = args.backend or pykernels.get_backend()
    nn.manual_seed(args.seed)
    t0 = time.perf_counter()
    with pykernels.use_backend(backend):
        result = mod.run(name, args, out)
    result["seconds"] = time.perf_counter() - t0
    out(f"[{name}: {result['seconds']:.1f} s on backend {backend}]")
    return result


def run(name, argv=()):
    """Entry point of ``python -m pykernels demo``: exit status 0 when the demo reached its goal."""
    result = main(name, argv)
    return 0 if result.get("ok", True) else 1
