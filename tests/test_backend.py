"""Backend selection: names, defaults, PYKERNELS_BACKEND, thread-local use_backend, errors."""
import os
import threading

import numpy as np
import pytest

import pykernels
from helpers import run_python


def test_available_backends():
    names = pykernels.available_backends()
    assert "numpy" in names and names[-1] == "numpy"
    assert "cuda-sim" not in names
    order = ["cuda", "cpu", "numpy"]
    assert names == [n for n in order if n in names]
    with_sim = pykernels.available_backends(include_sim=True)
    assert with_sim[: len(names)] == names


def test_default_is_cpu_when_built():
    code = "import pykernels; print(pykernels.get_backend())"
    env = {k: v for k, v in os.environ.items() if k != "PYKERNELS_BACKEND"}
    out = run_python(code, env)
    expected = "cpu" if "cpu" in pykernels.available_backends() else "numpy"
    assert out.stdout.strip() == expected


def test_environment_variable_overrides_default():
    code = "import pykernels; print(pykernels.get_backend())"
    env = dict(os.environ, PYKERNELS_BACKEND="numpy")
    out = run_python(code, env)
    assert out.stdout.strip() == "numpy"
    env["PYKERNELS_BACKEND"] = "tpu"
    bad = run_python(code, env, check=False)
    assert bad.returncode != 0 and "ValueError" in bad.stderr and "PYKERNELS_BACKEND" in bad.stderr


def test_set_backend_and_use_backend():
    pykernels.set_backend("numpy")
    assert pykernels.get_backend() == "numpy"
    for name in pykernels.available_backends():
        with pykernels.use_backend(name):
            assert pykernels.get_backend() == name
            with pykernels.use_backend("numpy"):
                assert pykernels.get_backend() == "numpy"
            assert pykernels.get_backend() == name
    assert pykernels.get_backend() == "numpy"


def test_use_backend_is_thread_local():
    seen = {}
    barrier = threading.Barrier(2)

    def worker():
        barrier.wait()
        seen["other"] = pykernels.get_backend()

    pykernels.set_backend("numpy")
    t = threading.Thread(target=worker)
    t.start()
    with pykernels.use_backend(pykernels.available_backends()[0]):
        barrier.wait()
        t.join()
    assert seen["other"] == "numpy"


def test_unknown_backend_lists_available():
    x = np.ones((2, 2))
    with pytest.raises(ValueError, match="unknown backend 'gpu'.*available here"):
        pykernels.sigmoid(x, backend="gpu")
    with pytest.raises(ValueError, match="unknown backend"):
        pykernels.set_backend("opencl")
    with pytest.raises(ValueError, match="unknown backend"):
        with pykernels.use_backend("Numpy"):
            pass
    with pytest.raises(TypeError, match="backend"):
        pykernels.sigmoid(x, backend=3)


def test_cuda_without_device_raises_runtime_error():
    if "cuda" in pykernels.available_backends():
        pytest.skip("a CUDA device is present")
    with pytest.raises(RuntimeError, match="cuda"):
        pykernels.gemm(np.ones((2, 2), np.float32), np.ones((2, 2), np.float32), backend="cuda")
    with pytest.raises(RuntimeError):
        pykernels.set_backend("cuda")


def test_cuda_sim_accepted_but_never_default():
    assert "cuda-sim" not in pykernels.available_backends()
    assert pykernels.get_backend() != "cuda-sim"


def test_backend_keyword_overrides_active_backend(compiled_backend):
    x = np.linspace(-3, 3, 7)
    with pykernels.use_backend("numpy"):
        np.testing.assert_allclose(pykernels.sigmoid(x, backend=compiled_backend), pykernels.sigmoid(x))


def test_reference_imports_no_compiled_code():
    code = (
        "import sys, pykernels.reference as r, numpy as np; r.gemm(np.ones((2,2)), np.ones((2,2)));"
        "print([m for m in sys.modules if m.startswith('pykernels._')])"
    )
    out = run_python(code)
    assert "_cpu" not in out.stdout and "_cuda" not in out.stdout


def _misaligned(a):
    """A C-contiguous view of a copy of ``a`` at a byte offset of 1 (not aligned for its dtype)."""
    out = np.frombuffer(b"\0" + a.tobytes(), dtype=a.dtype, offset=1).reshape(a.shape)
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


def test_misaligned_views_are_read_correctly(backend, dtype, rng):
    """A misaligned C-contiguous view is copied before a compiled kernel sees it (reading it in place
    is undefined behaviour, caught by the sanitizer job); results equal the reference."""
    a = rng.standard_normal((7, 5)).astype(dtype)
    b = rng.standard_normal((5, 3)).astype(dtype)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    got = pykernels.gemm(_misaligned(a), _misaligned(b), backend=backend)
    np.testing.assert_allclose(got, a @ b, rtol=1e-5, atol=1e-5)
    y, idx = pykernels.max_pool2d(_misaligned(x), 2, backend=backend)
    want_y, want_idx = pykernels.reference.max_pool2d(x, 2)
    np.testing.assert_array_equal(y, want_y)
    np.testing.assert_array_equal(idx, want_idx)
    dx = pykernels.max_pool2d_backward(_misaligned(y), _misaligned(idx), x.shape, backend=backend)
    np.testing.assert_array_equal(dx, pykernels.reference.max_pool2d_backward(y, idx, x.shape))


def test_unpickled_arrays_are_accepted(backend, dtype, rng):
    """An unpickled array's dtype is a new descriptor object, equal to float32/float64/int64 but not
    the same object; the compiled bindings compare dtypes by meaning (they used to raise
    "must be float32 or float64, got float32")."""
    import pickle

    def roundtrip(a):
        out = pickle.loads(pickle.dumps(a))
        assert out.dtype == a.dtype and out.dtype is not a.dtype
        return out

    a, b = rng.standard_normal((6, 5)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    np.testing.assert_allclose(pykernels.gemm(roundtrip(a), roundtrip(b), backend=backend), a @ b, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(pykernels.relu(roundtrip(a), backend=backend), pykernels.reference.relu(a))
    x = rng.standard_normal((2, 3, 4, 4)).astype(dtype)
    y, idx = pykernels.max_pool2d(roundtrip(x), 2, backend=backend)
    dx = pykernels.max_pool2d_backward(roundtrip(y), roundtrip(idx), x.shape, backend=backend)
    np.testing.assert_array_equal(dx, pykernels.reference.max_pool2d_backward(y, idx, x.shape))
    v = (rng.random((3, 5)) < 0.5).astype(dtype)
    w, bv, c = roundtrip(a[:4]), roundtrip(b[:, 0].copy()), roundtrip(a[:4, 0].copy())
    dw = pykernels.rbm_cd(roundtrip(v), w, bv, c, 1, seed=0, backend=backend)[0]
    assert dw.shape == (4, 5) and dw.dtype == dtype
