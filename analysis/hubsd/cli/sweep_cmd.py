"""``hubsd sweep``: a notebook or the model itself over a spec's points (thin: parse, run, print).

::

    hubsd sweep NOTEBOOK SPEC [--out DIR] [--workers N] [--scheduler ADDRESS] [--resume]
                [--kernel NAME]
    hubsd sweep SPEC [--model MDL] [--hub H] [--batch N] [--engine auto|ensemble|pysd]
                [--out DIR] [--workers N] [--scheduler ADDRESS] [--resume]

With a notebook, papermill runs it once per point (:mod:`hubsd.workflows.sweep`); with a spec
alone, the model (``--model``, else the workspace's or the hub model) runs every point on the
ensemble engine, no notebook needed (:mod:`hubsd.workflows.modelsweep`). Either way the spec is
checked before anything runs (an unknown name is named with the valid ones), the result is
``<out>/sweep.nc`` and ``--resume`` continues an interrupted sweep without redoing finished
points.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hubsd.core.paths import DEFAULT_MODEL, OUTPUTS_DIR
from hubsd.workflows.kernels import KernelError, check_kernel
from hubsd.workflows.modelsweep import ENGINES, prepare_model, run_model_sweep
from hubsd.workflows.runfolder import CliError
from hubsd.workflows.sweep import SweepError, prepare, run_sweep

#: Options of a model sweep only, and of a notebook sweep only.
MODEL_ONLY = ("model", "hub", "batch", "engine")
NOTEBOOK_ONLY = ("kernel",)


def add_sweep_parser(sub) -> argparse.ArgumentParser:
    """Add the ``sweep`` subcommand to the ``hubsd`` subparsers ``sub``."""
    sweep = sub.add_parser(
        "sweep",
        help="run the model, or a notebook, over a grid, list or Latin hypercube of parameters",
        description="With SPEC alone: run the model (--model, else the workspace's or the hub "
        "model) once per point of SPEC (YAML: grid:, list: or lhs:, plus fixed: and outputs:) "
        "on the ensemble engine, in batches written to <out>/batches/ as they finish. With "
        "NOTEBOOK SPEC: run the notebook with papermill once per point, in parallel, into "
        "<out>/points/<id>/. Either way the points are combined into <out>/sweep.nc and the "
        "spec is checked (against the model's parameter table, or the notebook's parameters "
        "cell) before anything runs.",
    )
    sweep.add_argument(
        "inputs",
        nargs="+",
        metavar="[NOTEBOOK] SPEC",
        help="sweep spec (YAML), after a notebook with a cell tagged 'parameters' that writes "
        "NetCDF into output_dir, if the points run a notebook",
    )
    sweep.add_argument(
        "--out",
        metavar="DIR",
        help="sweep folder (default: outputs/sweep-<notebook or spec name>); new or empty "
        "unless --resume",
    )
    sweep.add_argument("--model", metavar="MDL", help="Vensim model to sweep (no notebook)")
    sweep.add_argument(
        "--hub", metavar="H", help="hub or parameter file every point starts from (no notebook)"
    )
    sweep.add_argument(
        "--batch",
        metavar="N",
        type=int,
        help="points per engine run, the unit of --resume (default: about 1/20 of the points)",
    )
    sweep.add_argument(
        "--engine",
        choices=ENGINES,
        help="auto (default: the ensemble engine, PySD if it cannot compile the model), "
        "ensemble or pysd",
    )
    sweep.add_argument(
        "--workers", metavar="N", type=int, help="worker processes (default: the CPUs available)"
    )
    sweep.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on this dask.distributed scheduler instead of local processes",
    )
    sweep.add_argument(
        "--resume",
        action="store_true",
        help="continue the sweep in --out: finished points are kept, the others run again",
    )
    sweep.add_argument(
        "--kernel",
        metavar="NAME",
        help="installed Jupyter kernel to run a notebook's points in (default: this Python)",
    )
    sweep.set_defaults(func=cmd_sweep)
    return sweep


def _check_args(args: argparse.Namespace) -> tuple[str | None, str]:
    """The notebook (or None) and the spec; options that do not fit the kind are refused."""
    if len(args.inputs) > 2:
        raise CliError(f"sweep takes [NOTEBOOK] SPEC, got {len(args.inputs)} paths")
    notebook, spec = (None, args.inputs[0]) if len(args.inputs) == 1 else args.inputs
    if notebook is None and spec.endswith(".ipynb"):
        raise CliError(f"{spec!r} is a notebook; give the sweep spec after it (NOTEBOOK SPEC)")
    wrong = NOTEBOOK_ONLY if notebook is None else MODEL_ONLY
    given = [f"--{o}" for o in wrong if getattr(args, o) is not None]
    if given:
        kind = "a notebook sweep (NOTEBOOK SPEC)" if notebook is None else "a model sweep (SPEC)"
        raise CliError(f"{', '.join(given)} is only for {kind}")
    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1, got {args.workers}")
    if args.scheduler is not None and args.workers is not None:
        raise CliError("--workers is for local processes; the --scheduler's cluster has its own")
    if args.batch is not None and args.batch < 1:
        raise CliError(f"--batch must be at least 1, got {args.batch}")
    if args.out is not None and not str(args.out).strip():
        raise CliError("--out is empty; give a folder path")
    return notebook, spec


def cmd_sweep(args: argparse.Namespace) -> int:
    """``hubsd sweep``: check the spec, run the points, combine; 1 if a point failed."""
    started = time.perf_counter()
    notebook, spec = _check_args(args)
    if notebook is None:
        return _model_sweep(args, spec, started)
    try:
        plan = prepare(notebook, spec)
        check_kernel(args.kernel)
    except (SweepError, KernelError) as exc:
        raise CliError(str(exc)) from None
    out = Path(args.out if args.out is not None else OUTPUTS_DIR / f"sweep-{Path(notebook).stem}")
    n = len(plan["points"])
    print(
        f"Sweep of {Path(notebook).name}: {n} point(s) ({plan['kind']} over "
        f"{', '.join(plan['names'])}) into {out.resolve()}",
        file=sys.stderr,
    )
    try:
        res = run_sweep(
            plan,
            out,
            workers=args.workers,
            scheduler=args.scheduler,
            resume=args.resume,
            kernel=args.kernel,
        )
    except SweepError as exc:
        raise CliError(str(exc)) from None
    print(
        f"{len(res['done'])} of {n} point(s) done ({len(res['skipped'])} already done "
        f"before), {len(res['failed'])} failed"
    )
    for pid in res["failed"]:
        params = ", ".join(f"{k}={v!r}" for k, v in res["params"][pid].items())
        print(f"FAILED {pid} ({params}): {res['errors'][pid]}")
        print(f"    notebook: {res['out'] / 'failed' / pid}")
    if res["failed"]:
        print("Fix the cause and rerun with --resume to retry the failed points.")
    return _finish(res, started)


def _model_sweep(args: argparse.Namespace, spec: str, started: float) -> int:
    mdl = Path(args.model) if args.model is not None else DEFAULT_MODEL
    try:
        plan = prepare_model(spec, mdl, args.hub)
    except SweepError as exc:
        raise CliError(str(exc)) from None
    out = Path(args.out if args.out is not None else OUTPUTS_DIR / f"sweep-{Path(spec).stem}")
    n = len(plan["points"])
    print(
        f"Sweep of {mdl.name}: {n} point(s) ({plan['kind']} over {', '.join(plan['names'])}, "
        f"hub: {'swept' if 'hub' in plan['names'] else plan['hub'] or 'model defaults'}) into "
        f"{out.resolve()}",
        file=sys.stderr,
    )
    try:
        res = run_model_sweep(
            plan,
            out,
            batch=args.batch,
            resume=args.resume,
            engine=args.engine or "auto",
            workers=args.workers,
            scheduler=args.scheduler,
        )
    except SweepError as exc:
        raise CliError(str(exc)) from None
    if res["note"]:
        print(f"Note: {res['note']}")
    print(
        f"{len(res['done'])} of {n} point(s) done ({len(res['skipped'])} already done "
        f"before), {len(res['failed'])} failed; engine: {res['engine']}"
    )
    for bid, error in res["errors"].items():
        print(f"FAILED batch {bid}: {error} (see {res['out'] / 'failed' / bid / 'error.txt'})")
    if res["errors"]:
        print("Fix the cause and rerun with --resume to retry the failed batches.")
    return _finish(res, started)


def _finish(res: dict, started: float) -> int:
    if res["result"] is not None:
        print(f"Combined: {res['result']}")
    print(f"Wall time: {time.perf_counter() - started:.1f} s")
    print(f"Sweep folder: {res['out']}")
    return 1 if res["failed"] else 0
