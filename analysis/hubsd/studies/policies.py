"""Building blocks of the analysis notebooks: policy effects, Monte Carlo samples, hub sets.

The notebooks in ``notebooks/`` narrate and plot; what they compute lives here (and in
:mod:`hubsd.engine.pysd_runner`, :mod:`hubsd.studies.sensitivity`,
:mod:`hubsd.plots.figures`), so it is tested and reused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.calibration.posterior import (
    HISTORY_SHIFT,
    history_shifts,
    model_parameters,
    sample_posterior,
)
from hubsd.core import sampling
from hubsd.engine.pysd_runner import resolve_parameters, run
from hubsd.inputs.evidence import prior_ranges
from hubsd.inputs.hubs import load_hub
from hubsd.model.parameters import STRUCTURE_SWITCHES, ParameterError, resolve_name, table

#: Jobs in the city that the policy accounting counts: the hub, new industries, local services.
CITY_JOBS = ("total_hub_staff", "new_industry_jobs", "local_service_jobs")


def _integral(da: xr.DataArray, dt: float) -> xr.DataArray:
    return (da * dt).sum("time")


def policy_effects(
    ds: xr.Dataset,
    year: float = 2035.0,
    baseline: str = "baseline",
    start: float = 2024.0,
    ai_running_cost_ratio: float | None = None,
) -> pd.DataFrame:
    """Each scenario against the baseline: jobs, youth unemployment, migration, cost.

    Parameters
    ----------
    ds : xarray.Dataset
        Runs with dims ``scenario`` and ``time`` (e.g. :func:`hubsd.run_scenarios`), holding
        ``total_hub_staff``, ``displaced_hub_workers``, ``youth_unemployment_rate``,
        ``net_young_migration`` and ``cumulative_policy_cost``; the all-jobs, youth-unemployment
        and discounted-cost columns are filled when it also holds ``new_industry_jobs``,
        ``local_service_jobs``, ``young_graduate_labour_force``, ``junior_staff`` and
        ``cumulative_discounted_policy_cost`` (all in :data:`hubsd.KEY_OUTPUTS`).
    year : float
        Year at which jobs are compared and up to which flows are summed.
    baseline : str
        The scenario every other one is compared with.
    start : float
        First year of the sums (job-years, unemployed person-years, migration).
    ai_running_cost_ratio : float, optional
        Cost of running AI per unit of automated work relative to the labour it replaces
        (default: the model's), for the firms' forgone savings.

    Returns
    -------
    pandas.DataFrame
        One row per scenario. ``hub_jobs`` at ``year`` and ``hub_jobs_change``; ``city_jobs_change``
        (hub + new industries + local services) at ``year``; ``job_years_kept`` (city jobs,
        summed from ``start`` to ``year``); ``peak_displaced_change``;
        ``peak_youth_unemployment_change_pp``; ``youth_unemployed_person_years_change`` (young
        graduates out of work, summed); ``net_young_migration_change`` (summed) [Person];
        ``cost_meur`` (to the end of the run, undiscounted) and ``discounted_cost_meur``
        (discounted to the model's policy appraisal year); ``firm_forgone_savings_person_years``
        (junior work the firms keep doing by hand instead of automating it, net of the AI's
        running cost, summed: what forcing augmentation costs them); cost-effectiveness
        ``hub_jobs_per_meur`` (hub jobs at ``year`` per undiscounted million EUR, the earlier
        measure) and ``job_years_per_meur`` (city job-years per discounted million EUR).
    """
    if baseline not in ds["scenario"].values:
        raise ValueError(f"the Dataset has no {baseline!r} scenario to compare against")
    late = ds.sel(time=ds["time"] >= start)
    window = ds.sel(time=(ds["time"] >= start) & (ds["time"] <= year))
    dt = float(ds["time"].values[1] - ds["time"].values[0])

    def change(da):
        return (da - da.sel(scenario=baseline)).to_series()

    jobs = ds["total_hub_staff"].sel(time=year, method="nearest")
    peak_disp = late["displaced_hub_workers"].max("time")
    peak_yu = late["youth_unemployment_rate"].max("time")
    migration = _integral(window["net_young_migration"], dt)
    cost = ds["cumulative_policy_cost"].isel(time=-1) / 1e6
    frame = pd.DataFrame(
        {
            "hub_jobs": jobs.to_series(),
            "hub_jobs_change": change(jobs),
            "city_jobs_change": np.nan,
            "job_years_kept": np.nan,
            "peak_displaced_change": change(peak_disp),
            "peak_youth_unemployment_change_pp": 100 * change(peak_yu),
            "youth_unemployed_person_years_change": np.nan,
            "net_young_migration_change": change(migration),
            "cost_meur": cost.to_series(),
            "discounted_cost_meur": np.nan,
            "firm_forgone_savings_person_years": np.nan,
        }
    )
    if all(n in ds for n in CITY_JOBS):
        city = sum(ds[n] for n in CITY_JOBS)
        frame["city_jobs_change"] = change(city.sel(time=year, method="nearest"))
        frame["job_years_kept"] = change(_integral(city.sel(time=window["time"]), dt))
    if "young_graduate_labour_force" in ds:
        unemployed = ds["youth_unemployment_rate"] * ds["young_graduate_labour_force"]
        frame["youth_unemployed_person_years_change"] = change(
            _integral(unemployed.sel(time=window["time"]), dt)
        )
    if "cumulative_discounted_policy_cost" in ds:
        frame["discounted_cost_meur"] = (
            ds["cumulative_discounted_policy_cost"].isel(time=-1) / 1e6
        ).to_series()
    if "junior_staff" in ds:
        if ai_running_cost_ratio is None:
            ai_running_cost_ratio = float(table().loc["ai_running_cost_ratio", "default"])
        kept = (ds["junior_staff"] - ds["junior_staff"].sel(scenario=baseline)).clip(min=0)
        frame["firm_forgone_savings_person_years"] = (
            _integral(kept.sel(time=window["time"]), dt) * (1 - ai_running_cost_ratio)
        ).to_series()
    with np.errstate(divide="ignore", invalid="ignore"):
        hub_per = frame["hub_jobs_change"] / frame["cost_meur"]
        all_per = frame["job_years_kept"] / frame["discounted_cost_meur"]
    frame["hub_jobs_per_meur"] = hub_per.where(frame["cost_meur"] > 0)
    frame["job_years_per_meur"] = all_per.where(frame["discounted_cost_meur"] > 0)
    frame.index.name = "scenario"
    frame.attrs["year"] = year
    frame.attrs["start"] = start
    return frame


def uncertain_parameters(
    hub: str | None = None, exclude_sectors: Sequence[str] = ("Policy", "Scenario")
) -> list[str]:
    """Parameters treated as uncertain, by Python name.

    Every one outside ``exclude_sectors`` (the policy levers are choices, not uncertainties)
    and, given a hub, not set by its hub file (those values are the hub's sourced facts, e.g.
    its size); never a structure switch (:data:`hubsd.model.parameters.STRUCTURE_SWITCHES`).
    """
    tab = table()
    fixed = set(load_hub(hub)["parameters"]) if hub is not None else set()
    fixed |= STRUCTURE_SWITCHES
    return [n for n in tab.index if tab.loc[n, "sector"] not in exclude_sectors and n not in fixed]


def uncertain_ranges(
    hub: str | None = None, exclude_sectors: Sequence[str] = ("Policy", "Scenario")
) -> dict[str, tuple]:
    """The uncertain parameters of a hub with the range each is uncertain over.

    Those of :func:`uncertain_parameters` over the parameter table's range; for a calibrated
    hub (``"krakow@v1"``, ``"krakow@calibrated"``) also every calibrated parameter, over its
    95 % profile-likelihood interval rather than fixed at its estimate (a parameter the data do
    not identify thus spans its whole range). A hub-file value with an evidence ``range``
    (the AI-exposure shares derived from task data) varies over that range; the hub file's
    other sourced values stay fixed. A model prior with an evidence range in
    ``data/evidence/ai_priors.csv`` (:func:`hubsd.inputs.evidence.prior_ranges`, e.g. the
    human-centred AI share, 0.12-0.57) varies over that range instead of the parameter table's
    admissible one.
    """
    tab = table()
    hub_def = load_hub(hub) if hub is not None else None
    calibrated: dict[str, tuple] = {}
    for name, entry in (hub_def or {}).get("calibrated", {}).items():
        lo, hi = entry.get("low95"), entry.get("high95")
        if lo is not None and hi is not None and hi > lo:
            calibrated[name] = (
                max(float(lo), float(tab.loc[name, "low"])),
                min(float(hi), float(tab.loc[name, "high"])),
            )
    # the hub file's evidence ranges (e.g. AI exposure from task data) where it gives one
    evidence = dict((hub_def or {}).get("ranges", {}))
    # the model priors' evidence ranges (studies cited in data/evidence/ai_priors.csv)
    priors = prior_ranges()
    # the hub file's other values and calibrated values without an interval stay fixed
    fixed = set(hub_def["parameters"]) - set(calibrated) if hub_def is not None else set()
    fixed |= STRUCTURE_SWITCHES
    out = {}
    for n in tab.index:
        if tab.loc[n, "sector"] in exclude_sectors:
            continue
        if n in calibrated:
            out[n] = calibrated[n]
        elif n in evidence:
            out[n] = evidence[n]
        elif n in priors and n not in fixed:
            out[n] = priors[n]
        elif n not in fixed:
            out[n] = (float(tab.loc[n, "low"]), float(tab.loc[n, "high"]))
    return out


def lhs_parameters(
    samples: int,
    seed: int = 0,
    params: Sequence[str] | None = None,
    hub: str | None = None,
    ranges: Mapping | None = None,
) -> pd.DataFrame:
    """A Latin hypercube over the parameter table's ranges: one row per sample.

    ``params`` picks the parameters (default: :func:`uncertain_parameters` of ``hub``).
    Uniform between ``low`` and ``high``, or over ``ranges[name]`` where given (e.g.
    :func:`uncertain_ranges`).
    """
    if not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ParameterError(f"samples must be a whole number of at least 2, got {samples!r}")
    tab = table()
    if params is None:
        names = uncertain_parameters(hub)
    else:
        names = [resolve_name(p) for p in params]
    ranges = {resolve_name(k): v for k, v in (ranges or {}).items()}
    low = np.array(
        [float(ranges[n][0]) if n in ranges else float(tab.loc[n, "low"]) for n in names]
    )
    high = np.array(
        [float(ranges[n][1]) if n in ranges else float(tab.loc[n, "high"]) for n in names]
    )
    outside = (
        (low < tab.loc[names, "low"].to_numpy(float))
        | (high > tab.loc[names, "high"].to_numpy(float))
        | (low > high)
    )
    if outside.any():
        bad = names[int(np.flatnonzero(outside)[0])]
        raise ParameterError(f"range of {bad!r} must be increasing and inside the table's")
    return pd.DataFrame(sampling.lhs(low, high, int(samples), seed), columns=names)


def draw_ensemble(hub: str, members: int, seed: int = 0, **posterior) -> pd.DataFrame:
    """Parameter sets of a Monte Carlo ensemble of ``hub``, consistent with its data.

    For a calibrated hub (``"krakow@calibrated"``, ``"krakow@v2"``) the calibrated parameters
    are drawn jointly from their posterior given the hub's data
    (:func:`hubsd.calibration.posterior.sample_posterior`), so that every member reproduces the
    history within the figures' errors; every other uncertain parameter of
    :func:`uncertain_ranges` (the parameter table's sourced ranges and the hub file's evidence
    ``ranges``) by a Latin hypercube with the same seed. A hub without ``@`` is the hub file's
    values: there is no fit to condition on, so every uncertain parameter is drawn by the
    Latin hypercube. An uncalibrated prior that moves some calibration figure by more than
    :data:`~hubsd.calibration.posterior.HISTORY_SHIFT` of its stated error across its range
    (:func:`~hubsd.calibration.posterior.history_shifts`) is held at the value the fit assumed:
    drawn freely it would take the member off the data (``attrs["held_by_the_data"]`` lists
    them with their shifts); freeing it in the calibration spec is the way to let it vary.
    Sobol and Morris keep :func:`uncertain_ranges` with independent draws: their indices are
    defined for independent inputs.

    Parameters
    ----------
    hub : str
        Hub name, with ``@<version>`` for a calibrated set.
    members : int
        Number of members (at least 2).
    seed : int
        Seed of both draws.
    **posterior
        Passed to :func:`~hubsd.calibration.posterior.sample_posterior` (``proposals``,
        ``moves`` ...).

    Returns
    -------
    pandas.DataFrame
        One column per parameter (Python names, the parameter table's units), one row per
        member: what :func:`hubsd.run_ensemble` takes. ``attrs["method"]`` says how it was drawn;
        ``attrs["posterior"]`` holds the posterior draw's attrs (ESS, acceptance ...) and
        ``attrs["shares"]`` each member's draw of the spec's shares (not model parameters).
    """
    ranges = uncertain_ranges(hub)
    joint = None
    held: dict[str, float] = {}
    if "@" in str(hub):
        post = sample_posterior(hub, members, seed, **posterior)
        joint = model_parameters(post)
        ranges = {k: v for k, v in ranges.items() if k not in joint.columns}
        # priors the fitted history speaks to stay at the values the fit assumed
        shifts = history_shifts(hub, ranges)
        held = {k: round(v, 3) for k, v in shifts.items() if v > HISTORY_SHIFT}
        ranges = {k: v for k, v in ranges.items() if k not in held}
    prior = lhs_parameters(members, seed, list(ranges), ranges=ranges)
    out = prior if joint is None else pd.concat([joint, prior], axis=1)
    if joint is None:
        out.attrs["method"] = (
            "independent Latin hypercube over uncertain_ranges (no calibrated set)"
        )
    else:
        out.attrs["method"] = (
            "calibrated parameters: " + post.attrs["method"] + "; other uncertain parameters: "
            "Latin hypercube over uncertain_ranges, except those that move a calibration "
            f"figure by more than {HISTORY_SHIFT:g} stated error across their range (held at "
            "the values the fit assumed)"
        )
        out.attrs["held_by_the_data"] = held
        out.attrs["posterior"] = dict(post.attrs)
        out.attrs["shares"] = {
            n: post[n].to_numpy().tolist()
            for n, v in post.data_vars.items()
            if v.attrs.get("kind") == "share"
        }
    return out


def quantiles(
    ens: xr.Dataset, q: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95), dim: str = "sample"
) -> xr.Dataset:
    """Quantiles of an ensemble over its members (dim ``quantile``), attrs kept."""
    out = ens.drop_vars(
        [c for c in ens.coords if c != "time" and dim in ens[c].dims and c != dim]
    ).quantile(list(q), dim=dim, keep_attrs=True)
    out.attrs = dict(ens.attrs)
    out.attrs["members"] = int(ens.sizes[dim])
    return out


def run_cases(
    cases: Mapping[str, tuple[str, Mapping[str, float]]], outputs=None, **kwargs
) -> xr.Dataset:
    """Named (hub, parameter overrides) cases, each run once, stacked along ``scenario``.

    The dim is called ``scenario`` so that :mod:`hubsd.plots.figures` and
    :func:`hubsd.workflows.runfolder.summary_table` draw and tabulate cases like scenarios.
    Each case's hub and parameters are in the ``cases`` attribute (JSON).
    """
    runs = []
    for _label, (hub, params) in cases.items():  # every case validated before any run
        resolve_parameters(hub, params)
    for _label, (hub, params) in cases.items():
        runs.append(run(hub, params, outputs, **kwargs).assign_attrs(parameters=None, hub=None))
    out = xr.concat(
        runs, dim=pd.Index(list(cases), name="scenario"), combine_attrs="drop_conflicts"
    )
    out.attrs.pop("parameters", None)
    out.attrs.pop("hub", None)
    out.attrs["cases"] = json.dumps(
        {k: {"hub": h, "parameters": dict(p)} for k, (h, p) in cases.items()}, sort_keys=True
    )
    return out


def relative_to(ds: xr.Dataset, year: float, names: Sequence[str]) -> xr.Dataset:
    """Outputs divided by their value at ``year`` (1 = that year's level).

    To compare hubs of different sizes; units become ``ratio`` with ``long_name``
    '... relative to <year>'.
    """
    out = xr.Dataset(coords=ds.coords)
    for name in names:
        base = ds[name].sel(time=year, method="nearest")
        da = ds[name] / base
        da.attrs = {
            **ds[name].attrs,
            "units": "ratio",
            "long_name": f"{ds[name].attrs.get('long_name', name)} relative to {year:g}",
        }
        out[name] = da
    out.attrs = dict(ds.attrs)
    return out
