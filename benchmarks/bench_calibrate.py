"""Wall time of one hub's calibration, and what running the local fits side by side saves (issue 3).

Usage::

    python benchmarks/bench_calibrate.py [--hub krakow ...] [--repeats 3]

Measured in one process, after compiling the model for the ensemble engine (not timed):

1. for each hub with a spec in ``data/calibration/`` (or those given): the whole
   ``hubsd.calibration.calibrate.calibrate`` as ``hubsd calibrate`` runs it (Latin-hypercube screen,
   multi-start least squares, profile-likelihood intervals of every free parameter, holdout
   refit, fit statistics), ``--repeats`` times; median, min, max. Target: at most 120 s per hub
   on 2 cores.
2. for the first hub: its multi-start fit with the SciPy solvers side by side (one thread each,
   their model evaluations gathered into one vectorised ensemble run per step by
   ``BatchBroker``) against the same starts one after another (each solver alone, one ensemble
   run per evaluation), interleaved ``--repeats`` times; ratio of the medians, and the largest
   difference of the final costs (the two must find the same optima).

Exit status 0 when every hub's median is within the target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))

import numpy as np  # noqa: E402

from hubsd import calibrate as cal  # noqa: E402
from hubsd.engine.ensemble import compile_model

TARGET = 120.0


def _line(label, times):
    return (f"{label:<40} median {statistics.median(times):7.2f} s   min {min(times):7.2f} s   "
            f"max {max(times):7.2f} s   (n={len(times)})")


def sequential_fit(spec):
    """The same multi-start fit with each solver run alone (no batching across starts)."""
    original = cal._parallel_solves

    def one_by_one(objective, starts, max_nfev=60):
        results, calls = [], 0
        for start in starts:
            res, broker = original(objective, [start], max_nfev)
            results.extend(res)
            calls += broker.calls
        broker.calls = calls
        return results, broker

    cal._parallel_solves = one_by_one
    try:
        return cal.fit(spec)
    finally:
        cal._parallel_solves = original


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", nargs="+", help="hubs (default: every spec)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    hubs = args.hub or sorted(p.stem for p in cal.CALIBRATION_DIR.glob("*.yaml"))
    compile_model()
    print(f"cores available: {len(os.sched_getaffinity(0))}; repeats {args.repeats}")
    ok = True
    specs = {}
    for hub in hubs:
        spec = specs[hub] = cal.load_spec(hub)
        times, last = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            last = cal.calibrate(spec)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        ok &= med <= TARGET
        print(_line(f"calibrate {hub} ({len(spec.free)} free, {len(spec.points)} fig.)", times))
        print(f"    cost {last.fit.cost:.4g}; {last.fit.evaluations} evaluations in "
              f"{last.fit.calls} ensemble runs for the fit; "
              f"{'PASS' if med <= TARGET else 'FAIL'} vs {TARGET:g} s")
    spec = specs[hubs[0]]
    side, alone, diffs = [], [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        a = cal.fit(spec)
        side.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = sequential_fit(spec)
        alone.append(time.perf_counter() - t0)
        diffs.append(float(np.max(np.abs(a.starts.cost.to_numpy() - b.starts.cost.to_numpy())
                                  / b.starts.cost.to_numpy())))
    print(_line(f"fit {hubs[0]}: {spec.starts} starts side by side", side))
    print(_line(f"fit {hubs[0]}: the same starts one by one", alone))
    print(f"ratio one by one / side by side (medians): "
          f"{statistics.median(alone) / statistics.median(side):.2f}x; largest relative "
          f"difference of final costs {max(diffs):.1e}")
    print("PASS" if ok else "FAIL", f"(every hub's calibration within {TARGET:g} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
