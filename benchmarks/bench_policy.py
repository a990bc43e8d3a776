"""Speed of one robust optimisation (issue 13): 100 generations x 50 candidates x 1,000 members.

Usage::

    python benchmarks/bench_policy.py [--members 1000] [--population 50] [--repeats 3]
                                      [--generations 2] [--hub krakow@calibrated]

Measured in one process, after compiling the model and one warm-up batch (not timed):

1. **one generation's evaluation**: ``Evaluator.evaluate`` of ``--population`` candidate
   policies (drawn uniformly in the decision ranges, seeded) over ``--members`` members, i.e.
   one stacked engine batch of population x members runs plus the outcomes; ``--repeats``
   times, median;
2. **a short optimisation**: ``optimise`` with ``--generations`` generations, wall time, to show
   what NSGA-II adds on top of the evaluations (sorting, crowding, variation).

The extrapolation to the issue's target (100 generations) is ``100 x`` the median generation
plus the optimiser's own share per generation from (2), printed with the ratio to the 10-minute
target. The machine may be shared (2 cores for several sessions): its load average is printed;
a high one means the numbers are slower than the machine can do.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from hubsd.engine.ensemble import compile_model
from hubsd.studies.policy_design import (
    HUB_OUTPUTS,
    Evaluator,
    hub_outcomes,
    optimise,
    policy_ensemble,
)
from hubsd.studies.policy_spec import DEFAULT_OBJECTIVES, check_objectives, load_design

TARGET_S = 600.0
TARGET_GENERATIONS = 100


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", default="krakow@calibrated")
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--generations", type=int, default=2)
    args = ap.parse_args()

    model = compile_model()
    design = load_design(hub=args.hub)
    members = policy_ensemble(args.hub, args.members, seed=1)
    t0 = time.perf_counter()
    ev = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, args.hub)
    baseline_s = time.perf_counter() - t0
    rng = np.random.default_rng(0)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    ev.evaluate(low + (high - low) * rng.uniform(size=(2, len(low))))  # warm-up
    times = []
    for _ in range(args.repeats):
        x = low + (high - low) * rng.uniform(size=(args.population, len(low)))
        t = time.perf_counter()
        ev.evaluate(x)
        times.append(time.perf_counter() - t)
    gen = statistics.median(times)
    runs = args.population * args.members
    t = time.perf_counter()
    before = ev.runs
    optimise(ev, check_objectives(DEFAULT_OBJECTIVES), None, args.generations, args.population)
    opt_s = time.perf_counter() - t
    opt_gens = (ev.runs - before) / runs  # generations actually evaluated
    overhead = max(0.0, opt_s / opt_gens - gen)
    full = TARGET_GENERATIONS * (gen + overhead)
    print(f"load average (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"hub {args.hub}; decisions: {len(design.decisions)}; outputs: {len(HUB_OUTPUTS)}")
    print(f"baseline run of {args.members} members: {baseline_s:.2f} s")
    print(
        f"one generation ({args.population} candidates x {args.members} members = {runs:,} "
        f"runs): median {gen:.2f} s (min {min(times):.2f}, max {max(times):.2f}, "
        f"{args.repeats} repeats) = {runs / gen:,.0f} runs/s"
    )
    print(
        f"optimise, {args.generations} generations: {opt_s:.2f} s "
        f"(NSGA-II's own share {overhead:.3f} s per generation)"
    )
    print(
        f"extrapolated: {TARGET_GENERATIONS} generations x {args.population} x {args.members} "
        f"= {TARGET_GENERATIONS * runs:,} runs in {full:.0f} s ({full / 60:.1f} min); "
        f"ratio to the {TARGET_S / 60:.0f}-min target {full / TARGET_S:.2f} "
        f"({'PASS' if full <= TARGET_S else 'FAIL'})"
    )
    return 0 if full <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
