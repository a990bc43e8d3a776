"""Cost of drawing an ensemble jointly from the posterior against running it (issue 17).

Usage::

    python benchmarks/bench_posterior.py [--hub krakow] [--members 1000] [--repeats 3]

Measured side by side in one process, interleaved, after one warm-up of each (model
translation and compilation are not timed), on one worker process (as the calibration runs):

1. ``sample_posterior(hub@calibrated, members)``: the joint draw of the calibrated parameters
   (Jacobian, proposal rounds, resampling and the Metropolis moves; every simulation on the
   ensemble engine to the spec's final time);
2. a plain ensemble run of the same members to the model's final time with
   ``hubsd.KEY_OUTPUTS`` (what a study does with the draw).

Prints the medians (the numbers to quote), min and max, the members simulated by the
posterior draw, and the ratio of its median to the plain run's median (``draw_ensemble`` adds
only a Latin hypercube to the posterior draw). The machine may
be shared: a max far above the median means something else was running.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))  # run from a clone

import hubsd  # noqa: E402
from hubsd.calibration.posterior import sample_posterior  # noqa: E402
from hubsd.engine.ensemble import compile_model  # noqa: E402
from hubsd.studies.policies import draw_ensemble  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hub", default="krakow")
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    hub = f"{args.hub}@calibrated"
    model = compile_model()
    draw = draw_ensemble(hub, args.members, 0)  # warm-up and the members the plain run runs
    model.run(draw, list(hubsd.KEY_OUTPUTS), hub, workers=1)
    times: dict[str, list[float]] = {"sample_posterior": [], "plain run": []}
    simulated = 0
    for r in range(args.repeats):
        t = time.perf_counter()
        post = sample_posterior(hub, args.members, r)
        times["sample_posterior"].append(time.perf_counter() - t)
        simulated = post.attrs["proposals"]
        t = time.perf_counter()
        model.run(draw, list(hubsd.KEY_OUTPUTS), hub, workers=1)
        times["plain run"].append(time.perf_counter() - t)
    plain = statistics.median(times["plain run"])
    print(f"{post.attrs['hub']}, {args.members} members, {args.repeats} repeats, 1 worker")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(
            f"{name:17s} median {med:7.2f} s  min {min(ts):7.2f}  max {max(ts):7.2f}  "
            f"ratio to plain run {med / plain:5.1f}"
        )
    print(
        f"the posterior draw simulated {simulated} members to {post.attrs.get('figures')} "
        f"figures (ESS {post.attrs['ess']:.1f}, {post.attrs['distinct']} distinct, "
        f"acceptance {post.attrs['acceptance']:.2f})"
    )


if __name__ == "__main__":
    main()
