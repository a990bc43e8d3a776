"""Per-member speed of the ensemble engine against PySD: the hub model and three small models.

Usage::

    python benchmarks/bench_small_models.py [--members 1000 100] [--large 10000]
                                            [--repeats 5] [--pysd-runs 3]

Everything is measured side by side in one process, medians over ``--repeats``; PySD and the
engine run the same parameter sets, drawn uniformly in the range of every parameter that has
one (every one, for the hub model), after compiling (not timed) and one warm-up of each:

1. ``compile_model(mdl).run(params)`` for N members (each N of ``--members``), one worker
   process (the members run in one vectorised simulation); every variable kept for the small
   models, ``hubsd.KEY_OUTPUTS`` for the hub model.
2. Interleaved with each repeat, ``--pysd-runs`` calls of PySD's run of the model (translated
   and loaded once by :func:`hubsd.engine.conformance.load_pysd`, the helper the conformance
   suite uses; for the hub model the PySD model :func:`hubsd.run` runs, with its fast table
   functions) with the parameters of the first members, the same outputs returned.
3. For the hub model, ``--large`` members (default 10,000) with the default chunks and
   worker processes (all usable cores), timed the same way.

Prints the median time per PySD run, the median engine time for N members, and the per-member
speed-up (PySD's time per run over the engine's time per member). Goals of issue 14: at least
1,000x per member on the hub model, at least 100x per member on small models (<= 30
variables) at N = 100, and 10,000 members of the hub model with every parameter varied in at
most 1 s on two cores. The load average is printed before and after: the machine may be shared,
so the ratios (measured side by side) are the numbers to quote, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "analysis"))  # run from a clone

import numpy as np  # noqa: E402

from hubsd.core.paths import DEFAULT_MODEL  # noqa: E402
from hubsd.engine.conformance import load_pysd, pysd_params  # noqa: E402
from hubsd.engine.ensemble import compile_model  # noqa: E402
from hubsd.engine.pysd_runner import KEY_OUTPUTS  # noqa: E402
from hubsd.model.pysd_model import load  # noqa: E402

SMALL = [
    ROOT / "tests/models/engine/subscripts_1d.mdl",
    ROOT / "tests/models/engine/vector_functions.mdl",
    ROOT / "tests/models/engine/macros.mdl",
]
GOAL_SMALL = 100.0  # per member at N = 100
GOAL_HUB = 1000.0  # per member
GOAL_LARGE_S = 1.0  # 10,000 members of the hub model


def _params(model, n: int, seed: int = 1) -> dict:
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(r.low, r.high, n) for k, r in table.iterrows()}


def _median_ms(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1e3:10.2f} ms"


def bench(mdl: Path, members: list[int], repeats: int, pysd_runs: int, large: int = 0) -> dict:
    """Time PySD and the engine side by side on one model; print and return the medians."""
    model = compile_model(mdl)
    hub = Path(mdl).resolve() == Path(DEFAULT_MODEL).resolve()
    outputs = (
        list(KEY_OUTPUTS)
        if hub
        else [o for o in model.outputs_available() if o not in model.controls]
    )
    columns = [model.nodes[o].element for o in outputs]
    big = _params(model, max(members + [large]))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the hub model: the PySD model hubsd.run runs (its fast tables make it the faster one)
        pm = load(mdl, fresh=True) if hub else load_pysd(mdl, tmp)
        runs = [pysd_params(model, {k: v[i] for k, v in big.items()}) for i in range(pysd_runs)]
        pm.run(params=runs[0], return_columns=columns)  # warm-up
        sizes = members + ([large] if large else [])
        engine: dict[int, list[float]] = {n: [] for n in sizes}
        pysd_times: list[float] = []
        for n in members:
            model.run({k: v[:n] for k, v in big.items()}, outputs, workers=1)  # warm-up
        for _ in range(repeats):
            for n in sizes:
                workers = None if n == large else 1
                t0 = time.perf_counter()
                model.run({k: v[:n] for k, v in big.items()}, outputs, workers=workers)
                engine[n].append(time.perf_counter() - t0)
            for p in runs:
                t0 = time.perf_counter()
                pm.run(params=p, return_columns=columns)
                pysd_times.append(time.perf_counter() - t0)
    per_run = statistics.median(pysd_times)
    c = model.controls
    steps = int(round((c["final_time"] - c["initial_time"]) / c["time_step"]))
    print(
        f"\n{mdl.name}: {len(model.elements)} variables, {steps} Euler steps, "
        f"{len(big)} parameters varied, {len(outputs)} outputs"
    )
    print(f"  PySD run                       {_median_ms(pysd_times)}  (n={len(pysd_times)})")
    ratios = {}
    for n in sizes:
        med = statistics.median(engine[n])
        ratios[n] = ratio = per_run / (med / n)
        goal = GOAL_HUB if hub else (GOAL_SMALL if n == 100 else None)
        flag = "" if goal is None else ("PASS" if ratio >= goal else "FAIL")
        how = "default workers" if n == large else "1 worker"
        print(
            f"  engine, N = {n:6d} ({how:15s}) {_median_ms(engine[n])}  "
            f"({med / n * 1e6:8.1f} us/member)  speed-up per member {ratio:8.0f}x  {flag}"
        )
    if large:
        med = statistics.median(engine[large])
        flag = "PASS" if med <= GOAL_LARGE_S else "FAIL"
        print(
            f"  {large} members: median {med:.3f} s (goal <= {GOAL_LARGE_S:g} s on 2 quiet "
            f"cores: {flag}); {large} PySD runs would take {per_run * large:.0f} s"
        )
    return {"pysd_s": per_run, "ratios": ratios}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, nargs="+", default=[1000, 100])
    ap.add_argument("--large", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pysd-runs", type=int, default=3)
    args = ap.parse_args()
    print(f"load average before: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    bench(Path(DEFAULT_MODEL), args.members, args.repeats, args.pysd_runs, args.large)
    for mdl in SMALL:
        bench(mdl, args.members, args.repeats, args.pysd_runs)
    print(f"\nload average after: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
