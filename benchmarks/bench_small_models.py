"""Per-member speed of the ensemble engine against PySD on small models (issue 14).

Usage::

    python benchmarks/bench_small_models.py [--members 1000 100] [--repeats 5] [--pysd-runs 5]

For each small model (``tests/models/engine/``: ``subscripts_1d`` (3 regions, SMOOTH, STEP),
``vector_functions`` (VECTOR SELECT/SORT ORDER/RANK/REORDER over 4 regions),
``mappings`` (a subscript mapping and a copied range) and ``smooth`` (``tests/models/``)),
measured side by side in one process, after compiling (not timed) and one warm-up of each:

1. ``compile_model(mdl).run(params)`` for N members (each N of ``--members``), every
   parameter with a range drawn uniformly in it, every variable kept; ``--repeats`` times,
   one worker process (the members run in one vectorised simulation).
2. Interleaved with each repeat, ``--pysd-runs`` calls of ``pysd.read_vensim(...).run`` (the
   translated model loaded once) with the parameters of the first members, every variable
   returned.

Prints the median time per PySD run, the median engine time for N members, and the ratio of
PySD's time per run to the engine's time per member (the per-member speed-up). The issue's
goal: at least 100x per member at N = 100 once compiled.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "analysis"))  # run from a clone

import numpy as np  # noqa: E402

from hubsd.engine.ensemble import compile_model  # noqa: E402

MODELS = [
    ROOT / "tests/models/engine/subscripts_1d.mdl",
    ROOT / "tests/models/engine/vector_functions.mdl",
    ROOT / "tests/models/engine/mappings.mdl",
    ROOT / "tests/models/smooth.mdl",
]
GOAL = 100.0


def _params(model, n: int, seed: int = 1) -> dict:
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(r.low, r.high, n) for k, r in table.iterrows()}


def _pysd_value(model, key: str, value: float, out: dict) -> None:
    """One engine parameter (``"growth[Krakow]"``) as PySD's (a float or a DataArray)."""
    import xarray as xr

    name = key.split("[")[0]
    node = model.nodes[name]
    if not node.dims:
        out[name] = float(value)
        return
    if name not in out:
        coords = {d: node.coords[d] for d in node.dims}
        out[name] = xr.DataArray(np.array(node.value, dtype=float), coords, list(node.dims))
    out[name].loc[tuple(key[len(name) + 1 : -1].split(","))] = float(value)


def bench(mdl: Path, members: list[int], repeats: int, pysd_runs: int) -> None:
    import pysd

    model = compile_model(mdl)
    outputs = [o for o in model.outputs_available() if o not in model.controls]
    nvars = len(model.elements)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        copy = Path(tmp) / mdl.name
        shutil.copy(mdl, copy)
        pm = pysd.read_vensim(str(copy))
        big = _params(model, max(members))
        runs = []
        for i in range(pysd_runs):
            p: dict = {}
            for k, v in big.items():
                _pysd_value(model, k, v[i], p)
            runs.append(p)
        pm.run(params=runs[0])  # warm-up
        engine = {n: [] for n in members}
        pysd_times = []
        for n in members:
            model.run({k: v[:n] for k, v in big.items()}, outputs, workers=1)  # warm-up
        for _ in range(repeats):
            for n in members:
                t0 = time.perf_counter()
                model.run({k: v[:n] for k, v in big.items()}, outputs, workers=1)
                engine[n].append(time.perf_counter() - t0)
            for p in runs:
                t0 = time.perf_counter()
                pm.run(params=p)
                pysd_times.append(time.perf_counter() - t0)
    per_run = statistics.median(pysd_times)
    steps = int(
        round(
            (model.controls["final_time"] - model.controls["initial_time"])
            / model.controls["time_step"]
        )
    )
    print(f"\n{mdl.name}: {nvars} variables, {steps} Euler steps, {len(big)} parameters varied")
    print(f"  PySD run                       median {per_run * 1e3:9.2f} ms  (n={len(pysd_times)})")
    for n in members:
        med = statistics.median(engine[n])
        ratio = per_run / (med / n)
        flag = "PASS" if n != 100 or ratio >= GOAL else "FAIL"
        print(
            f"  engine, N = {n:5d}             median {med * 1e3:9.2f} ms  "
            f"({med / n * 1e6:8.1f} us/member)  speed-up per member {ratio:8.0f}x  {flag}"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, nargs="+", default=[1000, 100])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pysd-runs", type=int, default=5)
    args = ap.parse_args()
    for mdl in MODELS:
        bench(mdl, args.members, args.repeats, args.pysd_runs)


if __name__ == "__main__":
    main()
