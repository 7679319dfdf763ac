"""The table printed by ``python -m pykernels bench``: each case on every backend beside its peers.

Ratios are peer time / our time (> 1: pykernels is faster), medians of several repeats measured in
the same process, so that machine noise hits both sides alike.
"""
from __future__ import annotations

import statistics
import time

from pykernels import available_backends
from pykernels.benchmark import all_cases, default_check


# Seconds of rest before each timed block, so that threads the previous block left spinning do not
# compete with this one (NumPy's OpenBLAS spins for about 100 ms after each call: see README,
# "Threads"); the same for every side.
SETTLE = 0.2


def median_time(fn, repeats=5, min_time=0.05):
    """Median seconds per call of ``fn()`` over ``repeats`` rounds of at least ``min_time`` each,
    after SETTLE seconds of rest."""
    time.sleep(SETTLE)
    fn()  # warm-up (workspaces, thread pools, lazy imports)
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    number = max(1, int(min_time / once))
    rounds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        rounds.append((time.perf_counter() - t0) / number)
    return statistics.median(rounds)


def run(quick=False, groups=None, backends=None, peers=("numpy",), repeats=5, out=print):
    """Times every case; returns a list of row dicts and prints the table through ``out``."""
    # NOTE: load the compiled backends before any peer imports torch, as a user's `import pykernels`
    # would (they share one libgomp, which takes its settings from its first loader).
    loaded = available_backends()
    backends = backends or loaded
    min_time = 0.02 if quick else 0.1
    rows = []
    for case in all_cases(quick=quick, groups=groups):
        inputs = case.make()
        check = case.check or default_check
        want = case.ours(inputs, "numpy")
        peer_times = {}
        for name, fn in case.peers.items():
            if peers != "all" and name not in peers:
                continue
            try:
                got = fn(inputs)
            except ImportError:
                continue
            if name in case.check_peers:
                check(got, want)
            peer_times[name] = median_time(lambda fn=fn: fn(inputs), repeats, min_time)
        for backend in backends:
            if backend in case.skip_backends:
                continue
            check(case.ours(inputs, backend), want)
            t = median_time(lambda: case.ours(inputs, backend), repeats, min_time)
            row = {"case": case.name, "group": case.group, "backend": backend, "seconds": t,
                   "ratios": {p: pt / t for p, pt in peer_times.items()},
                   "goals": case.goals if backend == "cpu" else {}}
            rows.append(row)
            out(format_row(row))
    return rows


def format_row(row):
    ratios = "  ".join(
        f"{p} {r:5.2f}x" + (f" (goal {row['goals'][p]:g}x)" if p in row["goals"] else "")
        for p, r in row["ratios"].items()
    )
    return f"{row['case']:<44} {row['backend']:<9} {row['seconds'] * 1e3:10.3f} ms   {ratios}"


def header():
    return f"{'case':<44} {'backend':<9} {'time':>13}   speed-up = peer time / our time"
