"""Wall time of one hub's calibration, old code against new, with the results compared (issue 11).

Usage::

    python benchmarks/bench_calibrate.py [--hub krakow ...] [--repeats 3] [--baseline REF]

For each hub (default: krakow) the whole calibration as ``hubsd calibrate --no-save`` runs it
(Latin-hypercube screen, multi-start least squares, profile-likelihood intervals of every free
parameter, holdout refit, fit statistics) is timed in a fresh process, ``--repeats`` times, for
two versions of the package side by side:

* ``old``: the package, model and data of the git revision ``--baseline`` (default ``47a8549``,
  the commit before the calibration's runs moved to the fused kernel and the interval ends were
  refined; ``a4d0b91`` is the one before the first speed-up), unpacked into a temporary folder;
* ``new``: this checkout.

The two alternate (old, new, new, old, ...) so that a change in the machine's load weighs on
both; compiling the model for the ensemble engine is done before the clock starts (loading
the fused kernel from numba's cache, about 1.4 s, is inside it; its first compilation, about
40 s once per machine and kernel, is not). Printed: median, min and max wall time and CPU time
of each (CPU with the profiles' forked second process; until this commit the benchmark counted
the first process only), the ratio of the medians, the load average before and after, the
largest differences between the two results (cost, estimates, 95 % interval ends, flags,
holdout MAPE) and, per free parameter, the estimate and interval ends of each. Target: the
new median at most 60 s on 2 cores.

Exit status 0 when every hub's new median is within the target and the new fit is not worse:
its cost at most ``--cost-tol`` (absolute, default 0.005, i.e. twice the cost within 0.01 of
the chi-square threshold's 3.84) above the old one. Results equal within ``--rtol`` (relative,
default 1e-6) are reported SAME; the new code's refined interval ends (and a last-bit
difference of the fused kernel on a flat ridge) make them DIFFERENT by design.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET = 60.0

#: Run in a fresh interpreter with the package of one tree first on the path.
WORKER = r"""
import json, os, resource, sys, time
sys.path.insert(0, sys.argv[1])
from hubsd.calibration.calibrate import calibrate
from hubsd.engine.ensemble import compile_model
compile_model()
def cpu():  # this process and its forked children (the profiles' second process)
    return sum(
        r.ru_utime + r.ru_stime
        for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )
t0, c0 = time.perf_counter(), cpu()
cal = calibrate(sys.argv[2], progress=False)
wall, c1 = time.perf_counter() - t0, cpu()
tab = cal.table
print(json.dumps({
    "seconds": wall,
    "cpu": c1 - c0,
    "cost": cal.fit.cost,
    "holdout_cost": cal.holdout_fit.cost if cal.holdout_fit is not None else None,
    "holdout_mape": cal.holdout_series_mape,
    "calls": cal.fit.calls,
    "estimate": tab["estimate"].to_dict(),
    "low95": tab["low95"].to_dict(),
    "high95": tab["high95"].to_dict(),
    "flag": tab["flag"].to_dict(),
}))
"""


def _unpack(ref: str, dest: Path) -> Path:
    """The package, model and data of git revision ``ref`` in ``dest``; its analysis folder."""
    blob = subprocess.run(
        ["git", "-C", str(REPO), "archive", ref, "analysis", "models", "data"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest / "analysis"


def _run(analysis: Path, hub: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(HUBSD_PROGRESS="0", PYTHONPATH=str(analysis))
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(analysis), hub],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=analysis.parent,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _line(label, values):
    return (
        f"  {label:<10} median {statistics.median(values):7.1f} s   min {min(values):7.1f} s   "
        f"max {max(values):7.1f} s"
    )


def _differences(old: dict, new: dict) -> dict:
    """Largest relative difference per quantity (absolute where the old value is 0)."""

    def rel(a, b):
        return abs(a - b) / abs(a) if a != 0 else abs(a - b)

    out = {
        "cost": rel(old["cost"], new["cost"]),
        "holdout cost": rel(old["holdout_cost"] or 0.0, new["holdout_cost"] or 0.0),
        "holdout MAPE": rel(old["holdout_mape"], new["holdout_mape"]),
    }
    for key in ("estimate", "low95", "high95"):
        out[key] = max(rel(old[key][n], new[key][n]) for n in old[key])
    out["flags differ"] = sum(old["flag"][n] != new["flag"][n] for n in old["flag"])
    return out


def _table(old: dict, new: dict) -> str:
    """Estimate, 95 % interval and flag of each free parameter, old against new."""
    lines = [
        f"  {'parameter':<38} {'estimate old':>12} {'new':>12}   {'95 % old':>25}   "
        f"{'95 % new':>25}   flag old -> new"
    ]
    for n in old["estimate"]:
        lines.append(
            f"  {n:<38} {old['estimate'][n]:12.5g} {new['estimate'][n]:12.5g}   "
            f"[{old['low95'][n]:11.5g}, {old['high95'][n]:11.5g}]   "
            f"[{new['low95'][n]:11.5g}, {new['high95'][n]:11.5g}]   "
            f"{old['flag'][n]} -> {new['flag'][n]}"
        )
    return "\n".join(lines)


def _saved(hub: str) -> tuple[str, dict] | None:
    """The newest saved calibrated set of ``hub`` in the form of a worker's result, if any."""
    import yaml

    files = sorted(
        (REPO / "data" / "calibrated" / hub).glob("v*.yaml"), key=lambda p: int(p.stem[1:])
    )
    if not files:
        return None
    doc = yaml.safe_load(files[-1].read_text(encoding="utf-8"))
    pars = {**doc.get("parameters", {}), **(doc.get("shares") or {})}
    return f"{hub}/{files[-1].name}", {
        "cost": doc["fit"]["cost"],
        "holdout_cost": None,
        "holdout_mape": doc["holdout"]["series_mape"],
        "estimate": {k: v["value"] for k, v in pars.items()},
        "low95": {k: v["low95"] for k, v in pars.items()},
        "high95": {k: v["high95"] for k, v in pars.items()},
        "flag": {k: v["flag"] for k, v in pars.items()},
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hub", nargs="+", default=["krakow"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", default="47a8549", help="git revision of the old code")
    parser.add_argument("--rtol", type=float, default=1e-6)
    parser.add_argument("--cost-tol", type=float, default=0.005)
    args = parser.parse_args(argv)
    print(
        f"cores available: {len(os.sched_getaffinity(0))}; repeats {args.repeats}; "
        f"load average before {os.getloadavg()[0]:.1f}; old = {args.baseline}, new = this tree"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"old": _unpack(args.baseline, Path(tmp)), "new": REPO / "analysis"}
        for hub in args.hub:
            runs = {"old": [], "new": []}
            for r in range(args.repeats):
                for name in ("old", "new") if r % 2 == 0 else ("new", "old"):
                    runs[name].append(_run(trees[name], hub))
            print(f"calibrate {hub}:")
            for name in ("old", "new"):
                print(_line(f"{name} wall", [x["seconds"] for x in runs[name]]))
                print(_line(f"{name} CPU", [x["cpu"] for x in runs[name]]))
            med = {n: statistics.median(x["seconds"] for x in runs[n]) for n in runs}
            print(
                f"  ratio old / new (medians): {med['old'] / med['new']:.2f}x; fit runs "
                f"{runs['old'][0]['calls']} -> {runs['new'][0]['calls']}"
            )
            diffs = _differences(runs["old"][0], runs["new"][0])
            same = all(v <= args.rtol for k, v in diffs.items() if k != "flags differ")
            same &= diffs["flags differ"] == 0
            print(
                "  largest differences old vs new: "
                + ", ".join(
                    f"{k} {v:.1e}" if k != "flags differ" else f"{k} {v}" for k, v in diffs.items()
                )
                + f"  -> {'SAME' if same else 'DIFFERENT'} (rtol {args.rtol:g})"
            )
            saved = _saved(hub)
            if saved is not None:
                name, doc = saved
                d = _differences(doc, runs["new"][0])
                print(
                    f"  new vs the saved {name} (same spec; fitted by the old code): "
                    + ", ".join(
                        f"{k} {v:.1e}" if k != "flags differ" else f"{k} {v}"
                        for k, v in d.items()
                        if not k.startswith("holdout cost")
                    )
                )
            print(_table(runs["old"][0], runs["new"][0]))
            fast = med["new"] <= TARGET
            print(f"  {'PASS' if fast else 'FAIL'}: new median {med['new']:.1f} s vs {TARGET:g} s")
            costs = [x["cost"] for x in runs["old"]], [x["cost"] for x in runs["new"]]
            no_worse = max(costs[1]) <= min(costs[0]) + args.cost_tol
            print(
                f"  {'PASS' if no_worse else 'FAIL'}: cost old {min(costs[0]):.6f}, "
                f"new {max(costs[1]):.6f} (worst new vs best old, tolerance {args.cost_tol:g})"
            )
            ok &= fast and no_worse
    print(f"load average after {os.getloadavg()[0]:.1f}")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
