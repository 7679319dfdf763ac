"""What only a real GPU can show: device arrays from pycuda and other libraries, the shared primary
context, CUDA errors surfacing as RuntimeError, and the module's build (architectures, static runtime).
Every test skips with the reason where the "cuda" backend cannot run (not built, no device/driver).
"""
import numpy as np
import pytest

import pykernels
from pykernels import _backend
from helpers import assert_close

pytestmark = pytest.mark.gpu


def _cuda_reason():
    backend, reason = _backend._get("cuda")
    return None if backend is not None else reason


_REASON = _cuda_reason()
needs_device = pytest.mark.skipif(_REASON is not None, reason=f"no usable CUDA device: {_REASON}")


@pytest.fixture
def rt():
    return _backend.resolve("cuda").impl.runtime


@pytest.fixture
def pycuda_gpuarray():
    pytest.importorskip("pycuda", reason="pycuda not installed (pip install .[cuda])")
    import pycuda.autoprimaryctx  # noqa: F401 - the runtime API's context, never autoinit's
    from pycuda import gpuarray

    return gpuarray


def test_without_device_cuda_raises_runtime_error_with_reason():
    if _REASON is None:
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="cuda"):
        pykernels.sigmoid(np.zeros(3, np.float32), backend="cuda")
    try:
        import pykernels._cuda as native
    except ImportError:
        assert "not built" in _REASON
    else:  # built with the static runtime: imports without a driver and says why there is no device
        count, why = native.device_count()
        assert count == 0 and why and why in _REASON


@needs_device
def test_numpy_in_numpy_out(rng):
    a = rng.standard_normal((300, 200)).astype(np.float32)
    b = rng.standard_normal((200, 100)).astype(np.float32)
    out = pykernels.gemm(a, b, backend="cuda")
    assert isinstance(out, np.ndarray)
    assert_close(out, pykernels.gemm(a, b, backend="numpy"), scale=16)


@needs_device
def test_pycuda_gpuarray_in_gpuarray_out(pycuda_gpuarray, rng):
    x = rng.standard_normal((64, 10)).astype(np.float32)
    gx = pycuda_gpuarray.to_gpu(x)
    y = pykernels.softmax(gx, backend="cuda")
    assert isinstance(y, pycuda_gpuarray.GPUArray)
    assert_close(y.get(), pykernels.softmax(x, backend="numpy"))
    z = pykernels.gemm(gx, gx, trans_b=True, backend="cuda")
    assert isinstance(z, pycuda_gpuarray.GPUArray)
    assert_close(z.get(), x @ x.T, scale=4)
    labels = pycuda_gpuarray.to_gpu(rng.integers(0, 10, 64))
    loss, probs = pykernels.softmax_cross_entropy(gx, labels, backend="cuda")
    assert_close(probs.get(), pykernels.softmax(x, backend="numpy"))


@needs_device
def test_pycuda_uses_the_primary_context(pycuda_gpuarray, rt):
    import pycuda.driver as drv

    ctx = drv.Context.get_current()
    primary = drv.Context.get_device().retain_primary_context()
    assert ctx.handle == primary.handle
    # memory allocated by our runtime (runtime API) is usable by pycuda and vice versa
    d = rt.to_device(np.arange(6, dtype=np.float32))
    host = np.empty(6, np.float32)
    drv.memcpy_dtoh(host, d.ptr)
    np.testing.assert_array_equal(host, np.arange(6))


@needs_device
def test_cuda_array_interface_objects(rt, rng):
    from pykernels.backends.cuda import DeviceArray

    x = rng.standard_normal((33, 7)).astype(np.float32)
    d = rt.to_device(x)
    assert d.__cuda_array_interface__["data"][0] == d.ptr

    class Foreign:
        __cuda_array_interface__ = d.__cuda_array_interface__

    y = pykernels.relu(Foreign(), backend="cuda")
    assert isinstance(y, DeviceArray)
    assert_close(y.get(), np.maximum(x, 0))


@needs_device
def test_host_pointer_as_device_array_is_refused():
    host = np.zeros(4, np.float32)

    class HostMemory:
        __cuda_array_interface__ = {"shape": (4,), "typestr": "<f4", "data": (host.ctypes.data, False), "version": 3}

    with pytest.raises(TypeError, match="not device memory"):
        pykernels.sigmoid(HostMemory(), backend="cuda")


@needs_device
def test_cuda_errors_become_runtime_errors(rt):
    with pytest.raises(RuntimeError, match="CUDA error"):
        rt.native.alloc(1 << 62)  # out of memory
    with pytest.raises(RuntimeError, match="CUDA error"):
        rt.native._check_error(9)
    # the failure leaves the backend usable
    assert_close(pykernels.tanh(np.ones(3, np.float32), backend="cuda"), np.tanh(np.ones(3, np.float32)))


@needs_device
def test_device_name_and_info():
    from pykernels.backends import cuda

    st = cuda.status()
    assert st["built"] and st["device"] and "sm_" in st["device"]
