"""How long the interactive explorer (``hubsd.explore``) takes to redraw after one change.

Usage::

    python benchmarks/bench_explore.py [--changes 24] [--samples 500] [--hub krakow@calibrated]

Builds two explorers in one process (building, the ensemble's first run and the figure's first
full drawing are not timed) and moves their widgets alike, one change at a time, alternating
between them so that both see the same machine:

1. the explorer as ``hubsd.explore`` makes it: TIME STEP 1/6 year (the members it cannot
   integrate at 1/8, then 1/32; ``hubsd.studies.explore.TIME_STEPS``), each change run from
   2026 on the history kept once (the warm start, ``hubsd.studies.explore_run``; the full run
   where the warm start refuses a change);
2. the same without the warm start (``warm=False``): every change runs in full from 2005, the
   reference.

A change is what a slider or checkbox does in JupyterLab: setting the widget's value, which
reruns the ensemble (the lever's run; with the baseline too when an AI future moves),
computes the fans and the headline table, redraws the figure and encodes the PNG. Changes cycle
through levers (intensity, start year, on/off) and the AI futures (Scenario sector, from 2026).

Prints median, min and max per change (all changes, lever changes, AI-future changes) of
both, wall and CPU time of this process, the ratio of the medians (2 / 1), where explorer 1's
time goes (median per change of the engine run, fans and headline, figure, PNG, table), how
many of its changes ran from 2026 and which ran in full, the largest difference between the
two explorers' members (relative; the warm start must equal the full run), the load
average before and after, and PASS/FAIL of explorer 1's median per change against the 0.3 s
target. Exit status 0 for PASS, 1 for FAIL.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))  # run from a clone

import numpy as np  # noqa: E402

import hubsd  # noqa: E402
from hubsd.studies.explore import OUTPUTS, UNCERTAINTIES, explore  # noqa: E402

TARGET_S = 0.3


def _stats(times: list[float]) -> str:
    return (
        f"median {statistics.median(times):6.3f} s   min {min(times):6.3f} s   "
        f"max {max(times):6.3f} s   (n={len(times)})"
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def changes(ui, n: int) -> list[tuple[str, object]]:
    """``n`` widget changes: levers and AI uncertainties in turn, each to a new value."""
    ex = ui.explorer
    plan = []
    cycle = [
        ("reskilling", None),
        ("reskilling_policy_capacity", 0.5),
        ("change_in_automatable_junior_share", 0.7),
        ("human_centred_ai_policy_share", 0.4),
        ("new_industry_attraction_jobs", 0.45),
        ("ai_adoption_speed_multiplier", 0.3),
        ("reskilling_start_year", 0.6),
        ("change_in_baseline_human_centred_ai_share", 0.8),
        ("human_centred", None),
        ("change_in_automatable_mid_share", 0.6),
        ("client_demand_growth_multiplier", 0.4),
        ("new_industry_attraction_start_year", 0.2),
        ("attraction", None),
        ("change_in_ai_running_cost_ratio", 0.3),
    ]
    for i in range(n):
        name, frac = cycle[i % len(cycle)]
        if frac is None:  # a checkbox: flip it
            plan.append((name, "flip"))
            continue
        lo, hi, _ = ex.ranges[name]
        frac = (frac + 0.37 * (i // len(cycle))) % 1.0  # a new value on each pass
        value = lo + frac * (hi - lo)
        plan.append((name, value))
    return plan


def apply(ui, name: str, value) -> tuple[float, float]:
    widget = ui.controls[name]
    if value == "flip":
        value = not widget.value
    elif isinstance(widget.value, int):
        value = round(value)
    if value == widget.value:  # no change, no redraw: the other end of the slider instead
        value = widget.max if widget.value != widget.max else widget.min
    start, cpu = time.perf_counter(), time.process_time()
    widget.value = value  # the widget's observer reruns and redraws, as in JupyterLab
    return time.perf_counter() - start, time.process_time() - cpu


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=24, help="changes per explorer (24)")
    parser.add_argument("--samples", type=int, default=500, help="ensemble members (500)")
    parser.add_argument("--hub", default="krakow@calibrated")
    args = parser.parse_args(argv)
    if args.changes < 1:
        parser.error("--changes must be at least 1")

    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    print(f"machine : {platform.system()} {platform.machine()}, {_cpu_model()}")
    print(
        f"cores   : {logical} logical, {usable} usable; load average before: "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"python  : {platform.python_version()}   numpy {np.__version__}   "
        f"hubsd {hubsd.__version__}"
    )
    setup = time.perf_counter()
    fast = explore(args.hub, samples=args.samples)
    full = explore(args.hub, samples=args.samples, warm=False)
    if not hasattr(fast, "controls"):
        print("ipywidgets is not installed: pip install -e '.[lab]'")
        return 1
    print(
        f"explorer: {fast.explorer.hub}, {args.samples} members, "
        f"{len(fast.explorer.lhs)} parameters drawn, {len(OUTPUTS)} outputs; "
        f"setup {time.perf_counter() - setup:.1f} s, not counted\n"
    )

    plan = changes(fast, args.changes)
    times: dict[str, dict[str, list[float]]] = {"fast": {}, "full": {}}
    cpus: dict[str, list[float]] = {"fast": [], "full": []}
    parts: dict[str, list[float]] = {}
    worst = 0.0
    modes: dict[str, int] = {}
    for name, value in plan:
        kind = "AI future" if name in UNCERTAINTIES else "lever"
        for label, ui in (("fast", fast), ("full", full)):
            wall, cpu = apply(ui, name, value)
            times[label].setdefault(kind, []).append(wall)
            cpus[label].append(cpu)
            if label == "fast":
                for part, seconds in ui.timings.items():
                    parts.setdefault(part, []).append(seconds)
        mode = fast.explorer.mode.split(" (")[0]
        if mode.startswith("full"):
            mode += f" ({name})"
        modes[mode] = modes.get(mode, 0) + 1
        for out in OUTPUTS:  # warm start against the full run: every member, both runs
            for a, b in (
                (fast.explorer.members[out], full.explorer.members[out]),
                (fast.explorer.baseline_members[out], full.explorer.baseline_members[out]),
            ):
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1.0))))

    def every(label):
        return [t for ts in times[label].values() for t in ts]

    for label, title in (
        ("fast", f"{'warm start from 2026':<26}"),
        ("full", f"{'full run from 2005':<26}"),
    ):
        print(f"{title} per change       {_stats(every(label))}")
        for kind in ("lever", "AI future"):
            if kind in times[label]:
                print(f"    {kind + ' changes':<24}    {_stats(times[label][kind])}")
    print(
        f"CPU time of this process per change (median): warm start "
        f"{statistics.median(cpus['fast']):.3f} s, full run "
        f"{statistics.median(cpus['full']):.3f} s (wall above CPU: other work on the machine)"
    )
    print(
        "where explorer 1's time goes (median per change, wall): "
        + ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in parts.items())
    )
    steps = fast.explorer.steps()
    print(f"explorer 1's TIME STEP at the last change: {steps}")
    print("explorer 1's changes ran: " + ", ".join(f"{k}: {v}" for k, v in modes.items()))
    med_fast = statistics.median(every("fast"))
    med_full = statistics.median(every("full"))
    print(f"\nratio full run / warm start (medians per change): {med_full / med_fast:.2f}x")
    print(f"largest difference warm start vs full run, every member: {worst:.1e} (relative)")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    verdict = "PASS" if med_fast <= TARGET_S else "FAIL"
    print(f"{verdict}: explorer median {med_fast:.3f} s per change vs target {TARGET_S} s")
    print(
        f"CPU-time verdict: median {statistics.median(cpus['fast']):.3f} s CPU per change "
        f"({'within' if statistics.median(cpus['fast']) <= TARGET_S else 'above'} {TARGET_S} s)"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
