"""Share of Monte Carlo members consistent with the data: independent draws vs joint draws.

    python scripts/posterior_consistency.py [--members 1000] [--seed 0] [HUB ...]

For each hub (default Kraków, Telangana, Manila; the newest calibrated set) four ensembles of
the same size and seed, each scored against every figure of the hub's calibration spec
(:func:`hubsd.calibration.posterior.data_consistency`):

A. ``lhs_parameters`` over ``uncertain_ranges`` (what Monte Carlo, the claims ledger and the
   explorer drew before issue 17): every calibrated parameter independently over its 95 %
   profile interval, every other uncertain parameter over its range;
B. the calibrated parameters only, independently over their intervals (the others at the
   calibrated hub's values);
C. the calibrated parameters only, jointly from the posterior (``sample_posterior``);
D. ``draw_ensemble``: C plus the other uncertain parameters by Latin hypercube (what Monte
   Carlo, the claims ledger and the explorer draw now).

Printed per ensemble: the share of member x figure pairs within the figure's stated relative
error; the share of members within +/-10 % of the hub's observed 2022 jobs (its first
employment series with a 2022 figure); the share inside the joint 95 % likelihood-ratio region
of the spec's free quantities; the median cost (0.5 x sum of squared weighted residuals).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))  # run from a clone

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from hubsd.calibration.posterior import (  # noqa: E402
    data_consistency,
    model_parameters,
    sample_posterior,
)
from hubsd.studies.policies import draw_ensemble, lhs_parameters, uncertain_ranges  # noqa: E402


def jobs_2022(cons) -> str:
    """Label of the hub's first employment figure of 2022 (the spec's first series)."""
    labels = [str(f) for f in cons["figure"].values if str(f).endswith(" 2022")]
    jobs = [f for f in labels if "employment" in f and "forecast" not in f]
    return jobs[0]


def score(name: str, cons) -> dict:
    label = jobs_2022(cons)
    rel = cons["relative_error"].sel(figure=label).to_numpy()
    return {
        "ensemble": name,
        "figures within error": float(cons["within_error"].mean()),
        f"within 10% of {label}": float(np.mean(np.abs(rel) <= 0.10)),
        "in joint 95% region": float(cons["in_region"].mean()),
        "median cost": float(cons["cost"].median()),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("hubs", nargs="*", default=["krakow", "telangana", "manila"])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    pd.set_option("display.width", 200)
    for hub in args.hubs:
        cal = f"{hub}@calibrated"
        n, seed = args.members, args.seed
        ranges = uncertain_ranges(cal)
        t0 = time.perf_counter()
        post = sample_posterior(cal, n, seed)
        t_post = time.perf_counter() - t0
        joint = model_parameters(post)
        shares = pd.DataFrame(
            {k: post[k].to_numpy() for k in post.data_vars if post[k].attrs.get("kind") == "share"}
        )
        calibrated = {k: ranges[k] for k in joint.columns if k in ranges}
        full = draw_ensemble(cal, n, seed)
        rows = [
            score(
                "A independent, all",
                data_consistency(cal, lhs_parameters(n, seed, list(ranges), ranges=ranges)),
            ),
            score(
                "B independent, calibrated only",
                data_consistency(cal, lhs_parameters(n, seed, list(calibrated), ranges=calibrated)),
            ),
            score("C joint, calibrated only", data_consistency(cal, joint, shares)),
            score(
                "D draw_ensemble (C + LHS others)",
                data_consistency(cal, full, pd.DataFrame(full.attrs["shares"])),
            ),
        ]
        a = post.attrs
        print(
            f"\n{a['hub']}: {n} members, seed {seed}; posterior in {t_post:.1f} s "
            f"(ESS {a['ess']:.1f} of {a['proposals']} simulated, {a['distinct']} distinct, "
            f"acceptance {a['acceptance']:.2f}, fit cost {a['fit_cost']:.2f})"
        )
        print(pd.DataFrame(rows).set_index("ensemble").round(3).to_string())


if __name__ == "__main__":
    main()
