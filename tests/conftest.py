import numpy as np
import pytest

import pykernels
from pykernels import _backend

ALL_BACKENDS = ("numpy", "cpu", "cuda-sim", "cuda")


def _skip_reason(name):
    backend, reason = _backend._get(name)
    return None if backend is not None else reason


@pytest.fixture(params=ALL_BACKENDS)
def backend(request):
    """Every backend; the ones that cannot run here skip with the reason."""
    reason = _skip_reason(request.param)
    if reason:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    return request.param


@pytest.fixture(params=[b for b in ALL_BACKENDS if b != "numpy"])
def compiled_backend(request):
    """Every compiled backend (checked against the reference)."""
    reason = _skip_reason(request.param)
    if reason:
        pytest.skip(f"backend {request.param!r} unavailable: {reason}")
    return request.param


@pytest.fixture(params=[np.float32, np.float64], ids=["f32", "f64"])
def dtype(request):
    return np.dtype(request.param)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def torch():
    """PyTorch, the independent oracle (installed by the 'peers' extra)."""
    return pytest.importorskip("torch", reason="PyTorch not installed (pip install .[peers])")


@pytest.fixture(autouse=True)
def _restore_backend():
    before = pykernels.get_backend()
    yield
    _backend._default = before
