"""nn.RBM.fit's loop of rbm_cd calls in one native call (pykernels._cpu.rbm_fit_loop), which fit takes
on the cpu backend wherever the AMX epoch (test_rbm_epoch.py) does not run: against the Python loop
it replaces (RBM._epoch_loop, the same bits: the same rbm_cd calls and update arithmetic) on every
instruction set, its data check, and that fit takes it."""
import numpy as np
import pytest

import pykernels
from helpers import rbm_data as data, rbm_layer as layer
from pykernels import nn

cpu = pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")


def fit(x, nh, *, native, epochs=2, seed=0, **kwargs):
    """nn.RBM.fit from fixed initial weights, through rbm_fit_loop or the Python loop."""
    calls = []
    loop = cpu.rbm_fit_loop

    def spy(*args, **kw):
        calls.append(kw["counter"])
        return loop(*args, **kw)

    with pytest.MonkeyPatch.context() as mp, pykernels.use_backend("cpu"):
        # (the AMX epoch, where this CPU has it, is not the subject here)
        mp.setattr(cpu, "rbm_fit_epoch_supported", lambda: False)
        mp.setattr(cpu, "rbm_fit_loop", spy)
        if not native:
            mp.setattr(nn.RBM, "_fused_epoch", lambda self, be, x, velocity: None)
        rbm = nn.RBM(x.shape[1], nh, seed=0)
        rbm.w.data[...], rbm.b.data[...], rbm.c.data[...] = layer(x.shape[1], nh, seed)
        history = rbm.fit(x, epochs, seed=seed, **kwargs)
    assert len(calls) == (epochs if native else 0)
    return rbm, history


# (N, n_visible, n_hidden, batch): MNIST-sized columns, a short last mini-batch and odd sizes, a
# batch larger than the data, single rows
CASES = [(300, 784, 64, 100), (130, 70, 17, 32), (40, 40, 40, 150), (9, 33, 5, 1)]


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("k, persistent", [(1, False), (2, False), (1, True)])
def test_native_loop_is_the_python_loop(isa, case, k, persistent):
    n, nv, nh, batch = case
    x = data(n, nv)
    kwargs = dict(batch_size=batch, k=k, persistent=persistent, lr=0.1)
    (ra, ha), (rb, hb) = (fit(x, nh, native=native, **kwargs) for native in (True, False))
    for name in ("w", "b", "c"):
        np.testing.assert_array_equal(getattr(ra, name).data, getattr(rb, name).data, err_msg=name)
        np.testing.assert_array_equal(getattr(ra, name).grad, getattr(rb, name).grad, err_msg=f"{name}.grad")
    np.testing.assert_allclose(ha["reconstruction_error"], hb["reconstruction_error"], rtol=1e-6)


@pytest.mark.parametrize("momentum, weight_decay", [(0.0, 0.0), (0.5, 0.0), (0.9, 1e-3), (0.0, 1e-2)])
def test_native_loop_update_options(isa, momentum, weight_decay):
    x = data(250, 100, density=0.3)
    kwargs = dict(batch_size=64, lr=0.05, momentum=momentum, weight_decay=weight_decay, epochs=3)
    (ra, _), (rb, _) = (fit(x, 30, native=native, **kwargs) for native in (True, False))
    for name in ("w", "b", "c"):
        np.testing.assert_array_equal(getattr(ra, name).data, getattr(rb, name).data, err_msg=name)
    # the options took effect: not the plain run's weights
    (rp, _) = fit(x, 30, native=True, batch_size=64, lr=0.05, momentum=0.0, weight_decay=0.0, epochs=3)
    assert (momentum, weight_decay) == (0.0, 0.0) or not np.array_equal(ra.w.data, rp.w.data)


def test_native_loop_probabilities_as_data(isa):
    x = data(120, 50, binary=False)
    (ra, ha), (rb, hb) = (fit(x, 20, native=native, batch_size=25) for native in (True, False))
    np.testing.assert_array_equal(ra.w.data, rb.w.data)
    np.testing.assert_allclose(ha["reconstruction_error"], hb["reconstruction_error"], rtol=1e-6)


@pytest.mark.parametrize("bad", [1.5, -0.25, np.nan])
def test_native_loop_checks_the_data_and_changes_nothing(bad):
    x = data(64, 20)
    x[50, 7] = bad
    w, b, c = layer(20, 8)
    params = [w.copy(), b.copy(), c.copy()]
    with pytest.raises(ValueError, match=r"rbm_fit_loop: argument 'x' must hold values in \[0, 1\]"):
        cpu.rbm_fit_loop(x, np.arange(64), *params, batch_size=16, k=1, lr=0.1, momentum=0.0, weight_decay=0.0, seed=0,
                         counter=0, check=True, probe=10)
    for before, after in zip((w, b, c), params):
        np.testing.assert_array_equal(before, after)
    rbm = nn.RBM(20, 8)
    with pykernels.use_backend("cpu"), pytest.raises(ValueError, match=r"x must hold values in \[0, 1\]"):
        rbm.fit(x, 1, 16)


def test_native_loop_argument_errors():
    x = data(10, 6)
    w, b, c = layer(6, 3)
    args = dict(batch_size=4, k=1, lr=0.1, momentum=0.0, weight_decay=0.0, seed=0, counter=0)
    with pytest.raises(ValueError, match="rbm_fit_loop: argument 'batch_size'"):
        cpu.rbm_fit_loop(x, None, w, b, c, **{**args, "batch_size": 0})
    with pytest.raises(TypeError, match="rbm_fit_loop: argument 'w' must be float32"):
        cpu.rbm_fit_loop(x, None, w.astype(np.float64), b, c, **args)
    with pytest.raises(ValueError, match="rbm_fit_loop: argument 'order' must index"):
        cpu.rbm_fit_loop(x, np.full(10, 10), w, b, c, **args)
    with pytest.raises(ValueError, match="rbm_fit_loop: arguments 'w' and 'b' share memory|share memory"):
        cpu.rbm_fit_loop(x, None, w, w[0], c, **args)


def test_fit_takes_the_native_loop_without_the_amx_epoch():
    """Where the AMX epoch does not run (here: its ISA lowered to AVX2 or generic), fit calls
    rbm_fit_loop once per epoch."""
    calls = []
    loop = cpu.rbm_fit_loop
    x = data(200, 64)
    with pytest.MonkeyPatch.context() as mp, pykernels.use_backend("cpu"):
        mp.setattr(cpu, "rbm_fit_epoch_supported", lambda: False)
        mp.setattr(cpu, "rbm_fit_loop", lambda *a, **kw: calls.append(1) or loop(*a, **kw))
        history = nn.RBM(64, 16).fit(x, 3, 50)
    assert len(calls) == 3
    assert len(history["reconstruction_error"]) == 3 and all(np.isfinite(history["reconstruction_error"]))
