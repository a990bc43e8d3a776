"""Global sensitivity of the hub model: Sobol and Morris indices with SALib, on the ensemble engine.

Samples are drawn by SALib over the ranges of the parameter table (uniform between ``low`` and
``high``), every sample is simulated as one member of a vectorised ensemble
(:mod:`hubsd.engine.ensemble`), and each *metric* is reduced to one number per member before SALib's
analysis. A metric is written as text:

``"total_hub_staff@2035"``
    the output's value at a year;
``"peak:youth_unemployment_rate"``
    its maximum over the run (``"peak:x@2024-2045"`` limits the years);
``"min:junior_staff"``
    its minimum (same year syntax);
``"cum:young_out_migration"``
    its time integral over the run (a flow summed to people), trapezoidal on the save times.

The policy levers (sector ``Policy``) are left out of the default parameter set: their defaults
switch the policies off, and varying them would mix policy choice into parameter uncertainty.
Pass ``params`` to choose.

>>> idx = sobol(metrics=["total_hub_staff@2035", "peak:youth_unemployment_rate@2024-2045"], n=256)
>>> idx.ST.sel(metric="total_hub_staff@2035").to_series().nlargest(5)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.engine.ensemble import compile_model
from hubsd.engine.results import base_name, flat_outputs, flatten
from hubsd.model.parameters import ParameterError, resolve_name, table
from hubsd.validation.context import default_hub

_METRIC = re.compile(
    r"^(?:(?P<kind>peak|min|cum):)?(?P<name>[a-z0-9_]+(?:\[[^\[\]@]+\])?)"
    r"(?:@(?P<y0>\d+(?:\.\d+)?)(?:-(?P<y1>\d+(?:\.\d+)?))?)?$"
)
EXCLUDED_SECTORS = ("Policy", "Scenario")


@lru_cache(maxsize=2)
def _engine(mdl: str):

    return compile_model(mdl)


def parse_metric(metric: str, outputs: Sequence[str]) -> dict:
    """Split a metric into kind, output and years; refuse unknown outputs or bad syntax.

    ``outputs`` lists the model's outputs, a subscripted one as one name per element
    (``population[North]``): a metric names an element of a subscripted output.
    """
    match = _METRIC.match(str(metric).strip())
    if not match:
        raise ParameterError(
            f"malformed metric {metric!r}; write 'output@year' ('output[element]@year' for a "
            "subscripted output), 'peak:output', 'min:output', "
            "'cum:output', optionally with '@from-to'"
        )
    kind = match["kind"] or "at"
    name = match["name"]
    elements = [o for o in outputs if o.startswith(name + "[")]
    if elements:
        raise ParameterError(
            f"metric {metric!r}: output {name!r} is subscripted; name one element, e.g. "
            f"'{elements[0]}' (elements: {', '.join(elements[:6])}"
            f"{', ...' if len(elements) > 6 else ''})"
        )
    if name not in outputs:
        raise ParameterError(
            f"metric {metric!r}: unknown output {name!r}{did_you_mean(name, outputs)}"
        )
    y0 = float(match["y0"]) if match["y0"] else None
    y1 = float(match["y1"]) if match["y1"] else None
    if kind == "at" and (y0 is None or y1 is not None):
        raise ParameterError(f"metric {metric!r}: a value needs one year, e.g. '{name}@2035'")
    return {"metric": metric, "kind": kind, "output": name, "from": y0, "to": y1}


def reduce_metric(ds: xr.Dataset, spec: dict) -> np.ndarray:
    """One number per sample for a parsed metric."""
    da = ds[spec["output"]]
    t = ds["time"].values
    if spec["kind"] == "at":
        if not (t[0] <= spec["from"] <= t[-1]):
            raise ParameterError(
                f"metric {spec['metric']!r}: year outside the run ({t[0]:g}-{t[-1]:g})"
            )
        return da.interp(time=spec["from"]).values
    lo = t[0] if spec["from"] is None else spec["from"]
    hi = t[-1] if spec["to"] is None else spec["to"]
    if spec["from"] is not None and spec["to"] is None:
        hi = t[-1]
    sel = da.sel(time=slice(lo, hi))
    if sel.sizes["time"] == 0:
        raise ParameterError(f"metric {spec['metric']!r}: no save times in {lo:g}-{hi:g}")
    if spec["kind"] == "peak":
        return sel.max("time").values
    if spec["kind"] == "min":
        return sel.min("time").values
    return np.trapezoid(sel.values, sel["time"].values, axis=sel.get_axis_num("time"))


def problem(
    params: Sequence[str] | None = None,
    mdl=DEFAULT_MODEL,
    bounds: Mapping[str, Sequence[float]] | None = None,
) -> dict:
    """SALib problem over the parameter table (default: every parameter outside the policy).

    ``bounds`` narrows the range of some parameters (name -> (low, high), inside the table's
    range), e.g. a calibrated parameter's 95 % interval (:func:`hubsd.studies.uncertain_ranges`).
    """
    tab = table(mdl)
    if params is None:
        names = [n for n in tab.index if tab.loc[n, "sector"] not in EXCLUDED_SECTORS]
    else:
        names = [resolve_name(p, mdl) for p in params]
        if len(set(names)) != len(names):
            raise ParameterError("a parameter is named twice")
    if len(names) < 2:
        raise ParameterError("sensitivity needs at least two parameters")
    given = {resolve_name(k, mdl): v for k, v in (bounds or {}).items()}
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ParameterError(f"bounds given for {', '.join(unknown)}, which is not varied")
    ranges = []
    for n in names:
        lo, hi = float(tab.loc[n, "low"]), float(tab.loc[n, "high"])
        if n in given:
            blo, bhi = (float(v) for v in given[n])
            if not (lo <= blo < bhi <= hi):
                raise ParameterError(
                    f"bounds of {n!r} [{blo:g}, {bhi:g}] must be increasing "
                    f"and inside its range [{lo:g}, {hi:g}]"
                )
            lo, hi = blo, bhi
        ranges.append([lo, hi])
    return {"num_vars": len(names), "names": names, "bounds": ranges}


def _simulate(prob, X, metrics, hub, mdl, run_kwargs):
    engine = _engine(str(mdl))
    specs = [parse_metric(m, flat_outputs(engine)) for m in metrics]
    outputs = sorted({base_name(s["output"]) for s in specs})
    bounds = np.asarray(prob["bounds"], dtype=float)
    # SALib's Morris grid can land a round-off beyond a bound (0.9000000000000001 > 0.9)
    X = np.clip(X, bounds[:, 0], bounds[:, 1])
    frame = pd.DataFrame(X, columns=prob["names"])
    ds = flatten(engine.run(frame, outputs, hub=hub, **run_kwargs))  # "population[North]"
    Y = np.column_stack([reduce_metric(ds, s) for s in specs])
    if not np.all(np.isfinite(Y)):
        bad = [m for m, ok in zip(metrics, np.isfinite(Y).all(axis=0), strict=True) if not ok]
        raise FloatingPointError(f"non-finite metric values for {', '.join(bad)}")
    return Y


def _metrics_list(metrics) -> list[str]:
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    if not metrics:
        raise ParameterError("give at least one metric")
    return metrics


def sobol(
    metrics: Sequence[str] | str,
    params: Sequence[str] | None = None,
    hub: str | None = "auto",
    n: int = 256,
    seed: int = 42,
    conf_level: float = 0.95,
    mdl=DEFAULT_MODEL,
    bounds: Mapping[str, Sequence[float]] | None = None,
    **run_kwargs,
) -> xr.Dataset:
    """First-order and total Sobol indices with confidence intervals (Saltelli sampling).

    Parameters
    ----------
    metrics : str or list of str
        Metrics (see the module docstring), e.g. ``"total_hub_staff@2035"``.
    params : list of str, optional
        Parameters to vary (default: all outside the policy sector).
    hub : str or None
        Hub file (or calibrated set) whose values the fixed parameters take; ``None``: the
        model's defaults; ``"auto"``: ``"krakow"`` for a model with every parameter of the
        Kraków hub file (the hub model), else the model's defaults.
    n : int
        Base sample size, a power of two of at least 8; the model runs
        ``n * (len(params) + 2)`` times.
    seed : int
        Seed of the Sobol sequence scrambling and of the bootstrap intervals.
    conf_level : float
        Confidence level of the bootstrap intervals.
    mdl : path
        The Vensim model (default ``models/hub.mdl``).
    bounds : mapping, optional
        Narrower ranges for some of them (name -> (low, high)), e.g. calibrated intervals.
    **run_kwargs
        Passed to :meth:`hubsd.engine.ensemble.EnsembleModel.run` (``workers``,
        ``chunk_size``, ``scheduler``, ``time_step`` ...).

    Returns
    -------
    xarray.Dataset
        ``S1``, ``S1_conf``, ``ST``, ``ST_conf`` with dims ``(metric, parameter)``, all
        dimensionless (units ``1``: shares of the metric's variance); the number of runs,
        seed, hub and confidence level in ``attrs``.

    Raises
    ------
    ParameterError
        Before anything runs: ``n`` not a power of two >= 8, no metric, a malformed metric
        or one naming an unknown output, fewer than two parameters, an unknown or repeated
        parameter, bounds outside a parameter's range. After the runs: a metric's year
        outside the run.
    HubError
        An unknown hub.
    FloatingPointError
        When a metric is not finite for some sample.

    Examples
    --------
    >>> idx = sobol(["total_hub_staff@2035", "peak:youth_unemployment_rate"], n=256)
    >>> idx.ST.sel(metric="total_hub_staff@2035").to_series().nlargest(5)
    """
    from SALib.analyze import sobol as sobol_analyze
    from SALib.sample import sobol as sobol_sample

    if n < 8 or n & (n - 1):
        raise ParameterError(f"n must be a power of two of at least 8, got {n}")
    metrics = _metrics_list(metrics)
    prob = problem(params, mdl, bounds)
    X = sobol_sample.sample(prob, n, calc_second_order=False, seed=seed)
    hub = default_hub(mdl) if hub == "auto" else hub
    Y = _simulate(prob, X, metrics, hub, mdl, run_kwargs)
    out = {
        k: np.empty((len(metrics), prob["num_vars"])) for k in ("S1", "S1_conf", "ST", "ST_conf")
    }
    for i in range(len(metrics)):
        res = sobol_analyze.analyze(
            prob, Y[:, i], calc_second_order=False, conf_level=conf_level, seed=seed
        )
        for k in out:
            out[k][i] = res[k]
    coords = {"metric": metrics, "parameter": prob["names"]}
    ds = xr.Dataset({k: (("metric", "parameter"), v) for k, v in out.items()}, coords=coords)
    for k in ("S1", "ST"):
        ds[k].attrs = {
            "units": "1",
            "long_name": {"S1": "first-order", "ST": "total"}[k] + " Sobol index",
        }
        ds[k + "_conf"].attrs = {"units": "1", "long_name": f"{conf_level:.0%} interval half-width"}
    ds.attrs = {
        "method": "Sobol (Saltelli sampling, SALib)",
        "runs": int(X.shape[0]),
        "base_samples": n,
        "seed": seed,
        "hub": hub or "model defaults",
        "conf_level": conf_level,
    }
    return ds


def morris(
    metrics: Sequence[str] | str,
    params: Sequence[str] | None = None,
    hub: str | None = "auto",
    trajectories: int = 20,
    levels: int = 4,
    seed: int = 42,
    conf_level: float = 0.95,
    mdl=DEFAULT_MODEL,
    bounds: Mapping[str, Sequence[float]] | None = None,
    **run_kwargs,
) -> xr.Dataset:
    """Morris elementary effects: ``mu_star`` (with interval) and ``sigma`` per metric, parameter.

    Runs ``trajectories * (len(params) + 1)`` members; a cheap screening before Sobol.

    Parameters
    ----------
    metrics : str or list of str
        Metrics (see the module docstring), e.g. ``"peak:youth_unemployment_rate"``.
    params : list of str, optional
        Parameters to vary (default: all outside the policy sector).
    hub : str or None
        Hub file (or calibrated set) whose values the fixed parameters take; ``None``: the
        model's defaults; ``"auto"``: ``"krakow"`` for a model with every parameter of the
        Kraków hub file (the hub model), else the model's defaults.
    trajectories : int
        Number of Morris trajectories (at least 2).
    levels : int
        Grid levels of each parameter's range.
    seed : int
        Seed of the sampling and of the bootstrap intervals.
    conf_level : float
        Confidence level of the ``mu_star`` interval.
    mdl : path
        The Vensim model (default ``models/hub.mdl``).
    bounds : mapping, optional
        Narrower ranges for some parameters (name -> (low, high)), e.g. calibrated intervals.
    **run_kwargs
        Passed to :meth:`hubsd.engine.ensemble.EnsembleModel.run`.

    Returns
    -------
    xarray.Dataset
        ``mu``, ``mu_star``, ``mu_star_conf`` and ``sigma`` with dims ``(metric, parameter)``.
        An effect is the metric's change over one step divided by the step as a share of the
        parameter's range (``levels / (2 (levels - 1))``), so it is in the metric's units per
        whole range (e.g. Person for ``total_hub_staff@2035``, Dmnl for a rate, Person for
        ``cum:`` of a Person/Year flow); the number of runs, trajectories, levels, seed and
        hub in ``attrs``.

    Raises
    ------
    ParameterError
        Before anything runs: fewer than two trajectories, no metric, a malformed metric or
        one naming an unknown output, fewer than two parameters, an unknown or repeated
        parameter, bounds outside a parameter's range. After the runs: a metric's year
        outside the run.
    HubError
        An unknown hub.
    FloatingPointError
        When a metric is not finite for some sample.

    Examples
    --------
    >>> eff = morris("total_hub_staff@2035", trajectories=20)
    >>> eff.mu_star.sel(metric="total_hub_staff@2035").to_series().nlargest(5)   # Person
    """
    from SALib.analyze import morris as morris_analyze
    from SALib.sample import morris as morris_sample

    if trajectories < 2:
        raise ParameterError("Morris needs at least two trajectories")
    metrics = _metrics_list(metrics)
    prob = problem(params, mdl, bounds)
    X = morris_sample.sample(prob, trajectories, num_levels=levels, seed=seed)
    hub = default_hub(mdl) if hub == "auto" else hub
    Y = _simulate(prob, X, metrics, hub, mdl, run_kwargs)
    keys = ("mu", "mu_star", "mu_star_conf", "sigma")
    out = {k: np.empty((len(metrics), prob["num_vars"])) for k in keys}
    for i in range(len(metrics)):
        res = morris_analyze.analyze(
            prob, X, Y[:, i], conf_level=conf_level, num_levels=levels, seed=seed
        )
        for k in keys:
            out[k][i] = np.asarray(res[k], dtype=float)
    coords = {"metric": metrics, "parameter": prob["names"]}
    ds = xr.Dataset({k: (("metric", "parameter"), v) for k, v in out.items()}, coords=coords)
    ds.attrs = {
        "method": "Morris elementary effects (SALib)",
        "runs": int(X.shape[0]),
        "trajectories": trajectories,
        "levels": levels,
        "seed": seed,
        "hub": hub or "model defaults",
        "conf_level": conf_level,
    }
    return ds


def tornado(indices: xr.Dataset, metric: str, index: str = "ST", top: int = 15):
    """Horizontal bar chart of the largest indices of one metric, with their intervals."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if metric not in indices["metric"].values:
        raise ParameterError(f"metric {metric!r} not in these indices")
    s = indices[index].sel(metric=metric).to_series().sort_values(ascending=False).head(top)
    conf_name = index + "_conf"
    conf = (
        indices[conf_name].sel(metric=metric).to_series().reindex(s.index)
        if conf_name in indices
        else None
    )
    fig = Figure(figsize=(7, 0.35 * len(s) + 1.2))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.barh(
        s.index[::-1],
        s.values[::-1],
        xerr=None if conf is None else conf.values[::-1],
        color="#4c72b0",
        ecolor="0.3",
        capsize=2,
    )
    ax.set_xlabel(f"{index} ({indices.attrs.get('method', '')})")
    ax.set_title(metric)
    fig.tight_layout()
    return fig
