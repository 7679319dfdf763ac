"""Command line: ``python -m pykernels info | bench | demo NAME``."""
from __future__ import annotations

import argparse
import os
import platform
import sys


def _cuda_status():
    try:
        from pykernels.backends import cuda
    except ImportError as exc:
        return {"built": False, "device": None, "reason": str(exc)}
    return cuda.status()


def cmd_info(_args):
    import numpy as np

    import pykernels
    from pykernels import _backend

    print(f"pykernels {pykernels.__version__}  (Python {platform.python_version()}, NumPy {np.__version__}, {platform.machine()})")
    print(f"default backend: {pykernels.get_backend()}")
    for name in ("cpu", "cuda", "cuda-sim", "numpy"):
        backend, reason = _backend._get(name)
        print(f"  {name:<9} {'available' if backend else 'unavailable: ' + reason}")
    cpu, _ = _backend._get("cpu")
    if cpu is not None:
        mod = cpu.impl
        print(f"CPU: instruction set detected {mod.detected_isa()}, in use {mod.get_isa()}; "
              f"large float32 GEMMs on {'AMX tiles' if mod.sgemm_path() == 'amx' else 'FMAs'}; "
              f"{mod.max_threads()} OpenMP threads; {os.cpu_count()} logical CPUs")
    status = _cuda_status()
    if not status["built"]:
        state = "CUDA module: not built"
    elif status["device"]:
        state = f"CUDA module: built; device {status['device']}"
    else:
        state = "CUDA module: built, no device"
    print(state + (f" ({status['reason']})" if status.get("reason") else ""))
    sim, reason = _backend._get("cuda-sim")
    if sim is None:
        print(f"cuda-sim: not built ({reason})")
    else:
        line = f"cuda-sim: built (SIMT emulator of the CUDA kernels); op families {', '.join(sim.impl.FAMILIES)}"
        if sim.impl.PENDING_FAMILIES:
            line += f"; no CUDA kernels yet for {', '.join(sim.impl.PENDING_FAMILIES)}"
        print(line)
    return 0


def cmd_bench(args):
    from pykernels.benchmark import runner

    peers = "all" if args.peers else ("numpy",)
    print(runner.header())
    runner.run(quick=args.quick, groups=args.group or None, backends=args.backend or None,
               peers=peers, repeats=args.repeats)
    return 0


def cmd_demo(args):
    try:
        from pykernels import demos
    except ImportError as exc:  # pragma: no cover - the demos ship with the package
        print(f"demos unavailable: {exc}", file=sys.stderr)
        return 1
    if args.name not in demos.NAMES:
        print(f"unknown demo {args.name!r}; choose from: {', '.join(demos.NAMES)}", file=sys.stderr)
        return 2
    return demos.run(args.name, args.rest) or 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pykernels", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("info", help="version, backends, CPU features, CUDA build and device").set_defaults(fn=cmd_info)
    b = sub.add_parser("bench", help="time each op on every backend beside NumPy (and peers)")
    b.add_argument("--peers", action="store_true", help="also PyTorch CPU and scikit-learn when installed")
    b.add_argument("--quick", action="store_true", help="smaller shapes, shorter timing")
    b.add_argument("--group", action="append", help="only this op family (repeatable): gemm, conv, pool, ...")
    b.add_argument("--backend", action="append", help="only this backend (repeatable)")
    b.add_argument("--repeats", type=int, default=5, help="timing rounds; the median is reported")
    b.set_defaults(fn=cmd_bench)
    d = sub.add_parser("demo", help="run a course network end to end")
    d.add_argument("name")
    d.add_argument("rest", nargs=argparse.REMAINDER, help="options of the demo (try --help)")
    d.set_defaults(fn=cmd_demo)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
