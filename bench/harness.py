"""pytest-benchmark glue: turns the Case lists of pykernels.benchmark into timed tests.

Each case runs on every available backend (cuda-sim excluded: it is an emulator) and every installed
peer; each backend's result is checked against the reference once before it is timed.
Run: ``pytest bench/ --benchmark-only`` (add ``--benchmark-group-by=param:case`` to compare side by side).
"""
import pytest

import pykernels
from pykernels.benchmark import all_cases, default_check


def _params(group):
    params = []
    for case in all_cases(groups=[group]):
        for backend in pykernels.available_backends():
            if backend not in case.skip_backends:
                params.append(pytest.param(case, "ours", backend, id=f"{case.name}-{backend}"))
        for peer in case.peers:
            params.append(pytest.param(case, "peer", peer, id=f"{case.name}-{peer}"))
    return params


def bench_group(group):
    """A pytest-benchmark test function over every case of ``group``."""

    @pytest.mark.parametrize("case,kind,who", _params(group))
    def test(benchmark, case, kind, who):
        inputs = case.make()
        benchmark.group = case.name
        benchmark.extra_info["case"] = case.name
        if kind == "ours":
            check = case.check or default_check
            want = case.ours(inputs, "numpy") if who != "numpy" else None
            got = case.ours(inputs, who)
            if want is not None:
                check(got, want)
            benchmark(case.ours, inputs, who)
        else:
            fn = case.peers[who]
            try:
                fn(inputs)
            except ImportError as exc:
                pytest.skip(f"peer {who} not installed: {exc}")
            benchmark(fn, inputs)

    test.__name__ = f"test_{group}"
    return test
