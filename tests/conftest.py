import numpy as np
import pytest

import pykernels
from pykernels import _backend

from helpers import cpu_setting

ALL_BACKENDS = ("numpy", "cpu", "cuda-sim", "cuda")


def _skip_reason(name):
    backend, reason = _backend._get(name)
    return None if backend is not None else reason


# Test files and fuzz families by op family (pykernels/ops/<family>.py).
_FAMILY_ALIASES = {"elementwise": "activation"}
_CUDA_BACKENDS = ("cuda-sim", "cuda")
_TEST_FAMILIES = {"test_absurd_sizes_raise": ("conv", "pool")}  # tests that call several families


def _pending_cuda_families():
    """API families the cuda backends do not implement yet (their kernels come from another branch)."""
    try:
        from pykernels.backends import cuda
    except ImportError:
        return ()
    return cuda.pending_families()


def pytest_collection_modifyitems(config, items):
    """On cuda-sim/cuda, the tests of a family without CUDA kernels skip with that reason (the list
    empties as families land; then nothing is skipped here)."""
    pending = set(_pending_cuda_families())
    if not pending:
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = params.get("backend", params.get("compiled_backend"))
        if name not in _CUDA_BACKENDS:
            continue
        family = params.get("family")
        families = {_FAMILY_ALIASES.get(family, family)}
        if family is None:
            module = item.module.__name__.rsplit(".", 1)[-1]
            families = set(_TEST_FAMILIES.get(item.originalname, ()))
            if module.startswith("test_"):
                families.add(module[len("test_"):])
        missing = sorted(families & pending)
        if missing:
            item.add_marker(pytest.mark.skip(
                reason=f"backend {name!r}: no CUDA kernels yet for {', '.join(missing)} (branch cuda-kernels)"))


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


@pytest.fixture(params=["generic", "avx2", "avx512"])
def isa(request):
    """Each instruction set this CPU supports, selected in-process and restored afterwards."""
    with cpu_setting("get_isa", "set_isa", request.param):
        yield request.param


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
