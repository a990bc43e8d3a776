"""Speed of one robust optimisation (issue 13): 100 generations x 50 candidates x 1,000 members.

Usage::

    python benchmarks/bench_policy.py [--members 1000] [--population 50] [--repeats 3]
                                      [--generations 2] [--hub krakow@calibrated]

Measured in one process, side by side, after compiling the model and one warm-up batch of each
(not timed):

1. **one generation's evaluation, cold and warm**: ``Evaluator.evaluate`` of ``--population``
   candidate policies (drawn uniformly in the decision ranges, seeded) over ``--members``
   members, i.e. population x members runs plus the outcomes. *Cold*: every run simulated in
   full from INITIAL TIME (2005) to the horizon (``Evaluator(warm=False)``, the method before
   the warm start). *Warm*: each member's history simulated once to the base year (2026), every
   candidate continued from there (:mod:`hubsd.engine.warmstart`, the default). The two
   alternate within each repeat (cold, warm, cold, warm ...) so that a change of the machine's
   load hits both alike; median of ``--repeats``. Each repeat also checks that both give the
   same outcomes, bit for bit.
2. **a short optimisation** (warm): ``optimise`` with ``--generations`` generations, wall time,
   to show what NSGA-II adds on top of the evaluations (sorting, crowding, variation).

The projection to the issue's target (100 generations) is the one-off start (the no-policy
run, and for warm the history) plus ``100 x`` (the median generation plus the optimiser's own
share per generation from (2)), printed with the ratio to the 10-minute target. The machine
may be shared (2 cores for several sessions): its load average is printed before and after; a
high one means both numbers are slower than the machine can do, their ratio much less so. The
CPU seconds of each generation (this process and its forked workers) are printed too, and
``100 x`` them over the 2 cores as an estimate of the time on a machine with both cores free.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import xarray as xr

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
CORES = 2


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the forked engine workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", default="krakow@calibrated")
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--generations", type=int, default=2)
    args = ap.parse_args()

    load_before = os.getloadavg()
    model = compile_model()
    design = load_design(hub=args.hub)
    members = policy_ensemble(args.hub, args.members, seed=1)
    start = {}
    evs = {}
    for label, warm in (("cold", False), ("warm", True)):
        t0 = time.perf_counter()
        evs[label] = Evaluator(
            model, members, design, hub_outcomes, HUB_OUTPUTS, args.hub, warm=warm
        )
        start[label] = time.perf_counter() - t0
    assert evs["warm"].warm_from == design.base_year, evs["warm"].warm_refused
    rng = np.random.default_rng(0)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    x = low + (high - low) * rng.uniform(size=(2, len(low)))
    for ev in evs.values():
        ev.evaluate(x)  # warm-up
    times: dict[str, list[float]] = {"cold": [], "warm": []}
    cpu: dict[str, list[float]] = {"cold": [], "warm": []}
    for _ in range(args.repeats):
        x = low + (high - low) * rng.uniform(size=(args.population, len(low)))
        out = {}
        for label, ev in evs.items():
            c = _cpu()
            t = time.perf_counter()
            out[label] = ev.evaluate(x)
            times[label].append(time.perf_counter() - t)
            cpu[label].append(_cpu() - c)
        xr.testing.assert_identical(out["cold"], out["warm"])
    gen = {k: statistics.median(v) for k, v in times.items()}
    runs = args.population * args.members
    ev = evs["warm"]
    t = time.perf_counter()
    before = ev.runs
    optimise(ev, check_objectives(DEFAULT_OBJECTIVES), None, args.generations, args.population)
    opt_s = time.perf_counter() - t
    opt_gens = (ev.runs - before) / runs  # generations actually evaluated
    overhead = max(0.0, opt_s / opt_gens - gen["warm"])
    full = {k: start[k] + TARGET_GENERATIONS * (gen[k] + overhead) for k in gen}
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before: {load_before[0]:.1f}, {load_before[1]:.1f}, "
        f"{load_before[2]:.1f}; after: {load_after[0]:.1f}, {load_after[1]:.1f}, "
        f"{load_after[2]:.1f}; on {os.cpu_count()} CPUs"
    )
    print(
        f"hub {args.hub}; decisions: {len(design.decisions)}; outputs: {len(HUB_OUTPUTS)}; "
        f"base year {design.base_year:g}, horizon {design.horizon:g}"
    )
    print(
        f"start (no-policy run of {args.members} members; warm: + the history to "
        f"{design.base_year:g}): cold {start['cold']:.2f} s, warm {start['warm']:.2f} s"
    )
    for label in ("cold", "warm"):
        v = times[label]
        print(
            f"one generation {label} ({args.population} candidates x {args.members} members = "
            f"{runs:,} runs): median {gen[label]:.2f} s (min {min(v):.2f}, max {max(v):.2f}, "
            f"{args.repeats} repeats) = {runs / gen[label]:,.0f} runs/s"
        )
    print(f"cold / warm per generation: {gen['cold'] / gen['warm']:.2f}x (outcomes identical)")
    cpu_gen = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"CPU seconds per generation (this process and its workers, median): cold "
        f"{cpu_gen['cold']:.1f}, warm {cpu_gen['warm']:.1f} (ratio "
        f"{cpu_gen['cold'] / cpu_gen['warm']:.2f}x)"
    )
    print(
        f"optimise (warm), {args.generations} generations: {opt_s:.2f} s "
        f"(NSGA-II's own share {overhead:.3f} s per generation)"
    )
    for label in ("cold", "warm"):
        f = full[label]
        print(
            f"projected {label}: {TARGET_GENERATIONS} generations x {args.population} x "
            f"{args.members} = {TARGET_GENERATIONS * runs:,} runs in {f:.0f} s ({f / 60:.1f} "
            f"min); ratio to the {TARGET_S / 60:.0f}-min target {f / TARGET_S:.2f} "
            f"({'PASS' if f <= TARGET_S else 'FAIL'})"
        )
    for label in ("cold", "warm"):
        f = TARGET_GENERATIONS * cpu_gen[label] / CORES
        print(
            f"estimate on {CORES} free cores ({label}): {TARGET_GENERATIONS} x CPU seconds per "
            f"generation / {CORES} = {f:.0f} s ({f / 60:.1f} min) plus the optimiser's share; "
            "the CPU seconds of a loaded machine include its contention (shared caches), so "
            "this is an estimate, not a measurement of an idle machine"
        )
    return 0 if full["warm"] <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
