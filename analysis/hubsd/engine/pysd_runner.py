"""Run the hub model: one hub, one parameter set, an ``xarray.Dataset`` out.

:func:`run` is the one way in. :func:`run_scenarios` stacks runs along a ``scenario`` dim, and
:func:`run_sector` runs one sector alone with the other sectors' outputs fed in as exogenous
series (partial-model testing, Sterman 2000 ch. 21).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL, SCENARIOS_FILE
from hubsd.core.version import __version__
from hubsd.inputs.hubs import load_hub
from hubsd.inputs.scenarios import scenario_parameters
from hubsd.model.parameters import ParameterError, check_parameters, defaults
from hubsd.model.pysd_model import file_hash, load

#: The outputs researchers read first (Python names), returned when ``outputs`` is not given.
KEY_OUTPUTS = [
    "adopting_share",
    "junior_automated_share",
    "junior_staff",
    "mid_staff",
    "senior_staff",
    "total_hub_staff",
    "hub_service_demand",
    "displaced_hub_workers",
    "workers_in_reskilling",
    "youth_unemployment_rate",
    "graduate_job_seekers",
    "business_first_year_enrolment",
    "business_students",
    "local_service_jobs",
    "rent_index",
    "young_out_migration",
    "young_in_migration",
    "net_young_migration",
    "new_industry_jobs",
    "policy_spending",
    "cumulative_policy_cost",
    "cumulative_discounted_policy_cost",
    "young_graduate_labour_force",
    "people_accounting_error",
]


def _model_info(mdl: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    model = load(mdl)
    doc = model.doc.set_index("Py Name")
    names = {py: real for py, real in zip(doc.index, doc["Real Name"], strict=False)}
    return doc, names


def available_outputs(mdl: str | Path = DEFAULT_MODEL) -> list[str]:
    """Python names of every model variable that can be returned (not tables or controls)."""
    doc, _ = _model_info(Path(mdl))
    keep = doc[(doc["Type"].isin(["Auxiliary", "Stateful", "Constant"]))]
    return sorted(n for n in keep.index if n not in {"time"})


def check_outputs(
    outputs: Iterable[str] | str | None, mdl: str | Path = DEFAULT_MODEL
) -> list[str]:
    """Validate requested output names (Python or Vensim spelling); ``"all"`` means every one."""
    allowed = available_outputs(mdl)
    if outputs is None:
        return list(KEY_OUTPUTS)
    if isinstance(outputs, str):
        if outputs == "all":
            return allowed
        outputs = [outputs]
    doc, names = _model_info(Path(mdl))
    by_real = {real.lower().replace(" ", "_"): py for py, real in names.items()}
    out = []
    for name in outputs:
        key = str(name).strip().lower().replace(" ", "_")
        key = by_real.get(key, key)
        if key not in allowed:
            raise ParameterError(f"unknown output {name!r}{did_you_mean(key, allowed, n=3)}")
        out.append(key)
    return out


def model_controls(model) -> dict[str, float]:
    """The model file's INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER [Year]."""
    ctrl = model.components._control_vars
    return {
        k: float(ctrl[k]() if callable(ctrl[k]) else ctrl[k])
        for k in ("initial_time", "final_time", "time_step", "saveper")
    }


def _control(time_step, final_time, saveper, model) -> dict[str, float]:
    base = model_controls(model)
    given = {"final_time": final_time, "time_step": time_step, "saveper": saveper}
    ctrl = {k: (base[k] if given.get(k) is None else given[k]) for k in base}
    for key, value in ctrl.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)):
            raise ParameterError(f"{key} must be a number, got {value!r}")
    ctrl = {k: float(v) for k, v in ctrl.items()}
    for key, value in ctrl.items():
        if isinstance(value, bool) or not np.isfinite(value):
            raise ParameterError(f"{key} must be a finite number, got {value!r}")
    if ctrl["time_step"] <= 0 or ctrl["saveper"] <= 0:
        raise ParameterError("time_step and saveper must be positive")
    if ctrl["final_time"] <= ctrl["initial_time"]:
        raise ParameterError(
            f"final_time {ctrl['final_time']:g} must be after initial_time {ctrl['initial_time']:g}"
        )
    ratio = ctrl["saveper"] / ctrl["time_step"]
    if abs(ratio - round(ratio)) > 1e-9:
        raise ParameterError("saveper must be a whole multiple of time_step")
    return ctrl


def resolve_parameters(hub: str | None, params: Mapping | None, mdl=DEFAULT_MODEL) -> dict:
    """Full parameter vector: model defaults, then the hub file, then ``params``."""
    values = defaults(mdl)
    if hub is not None:
        values.update(load_hub(hub, mdl=mdl)["parameters"])
    values.update(check_parameters(params, mdl))
    return values


def _to_dataset(df: pd.DataFrame, outputs: list[str], names: dict, doc: pd.DataFrame) -> xr.Dataset:
    real_to_py = {real: py for py, real in names.items()}
    df = df.rename(columns=real_to_py)
    data_vars = {}
    for py in outputs:
        row = doc.loc[py]
        data_vars[py] = xr.Variable(
            ("time",),
            df[py].to_numpy(dtype=float),
            attrs={
                "units": str(row["Units"]),
                "long_name": str(row["Real Name"]),
                "description": str(row["Comment"]),
            },
        )
    time = xr.Variable(("time",), df.index.to_numpy(dtype=float), attrs={"units": "Year"})
    return xr.Dataset(data_vars, coords={"time": time})


def run(
    hub: str | None = "krakow",
    params: Mapping[str, float] | None = None,
    outputs: Iterable[str] | str | None = None,
    *,
    time_step: float | None = None,
    final_time: float | None = None,
    saveper: float | None = None,
    mdl: str | Path = DEFAULT_MODEL,
) -> xr.Dataset:
    """Run the hub model for one hub and one parameter set.

    The values are the model's defaults, then the hub file's, then ``params``; the run is
    PySD's (Euler, the model's TIME STEP unless overridden).

    Parameters
    ----------
    hub : str or None
        Hub file in ``data/hubs/`` (``"krakow"``), or a calibrated set of one
        (``"krakow@v1"``, ``"krakow@calibrated"`` for the newest); ``None``: the model's own
        defaults.
    params : mapping, optional
        Parameter overrides by Python or Vensim name, each in the units of the parameter table
        (e.g. ``automatable_junior_share`` Dmnl); checked against the table's range.
    outputs : list of str, ``"all"`` or None
        Variables to return (Python or Vensim names); ``None`` gives :data:`KEY_OUTPUTS`.
    time_step, final_time, saveper : float, optional
        Override the model file's TIME STEP, FINAL TIME and SAVEPER [Year].
    mdl : path
        The Vensim model (default ``models/hub.mdl``).

    Returns
    -------
    xarray.Dataset
        One variable per output along ``time`` [Year], in the model's units (staff and
        stocks of people in Person, flows such as ``young_out_migration`` in Person/Year,
        shares and rates such as ``youth_unemployment_rate`` in Dmnl, costs in EUR), with
        ``units``, ``long_name`` and ``description`` in each variable's attrs; the run's hub,
        parameters (JSON), model hash and versions in the Dataset's attrs.

    Raises
    ------
    ParameterError
        Before anything runs: an unknown parameter or output (with a did-you-mean hint), a
        value that is not a finite number or lies outside its range, bad control values
        (not positive, ``final_time`` before the start, ``saveper`` not a multiple of
        ``time_step``).
    HubError
        An unknown hub or calibrated set, or a malformed hub file.

    Warns
    -----
    RuntimeWarning
        When an output has non-finite values.

    Examples
    --------
    >>> ds = run("krakow", {"automatable_junior_share": 0.8}, ["junior_staff"])
    >>> ds["junior_staff"].attrs["units"]
    'Person'
    >>> ds["junior_staff"].sel(time=2035)
    """
    mdl = Path(mdl)
    values = resolve_parameters(hub, params, mdl)
    outputs = check_outputs(outputs, mdl)
    model = load(mdl)
    ctrl = _control(time_step, final_time, saveper, model)
    doc, names = _model_info(mdl)
    stamps = np.round(
        np.arange(ctrl["initial_time"], ctrl["final_time"] + ctrl["saveper"] / 2, ctrl["saveper"]),
        10,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.set_components(values)
        df = model.run(
            return_columns=[names[o] for o in outputs],
            return_timestamps=stamps,
            time_step=ctrl["time_step"],
            final_time=ctrl["final_time"],
            saveper=ctrl["saveper"],
        )
    ds = _to_dataset(df, outputs, names, doc)
    ds.attrs.update(
        {
            "title": "hubsd hub model run",
            "hub": hub or "model defaults",
            "parameters": json.dumps(values, sort_keys=True),
            "time_step": ctrl["time_step"],
            "model_file": mdl.name,
            "model_sha256": file_hash(mdl),
            "hubsd_version": __version__,
            "pysd_version": model.components.__pysd_version__,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
    )
    bad = [v for v in outputs if not np.all(np.isfinite(ds[v].values))]
    if bad:
        warnings.warn(
            f"non-finite values in outputs: {', '.join(bad)}", RuntimeWarning, stacklevel=2
        )
    return ds


def run_scenarios(
    hub: str = "krakow",
    scenarios: list[str] | None = None,
    params: Mapping[str, float] | None = None,
    outputs: Iterable[str] | str | None = None,
    scenario_file: str | Path | None = SCENARIOS_FILE,
    **kwargs,
) -> xr.Dataset:
    """Run a hub under several policy scenarios; results stacked along a ``scenario`` dim.

    Scenarios come from ``data/scenarios.yaml`` with the hub file's overrides; ``params``
    apply to every scenario. Every scenario is validated before the first run.

    Parameters
    ----------
    hub : str
        Hub file in ``data/hubs/`` or a calibrated set of one (``"krakow@v1"``).
    scenarios : list of str, optional
        Scenario names (``"baseline"``, ``"reskilling"``, ``"smart_mix"`` ...); default: every
        scenario of ``data/scenarios.yaml``, in file order.
    params : mapping, optional
        Parameter overrides for every scenario, in the parameter table's units; a scenario's
        own levers are applied first, so ``params`` win.
    outputs : list of str, ``"all"`` or None
        Variables to return; ``None`` gives :data:`KEY_OUTPUTS`.
    scenario_file : path or None
        The scenario file (default ``data/scenarios.yaml``); ``None`` as in
        :func:`hubsd.inputs.scenarios.load_scenarios` (a baseline only for another model).
    **kwargs
        Passed to :func:`run` (``time_step``, ``final_time`` [Year], ``saveper`` [Year],
        ``mdl``).

    Returns
    -------
    xarray.Dataset
        Dims ``(scenario, time)``, ``time`` in Year; each variable in the model's units
        (Person, Person/Year, Dmnl, EUR ...) in its attrs; each scenario's parameters and the
        common ones as JSON in the Dataset's attrs.

    Raises
    ------
    HubError
        An unknown hub or scenario (with the known ones), before anything runs.
    ParameterError
        A bad parameter or output name or value in ``params`` or a scenario, before anything
        runs.

    Examples
    --------
    >>> ds = run_scenarios("krakow", ["baseline", "reskilling"], outputs=["junior_staff"])
    >>> ds["junior_staff"].sel(time=2040).to_series()   # Person, one value per scenario
    """
    mdl = kwargs.get("mdl", DEFAULT_MODEL)
    hub_def = load_hub(hub, mdl=mdl)
    per_scenario = scenario_parameters(hub_def, scenarios, scenario_file, mdl)
    checked = check_parameters(params, mdl)
    for overrides in per_scenario.values():  # all checks before any run
        check_parameters({**overrides, **checked}, mdl)
    runs = []
    for _name, overrides in per_scenario.items():
        ds = run(hub, {**overrides, **checked}, outputs, **kwargs)
        runs.append(ds.assign_attrs(parameters=None))
    out = xr.concat(
        runs, dim=pd.Index(list(per_scenario), name="scenario"), combine_attrs="drop_conflicts"
    )
    out.attrs.pop("parameters", None)
    out.attrs["scenario_parameters"] = json.dumps(per_scenario, sort_keys=True)
    out.attrs["common_parameters"] = json.dumps(checked, sort_keys=True)
    out.attrs["created"] = runs[-1].attrs["created"]
    return out


def sector_inputs(sector: str, mdl: str | Path = DEFAULT_MODEL) -> list[str]:
    """Variables from other sectors that a sector needs to run alone (Python names).

    Parameters
    ----------
    sector : str
        A sector (Vensim view) name, e.g. ``"workforce"`` (see :func:`sectors`).
    mdl : path
        The Vensim model (default ``models/hub.mdl``).

    Returns
    -------
    list of str
        Sorted Python names; the exogenous series :func:`run_sector` needs.

    Raises
    ------
    ParameterError
        An unknown sector (with the known ones).

    Examples
    --------
    >>> sector_inputs("workforce")
    """
    model = load(mdl)
    module = _module_name(sector, model)
    deps = model.get_dependencies(modules=[module])
    needed = deps.d_deps["initial"] | deps.d_deps["step"] | deps.d_deps["lookup"]
    return sorted(needed)


def sectors(mdl: str | Path = DEFAULT_MODEL) -> list[str]:
    """Names of the model's sectors (its Vensim views).

    Parameters
    ----------
    mdl : path
        The Vensim model (default ``models/hub.mdl``).

    Returns
    -------
    list of str
        Sorted sector names as PySD's modules name them (lower case, ``_`` for spaces).

    Examples
    --------
    >>> "workforce" in sectors()
    True
    """
    return sorted(load(mdl).modules or {})


def _module_name(sector: str, model) -> str:
    modules = model.modules or {}
    key = sector.strip().lower().replace(" ", "_")
    if key not in modules:
        raise ParameterError(f"unknown sector {sector!r}; sectors: {', '.join(sorted(modules))}")
    return key


def run_sector(
    sector: str,
    exogenous: xr.Dataset | None = None,
    hub: str | None = "krakow",
    params: Mapping[str, float] | None = None,
    outputs: Iterable[str] | None = None,
    mdl: str | Path = DEFAULT_MODEL,
) -> xr.Dataset:
    """Run one sector alone, the other sectors' variables given as exogenous series.

    Partial-model testing (Sterman 2000, ch. 21): does a sector behave sensibly when its
    inputs are given rather than fed back?

    Parameters
    ----------
    sector : str
        A sector (Vensim view) name, e.g. ``"workforce"`` (see :func:`sectors`).
    exogenous : xarray.Dataset, optional
        Values along ``time`` [Year] for every variable in :func:`sector_inputs`, at every
        time step, in the model's units. By default the full model is run with the same
        parameters and its outputs are used, so the sector alone should reproduce the full
        model.
    hub : str or None
        Hub file (or calibrated set) whose values the run uses; ``None``: model defaults.
    params : mapping, optional
        Parameter overrides, in the parameter table's units.
    outputs : list of str, optional
        Variables of the sector to return (default: all of the sector's variables).
    mdl : path
        The Vensim model (default ``models/hub.mdl``).

    Returns
    -------
    xarray.Dataset
        The sector's variables along ``time`` [Year] at the exogenous series' times, each in
        the model's units (``units`` attr); the sector, hub and exogenous names in the attrs.

    Raises
    ------
    ParameterError
        An unknown sector, a bad parameter, or ``exogenous`` lacking a series the sector
        needs (named).
    HubError
        An unknown hub or a malformed hub file.

    Examples
    --------
    >>> alone = run_sector("workforce", hub="krakow", outputs=["junior_staff"])
    >>> full = run("krakow", outputs=["junior_staff"])
    >>> float(abs(alone["junior_staff"].sel(time=full["time"]) - full["junior_staff"]).max())
    """
    mdl = Path(mdl)
    values = resolve_parameters(hub, params, mdl)
    model = load(mdl, fresh=True)
    module = _module_name(sector, model)
    inputs = sector_inputs(sector, mdl)
    own = sorted(model.get_vars_in_module(module))
    doc, names = _model_info(mdl)
    lookups = set(doc.index[doc["Type"] == "Lookup"])
    own_outputs = [v for v in own if v not in lookups] if outputs is None else list(outputs)
    dt = model_controls(model)["time_step"]
    if exogenous is None:
        series_vars = [v for v in inputs if v not in values and v not in lookups]
        exogenous = run(hub, params, series_vars, saveper=dt, mdl=mdl)
    missing = [v for v in inputs if v not in values and v not in lookups and v not in exogenous]
    if missing:
        raise ParameterError(f"exogenous series missing for: {', '.join(missing)}")
    exo = {}
    for var in inputs:
        if var in values:
            exo[var] = values[var]
        elif var in exogenous:
            exo[var] = pd.Series(exogenous[var].values, index=exogenous["time"].values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        model.select_submodel(modules=[module], exogenous_components=exo)
        model.set_components({k: v for k, v in values.items() if k in own})
        df = model.run(
            return_columns=[names[o] for o in own_outputs],
            return_timestamps=exogenous["time"].values,
        )
    ds = _to_dataset(df, own_outputs, names, doc)
    ds.attrs.update(
        {"sector": module, "hub": hub or "model defaults", "exogenous": ", ".join(inputs)}
    )
    return ds


def save(ds: xr.Dataset, path: str | Path) -> Path:
    """Write a Dataset as NetCDF atomically (temporary file, then rename).

    A reader never sees a half-written file: the Dataset goes to ``.<name>.tmp`` beside the
    target, which is then renamed over it; parent folders are created.

    Parameters
    ----------
    ds : xarray.Dataset
        The Dataset to write (units and provenance travel in its attrs).
    path : str or path
        The NetCDF file to write (replaced if it exists).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    OSError, ValueError
        From xarray's NetCDF writer; the temporary file is removed and ``path`` untouched.

    Examples
    --------
    >>> save(run("krakow"), "outputs/krakow.nc")
    PosixPath('outputs/krakow.nc')
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        ds.to_netcdf(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
