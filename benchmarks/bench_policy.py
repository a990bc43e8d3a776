"""Speed of one robust optimisation (issue 13): 100 generations x 50 candidates x 1,000 members.

Usage::

    python benchmarks/bench_policy.py [--members 1000] [--population 50] [--repeats 3]
                                      [--generations 2] [--hub krakow@calibrated] [--no-cold]
    python benchmarks/bench_policy.py --chunk-sizes 500,1000,2500,5000,10000 --population 10

Measured in one process, side by side, after compiling the model and one warm-up batch of each
(not timed):

1. **one generation's evaluation, three ways**: ``Evaluator.evaluate`` of ``--population``
   candidate policies (drawn uniformly in the decision ranges, seeded) over ``--members``
   members, i.e. population x members runs plus the outcomes. *Cold*: every run simulated in
   full from INITIAL TIME (2005) to the horizon (``Evaluator(warm=False)``, the method before
   the warm start). *Warm*: each member's history simulated once to the base year (2026), every
   candidate continued from there (:mod:`hubsd.engine.warmstart`, the default), in three ways:
   on the numpy backend *serial* (``workers=1``: every chunk of rows in this process) and
   *parallel* (the chunks in worker processes forked for the batch, one per CPU available),
   and *fused* (the default when numba is installed: the fused backend, :mod:`hubsd.engine.fused`,
   its chunks on one thread per CPU). They alternate within each repeat (cold, serial,
   parallel, fused, cold ...) so that a change of the machine's load hits them alike; median of
   ``--repeats``. Each repeat also checks that they give the same outcomes, bit for bit.
   ``--no-cold`` leaves the cold runs out, ``--no-serial`` the serial ones. The ratio warm numpy
   (parallel) / warm fused is printed, in wall time and in CPU seconds.
2. **a short optimisation** (warm, the default backend): ``optimise`` with ``--generations``
   generations,
   wall time, to show what NSGA-II adds on top of the evaluations (sorting, crowding,
   variation).

3. **chunk sizes** (only with ``--chunk-sizes 500,1000,...``, instead of 1 and 2): the warm
   continuation of ``--population`` candidates x ``--members`` members in this process
   (``WarmStart.run(workers=1, chunk_size=...)``), the sizes alternating in each repeat, CPU
   seconds per 10,000 rows (median), to show which chunk size the engine's step runs fastest at.

The projection to the issue's target (100 generations) is the one-off start (the no-policy
run, and for warm the history) plus ``100 x`` (the median generation plus the optimiser's own
share per generation from (2)), printed with the ratio to the 10-minute target. The machine
may be shared (2 cores for several sessions), so for each generation the benchmark also prints
the CPU seconds of this process and its forked workers, their ratio to the wall time (2.0 would
be both cores used all the time), the CPU seconds every other process on the machine used
meanwhile (from ``/proc/stat``), and for the serial run the seconds it spent on a CPU and
waiting in the run queue for one (``/proc/self/schedstat``): waiting there is the load of the
others, not anything this process does. With the kernel's autogroup scheduling on (printed),
a busy machine's CPU is shared between sessions, not processes: the forked workers share
their session's part, so serial and parallel take about the same wall time when other sessions
keep both cores busy, and the parallel speed-up shows only when the machine has a free core.
``100 x`` the CPU seconds over the cores estimates the time on a machine with both cores free.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.engine import fused
from hubsd.engine.ensemble import _default_workers, compile_model
from hubsd.engine.warmstart import warm_start
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


def _cpu(who: int | None = None) -> float:
    """CPU seconds of this process and of its finished children (the forked engine workers)."""
    whom = (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN) if who is None else (who,)
    return sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime for w in whom)


def _machine() -> tuple[float, float]:
    """(busy, total) CPU seconds of every process on the machine since boot (``/proc/stat``)."""
    with open("/proc/stat") as f:
        fields = [float(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / hz, sum(fields[:8]) / hz


def _sched() -> tuple[float, float]:
    """Seconds this process ran on a CPU and waited in the run queue for one (schedstat)."""
    try:
        with open("/proc/self/schedstat") as f:
            on, wait = f.read().split()[:2]
    except OSError:  # pragma: no cover - not Linux
        return float("nan"), float("nan")
    return int(on) / 1e9, int(wait) / 1e9


def _autogroup() -> str:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as f:
            return "on" if f.read().strip() == "1" else "off"
    except OSError:
        return "unknown"


def _chunk_sizes(args, sizes: list[int]) -> int:
    """CPU seconds per 10,000 warm continuations at each chunk size, serial (see (3))."""
    load_before = os.getloadavg()
    model = compile_model()
    design = load_design(hub=args.hub)
    members = policy_ensemble(args.hub, args.members, seed=1)
    ev = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, args.hub, workers=1)
    start = warm_start(
        model, members.reset_index(drop=True), float(design.base_year), list(HUB_OUTPUTS), args.hub
    )
    rng = np.random.default_rng(0)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    x = ev.snap(low + (high - low) * rng.uniform(size=(args.population, len(low))))
    changes = pd.DataFrame(
        {d.parameter: np.repeat(x[:, j], args.members) for j, d in enumerate(design.decisions)}
    )
    member = np.tile(np.arange(args.members), args.population)
    cpu: dict[int, list[float]] = {c: [] for c in sizes}
    for _ in range(args.repeats):
        for size in sizes:
            c = _cpu(resource.RUSAGE_SELF)
            start.run(
                changes,
                member,
                final_time=float(design.horizon),
                saveper=1.0,
                chunk_size=size,
                workers=1,
            )
            cpu[size].append(_cpu(resource.RUSAGE_SELF) - c)
    load_after = os.getloadavg()
    print(
        f"load average (1 min) before {load_before[0]:.1f}, after {load_after[0]:.1f}; "
        f"{len(member):,} warm continuations in this process, {args.repeats} repeats"
    )
    for size in sizes:
        per = statistics.median(cpu[size]) * 10_000 / len(member)
        print(f"chunk size {size:>6}: {per:.2f} CPU s per 10,000 rows (median)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hub", default="krakow@calibrated")
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--generations", type=int, default=2)
    ap.add_argument("--no-cold", action="store_true", help="leave the cold runs out")
    ap.add_argument("--no-serial", action="store_true", help="leave the serial runs out")
    ap.add_argument("--chunk-sizes", help="comma-separated chunk sizes to time instead")
    args = ap.parse_args()
    if args.chunk_sizes:
        return _chunk_sizes(args, [int(c) for c in args.chunk_sizes.split(",")])

    load_before = os.getloadavg()
    model = compile_model()
    design = load_design(hub=args.hub)
    members = policy_ensemble(args.hub, args.members, seed=1)
    variants = {
        "cold": dict(warm=False),
        "serial": dict(workers=1, backend="numpy"),
        "parallel": dict(backend="numpy"),
    }
    if fused.available():
        variants["fused"] = {}
    if args.no_cold:
        del variants["cold"]
    if args.no_serial:
        del variants["serial"]
    best = "fused" if "fused" in variants else "parallel"
    start = {}
    evs = {}
    for label, kw in variants.items():
        t0 = time.perf_counter()
        evs[label] = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, args.hub, **kw)
        start[label] = time.perf_counter() - t0
    for label in [k for k in evs if k != "cold"]:
        assert evs[label].warm_from == design.base_year, evs[label].warm_refused
    rng = np.random.default_rng(0)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    x = low + (high - low) * rng.uniform(size=(2, len(low)))
    for ev in evs.values():
        ev.evaluate(x)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in evs}
    cpu: dict[str, list[float]] = {k: [] for k in evs}
    others: dict[str, list[float]] = {k: [] for k in evs}
    queue: list[tuple[float, float, float]] = []
    own: list[float] = []  # CPU seconds of this process itself in the parallel generation
    loads = []
    for _ in range(args.repeats):
        x = low + (high - low) * rng.uniform(size=(args.population, len(low)))
        out = {}
        for label, ev in evs.items():
            c, m, q, o = _cpu(), _machine()[0], _sched(), _cpu(resource.RUSAGE_SELF)
            t = time.perf_counter()
            out[label] = ev.evaluate(x)
            times[label].append(time.perf_counter() - t)
            cpu[label].append(_cpu() - c)
            others[label].append(_machine()[0] - m - cpu[label][-1])
            if label == "parallel":
                own.append(_cpu(resource.RUSAGE_SELF) - o)
            if label == "serial":
                q2 = _sched()
                on, wait = q2[0] - q[0], q2[1] - q[1]
                queue.append((on, wait, times[label][-1] - on - wait))
            loads.append(os.getloadavg()[0])
        for label in out:
            xr.testing.assert_identical(out["parallel"], out[label])
    gen = {k: statistics.median(v) for k, v in times.items()}
    cpu_gen = {k: statistics.median(v) for k, v in cpu.items()}
    runs = args.population * args.members
    ev = evs[best]
    t = time.perf_counter()
    before = ev.runs
    optimise(ev, check_objectives(DEFAULT_OBJECTIVES), None, args.generations, args.population)
    opt_s = time.perf_counter() - t
    opt_gens = (ev.runs - before) / runs  # generations actually evaluated
    overhead = max(0.0, opt_s / opt_gens - gen[best])
    full = {k: start[k] + TARGET_GENERATIONS * (gen[k] + overhead) for k in gen}
    load_after = os.getloadavg()
    print(
        f"load average (1, 5, 15 min) before: {load_before[0]:.1f}, {load_before[1]:.1f}, "
        f"{load_before[2]:.1f}; after: {load_after[0]:.1f}, {load_after[1]:.1f}, "
        f"{load_after[2]:.1f}; 1-min load after each timed generation: "
        f"{min(loads):.1f}-{max(loads):.1f}; on {os.cpu_count()} CPUs"
    )
    print(f"kernel autogroup scheduling (CPU shared between sessions): {_autogroup()}")
    print(
        f"hub {args.hub}; decisions: {len(design.decisions)}; outputs: {len(HUB_OUTPUTS)}; "
        f"base year {design.base_year:g}, horizon {design.horizon:g}; parallel: "
        f"{_default_workers(runs, 2)} worker processes"
    )
    print(
        "start (no-policy run of {} members; warm: + the history to {:g}): {}".format(
            args.members,
            design.base_year,
            ", ".join(f"{k} {v:.2f} s" for k, v in start.items()),
        )
    )
    for label in evs:
        v = times[label]
        print(
            f"one generation {label} ({args.population} candidates x {args.members} members = "
            f"{runs:,} runs): median {gen[label]:.2f} s (min {min(v):.2f}, max {max(v):.2f}, "
            f"{args.repeats} repeats) = {runs / gen[label]:,.0f} runs/s; CPU {cpu_gen[label]:.1f}"
            f" s (CPU/wall {cpu_gen[label] / gen[label]:.2f}); other processes meanwhile "
            f"{statistics.median(others[label]):.1f} CPU s"
        )
    if "serial" in gen:
        on, wait, blocked = (statistics.median(q[i] for q in queue) for i in (0, 1, 2))
        print(
            f"serial generation: {on:.1f} s on a CPU, {wait:.1f} s waiting in the run queue for "
            f"one, {blocked:.1f} s of its wall time neither (blocked; medians of the repeats)"
        )
        print(
            f"serial / parallel per generation: {gen['serial'] / gen['parallel']:.2f}x in wall "
            f"time; CPU seconds parallel / serial {cpu_gen['parallel'] / cpu_gen['serial']:.2f} "
            "(outcomes identical)"
        )
    serial_part = statistics.median(own)
    workers_cpu = cpu_gen["parallel"] - serial_part
    nw = _default_workers(runs, 2)
    free = serial_part + workers_cpu / nw
    print(
        f"parallel generation: this process {serial_part:.2f} CPU s (the outcomes, the Dataset, "
        f"forking; nothing else runs meanwhile), its {nw} workers {workers_cpu:.1f} CPU s "
        f"together; on {nw} free cores about {serial_part:.2f} + {workers_cpu:.1f} / {nw} = "
        f"{free:.1f} s (an estimate from CPU seconds)"
    )
    if "fused" in gen:
        print(
            f"warm numpy (parallel) / warm fused per generation (medians, side by side): "
            f"{gen['parallel'] / gen['fused']:.2f}x in wall time, "
            f"{cpu_gen['parallel'] / cpu_gen['fused']:.2f}x in CPU seconds (outcomes identical)"
        )
    if "cold" in gen:
        print(
            f"cold / warm ({best}) per generation: {gen['cold'] / gen[best]:.2f}x in wall "
            f"time, {cpu_gen['cold'] / cpu_gen[best]:.2f}x in CPU seconds "
            "(outcomes identical)"
        )
    print(
        f"optimise (warm, {best}), {args.generations} generations: {opt_s:.2f} s "
        f"(NSGA-II's own share {overhead:.3f} s per generation)"
    )
    for label in evs:
        f = full[label]
        print(
            f"projected {label}: {TARGET_GENERATIONS} generations x {args.population} x "
            f"{args.members} = {TARGET_GENERATIONS * runs:,} runs in {f:.0f} s ({f / 60:.1f} "
            f"min) at this load; ratio to the {TARGET_S / 60:.0f}-min target {f / TARGET_S:.2f} "
            f"({'PASS' if f <= TARGET_S else 'FAIL'})"
        )
    for label in evs:
        cores = 1 if label == "serial" else CORES
        f = TARGET_GENERATIONS * cpu_gen[label] / cores
        print(
            f"estimate on {cores} free core(s) ({label}): {TARGET_GENERATIONS} x CPU seconds per "
            f"generation / {cores} = {f:.0f} s ({f / 60:.1f} min) plus the optimiser's share"
        )
    print(
        "(the CPU seconds of a loaded machine include its contention, e.g. shared caches, so "
        "these are estimates, not measurements of an idle machine)"
    )
    return 0 if full[best] <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
