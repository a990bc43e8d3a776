"""Studies on the fused kernel against the numpy backend, side by side, results compared.

Usage::

    python benchmarks/bench_study_backends.py [--hub krakow@calibrated] [--repeats 3]

The posterior draw (``draw_ensemble``), the claims ledger and the validation battery run their
ensembles on the fused kernel whenever it runs the model (``fused.small_runs_backend``), as the fit
does; the engine's automatic choice ran all of them on the numpy backend, which pays about
0.6 s of Python per run whatever its size (they run fewer than its 1,000-member threshold).
This script times each study both ways in one process, interleaved (numpy, fused, fused,
numpy, ...), after one warm-up of each: ``numpy`` is the same code with ``fused.runnable``
answering False (what the automatic choice gave below 1,000 members). Printed: the median,
min and max wall time of each, the ratio of the medians, the load average before and after,
and whether the two results are identical (exact comparison: the kernel is meant to be
bit-identical to the numpy backend). Studies: a 20-member ``draw_ensemble`` of ``--hub``, the
claims ledger of Kraków at 100 members, and ``validate_model`` of Kraków at 100 Latin
hypercube samples (one repeat of it unless ``--repeats`` is given for all).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))  # run from a clone

import pandas as pd  # noqa: E402
import xarray as xr  # noqa: E402

import hubsd  # noqa: E402
from hubsd.engine import fused  # noqa: E402
from hubsd.studies.claims import claims_ledger  # noqa: E402
from hubsd.studies.policies import draw_ensemble  # noqa: E402

REAL_RUNNABLE = fused.runnable


def _backend(name: str) -> None:
    fused.runnable = REAL_RUNNABLE if name == "fused" else (lambda model: False)


def _same(a, b) -> bool:
    try:
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        elif isinstance(a, tuple):
            return all(_same(x, y) for x, y in zip(a, b, strict=True))
        else:
            xr.testing.assert_identical(a, b)
    except AssertionError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hub", default="krakow@calibrated")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    studies = {
        "draw_ensemble, 20 members": lambda: draw_ensemble(args.hub, 20, 1),
        "claims ledger, krakow, 100 members": lambda: (
            claims_ledger(["krakow"], members=100, seed=7).table
        ),
        "validate_model krakow, 100 samples": lambda: (lambda r: (r.table, r.data))(
            hubsd.validate_model("krakow", lhs_samples=100, seed=5)
        ),
    }
    print(f"load before: {os.getloadavg()}")
    for name, fn in studies.items():
        results, times = {}, {"numpy": [], "fused": []}
        for backend in ("numpy", "fused"):  # warm-up: translation, compilation, caches
            _backend(backend)
            results[backend] = fn()
        order = ["numpy", "fused", "fused", "numpy"] * args.repeats
        for backend in order[: 2 * args.repeats]:
            _backend(backend)
            t0 = time.perf_counter()
            fn()
            times[backend].append(time.perf_counter() - t0)
        _backend("fused")
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"{name}:")
        for k, v in times.items():
            print(
                f"  {k:5}: median {med[k]:6.2f} s (min {min(v):.2f}, max {max(v):.2f}, n={len(v)})"
            )
        print(
            f"  numpy / fused: {med['numpy'] / med['fused']:.1f}x; "
            f"results identical: {_same(results['numpy'], results['fused'])}"
        )
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
