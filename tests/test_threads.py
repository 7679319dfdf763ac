"""Compiled ops are thread-safe and release the GIL."""
import threading
import time

import numpy as np
import pytest

import pykernels
from helpers import assert_close, concurrently


def _workloads(rng):
    a = rng.standard_normal((97, 61)).astype(np.float32)
    b = rng.standard_normal((61, 83)).astype(np.float32)
    x = rng.standard_normal((33, 10))
    t = rng.integers(0, 10, 33)
    return [
        ("gemm", (a, b), {"trans_b": False}),
        ("gemm", (a, a), {"trans_a": True}),
        ("sigmoid", (x,), {}),
        ("tanh", (a,), {}),
        ("softmax", (x,), {}),
        ("softmax_cross_entropy", (x, t), {"reduction": "none"}),
    ]


def test_eight_threads_get_reference_results(compiled_backend, rng):
    work = _workloads(rng)
    want = [getattr(pykernels, op)(*args, backend="numpy", **kw) for op, args, kw in work]

    def worker(seed):
        order = np.random.default_rng(seed).permutation(len(work))
        for _ in range(5):
            for i in order:
                op, args, kw = work[i]
                assert_close(getattr(pykernels, op)(*args, backend=compiled_backend, **kw), want[i], "backward")

    concurrently(worker, [(s,) for s in range(8)])


def test_compiled_op_releases_the_gil(rng):
    """While a long compiled GEMM runs in one thread, Python code keeps running in another: that is
    only possible when the call dropped the GIL (with the GIL held, the main loop would stall until
    the call returned)."""
    if "cpu" not in pykernels.available_backends():
        pytest.skip("C++ extension not built")
    n = 1536
    a = rng.standard_normal((n, n)).astype(np.float64)
    inside = {}

    def worker():
        # ONE call: with the GIL held, no main-thread iteration could fall inside it.
        inside["start"] = time.perf_counter()
        pykernels.gemm(a, a, backend="cpu")
        inside["end"] = time.perf_counter()

    ticks = []
    th = threading.Thread(target=worker)
    th.start()
    while th.is_alive():
        ticks.append(time.perf_counter())
    th.join()
    during = [t for t in ticks if inside["start"] < t < inside["end"]]
    assert len(during) > 100, f"only {len(during)} main-thread iterations ran during the GEMM calls"
    span = inside["end"] - inside["start"]
    gaps = np.diff([inside["start"], *during, inside["end"]])
    assert gaps.max() < 0.5 * span, "the main thread stalled for most of a GEMM call: the GIL was held"


# ---- oversubscribed cores (csrc/common/parallel.h; README, "Threads") -------------------------------

def _cpu_module():
    return pytest.importorskip("pykernels._cpu", reason="the C++ extension is not built")


@pytest.fixture
def cpu_mod():
    cpu = _cpu_module()
    cpu.set_oversubscribed(0)
    yield cpu
    cpu.set_oversubscribed(0)


def test_oversubscription_rule(cpu_mod):
    """A region marks the cores oversubscribed when the calling thread waited more than 1 ms for the
    others and that wait was more than half of its own part."""
    for own, wait, marked in [(50e-6, 5e-3, True), (3e-3, 2e-3, True), (50e-6, 0.9e-3, False),
                              (10e-3, 3e-3, False), (0.0, 0.0, False)]:
        cpu_mod.set_oversubscribed(0)
        span = cpu_mod._observe_region(own, wait)
        assert span == (0.01 if marked else 0.0), (own, wait, span)
    cpu_mod.set_oversubscribed(0)
    assert not cpu_mod.oversubscribed()
    cpu_mod.set_oversubscribed(30)
    assert cpu_mod.oversubscribed()


def test_oversubscription_span(cpu_mod):
    """The serial span after a mark: 10 ms, doubled (up to 100 ms) for each mark within one span of
    the last span's end (a thread still keeps a core busy), 10 ms again after a quiet span."""
    spans = [cpu_mod._observe_region(50e-6, 5e-3) for _ in range(7)]
    assert spans == [0.01, 0.02, 0.04, 0.08, 0.1, 0.1, 0.1]
    assert cpu_mod.oversubscribed()
    cpu_mod.set_oversubscribed(0)
    assert cpu_mod._observe_region(50e-6, 5e-3) == 0.01
    # the last span ends 4 ms after the region (5 ms of it waits); from more than a span after its end
    # on, the next mark starts again at 10 ms
    assert cpu_mod._observe_region(50e-6, 5e-3) == 0.02
    time.sleep(0.1)
    assert not cpu_mod.oversubscribed()
    assert cpu_mod._observe_region(50e-6, 5e-3) == 0.01


def test_oversubscription_rule_over_short_regions(cpu_mod):
    """Runs of short regions (the fused RBM epoch's) are judged over windows of 8: their waits
    (each under the 1 ms one region needs) add up to mark the cores."""
    for regions, marked in [([(100e-6, 200e-6)] * 8, True),     # 1.6 ms of waits against 0.8 of work
                            ([(100e-6, 200e-6)] * 7, False),    # a window not yet complete
                            ([(100e-6, 40e-6)] * 8, False),     # 0.32 ms of waits: scheduling noise
                            ([(1e-3, 0.2e-3)] * 8, False),      # 1.6 ms of waits, but 8 ms of work
                            ([(100e-6, 0.0)] * 4 + [(100e-6, 0.5e-3)] * 4, True)]:
        cpu_mod.set_oversubscribed(0)
        assert cpu_mod._observe_window(regions) == (0.01 if marked else 0.0), regions
        cpu_mod.set_oversubscribed(0)
        # one region alone at those waits does not mark the cores
        assert cpu_mod._observe_region(*regions[-1]) == 0.0


@pytest.mark.parametrize("parts, phases, mark_at, stop_at", [(2, 40, 1000, 1000), (3, 40, 1000, 1000),
                                                            (2, 40, 9, 1000), (3, 40, 0, 1000),
                                                            (2, 40, 1000, 24), (2, 40, 9, 24), (2, 40, 38, 1000)])
def test_run_phases(cpu_mod, parts, phases, mark_at, stop_at):
    """The fused RBM epoch's phases (run_phases): every part of every phase before stop_at runs once,
    each phase after all of the one before; on the threads (part q on thread q) until the cores are
    marked oversubscribed, then, whole phases, on the calling thread: from phase m + 2 when phase m
    marks them (or sooner, where the rule itself marked them: more parts than cores, a busy core)."""
    runs, order, thread = (np.array(a).reshape(phases, parts) for a in cpu_mod._trace_phases(parts, phases, mark_at, stop_at))
    end = min(phases, stop_at)
    np.testing.assert_array_equal(runs[:end], 1)
    np.testing.assert_array_equal(runs[end:], 0)
    assert np.all(order[1:end].min(1) > order[:end - 1].max(1))
    alone = int(np.argmax(thread[:end].min(1) < 0)) if np.any(thread[:end] < 0) else end
    np.testing.assert_array_equal(thread[:alone], np.tile(np.arange(parts), (alone, 1)))
    np.testing.assert_array_equal(thread[alone:end], -1)
    if mark_at < end:
        assert cpu_mod.oversubscribed()
        assert alone <= min(mark_at + 2, end)
    elif not cpu_mod.oversubscribed():
        assert alone == end


@pytest.mark.parametrize("parts, mark_at, clear_at", [(2, 9, 20), (2, 0, 5), (2, 9, 39), (2, 20, 23)])
def test_run_phases_after_the_span(cpu_mod, parts, mark_at, clear_at):
    """Once the serial span is over (here: cleared at the end of phase clear_at), the threads take
    the phases over again, from the next phase on, with every part still run once and in order."""
    phases = 40
    runs, order, thread = (np.array(a).reshape(phases, parts)
                           for a in cpu_mod._trace_phases(parts, phases, mark_at, 1000, clear_at))
    np.testing.assert_array_equal(runs, 1)
    assert np.all(order[1:].min(1) > order[:-1].max(1))
    alone = np.flatnonzero(thread.min(1) < 0)
    assert len(alone) > 0 and alone[0] <= mark_at + 2 and alone[-1] == clear_at, alone
    np.testing.assert_array_equal(alone, np.arange(alone[0], clear_at + 1))
    np.testing.assert_array_equal(thread[clear_at + 1:], np.tile(np.arange(parts), (phases - clear_at - 1, 1)))
    assert not cpu_mod.oversubscribed()


@pytest.mark.parametrize("bad", [-1.0, float("nan"), 1e9])
def test_set_oversubscribed_argument_errors(cpu_mod, bad):
    with pytest.raises(ValueError, match="set_oversubscribed: argument 'seconds'"):
        cpu_mod.set_oversubscribed(bad)
    with pytest.raises(TypeError):
        cpu_mod.set_oversubscribed("1")


_SAME_BITS = r"""
import numpy as np, pykernels
from pykernels import _cpu
assert _cpu.max_threads() == 3, _cpu.max_threads()
rng = np.random.default_rng(5)
f32 = np.float32
a = rng.standard_normal((300, 200)).astype(f32); b = rng.standard_normal((200, 150)).astype(f32)
x = rng.standard_normal((24, 3, 20, 20)).astype(f32); w = rng.standard_normal((8, 3, 5, 5)).astype(f32)
dy = rng.standard_normal((24, 8, 16, 16)).astype(f32)
p = rng.standard_normal((32, 16, 24, 24)).astype(f32)
logits = rng.standard_normal((512, 100)).astype(f32); target = rng.integers(0, 100, 512)
v0 = (rng.random((100, 784)) < 0.2).astype(f32)
wr = (rng.standard_normal((256, 784)) * 0.05).astype(f32); br = np.zeros(784, f32); cr = np.zeros(256, f32)

def run(before):
    before(); y, idx = pykernels.max_pool2d(p, 2)
    out = [y, idx]
    for op in (lambda: [pykernels.gemm(a, b)], lambda: [pykernels.gemm(a, b[:, :20])],
               lambda: [pykernels.conv2d(x, w, padding=1)], lambda: pykernels.conv2d_backward(dy, x, w),
               lambda: [pykernels.max_pool2d_backward(y, idx, p.shape)],
               lambda: pykernels.softmax_cross_entropy(logits, target), lambda: [pykernels.sigmoid(p)],
               lambda: pykernels.rbm_cd(v0, wr, br, cr, 1, seed=3, counter=0), fused_epoch):
        before()
        out.extend(op())
    return out

def fused_epoch():
    # the fused RBM epoch where this CPU has it (3 parts, hidden rows split 3 ways), with its sums and
    # dw over the units on and by the dense tile products
    if not _cpu.rbm_fit_epoch_supported():
        return []
    data = (np.random.default_rng(7).random((500, 784)) < 0.2).astype(f32)
    out = []
    for how in ("sparse", "dense"):
        params = [wr.copy(), br.copy(), cr.copy()]
        vel = tuple(np.zeros_like(q) for q in params)
        before = _cpu._set_rbm_epoch_products(how)
        error = _cpu.rbm_fit_epoch(data, np.random.default_rng(0).permutation(500), *params, velocity=vel,
                                   batch_size=100, k=1, lr=0.1, momentum=0.5, weight_decay=0.0, seed=1, counter=0,
                                   probe=300)
        _cpu._set_rbm_epoch_products(before)
        out += params + list(vel) + [np.float64(error)]
    return out

with pykernels.use_backend("cpu"):
    # threads: each op starts with the cores unmarked (3 threads on fewer cores may mark them
    # during an op, and its later regions then run serially: the bits must not change either way)
    threaded = run(lambda: _cpu.set_oversubscribed(0))
    serial = run(lambda: _cpu.set_oversubscribed(60))
    assert _cpu.oversubscribed()
assert len(threaded) == len(serial)
for i, (g, s) in enumerate(zip(threaded, serial)):
    np.testing.assert_array_equal(g, s, err_msg=f"output {i}")
print("same bits", len(threaded) - (14 if _cpu.rbm_fit_epoch_supported() else 0))
"""


def test_serial_parts_give_the_same_bits(tmp_path):
    """With the cores marked oversubscribed the kernels run the same parts one after the other on the
    calling thread: every result is the same bits as from the threads (3 of them here, whatever the
    machine has)."""
    import os
    import subprocess
    import sys

    _cpu_module()
    # the child imports the pykernels this process tests (not a source tree in its working directory)
    env = dict(os.environ, OMP_NUM_THREADS="3", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", _SAME_BITS], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "same bits 16" in out.stdout


def test_busy_cores_are_detected(cpu_mod):
    """With every logical CPU kept busy by another process, a thread of a parallel region soon waits
    for a time slice: the kernels notice, go on with correct results, and switch to serial parts."""
    import os
    import subprocess
    import sys

    a = np.random.default_rng(0).standard_normal((256, 256)).astype(np.float32)
    want = a.astype(np.float64) @ a.astype(np.float64)
    if cpu_mod.max_threads() < 2:
        pytest.skip("one OpenMP thread: no parallel regions to watch")
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.2)
        start = time.perf_counter()
        got = pykernels.gemm(a, a, backend="cpu")
        while not cpu_mod.oversubscribed() and time.perf_counter() - start < 20:
            got = pykernels.gemm(a, a, backend="cpu")
        assert cpu_mod.oversubscribed(), "20 s of products on busy cores and no thread ever waited 1 ms"
        np.testing.assert_allclose(pykernels.gemm(a, a, backend="cpu"), want, rtol=1e-4, atol=1e-3)
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    finally:
        for p in busy:
            p.kill()
        for p in busy:
            p.wait()
