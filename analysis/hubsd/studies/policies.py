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

from hubsd.calibration.posterior import model_parameters, sample_posterior
from hubsd.core import sampling
from hubsd.engine.pysd_runner import resolve_parameters, run
from hubsd.inputs.hubs import load_hub
from hubsd.model.parameters import ParameterError, resolve_name, table


def policy_effects(
    ds: xr.Dataset, year: float = 2035.0, baseline: str = "baseline"
) -> pd.DataFrame:
    """Each scenario against the baseline: jobs kept at ``year``, peaks avoided, cost.

    Columns: ``hub_jobs`` at ``year`` and its change against the baseline, the change in the
    peak of displaced hub workers and of the youth unemployment rate (percentage points) from
    2024 on, the change in net young migration summed from 2024 to ``year`` [Person], the
    cumulative policy cost at the end [million EUR] and hub jobs kept per million EUR.
    """
    if baseline not in ds["scenario"].values:
        raise ValueError(f"the Dataset has no {baseline!r} scenario to compare against")
    late = ds.sel(time=ds["time"] >= 2024)
    window = ds.sel(time=(ds["time"] >= 2024) & (ds["time"] <= year))
    dt = float(ds["time"].values[1] - ds["time"].values[0])
    jobs = ds["total_hub_staff"].sel(time=year, method="nearest")
    peak_disp = late["displaced_hub_workers"].max("time")
    peak_yu = late["youth_unemployment_rate"].max("time")
    migration = (window["net_young_migration"] * dt).sum("time")
    cost = ds["cumulative_policy_cost"].isel(time=-1) / 1e6
    frame = pd.DataFrame(
        {
            "hub_jobs": jobs.to_series(),
            "hub_jobs_change": (jobs - jobs.sel(scenario=baseline)).to_series(),
            "peak_displaced_change": (peak_disp - peak_disp.sel(scenario=baseline)).to_series(),
            "peak_youth_unemployment_change_pp": (
                100 * (peak_yu - peak_yu.sel(scenario=baseline))
            ).to_series(),
            "net_young_migration_change": (
                migration - migration.sel(scenario=baseline)
            ).to_series(),
            "cost_meur": cost.to_series(),
        }
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        per = frame["hub_jobs_change"] / frame["cost_meur"]
    frame["jobs_per_meur"] = per.where(frame["cost_meur"] > 0)
    frame.index.name = "scenario"
    frame.attrs["year"] = year
    return frame


def uncertain_parameters(
    hub: str | None = None, exclude_sectors: Sequence[str] = ("Policy",)
) -> list[str]:
    """Parameters treated as uncertain, by Python name.

    Every one outside ``exclude_sectors`` (the policy levers are choices, not uncertainties)
    and, given a hub, not set by its hub file (those values are the hub's sourced facts, e.g.
    its size).
    """
    tab = table()
    fixed = set(load_hub(hub)["parameters"]) if hub is not None else set()
    return [n for n in tab.index if tab.loc[n, "sector"] not in exclude_sectors and n not in fixed]


def uncertain_ranges(
    hub: str | None = None, exclude_sectors: Sequence[str] = ("Policy",)
) -> dict[str, tuple]:
    """The uncertain parameters of a hub with the range each is uncertain over.

    Those of :func:`uncertain_parameters` over the parameter table's range; for a calibrated
    hub (``"krakow@v1"``, ``"krakow@calibrated"``) also every calibrated parameter, over its
    95 % profile-likelihood interval rather than fixed at its estimate (a parameter the data do
    not identify thus spans its whole range). A hub-file value with an evidence ``range``
    (the AI-exposure shares derived from task data) varies over that range; the hub file's
    other sourced values stay fixed.
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
    # the hub file's other values and calibrated values without an interval stay fixed
    fixed = set(hub_def["parameters"]) - set(calibrated) if hub_def is not None else set()
    out = {}
    for n in tab.index:
        if tab.loc[n, "sector"] in exclude_sectors:
            continue
        if n in calibrated:
            out[n] = calibrated[n]
        elif n in evidence:
            out[n] = evidence[n]
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
    Latin hypercube. Sobol and Morris keep :func:`uncertain_ranges` with independent draws:
    their indices are defined for independent inputs.

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
    if "@" in str(hub):
        post = sample_posterior(hub, members, seed, **posterior)
        joint = model_parameters(post)
        ranges = {k: v for k, v in ranges.items() if k not in joint.columns}
    prior = lhs_parameters(members, seed, list(ranges), ranges=ranges)
    out = prior if joint is None else pd.concat([joint, prior], axis=1)
    if joint is None:
        out.attrs["method"] = (
            "independent Latin hypercube over uncertain_ranges (no calibrated set)"
        )
    else:
        out.attrs["method"] = (
            "calibrated parameters: " + post.attrs["method"] + "; other uncertain parameters: "
            "Latin hypercube over uncertain_ranges"
        )
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
