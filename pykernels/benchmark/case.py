"""One benchmark case, shared by ``python -m pykernels bench`` and the pytest-benchmark suites in bench/.

Each op family lists its cases in ``pykernels/benchmark/<family>.py`` as ``cases(quick=False)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Optional


@dataclass
class Case:
    group: str  # op family: "gemm", "conv", "pool", "rnn", "rbm", "activation", "softmax", "train"
    name: str  # what is timed, with its shape, e.g. "sgemm 1024x1024x1024"
    make: Callable[[], Dict[str, Any]]  # builds the inputs once (NumPy arrays, seeds)
    ours: Callable[[Dict[str, Any], str], Any]  # runs pykernels on a backend name, returns outputs
    # Peer name -> fn(inputs) returning outputs comparable with ours. A peer whose import fails
    # raises ImportError and is left out. Typical names: "numpy", "torch", "sklearn".
    peers: Dict[str, Callable[[Dict[str, Any]], Any]] = field(default_factory=dict)
    # Compares ours' outputs on a backend with ours' outputs on "numpy" (the reference) before
    # anything is timed; raises AssertionError on mismatch. None: np.testing.assert_allclose with
    # rtol=atol=1e-3 on every array of the (possibly tuple) output.
    check: Optional[Callable[[Any, Any], None]] = None
    # Peers whose outputs must match ours too (same check), e.g. ("torch",).
    check_peers: tuple = ()
    # Backends to leave out (e.g. "numpy" for cases where the reference is far too slow).
    skip_backends: tuple = ()
    # Target ratio (peer time / our time) per peer for the cpu backend, as in the performance
    # issue; reported, never asserted.
    goals: Dict[str, float] = field(default_factory=dict)
