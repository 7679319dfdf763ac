"""pykernels: hand-written deep-learning kernels (C++ and CUDA) checked against a NumPy reference.

``pykernels.<op>(..., backend=None)`` validates its arguments and runs on the active backend
(``get_backend()``); ``pykernels.reference.<op>`` is the pure-NumPy oracle.  See API.md.
"""
from pykernels._backend import available_backends, get_backend, set_backend, use_backend
from pykernels.ops import *  # noqa: F401,F403
from pykernels.ops import __all__ as OPS

__version__ = "0.1.0"

__all__ = ["available_backends", "get_backend", "set_backend", "use_backend", "OPS", *OPS]
