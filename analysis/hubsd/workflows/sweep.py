"""Parameter sweeps of a notebook: papermill over a grid, a list or a Latin hypercube.

A sweep runs one parameterised notebook (a cell tagged ``parameters``) once per *point* of a
spec, in parallel, and combines every point's NetCDF into one Dataset. The spec is YAML::

    grid:                       # every combination (a dim per parameter in sweep.nc)
      automatable_junior_share: [0.3, 0.6, 0.9]
      hub: [krakow]
    fixed: {final_time: 2040}   # optional: the same for every point

    list:                       # or: these points, in this order (dim ``point``)
      - {automatable_junior_share: 0.3, reinstatement_ratio: 0.5}
      - {automatable_junior_share: 0.9}

    lhs:                        # or: a Latin hypercube (dim ``point``)
      samples: 20
      seed: 1
      ranges: {automatable_junior_share: [0.2, 1.0]}

**Checks before anything runs.** Malformed YAML names its line. Every name must be a parameter
of the notebook (:func:`papermill.inspect_notebook`; unknown names get a did-you-mean), must
not be ``output_dir`` (the sweep sets it), and must fit the type of the notebook's default.
Names that are parameters of the model are checked against the parameter table (finite,
inside ``[low, high]``, LHS ranges included); ``hub`` and ``scenario`` against the hub and
scenario files.

**Layout and resume.** ``<out>/sweep.json`` holds the spec and the expanded points. Each point
is executed in a temporary folder ``<out>/points/.<id>.tmp-XXXX`` (papermill runs the kernel
there with ``output_dir="."``, so the notebook writes its NetCDF beside itself) and renamed to
``<out>/points/<id>/`` only when the notebook finished: a point folder without the leading dot
is complete, by construction. A killed sweep leaves at most temporary folders; with
``resume=True`` they are removed and only the points without a folder are run again. A
failing point is moved to ``<out>/failed/<id>/`` (its partly executed notebook and
``error.txt``), reported with its parameters, and the other points still run; a resume retries
it. At the end every finished point's NetCDF is combined into ``<out>/sweep.nc``: one dim per
swept parameter for a grid (missing points are NaN), or a ``point`` dim with the parameter
values as coordinates for a list or a Latin hypercube.

Points run in worker processes (:class:`concurrent.futures.ProcessPoolExecutor`, spawn) or, given
a scheduler address, on a ``dask.distributed`` cluster through its own ``Client``. Each point
starts its own Jupyter kernel, so the overhead per point is a kernel start and the notebook's
imports.
"""

from __future__ import annotations

import ast
import itertools
import json
import math
import numbers
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core import sampling
from hubsd.core.atomic import write_json
from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.progress import progress_bar
from hubsd.engine.pysd_runner import save
from hubsd.inputs.hubs import HubError, available, load_hub, read_yaml
from hubsd.inputs.hubs import exists as hub_exists
from hubsd.inputs.scenarios import load_scenarios
from hubsd.model.parameters import ParameterError, check_parameters, resolve_name
from hubsd.workflows.kernels import check_kernel, kernel_options, papermill_kernel

SPEC_KINDS = ("grid", "list", "lhs")
SPEC_KEYS = (*SPEC_KINDS, "fixed")
#: The notebook parameter the sweep sets to each point's folder.
OUTPUT_PARAM = "output_dir"
MANIFEST = "sweep.json"
RESULT = "sweep.nc"


class SweepError(HubsdError):
    """A bad sweep spec, notebook or output folder (reported before anything runs)."""


@dataclass(frozen=True)
class Target:
    """What a spec is checked against: a notebook's parameters, or a model's (model sweeps).

    ``params`` maps each name a spec may use to papermill's description of it (``default``,
    ``inferred_type_name``); ``label`` names the target in messages (``the notebook``, ``the
    model workforce.mdl``); ``mdl`` is None for a notebook (model parameters among its
    parameters are checked against the default model's table), else the model whose table,
    hub files and scenarios every value is checked against.
    """

    params: dict
    label: str = "the notebook"
    mdl: Path | None = None
    scenario_file: Path | None = None


# --------------------------------------------------------------------------------------------
# spec


def notebook_parameters(notebook: str | os.PathLike) -> dict[str, dict]:
    """The notebook's ``parameters`` cell: name -> papermill's description (default, type)."""
    import papermill

    path = Path(notebook)
    if not path.is_file():
        raise SweepError(f"notebook {str(notebook)!r} does not exist")
    try:
        params = papermill.inspect_notebook(str(path))
    except Exception as exc:  # noqa: BLE001 - papermill raises several kinds
        raise SweepError(f"cannot read notebook {str(notebook)!r}: {exc}") from None
    if not params:
        raise SweepError(
            f"notebook {str(notebook)!r} has no cell tagged 'parameters' (or it "
            "is empty); papermill cannot set its parameters"
        )
    return dict(params)


def read_spec(path: str | os.PathLike) -> dict:
    """Parse a spec file; malformed YAML raises :class:`SweepError` naming the line."""
    try:
        doc = read_yaml(Path(path))
    except HubError as exc:
        raise SweepError(str(exc)) from None
    if not isinstance(doc, dict):
        raise SweepError(
            f"sweep spec {path}: must be a mapping with one of "
            f"{', '.join(SPEC_KINDS)}, got {type(doc).__name__}"
        )
    return doc


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_value(name: str, value, target: Target, where: str):
    """One value of a parameter: type of its default, known hub and scenario, model range."""
    nb_params = target.params
    if isinstance(value, (dict, list)) or value is None:
        raise SweepError(f"{where}: {name!r} = {value!r}: give a single number or string")
    kind = _kind(nb_params[name])
    default = nb_params[name].get("default")
    if kind in ("int", "float") and not _is_number(value):
        raise SweepError(
            f"{where}: {name!r} must be a number (the default is {default}), got {value!r}"
        )
    if kind == "int" and _is_number(value) and float(value) != int(value):
        raise SweepError(f"{where}: {name!r} must be a whole number, got {value!r}")
    if kind == "str" and not isinstance(value, str):
        raise SweepError(
            f"{where}: {name!r} must be a string (the default is {default}), got {value!r}"
        )
    if kind == "bool" and not isinstance(value, bool):
        raise SweepError(f"{where}: {name!r} must be true or false, got {value!r}")
    if _is_number(value) and not math.isfinite(float(value)):
        raise SweepError(f"{where}: {name!r} must be finite, got {value!r}")
    if target.mdl is not None:
        return _check_model_value(name, value, target, where)
    if (
        name == "hub"
        and isinstance(value, str)
        and value not in available()
        and not ("@" in value and hub_exists(value))
    ):
        raise SweepError(
            f"{where}: unknown hub {value!r}{did_you_mean(value, available())} Known "
            f"hubs: {', '.join(available())}"
        )
    if name == "scenario" and isinstance(value, str):
        known = list(load_scenarios())
        if value not in known:
            raise SweepError(
                f"{where}: unknown scenario {value!r}{did_you_mean(value, known)} Known "
                f"scenarios: {', '.join(known)}"
            )
    try:
        resolve_name(name)
    except ParameterError:
        return value  # a notebook parameter that is not a model parameter
    try:
        check_parameters({name: value})
    except ParameterError as exc:
        raise SweepError(f"{where}: {exc}") from None
    return value


def _check_model_value(name: str, value, target: Target, where: str):
    """A value of a model sweep: a hub (file) of the model, a scenario, or in the table's range."""
    try:
        if name == "hub":
            load_hub(value, mdl=target.mdl)
        elif name == "scenario":
            known = list(load_scenarios(target.scenario_file, target.mdl))
            if value not in known:
                raise SweepError(
                    f"{where}: unknown scenario {value!r}{did_you_mean(value, known)} Known "
                    f"scenarios: {', '.join(known)}"
                )
        elif name != "final_time":
            check_parameters({name: value}, target.mdl)
    except (HubError, ParameterError) as exc:
        raise SweepError(f"{where}: {' '.join(str(exc).split())}") from None
    return value


def _check_names(names, target: Target, where: str) -> None:
    nb_params = target.params
    for name in names:
        if not isinstance(name, str):
            raise SweepError(f"{where}: parameter names must be strings, got {name!r}")
        if name == OUTPUT_PARAM and target.mdl is None:
            raise SweepError(
                f"{where}: {OUTPUT_PARAM!r} is set by the sweep (each point's "
                "folder); leave it out of the spec"
            )
        if name not in nb_params:
            raise SweepError(
                f"{where}: {name!r} is not a parameter of {target.label}"
                f"{did_you_mean(name, list(nb_params))} Valid names: "
                f"{', '.join(nb_params)}"
            )


def _mapping(obj, where: str) -> dict:
    if not isinstance(obj, dict):
        raise SweepError(f"{where} must be a mapping, got {type(obj).__name__}")
    return obj


def expand_spec(spec: Mapping, nb_params: dict, target: Target | None = None) -> dict:
    """Validate a spec against the notebook's parameters and expand it into points.

    ``target``: what to check against instead (a model sweep's :class:`Target`; its ``params``
    replace ``nb_params``).

    Returns
    -------
    dict
        ``kind`` (grid, list or lhs), ``names`` (swept parameters, in order), ``grid``
        (name -> values, for a grid), ``fixed`` and ``points``: a list of
        ``{"id": "p0000", "params": {...}}`` (swept values only; ``fixed`` applies to all).
    """
    target = target or Target(nb_params)
    nb_params = target.params
    spec = _mapping(spec, "sweep spec")
    for key in spec:
        if key not in SPEC_KEYS:
            raise SweepError(
                f"sweep spec: unknown key {key!r}{did_you_mean(str(key), SPEC_KEYS)} "
                f"Keys: {', '.join(SPEC_KEYS)}"
            )
    kinds = [k for k in SPEC_KINDS if k in spec]
    if len(kinds) != 1:
        raise SweepError(
            f"sweep spec: give exactly one of {', '.join(SPEC_KINDS)}, got "
            f"{', '.join(kinds) or 'none'}"
        )
    kind = kinds[0]
    fixed = _mapping(spec.get("fixed") or {}, "sweep spec 'fixed'")
    _check_names(fixed, target, "fixed")
    fixed = {k: _check_value(k, v, target, "fixed") for k, v in fixed.items()}
    grid: dict[str, list] = {}
    if kind == "grid":
        grid = _mapping(spec["grid"], "sweep spec 'grid'")
        if not grid:
            raise SweepError("grid: give at least one parameter with a list of values")
        _check_names(grid, target, "grid")
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise SweepError(f"grid: {name!r} needs a non-empty list of values, got {values!r}")
            for v in values:
                _check_value(name, v, target, "grid")
            if len(set(map(repr, values))) != len(values):
                raise SweepError(f"grid: {name!r} repeats a value: {values!r}")
        names = list(grid)
        combos = list(itertools.product(*grid.values()))
        rows = [dict(zip(names, c, strict=True)) for c in combos]
    elif kind == "list":
        items = spec["list"]
        if not isinstance(items, list) or not items:
            raise SweepError("list: give a non-empty list of points ({name: value, ...})")
        names, rows = [], []
        for i, item in enumerate(items):
            item = _mapping(item, f"list: point {i}")
            _check_names(item, target, f"list: point {i}")
            rows.append(
                {k: _check_value(k, v, target, f"list: point {i}") for k, v in item.items()}
            )
            names += [k for k in item if k not in names]
        for row in rows:  # points that leave a name out take the fixed value or the default
            for name in names:
                if name not in row:
                    row[name] = fixed.get(name, _default(nb_params[name]))
    else:
        names, rows = _lhs(_mapping(spec["lhs"], "sweep spec 'lhs'"), target)
    clash = set(names) & set(fixed)
    if clash:
        raise SweepError(f"{', '.join(sorted(clash))}: both swept and fixed; give it once")
    width = max(4, len(str(len(rows) - 1)))
    points = [{"id": f"p{i:0{width}d}", "params": row} for i, row in enumerate(rows)]
    return {"kind": kind, "names": names, "grid": grid, "fixed": fixed, "points": points}


def _kind(info: dict) -> str:
    """The type of a notebook parameter: its annotation, else the type of its default."""
    declared = info.get("inferred_type_name", "None")
    if declared not in ("None", None):
        return str(declared)
    default = _default(info)
    return "None" if default is None else type(default).__name__


def _default(info: dict):

    try:
        return ast.literal_eval(str(info.get("default")))
    except (ValueError, SyntaxError):
        return None


def _lhs(spec: dict, target: Target) -> tuple[list[str], list[dict]]:
    nb_params = target.params
    for key in spec:
        if key not in ("samples", "seed", "ranges"):
            raise SweepError(
                f"lhs: unknown key {key!r}"
                f"{did_you_mean(str(key), ['samples', 'seed', 'ranges'])} Keys: "
                "samples, seed, ranges"
            )
    samples, seed = spec.get("samples"), spec.get("seed", 0)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise SweepError(f"lhs: 'samples' must be a positive whole number, got {samples!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise SweepError(f"lhs: 'seed' must be a whole number >= 0, got {seed!r}")
    ranges = _mapping(spec.get("ranges") or {}, "lhs 'ranges'")
    if not ranges:
        raise SweepError("lhs: 'ranges' needs at least one {name: [low, high]}")
    _check_names(ranges, target, "lhs ranges")
    for name, bounds in ranges.items():
        if (
            not isinstance(bounds, list)
            or len(bounds) != 2
            or not all(_is_number(b) for b in bounds)
        ):
            raise SweepError(f"lhs ranges: {name!r} needs [low, high] numbers, got {bounds!r}")
        if _kind(nb_params[name]) not in ("int", "float", "None"):
            raise SweepError(f"lhs ranges: {name!r} is not numeric in {target.label}")
        for b in bounds:
            _check_value(name, float(b), target, "lhs ranges")
        if not bounds[0] < bounds[1]:
            raise SweepError(f"lhs ranges: {name!r} needs low < high, got {bounds!r}")
    names = list(ranges)
    values = sampling.lhs(
        [float(ranges[n][0]) for n in names], [float(ranges[n][1]) for n in names], samples, seed
    )
    rows = []
    for row in values:
        point = {}
        for name, v in zip(names, row, strict=True):
            if _kind(nb_params[name]) == "int":
                point[name] = int(round(v))
            else:
                point[name] = float(v)
        rows.append(point)
    return names, rows


def prepare(notebook: str | os.PathLike, spec: Mapping | str | os.PathLike) -> dict:
    """Read (if a path) and expand a spec against a notebook: the plan :func:`run_sweep` runs."""
    if not isinstance(spec, Mapping):
        spec = read_spec(spec)
    nb_params = notebook_parameters(notebook)
    plan = expand_spec(spec, nb_params)
    plan["notebook"] = str(Path(notebook).resolve())
    return plan


# --------------------------------------------------------------------------------------------
# one point (runs in a worker process)


def run_point(
    notebook: str, points_dir: str, point: dict, fixed: dict, kernel: str | None = None
) -> dict:
    """Execute the notebook for one point; the folder appears only when it succeeded.

    Returns ``{"id", "status": "done" | "failed", "seconds", "error"}``; never raises for a
    failure inside the notebook (the other points go on).
    """
    import papermill

    started = time.perf_counter()
    points = Path(points_dir)
    target = points / point["id"]
    if target.is_dir():
        return {"id": point["id"], "status": "done", "seconds": 0.0, "error": None, "skipped": True}
    points.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{point['id']}.tmp-", dir=points))
    out_nb = tmp / Path(notebook).name
    params = {**fixed, **point["params"], OUTPUT_PARAM: "."}
    try:
        papermill.execute_notebook(
            notebook,
            str(out_nb),
            parameters=params,
            cwd=str(tmp),
            progress_bar=False,
            log_output=False,
            **papermill_kernel(kernel),  # None: the Python that runs hubsd
            **kernel_options(),  # encrypted kernels: no transport warning in the console
        )
        (tmp / "point.json").write_text(
            json.dumps({"id": point["id"], "parameters": params}, indent=2) + "\n", encoding="utf-8"
        )
        os.chmod(tmp, 0o755)
        tmp.rename(target)
        return {
            "id": point["id"],
            "status": "done",
            "seconds": time.perf_counter() - started,
            "error": None,
        }
    except BaseException as exc:  # noqa: BLE001 - a failure is reported, the sweep goes on
        error = _error_text(exc)
        failed = points.parent / "failed" / point["id"]
        try:
            (tmp / "error.txt").write_text(error + "\n", encoding="utf-8")
            if failed.exists():
                shutil.rmtree(failed)
            failed.parent.mkdir(parents=True, exist_ok=True)
            tmp.rename(failed)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
        return {
            "id": point["id"],
            "status": "failed",
            "seconds": time.perf_counter() - started,
            "error": error,
        }


def _error_text(exc: BaseException) -> str:
    name = type(exc).__name__
    if name == "PapermillExecutionError":  # the notebook's own exception, without the colours
        return f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})"
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


# --------------------------------------------------------------------------------------------
# the sweep


def check_out(out: Path, resume: bool, differs: Callable[[dict], str | None]) -> None:
    """A sweep folder: new or empty, or with ``resume`` an earlier sweep of the same plan.

    ``differs(manifest)`` gets the earlier sweep's manifest and returns why it cannot be
    resumed (a sentence naming the folder), or None.
    """
    manifest = out / MANIFEST
    if resume:
        if not manifest.is_file():
            raise SweepError(f"--resume: {out} holds no sweep ({MANIFEST} is missing)")
        problem = differs(json.loads(manifest.read_text(encoding="utf-8")))
        if problem:
            raise SweepError(f"--resume: {problem}")
        return
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SweepError(
            f"--out {out} exists and is not empty; pass --resume to continue the "
            "sweep in it, or give a new folder"
        )


def _differs(out: Path, plan: dict) -> Callable[[dict], str | None]:
    def differs(old: dict) -> str | None:
        if (
            old.get("points") != plan["points"]
            or old.get("fixed") != plan["fixed"]
            or Path(old.get("notebook", "")).name != Path(plan["notebook"]).name
        ):
            return (
                f"the spec or notebook differs from the sweep in {out}; resume with the same "
                "spec, or give a new --out folder"
            )
        return None

    return differs


def run_sweep(
    plan: dict,
    out: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler=None,
    resume: bool = False,
    kernel: str | None = None,
    progress: bool | None = None,
    runner: Callable | None = None,
) -> dict:
    """Run every point of a plan (:func:`prepare`) not yet done, then combine them.

    Parameters
    ----------
    workers : int, optional
        Local worker processes (default: the CPUs available, at most the number of points).
    scheduler : str or ``dask.distributed.Client``, optional
        Run the points on this dask.distributed scheduler instead.
    resume : bool
        Continue a sweep in ``out``: temporary folders are removed, finished points kept.
    progress : bool, optional
        A progress bar over the points on standard error; by default only in a terminal
        (``HUBSD_PROGRESS=1``/``0`` forces it on or off).

    Returns
    -------
    dict
        ``done`` and ``failed`` (lists of point ids), ``skipped`` (already done), ``errors``
        (id -> message), ``params`` (id -> parameters), ``result`` (path of sweep.nc or None),
        ``seconds`` (per point run now).
    """
    out = Path(out).resolve()
    check_kernel(kernel)
    check_out(out, resume, _differs(out, plan))
    points_dir = out / "points"
    points_dir.mkdir(parents=True, exist_ok=True)
    write_json(
        out / MANIFEST,
        {k: plan[k] for k in ("notebook", "kind", "names", "grid", "fixed", "points")},
    )
    for leftover in points_dir.glob(".*.tmp-*"):  # a killed sweep's unfinished points
        shutil.rmtree(leftover, ignore_errors=True)
    todo = [p for p in plan["points"] if not (points_dir / p["id"]).is_dir()]
    skipped = [p["id"] for p in plan["points"] if (points_dir / p["id"]).is_dir()]
    runner = runner or run_point
    args = [(plan["notebook"], str(points_dir), p, plan["fixed"], kernel) for p in todo]
    results = []
    if todo:
        results = _execute(runner, args, workers, scheduler, progress, str(out / "logs"))
    done = skipped + [r["id"] for r in results if r["status"] == "done"]
    failed = [r["id"] for r in results if r["status"] == "failed"]
    for pid in done:  # a point retried successfully is no longer a failure
        shutil.rmtree(out / "failed" / pid, ignore_errors=True)
    params = {p["id"]: {**plan["fixed"], **p["params"]} for p in plan["points"]}
    result = None
    if done:
        ds = combine(plan, points_dir)

        result = save(ds, out / RESULT)
    elif (out / RESULT).exists():
        (out / RESULT).unlink()
    return {
        "done": sorted(done),
        "failed": sorted(failed),
        "skipped": skipped,
        "errors": {r["id"]: r["error"] for r in results if r["status"] == "failed"},
        "params": params,
        "result": result,
        "seconds": {r["id"]: r["seconds"] for r in results},
        "out": out,
    }


def _quiet_worker(log_dir: str | None) -> None:
    """Send a local worker's stderr (and its kernels' start-up chatter) to a log file."""
    if log_dir is None:
        return
    Path(log_dir).mkdir(parents=True, exist_ok=True)
    fd = os.open(
        Path(log_dir) / f"worker-{os.getpid()}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644
    )
    os.dup2(fd, 2)
    os.close(fd)


def _execute(runner, args, workers, scheduler, progress, log_dir=None) -> list[dict]:
    bar = progress_bar(len(args), "sweep", "point", progress)
    results = []
    try:
        if scheduler is not None:
            from distributed import Client, as_completed

            client = scheduler if isinstance(scheduler, Client) else Client(scheduler)
            try:
                futures = [
                    client.submit(
                        runner,
                        *a,
                        pure=False,
                        key=f"hubsd-sweep-{a[2]['id']}-{os.getpid()}-{time.time_ns()}",
                    )
                    for a in args
                ]
                for fut in as_completed(futures):
                    results.append(_report(fut.result(), bar))
            finally:
                if client is not scheduler:
                    client.close()
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor, as_completed

            n = min(workers or os.cpu_count() or 1, len(args))
            ctx = multiprocessing.get_context("spawn")  # no fork of a threaded process
            with ProcessPoolExecutor(
                max_workers=n, mp_context=ctx, initializer=_quiet_worker, initargs=(log_dir,)
            ) as pool:
                futures = [pool.submit(runner, *a) for a in args]
                try:
                    for fut in as_completed(futures):
                        results.append(_report(fut.result(), bar))
                except BaseException:
                    for f in futures:
                        f.cancel()
                    raise
    finally:
        bar.close()
    return results


def _report(res: dict, bar) -> dict:
    bar.update(1)
    if res["status"] == "failed":
        bar.write(f"point {res['id']} failed: {res['error']}", file=sys.stderr)
    return res


# --------------------------------------------------------------------------------------------
# combine


def point_dataset(folder: Path):
    """The NetCDF a point wrote (several files are merged), loaded into memory."""
    files = sorted(Path(folder).rglob("*.nc"))
    if not files:
        raise SweepError(f"point {Path(folder).name} wrote no NetCDF file into its output_dir")
    parts = []
    for f in files:
        with xr.open_dataset(f) as ds:
            parts.append(ds.load())
    return parts[0] if len(parts) == 1 else xr.merge(parts, combine_attrs="drop_conflicts")


def _align_variables(loaded: dict) -> dict:
    """Give every point's Dataset the same variables; a variable a point lacks is NaN there.

    Points may differ in what they hold (a notebook varies other parameters for another hub,
    stored as coordinates along ``sample``). Non-index coordinates become data variables so
    that differing values along a shared dimension are kept, not merged.
    """
    flat = {k: ds.reset_coords() for k, ds in loaded.items()}
    union: dict[str, xr.DataArray] = {}
    for ds in flat.values():
        for name, var in ds.data_vars.items():
            union.setdefault(name, var)
    if all(set(ds.data_vars) == set(union) for ds in flat.values()):
        return loaded
    out = {}
    for key, ds in flat.items():
        for name, var in union.items():
            if name not in ds.data_vars:
                if any(d in ds.dims and ds.sizes[d] != var.sizes[d] for d in var.dims):
                    raise SweepError(
                        f"point {key}: variable {name!r} is missing and its "
                        "dimensions differ from the other points'"
                    )
                shape = tuple(var.sizes[d] for d in var.dims)
                ds[name] = (var.dims, np.full(shape, np.nan), var.attrs)
        out[key] = ds
    return out


def combine(plan: dict, points_dir: str | os.PathLike):
    """Every finished point's Dataset in one: dims per grid parameter, or ``point``.

    For a grid, points that did not finish are NaN. For a list or a Latin hypercube, only the
    finished points are kept, along ``point`` with each swept parameter as a coordinate.
    """
    points_dir = Path(points_dir)
    loaded = {
        p["id"]: point_dataset(points_dir / p["id"])
        for p in plan["points"]
        if (points_dir / p["id"]).is_dir()
    }
    if not loaded:
        raise SweepError("no point has finished; nothing to combine")
    names = plan["names"]
    loaded = _align_variables(loaded)
    for ds in loaded.values():
        clash = [n for n in names if n in ds.variables or n in ds.dims]
        if clash:
            raise SweepError(
                f"swept parameter(s) {', '.join(clash)} clash with a variable or "
                "dimension of the notebook's NetCDF"
            )
    if plan["kind"] == "grid":
        template = next(iter(loaded.values()))
        blank = xr.full_like(template, np.nan, dtype=float)
        flat = [loaded.get(p["id"], blank) for p in plan["points"]]
        nested = flat
        for n in reversed(names[1:]):  # row-major, as itertools.product made the points
            size = len(plan["grid"][n])
            nested = [nested[i : i + size] for i in range(0, len(nested), size)]
        ds = xr.combine_nested(nested, concat_dim=names, combine_attrs="drop_conflicts")
        ds = ds.assign_coords({n: plan["grid"][n] for n in names}).transpose(*names, ...)
    else:
        ids = [p["id"] for p in plan["points"] if p["id"] in loaded]
        by_id = {p["id"]: p["params"] for p in plan["points"]}
        ds = xr.concat(
            [loaded[i] for i in ids],
            dim=pd.Index(ids, name="point"),
            combine_attrs="drop_conflicts",
            join="outer",
        )
        ds = ds.assign_coords({n: ("point", [by_id[i][n] for i in ids]) for n in names})
    ds.attrs["sweep_kind"] = plan["kind"]
    ds.attrs["sweep_parameters"] = ", ".join(names)
    ds.attrs["sweep_fixed"] = json.dumps(plan["fixed"], sort_keys=True, default=str)
    ds.attrs["sweep_notebook"] = Path(plan["notebook"]).name
    missing = [p["id"] for p in plan["points"] if p["id"] not in loaded]
    ds.attrs["sweep_missing_points"] = ", ".join(missing)
    return ds
