"""Sweeps of a model itself: every point run through the ensemble engine, no notebook needed.

``hubsd sweep SPEC [--model MDL] [--hub H]`` takes the spec format of :mod:`hubsd.workflows.sweep`
(``grid:``, ``list:`` or ``lhs:``, plus ``fixed:``) with the names of the *model*: every parameter
of its parameter table (:func:`hubsd.model.parameters.table`, checked against its range before
anything runs), ``hub`` (a hub name or parameter file of that model, whose values the point
starts from), ``scenario`` (a scenario of the scenario file; a model of one's own has only
``baseline``) and, under ``fixed:`` only, ``final_time``. One more key, ``outputs:``, lists the
variables kept (default: the hub model's key outputs, or every variable that is not a
parameter for a model of one's own)::

    grid:
      promotion_time: [3, 5, 7]
      junior_quit_fraction: [0.1, 0.2]
    fixed: {hub: centre.yaml, final_time: 2030}   # a relative hub path is from the spec's folder
    outputs: [juniors, seniors]

**Runs.** Points that share a hub and a scenario run side by side as members of one ensemble
(:meth:`hubsd.engine.ensemble.EnsembleModel.run`) in *batches* of ``batch`` points; a model the
engine cannot compile is run point by point with PySD (:func:`hubsd.engine.pysd_runner.run`)
instead, and says so. Each finished batch is written atomically to ``<out>/batches/<id>.nc``
(a batch file is complete by construction); a batch that fails is reported and the others
still run.

**Resume.** ``<out>/sweep.json`` holds the plan (spec, points, batches, model hash). With
``resume=True`` only the batches without a file run again; a changed spec, batch size or model
file is refused. An interrupted sweep therefore redoes at most the batch that was running.

**Result.** ``<out>/sweep.nc``: one dim per swept parameter for a grid (points that did not
finish are NaN), or a ``point`` dim with the swept values as coordinates for a list or a Latin
hypercube; ``time`` in the model's time unit; each variable's units in its attrs, each swept
parameter's units on its coordinate; the fixed values, model and engine in the Dataset's attrs.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import xarray as xr

from hubsd.core.atomic import folder_lock, write_json, write_text
from hubsd.core.errors import HubsdError
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.core.progress import progress_bar
from hubsd.core.version import __version__
from hubsd.engine.ensemble import compile_model
from hubsd.engine.nodes import UnsupportedConstructError
from hubsd.engine.pysd_runner import (
    KEY_OUTPUTS,
    available_outputs,
    check_outputs,
    model_controls,
    run,
    save,
)
from hubsd.inputs.hubs import DEFAULT_HUB, HubError, is_path, load_hub
from hubsd.inputs.scenarios import scenario_parameters
from hubsd.model.parameters import ParameterError
from hubsd.model.parameters import table as parameter_table
from hubsd.model.pysd_model import file_hash, load
from hubsd.workflows.runfolder import parse_final_time
from hubsd.workflows.sweep import (
    MANIFEST,
    RESULT,
    SweepError,
    Target,
    check_out,
    expand_spec,
    read_spec,
)

#: Names a model sweep takes besides the model's parameters.
SPECIAL = ("hub", "scenario", "final_time")
#: Engines: ``auto`` is the ensemble engine, or PySD for a model the engine cannot compile.
ENGINES = ("auto", "ensemble", "pysd")
#: Batches a sweep is cut into by default (so an interruption loses about 1/20 of the work),
#: each of at most :data:`MAX_BATCH` points.
DEFAULT_BATCHES = 20
MAX_BATCH = 1000
#: What ``sweep.json`` keeps of a plan (what a resume compares and the combine needs).
MANIFEST_KEYS = (
    "kind",
    "names",
    "grid",
    "fixed",
    "points",
    "model",
    "model_sha256",
    "hub",
    "outputs",
    "scenario_file",
    "final_time",
    "batches",
)


# --------------------------------------------------------------------------------------------
# the plan


def model_target(mdl: str | os.PathLike, scenario_file=None, hub: str | None = None) -> Target:
    """The names a spec may use for model ``mdl``, each with its default.

    Every parameter of the model's table, ``hub`` (default ``hub``), ``scenario`` (``baseline``)
    and ``final_time`` (the model's); a list point that leaves a name out takes its default.
    """
    mdl = Path(mdl)
    tab = parameter_table(mdl)
    params = {
        name: {"inferred_type_name": "float", "default": repr(float(default))}
        for name, default in tab["default"].items()
    }
    final = model_controls(load(mdl))["final_time"]
    params["hub"] = {"inferred_type_name": "str", "default": repr(hub)}
    params["scenario"] = {"inferred_type_name": "str", "default": repr("baseline")}
    params["final_time"] = {"inferred_type_name": "float", "default": repr(final)}
    return Target(params, f"the model {mdl.name}", mdl, scenario_file)


def default_hub(mdl: str | os.PathLike) -> str | None:
    """The hub a model sweep starts from when none is named: Kraków if it fits the model."""
    try:
        load_hub(DEFAULT_HUB, mdl=mdl)
    except (HubError, ParameterError):
        return None
    return DEFAULT_HUB


def _anchor(value, folder: Path):
    """A relative hub path of a spec file, made absolute against the spec's folder."""
    if isinstance(value, str) and is_path(value.partition("@")[0]):
        base, at, version = value.partition("@")
        path = Path(base).expanduser()
        return str(path if path.is_absolute() else (folder / path).resolve()) + at + version
    return value


def _anchor_hubs(spec: dict, folder: Path) -> dict:
    spec = dict(spec)
    if isinstance(spec.get("fixed"), dict) and "hub" in spec["fixed"]:
        spec["fixed"] = {**spec["fixed"], "hub": _anchor(spec["fixed"]["hub"], folder)}
    if isinstance(spec.get("grid"), dict) and isinstance(spec["grid"].get("hub"), list):
        spec["grid"] = {**spec["grid"], "hub": [_anchor(h, folder) for h in spec["grid"]["hub"]]}
    if isinstance(spec.get("list"), list):
        spec["list"] = [
            {**p, "hub": _anchor(p["hub"], folder)} if isinstance(p, dict) and "hub" in p else p
            for p in spec["list"]
        ]
    return spec


def _outputs(requested, mdl: Path) -> list[str]:
    if requested is None:
        keep = available_outputs(mdl)
        if set(KEY_OUTPUTS) <= set(keep):
            return list(KEY_OUTPUTS)
        params = set(parameter_table(mdl).index) | {"initial_time", "final_time"}
        return [o for o in keep if o not in params | {"time_step", "saveper"}]
    if isinstance(requested, str):
        requested = [requested]
    if not isinstance(requested, list) or not requested:
        raise SweepError(f"outputs: give a list of variable names, got {requested!r}")
    try:
        return check_outputs(requested, mdl)
    except ParameterError as exc:
        raise SweepError(f"outputs: {exc}") from None


def prepare_model(
    spec: Mapping | str | os.PathLike,
    mdl: str | os.PathLike = DEFAULT_MODEL,
    hub: str | None = None,
    scenario_file: str | os.PathLike | None = None,
) -> dict:
    """Check a spec against a model and expand it into points (nothing runs or is written).

    The plan is what :func:`run_model_sweep` runs.

    Parameters
    ----------
    spec : mapping or path
        The sweep spec (format in the module doc); a path is read, and relative hub paths in
        it are taken from its folder.
    mdl : path
        The Vensim model (default: the hub model, or the workspace's).
    hub : str, optional
        Hub (name or parameter file of ``mdl``) every point starts from, unless the spec names
        ``hub`` itself (giving both is refused). Default: Kraków for the hub model, the model's
        own values for another.
    scenario_file : path, optional
        Scenario file for ``scenario`` (default: the bundled or workspace file for the default
        model, ``baseline`` only for another model).

    Returns
    -------
    dict
        The plan of :func:`hubsd.workflows.sweep.expand_spec` (``kind``, ``names``, ``grid``,
        ``fixed``, ``points``) with ``model``, ``model_sha256``, ``hub``, ``outputs``,
        ``scenario_file`` and ``final_time``.

    Raises
    ------
    SweepError
        An unknown name (naming the valid ones), a value outside its parameter's range, an
        unknown hub, scenario or output, ``final_time`` swept or out of range, a missing model.
    """
    mdl = Path(mdl)
    if not mdl.is_file():
        raise SweepError(f"--model {str(mdl)!r}: no such file (give a Vensim .mdl file)")
    if not isinstance(spec, Mapping):
        folder = Path(spec).resolve().parent
        spec = _anchor_hubs(read_spec(spec), folder)
    spec = dict(spec)
    outputs = _outputs(spec.pop("outputs", None), mdl)
    if hub is not None:
        try:
            load_hub(hub, mdl=mdl)
        except (HubError, ParameterError) as exc:
            raise SweepError(f"--hub: {' '.join(str(exc).split())}") from None
        if isinstance(spec.get("fixed"), dict) and "hub" in spec["fixed"]:
            raise SweepError("hub: given by --hub and under fixed: in the spec; give it once")
    base_hub = hub if hub is not None else default_hub(mdl)
    target = model_target(mdl, scenario_file, base_hub)
    if hub is not None:
        spec["fixed"] = {**(spec.get("fixed") or {}), "hub": hub}
    plan = expand_spec(spec, target.params, target)
    if "final_time" in plan["names"]:
        raise SweepError("final_time: give it under fixed: (one time axis for the whole sweep)")
    final = plan["fixed"].get("final_time")
    try:
        initial = model_controls(load(mdl))["initial_time"]
        final = parse_final_time(None if final is None else str(final), initial)
    except HubsdError as exc:
        raise SweepError(f"fixed: {str(exc).replace('--final-time', 'final_time')}") from None
    plan.update(
        {
            "model": str(mdl.resolve()),
            "model_sha256": file_hash(mdl),
            "hub": plan["fixed"].get("hub", base_hub),
            "outputs": outputs,
            "scenario_file": None if scenario_file is None else str(scenario_file),
            "final_time": final,
        }
    )
    return plan


def _point_values(plan: dict, point: dict) -> dict:
    return {**plan["fixed"], **point["params"]}


def batches(plan: dict, size: int | None = None) -> list[dict]:
    """The plan's points cut into batches of at most ``size`` points sharing hub and scenario.

    ``size`` defaults to about 1/20 of the points (at least 1, at most 1000). Each batch is
    ``{"id": "b0000", "hub", "scenario", "points": [point ids]}``, in the plan's order.
    """
    n = len(plan["points"])
    if size is None:
        size = min(MAX_BATCH, max(1, math.ceil(n / DEFAULT_BATCHES)))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SweepError(f"--batch must be a whole number >= 1, got {size!r}")
    groups: dict[tuple, list[str]] = {}
    for p in plan["points"]:
        values = _point_values(plan, p)
        key = (values.get("hub", plan["hub"]), values.get("scenario", "baseline"))
        groups.setdefault(key, []).append(p["id"])
    out = []
    for (hub, scenario), ids in groups.items():
        for i in range(0, len(ids), size):
            out.append({"hub": hub, "scenario": scenario, "points": ids[i : i + size]})
    width = max(4, len(str(len(out) - 1)))
    return [{"id": f"b{i:0{width}d}", **b} for i, b in enumerate(out)]


# --------------------------------------------------------------------------------------------
# running


def _member_values(plan: dict, batch: dict, hub_def: dict, params: list[str]) -> pd.DataFrame:
    """One row per point of a batch: the scenario's levers, then the fixed and swept values."""
    scen = scenario_parameters(
        hub_def,
        [batch["scenario"]],
        None if plan["scenario_file"] is None else Path(plan["scenario_file"]),
        plan["model"],
    )[batch["scenario"]]
    by_id = {p["id"]: p for p in plan["points"]}
    rows = []
    for pid in batch["points"]:
        values = _point_values(plan, by_id[pid])
        rows.append({**scen, **{k: v for k, v in values.items() if k in params}})
    frame = pd.DataFrame(rows, index=pd.Index(batch["points"], name="point"))
    return frame.astype(float)


def run_batch(plan: dict, batch: dict, engine: str = "ensemble", **kwargs) -> xr.Dataset:
    """Run one batch: its points as members of one ensemble, or one PySD run each.

    Returns a Dataset with dims ``point`` and ``time`` (the plan's outputs, units in attrs).
    ``kwargs`` go to :meth:`hubsd.engine.ensemble.EnsembleModel.run` (``workers``,
    ``scheduler``).
    """
    mdl = Path(plan["model"])
    params = set(parameter_table(mdl).index)
    hub = batch["hub"]
    hub_def = load_hub(hub, mdl=mdl) if hub else {"scenarios": {}}
    frame = _member_values(plan, batch, hub_def, params)
    final = plan["final_time"]
    if engine == "pysd":
        runs = []
        for _, row in frame.iterrows():
            runs.append(run(hub, row.to_dict(), plan["outputs"], final_time=final, mdl=mdl))
        out = xr.concat(runs, dim=pd.Index(list(frame.index), name="point"))
    else:
        model = compile_model(mdl)
        out = model.run(
            frame if len(frame.columns) else None,
            plan["outputs"],
            hub,
            n=len(frame),
            final_time=final,
            progress=False,
            **kwargs,
        )
        out = out.drop_vars([c for c in out.coords if c != "time"]).rename_dims(sample="point")
        out = out.assign_coords(point=list(frame.index))
    out.attrs = {"batch": batch["id"], "hub": hub or "model defaults"}
    out.attrs["scenario"] = batch["scenario"]
    return out


def _differs(out: Path, plan: dict):
    def differs(old: dict) -> str | None:
        keys = ("points", "fixed", "outputs", "batches", "hub")
        if any(old.get(k) != plan.get(k) for k in keys):
            return (
                f"the spec or batch size differs from the sweep in {out}; resume with the same "
                "spec and --batch, or give a new --out folder"
            )
        if old.get("model_sha256") != plan["model_sha256"]:
            return (
                f"the model {Path(plan['model']).name} has changed since the sweep in {out} "
                "began; give a new --out folder"
            )
        return None

    return differs


def _engine(plan: dict, engine: str) -> tuple[str, str | None]:
    """The engine to use and a note when PySD stands in for the ensemble engine."""
    if engine not in ENGINES:
        raise SweepError(f"engine {engine!r}: give one of {', '.join(ENGINES)}")
    if engine == "pysd":
        return "pysd", None
    try:
        compile_model(plan["model"])
    except UnsupportedConstructError as exc:
        if engine == "ensemble":
            raise SweepError(f"the ensemble engine cannot run this model: {exc}") from None
        return "pysd", f"the ensemble engine cannot run this model ({exc}); running it with PySD"
    return "ensemble", None


def run_model_sweep(
    plan: dict,
    out: str | os.PathLike,
    *,
    batch: int | None = None,
    resume: bool = False,
    engine: str = "auto",
    progress: bool | None = None,
    **kwargs,
) -> dict:
    """Run every batch of a model sweep (:func:`prepare_model`) not yet done, then combine.

    Parameters
    ----------
    plan : dict
        From :func:`prepare_model`.
    out : path
        The sweep folder; new or empty, unless ``resume``.
    batch : int, optional
        Points per batch (the unit of resume; default :func:`batches`'s).
    resume : bool
        Continue the sweep in ``out``: finished batches are kept, the others run.
    engine : str
        ``auto`` (the ensemble engine, PySD for a model it cannot compile), ``ensemble`` or
        ``pysd``.
    progress : bool, optional
        A progress bar over the batches (default: only in a terminal).
    **kwargs
        ``workers`` or ``scheduler`` for the ensemble engine.

    Returns
    -------
    dict
        ``done``, ``failed``, ``skipped`` (point ids), ``errors`` (batch id -> message),
        ``result`` (path of sweep.nc or None), ``seconds`` (batch id -> wall time run now),
        ``engine``, ``note`` (or None), ``out``.

    Raises
    ------
    SweepError
        A folder that is not new or empty (without ``resume``), or a resume with a different
        spec, batch size or model; a bad batch size or engine.
    OutputLocked
        Another hubsd process is writing the folder.
    """
    out = Path(out).resolve()
    plan = {**plan, "batches": batches(plan, batch)}
    used, note = _engine(plan, engine)
    folder = out / "batches"
    with folder_lock(out):
        check_out(out, resume, _differs(out, plan))
        folder.mkdir(parents=True, exist_ok=True)
        write_json(out / MANIFEST, {k: plan[k] for k in MANIFEST_KEYS})
        for leftover in folder.glob(".*.tmp"):  # a killed sweep's half-written batch
            leftover.unlink()
        todo = [b for b in plan["batches"] if not (folder / f"{b['id']}.nc").is_file()]
        skipped = [p for b in plan["batches"] if b not in todo for p in b["points"]]
        bar = progress_bar(len(todo), "sweep", "batch", progress)
        errors, seconds = {}, {}
        with bar:
            for b in todo:
                started = time.perf_counter()
                try:
                    save(run_batch(plan, b, used, **kwargs), folder / f"{b['id']}.nc")
                    shutil.rmtree(out / "failed" / b["id"], ignore_errors=True)
                except Exception as exc:  # noqa: BLE001 - reported; the other batches go on
                    errors[b["id"]] = "".join(traceback.format_exception_only(exc)).strip()
                    write_text(out / "failed" / b["id"] / "error.txt", errors[b["id"]] + "\n")
                    bar.write(f"batch {b['id']} failed: {errors[b['id']]}")
                seconds[b["id"]] = time.perf_counter() - started
                bar.update(1)
        done_batches = [b for b in plan["batches"] if (folder / f"{b['id']}.nc").is_file()]
        result = None
        if done_batches:
            ds = combine_model(plan, folder)
            ds.attrs["sweep_engine"] = used
            result = save(ds, out / RESULT)
        elif (out / RESULT).exists():
            (out / RESULT).unlink()
    failed = [p for b in plan["batches"] if b["id"] in errors for p in b["points"]]
    return {
        "done": sorted(p for b in done_batches for p in b["points"]),
        "failed": failed,
        "skipped": skipped,
        "errors": errors,
        "result": result,
        "seconds": seconds,
        "engine": used,
        "note": note,
        "out": out,
    }


# --------------------------------------------------------------------------------------------
# combine


def combine_model(plan: dict, folder: str | os.PathLike) -> xr.Dataset:
    """Every finished batch in one Dataset: a dim per grid parameter, or ``point``.

    For a grid, points of batches that did not finish are NaN; for a list or a Latin
    hypercube only the finished points are kept, with the swept values as coordinates.
    """
    folder = Path(folder)
    parts = []
    for b in plan["batches"]:
        path = folder / f"{b['id']}.nc"
        if path.is_file():
            with xr.open_dataset(path) as ds:
                parts.append(ds.load())
    if not parts:
        raise SweepError("no batch has finished; nothing to combine")
    ds = xr.concat(parts, dim="point", combine_attrs="drop_conflicts")
    finished = {str(i) for i in ds["point"].values}
    names = plan["names"]
    by_id = {p["id"]: p["params"] for p in plan["points"]}
    if plan["kind"] == "grid":
        ids = [p["id"] for p in plan["points"]]
        ds = ds.reindex(point=ids)  # unfinished points: NaN
        if len(names) == 1:
            ds = ds.assign_coords(point=[by_id[i][names[0]] for i in ids]).rename(point=names[0])
        else:
            index = pd.MultiIndex.from_tuples([tuple(by_id[i][n] for n in names) for i in ids])
            index.names = names
            ds = ds.assign_coords(xr.Coordinates.from_pandas_multiindex(index, "point"))
            ds = ds.unstack("point")
        ds = ds.reindex({n: plan["grid"][n] for n in names}).transpose(*names, ...)
    else:
        done = [p["id"] for p in plan["points"] if p["id"] in finished]
        ds = ds.sel(point=done)
        ds = ds.assign_coords({n: ("point", [by_id[i][n] for i in done]) for n in names})
    units = parameter_table(plan["model"])["units"]
    for n in names:
        if n in units.index:
            ds[n].attrs.update({"units": str(units[n]), "long_name": n})
    missing = [p["id"] for p in plan["points"] if p["id"] not in finished]
    ds.attrs = {
        "title": f"hubsd sweep of {Path(plan['model']).name}",
        "sweep_kind": plan["kind"],
        "sweep_parameters": ", ".join(names),
        "sweep_fixed": json.dumps(plan["fixed"], sort_keys=True, default=str),
        "sweep_hub": str(plan["hub"] or "model defaults"),
        "sweep_model": Path(plan["model"]).name,
        "model_sha256": plan["model_sha256"],
        "sweep_missing_points": ", ".join(missing),
        "hubsd_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return ds
