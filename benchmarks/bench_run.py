"""How long one full run of the hub model takes in PySD, with and without fast table functions.

Usage::

    python benchmarks/bench_run.py [--repeats N] [--pysd-repeats M] [--hub krakow]

Measures, in one process, on the translated ``models/hub.mdl`` (translation and loading are done
before timing starts and are not measured):

1. ``hubsd.run(hub)``: the public API with its default outputs (``KEY_OUTPUTS``): parameter
   resolution and validation, ``set_components``, PySD's run, the Dataset with units; N times.
2. ``model.run()`` on the loaded PySD model (fast table functions, ``hubsd.model.pysd_model.FastLookups``):
   PySD alone, every variable returned; N times.
3. The same raw ``model.run()`` on a fresh model whose table functions are PySD's own
   (``pysd.py_backend.lookups.HardcodedLookups``, xarray interpolation); M times (slow).
   PySD's extrapolation warnings are silenced for this one.

Prints median, min and max of each, the ratio 3 / 2 (how much the fast table functions save)
and PASS/FAIL of the ``hubsd.run`` median against the 0.5 s target. The exit status is 0 for
PASS, 1 for FAIL.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))  # run from a clone

import hubsd  # noqa: E402
from hubsd.engine.pysd_runner import model_controls, resolve_parameters
from hubsd.model.pysd_model import load

TARGET_S = 0.5


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _stats(times: list[float]) -> str:
    return (f"median {statistics.median(times):7.3f} s   min {min(times):7.3f} s   "
            f"max {max(times):7.3f} s   (n={len(times)})")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _machine() -> str:
    logical = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else logical
    import numpy
    import pysd

    return "\n".join([
        f"machine : {platform.system()} {platform.release()} {platform.machine()}, "
        f"{_cpu_model()}",
        f"cores   : {logical} logical, {usable} usable by this process",
        f"python  : {platform.python_version()}   pysd {pysd.__version__}   "
        f"numpy {numpy.__version__}   hubsd {hubsd.__version__}",
    ])


def pysd_lookup_model():
    """A fresh model with PySD's own table-function evaluation restored."""
    from pysd.py_backend.lookups import HardcodedLookups

    model = load(fresh=True)
    for element in model._lookup_elements:
        element.__class__ = HardcodedLookups
        for attr in ("_xs", "_ys", "_interp_fast"):
            element.__dict__.pop(attr, None)
        element.initialize()
    return model


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="repeats of the fast runs (15)")
    parser.add_argument("--pysd-repeats", type=int, default=3,
                        help="repeats with PySD's own table functions (3; slow)")
    parser.add_argument("--hub", default="krakow")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.pysd_repeats < 1:
        parser.error("repeats must be at least 1")

    print(_machine())
    setup = time.perf_counter()
    model = load()
    hubsd.run(args.hub)  # warm-up: translation cache, parameter table, first run
    controls = model_controls(model)
    n_tables = len(model._lookup_elements)
    steps = round((controls["final_time"] - controls["initial_time"]) / controls["time_step"])
    print(f"model   : models/hub.mdl, {n_tables} table functions, "
          f"{controls['initial_time']:g}-{controls['final_time']:g}, time step "
          f"{controls['time_step']:g} ({steps} steps), saveper {controls['saveper']:g}")
    print(f"setup (load, warm-up run): {time.perf_counter() - setup:.2f} s, not counted\n")

    api = _timed(lambda: hubsd.run(args.hub), args.repeats)
    print(f"hubsd.run('{args.hub}')            {_stats(api)}")

    def raw_run(m):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.filterwarnings("ignore", message=r"(?s).*extrapolating data")
            return m.run()

    raw_run(model)
    raw = _timed(lambda: raw_run(model), args.repeats)
    print(f"model.run()  fast lookups     {_stats(raw)}")

    slow_model = pysd_lookup_model()
    slow_model.set_components(resolve_parameters(args.hub, None))
    slow = _timed(lambda: raw_run(slow_model), args.pysd_repeats)
    print(f"model.run()  PySD lookups     {_stats(slow)}")

    # same answer both ways? (largest relative difference over every variable and time)
    a, b = raw_run(model), raw_run(slow_model)
    num = a.select_dtypes("number").columns.intersection(b.select_dtypes("number").columns)
    diff = ((a[num] - b[num]).abs() / (b[num].abs() + 1e-9)).max().max()
    print(f"largest relative difference fast vs PySD lookups: {diff:.1e} ({len(num)} variables)")

    ratio = statistics.median(slow) / statistics.median(raw)
    print(f"\nratio PySD lookups / fast lookups (model.run medians): {ratio:.1f}x")
    med = statistics.median(api)
    verdict = "PASS" if med <= TARGET_S else "FAIL"
    print(f"{verdict}: hubsd.run median {med:.3f} s vs target {TARGET_S} s")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
