"""Calibration of the hub model to sparse public data with SciPy, with profile-likelihood intervals.

A calibration is described by a spec file, ``data/calibration/<hub>.yaml`` (format below): the
hub whose parameter file is the starting point, the free parameters with their bounds, the
observed series and point targets to fit (rows of ``data/observed/*.csv``, so every figure keeps
its source), the standard error assumed for each kind of figure, and the first year held out for
the out-of-sample test.

The objective is a weighted sum of squares of *relative* residuals, so series of different
scales (hundreds of thousands of jobs, tens of thousands of students) weigh by how well they are
measured, not by their size::

    r_i = (simulated_i / share_i - observed_i) / (sigma_kind * observed_i)

``sigma_kind`` is the relative standard error of the figure's kind (observed, approximate,
forecast, stylised; a target may give its own tolerance). A figure given as a bound ("over
50,000") adds a residual only when the simulation is on the wrong side of it. ``share_i`` is 1,
or a free *share* parameter when a series is about a larger region than the hub (Poland's sector
as an index of Kraków's path); shares are estimated with the model parameters.

Optimisation: a Latin-hypercube screen of the bounded box (one vectorised ensemble run), then
``scipy.optimize.least_squares`` (trust-region reflective, bounds from the spec) from the best
screened points and the hub's own values. The Jacobian is by forward differences, all columns in
one ensemble run, and the starts run side by side: each SciPy solver runs in its own thread and
a broker gathers their requests into one vectorised simulation (:class:`BatchBroker`), so eight
starts cost about as much wall time as one. The runs go to the engine's fused numba kernel
where numba is installed (:func:`hubsd.calibration.fit.run_backend`: about half a millisecond
per member, little per run; the numpy backend pays about 0.6 s of Python per run whatever its
size, which made a calibration 100-190 s); a member's trajectory does not depend on the other
members of its run, so each solver sees the same model values, and its residuals have the
layout of a fit alone (``tests/test_calibrate.py`` checks the results to the last bit on a small
spec). What else keeps the runs few and small: every new point is simulated with its difference
stencil, so the Jacobian SciPy asks for after an accepted step is already there (one run per
iteration, not two); the holdout's fit to the earlier years runs in the same runs as the fit to
every figure (:func:`hubsd.calibration.fit.fits`); and the profiles, whose runs have about a
thousand members, are split over two processes (the second forked, on two cores).
``benchmarks/bench_calibrate.py`` times it against earlier code.

Intervals: profile likelihood. For each free parameter the fit is repeated with that parameter
fixed on a grid over its bounds and the others re-optimised (again all grid points side by side);
the 95 % interval is where twice the cost rises less than 3.84 (chi-square, 1 degree of freedom)
above its minimum. An end interpolated between two grid points inside the bounds is refined by
one more profile fit at that value and interpolated again between it and the grid point across
the threshold (one step of regula falsi): a profile curves between grid points, so the straight
line through them puts the end too close to the estimate where the profile is convex (Kraków's
share of Poland's sector: 95 % interval 46 % wider with the refinement). Profile likelihood,
not the bootstrap, because the data are a handful of
points per series: resampling three residuals says nothing, while the profile shows directly
whether the data pin a parameter down. A profile that stays under the threshold up to a bound
gives an interval that reaches the bound, and the parameter is flagged: ``identified`` (both
ends inside the bounds), ``one-sided`` (one end at a bound) or ``not identified`` (flat over the
whole range: the data say nothing; it stays a prior). The correlation of estimates comes from the
Jacobian at the optimum (Gauss-Newton covariance in the optimiser's coordinates).

The spec format is in :mod:`hubsd.calibration.spec`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import importlib.metadata as _md
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.calibration.fit import Fit, Objective, fit, fits
from hubsd.calibration.profiles import Profiles, profile
from hubsd.calibration.spec import CalibrationError, Point, Spec, load_spec
from hubsd.core import stats
from hubsd.core.paths import CALIBRATION_DIR, DEFAULT_MODEL, REPO, WORKSPACE
from hubsd.engine.pysd_runner import run
from hubsd.inputs.calibrated import load_calibrated, versions
from hubsd.inputs.hubs import hub_file
from hubsd.model.mdl import equations_hash
from hubsd.model.pysd_model import file_hash

# -- fit report -----------------------------------------------------------------------------------


def point_table(fit_: Fit, points: list[Point] | None = None) -> pd.DataFrame:
    """Every figure with its simulated value, residual and provenance."""
    pts = fit_.spec.points if points is None else points
    obj = Objective(fit_.spec, pts)
    pred = obj.predictions(fit_.u[None, :])[0]
    res = obj.residuals_from(pred[None, :])[0]
    return pd.DataFrame(
        [
            {
                "series": p.label,
                "role": p.role,
                "year": p.year,
                "observed": p.value,
                "simulated": s,
                "relative_error": (s - p.value) / p.value,
                "weighted_residual": r,
                "kind": p.kind,
                "bound": p.bound,
                "sigma": p.sigma,
                "output": p.output,
                "share": p.share or "",
                "holdout": p.holdout,
                "source": p.source_address,
            }
            for p, s, r in zip(pts, pred, res, strict=True)
        ]
    )


def series_statistics(points: pd.DataFrame) -> pd.DataFrame:
    """RMSE, MAPE, R² and Theil's U per series, over its point (not bound) figures."""
    rows = []
    for label, grp in points[points.bound == ""].groupby("series", sort=False):
        st = stats.fit_statistics(grp.simulated, grp.observed)
        if st["n"] < 2:
            st.update({"U_M": np.nan, "U_S": np.nan, "U_C": np.nan})
        rows.append({"series": label, **st})
    return pd.DataFrame(rows).set_index("series") if rows else pd.DataFrame()


@dataclass
class Calibration:
    """Everything a calibration produced: fit, intervals, holdout test and provenance.

    Returned by :func:`calibrate`. ``table`` gives the estimates, ``summary()`` the result as
    text and ``to_dataset()`` everything as one xarray Dataset.

    Attributes
    ----------
    spec : Spec
        The calibration spec that was fitted (hub, free parameters, figures, errors).
    fit : Fit
        The best multi-start least-squares fit (``fit.estimates``, ``fit.cost``).
    profiles : Profiles or None
        Profile-likelihood intervals and correlations (None with ``intervals=False``).
    points : pandas.DataFrame
        Every figure with its observed and simulated value (in the figure's own units),
        relative error, weighted residual and source.
    statistics : pandas.DataFrame
        RMSE, MAPE, R² and Theil's U per observed series.
    holdout : pandas.DataFrame or None
        The held-out figures against a fit to the earlier years only.
    holdout_fit : Fit or None
        That fit to the earlier years.
    provenance : dict
        Model, spec and data hashes, package versions, optimiser settings.
    seconds : float
        Wall time of the calibration [s].
    """

    spec: Spec
    fit: Fit
    profiles: Profiles | None
    points: pd.DataFrame
    statistics: pd.DataFrame
    holdout: pd.DataFrame | None
    holdout_fit: Fit | None
    provenance: dict
    seconds: float

    def summary(self) -> str:
        """The calibration as text: cost, intervals, fit statistics and the holdout MAPE.

        Starts with a warning when no start met SciPy's convergence tests.
        """
        lines = (
            []
            if self.fit.converged
            else [
                "WARNING: no start met SciPy's convergence tests within its evaluation budget; "
                "the best one is reported (see the local fits in the report)"
            ]
        )
        lines += [
            f"Calibration of {self.spec.name!r}: cost {self.fit.cost:.4g} "
            f"({len([p for p in self.spec.points])} figures, {len(self.spec.free)} free), "
            f"{self.seconds:.1f} s"
        ]
        if self.profiles is not None:
            lines.append(
                self.profiles.table[["estimate", "low95", "high95", "flag"]].to_string(
                    float_format=lambda v: f"{v:.4g}"
                )
            )
        if not self.statistics.empty:
            lines.append(self.statistics.to_string(float_format=lambda v: f"{v:.3g}"))
        if self.holdout is not None:
            h = self.holdout
            series = h[h.role == "series"]
            lines.append(
                f"holdout from {self.spec.holdout_from:g}: MAPE "
                f"{np.mean(np.abs(h.relative_error)):.3f} over {len(h)} figures; the observed "
                f"series alone (out-of-sample error): {self.holdout_series_mape:.3f} over "
                f"{len(series)}"
            )
        return "\n".join(lines)

    @property
    def holdout_series_mape(self) -> float:
        """Out-of-sample MAPE of the observed series (NaN without a holdout test).

        The fit without the figures from ``holdout_from`` on, against those figures; targets
        such as forecasts, adoption and early effects are left out.
        """
        if self.holdout is None:
            return float("nan")
        series = self.holdout[self.holdout.role == "series"]
        return float(np.mean(np.abs(series.relative_error))) if len(series) else float("nan")

    @property
    def table(self) -> pd.DataFrame:
        """One row per free parameter: estimate, 95 % interval and identifiability flag.

        The estimate alone when no intervals were computed.
        """
        if self.profiles is not None:
            return self.profiles.table
        return pd.DataFrame({"estimate": pd.Series(self.fit.estimates)})

    def to_dataset(self, final_time: float | None = None) -> xr.Dataset:
        """The calibration as an xarray Dataset (:func:`to_dataset`)."""
        return to_dataset(self, final_time)


def _relative(path) -> str:
    """A path as written in provenance: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def _versions() -> dict:
    out = {}
    for pkg in ("hubsd", "pysd", "scipy", "numpy", "xarray", "pandas"):
        try:
            out[pkg] = _md.version(pkg)
        except _md.PackageNotFoundError:  # pragma: no cover
            out[pkg] = "unknown"
    return out


def calibrate(
    spec: str | os.PathLike | Spec,
    data: list | None = None,
    *,
    intervals: bool = True,
    holdout: bool = True,
    starts: int | None = None,
    profile_points: int | None = None,
    mdl=None,
    progress: bool | None = None,
) -> Calibration:
    """Fit a hub (its spec in ``data/calibration/``), with intervals and a holdout test.

    A Latin-hypercube screen of the free parameters' bounds, then SciPy's ``least_squares``
    from the best screened points and the hub's own values, all starts side by side on the
    ensemble engine; then profile-likelihood 95 % intervals and a refit on the years before
    ``holdout_from`` to test the held-out figures.

    Parameters
    ----------
    spec : str, path or Spec
        A hub name (``"krakow"``: ``data/calibration/krakow.yaml``), the path of a spec file,
        or a spec already read with :func:`hubsd.calibration.spec.load_spec`.
    data : list of path, optional
        Observation files (default: every bundled ``data/observed/*.csv``).
    intervals : bool
        Compute profile-likelihood intervals (the slow part); ``False`` gives estimates only.
    holdout : bool
        Refit without the figures from the spec's ``holdout_from`` year on and test them.
    starts : int, optional
        Local fits from the best screened points (default: the spec's ``starts``).
    profile_points : int, optional
        Grid points per profile (default: the spec's ``profile_points``).
    mdl : path, optional
        The Vensim model (default: the spec's, i.e. the model it was read against; for a spec
        named by hub or path, the default model).
    progress : bool, optional
        Progress bars for the fit, the profiles and the holdout fit on standard error; by
        default drawn only in a terminal (``HUBSD_PROGRESS=1``/``0`` forces them on or off).

    Returns
    -------
    Calibration
        ``table``: one row per free parameter with ``estimate``, ``low95`` and ``high95`` in
        the parameter's own units (``units`` column, e.g. 1/Year, Person, Dmnl) and an
        identifiability ``flag``; ``points``, ``statistics``, ``holdout``, ``provenance``;
        ``seconds`` is the wall time [s].

    Raises
    ------
    CalibrationError
        Before fitting, for a spec that cannot be read or is malformed (the message names the
        file and line), an unknown hub, parameter, output or series, or a bad data file; after
        the screen, :class:`ImplausibleFigure` for a figure the model cannot come near inside
        the bounds; at the end, when no local fit converged.

    Examples
    --------
    >>> cal = calibrate("krakow", intervals=False, holdout=False)
    >>> cal.table["estimate"]        # one row per free parameter
    >>> print(cal.summary())
    """
    t0 = time.perf_counter()
    if not isinstance(spec, Spec):
        spec = load_spec(spec, data, DEFAULT_MODEL if mdl is None else mdl)
    sp, mdl = spec, spec.mdl if mdl is None else mdl
    # the fit to every figure and the holdout's fit to the earlier years run side by side
    hold_tab, hold_fit = None, None
    if holdout and sp.holdout_from is not None:
        train = [p for p in sp.points if not p.holdout]
        best, hold_fit = fits(
            sp, [None, train], starts, mdl, progress=progress, desc="fit and holdout fit"
        )
        tab = point_table(hold_fit)
        hold_tab = tab[tab.holdout].reset_index(drop=True)
    else:
        best = fit(sp, starts=starts, mdl=mdl, progress=progress)
    prof = profile(best, profile_points, progress=progress) if intervals else None
    pts = point_table(best)
    st = series_statistics(pts[pts.role == "series"])

    prov = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model": _relative(mdl),
        "model_sha256": file_hash(mdl),
        "model_equations_sha256": equations_hash(mdl),
        "spec": _relative(sp.path),
        "spec_sha256": file_hash(sp.path),
        "hub_file": _relative(hub_file(sp.hub.partition("@")[0])),
        "hub_file_sha256": file_hash(hub_file(sp.hub.partition("@")[0])),
        "workspace": str(WORKSPACE) if WORKSPACE is not None else None,
        "data": {_relative(p): file_hash(p) for p in sp.data_files},
        "versions": _versions(),
        "optimiser": "scipy.optimize.least_squares (trf, bounds, forward-difference Jacobian "
        f"by ensemble), {len(best.starts)} starts from a {sp.screen}-point "
        f"Latin-hypercube screen, seed {sp.seed}",
        "cost": best.cost,
        "starts": best.starts.to_dict(orient="records"),
        "intervals": "profile likelihood, 95 % (chi-square 1 df)" if intervals else "none",
        "figure_errors": sp.errors,
    }
    return Calibration(sp, best, prof, pts, st, hold_tab, hold_fit, prov, time.perf_counter() - t0)


# -- recovery test ------------------------------------------------------------------------------


def synthetic_spec(
    spec: Spec, truth: dict[str, float] | None = None, noise: bool = True, seed: int = 0
) -> tuple[Spec, dict[str, float]]:
    """The spec with every figure replaced by the model's value at ``truth`` (plus noise).

    Same figures, years, kinds, bounds and standard errors as the real data (the same
    sparsity); noise is log-normal with each figure's relative standard error as the standard
    deviation of its logarithm (``value x exp(sigma x e)``, e standard normal): a figure stays
    positive, as a measured count or rate is, even with the large tolerances of concept
    mismatches (0.5; Gaussian noise ``1 + sigma x e`` went negative one draw in 40). ``truth``
    defaults to the middle of every free parameter's bounds (geometric middle on a log scale).
    """
    obj = Objective(spec)
    u_true = np.array(
        [
            0.5 if truth is None or f.name not in truth else float(f.to_unit(truth[f.name]))
            for f in spec.free
        ]
    )
    if np.any((u_true < 0) | (u_true > 1)):
        raise CalibrationError("the true values must lie inside the free parameters' bounds")
    values = obj.predictions(u_true[None, :])[0]
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal(len(values)) if noise else np.zeros(len(values))
    fake = copy.deepcopy(spec)
    for p, v, e in zip(fake.points, values, eps, strict=True):
        p.value = float(v * np.exp(p.sigma * e))
        p.source_title = "synthetic: model at known parameters" + (" plus noise" if noise else "")
        p.source_address, p.says = "hubsd.calibration.calibrate.synthetic_spec", f"seed {seed}"
    true = {f.name: float(x) for f, x in zip(spec.free, obj.to_natural(u_true)[0], strict=True)}
    return fake, true


def recovery(
    spec: Spec,
    truth: dict[str, float] | None = None,
    noise: bool = True,
    seed: int = 0,
    starts: int | None = None,
    profile_points: int | None = None,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Fit synthetic data made from known parameters; one row per parameter with coverage.

    ``progress`` forces the progress bars on or off (default: on in a terminal).
    """
    fake, true = synthetic_spec(spec, truth, noise, seed)
    best = fit(fake, starts=starts, progress=progress, desc="recovery fit")
    prof = profile(best, profile_points, progress=progress)
    tab = prof.table.copy()
    tab.insert(0, "truth", pd.Series(true))
    tab["covered"] = (tab.low95 <= tab.truth) & (tab.truth <= tab.high95)
    tab.attrs["cost"] = best.cost
    return tab


# -- behaviour reproduction for hubsd validate ----------------------------------------------------

#: Largest per-series MAPE of a calibrated set that ``hubsd validate`` accepts (assumption: the
#: figures carry 5-15 % standard errors, so a calibrated path within 10 % of every series on
#: average reproduces the history the data can check).
REPRODUCTION_MAPE = 0.10


def _newest_set(hub: str, mdl=DEFAULT_MODEL) -> tuple[str, str, dict, Spec] | None:
    """(base hub, version, calibrated document, spec) of ``hub``'s newest (or named) set.

    None when the hub has no calibrated set or no spec.
    """
    base, _, version = str(hub).partition("@")
    if not versions(base) or not (CALIBRATION_DIR / f"{base}.yaml").is_file():
        return None
    doc = load_calibrated(base, version or "latest")
    return base, doc.get("version", Path(doc["file"]).stem), doc, load_spec(base, mdl=mdl)


def _simulated(base: str, ver: str, doc: dict, spec: Spec, points, mdl) -> list[float]:
    """The calibrated set's value (PySD) for each point, divided by its share where it has one."""
    outputs = sorted({p.output for p in points})
    ds = run(f"{base}@{ver}", outputs=outputs, final_time=spec.final_time, saveper=1, mdl=mdl)
    shares = {k: float(v["value"]) for k, v in (doc.get("shares") or {}).items()}
    out = []
    for p in points:
        sim = float(ds[p.output].sel(time=p.year, method="nearest"))
        out.append(sim / shares.get(p.share, float("nan")) if p.share else sim)
    return out


def behaviour_reproduction(hub: str, mdl=DEFAULT_MODEL) -> dict | None:
    """A ``hubsd validate`` row: the newest (or named) calibrated set of ``hub`` against its data.

    Runs the model (PySD) at the calibrated set, compares it with every figure of the hub's spec
    (in-sample and holdout) and reports the largest per-series MAPE, with Theil's proportions in
    the details. Fails when the set was calibrated on another version of the model. None when
    the hub has no calibrated set or no spec.
    """
    found = _newest_set(hub, mdl)
    if found is None:
        return None
    base, ver, doc, spec = found
    tests = (
        "the calibrated model reproduces the historical data (per-series MAPE, Theil "
        "inequality proportions)"
    )
    row = {
        "check": "behaviour reproduction",
        "group": "behaviour",
        "tests": tests,
        "measure": f"largest per-series MAPE of {base}@{ver}",
        "threshold": f"<= {REPRODUCTION_MAPE:g}",
    }
    model_sha = equations_hash(mdl)
    if doc.get("provenance", {}).get("model_equations_sha256") != model_sha:
        return {
            **row,
            "status": "fail",
            "figure": float("nan"),
            "details": f"{base}@{ver} was calibrated on another version of the model "
            f"(equations {str(doc.get('provenance', {}).get('model_equations_sha256'))[:12]} vs "
            f"{model_sha[:12]}); run `hubsd calibrate --hub {base}` again",
        }
    # the history: observed series; forecasts and evidence targets are checked by forecast_band
    # and weigh in the fit with their own tolerances
    points = [p for p in spec.points if not p.bound and p.role == "series"]
    sims = _simulated(base, ver, doc, spec, points, mdl)
    frame = pd.DataFrame(
        [
            {"series": p.label, "simulated": v, "observed": p.value}
            for p, v in zip(points, sims, strict=True)
        ]
    )
    parts, worst = [], 0.0
    for label, grp in frame.groupby("series", sort=False):
        st = stats.fit_statistics(grp.simulated, grp.observed)
        worst = max(worst, st["mape"])
        theil = (
            f", U_M {st['U_M']:.2f} U_S {st['U_S']:.2f} U_C {st['U_C']:.2f}" if st["n"] >= 2 else ""
        )
        parts.append(f"{label}: n {st['n']}, MAPE {st['mape']:.3f}{theil}")
    ok = bool(np.isfinite(worst) and worst <= REPRODUCTION_MAPE)
    return {
        **row,
        "status": "pass" if ok else "fail",
        "figure": float(worst),
        "details": "; ".join(parts),
    }


def forecast_band(hub: str, mdl=DEFAULT_MODEL) -> dict | None:
    """A ``hubsd validate`` row: the calibrated baseline against the industry's own forecasts.

    Runs the newest (or named) calibrated set of ``hub`` (PySD) and compares it with every
    figure of kind ``forecast`` in the hub's spec: a point forecast must be met within its
    tolerance, a bound ("up to", "over") on the right side of it. The baseline is the hub's
    calibrated path with AI as fitted, no policy: the package's no-new-policy future, which
    should stay inside what the industry itself projects. None when the hub has no calibrated
    set or no forecast in its spec.
    """
    found = _newest_set(hub, mdl)
    if found is None:
        return None
    base, ver, doc, spec = found
    points = [p for p in spec.points if p.kind == "forecast"]
    if not points:
        return None
    parts, worst, ok = [], 0.0, True
    for p, sim in zip(points, _simulated(base, ver, doc, spec, points, mdl), strict=True):
        err = sim / p.value - 1.0
        if p.bound == "upper":
            miss = max(err, 0.0)
        elif p.bound == "lower":
            miss = max(-err, 0.0)
        else:
            miss = max(abs(err) - p.sigma, 0.0)
        ok &= bool(np.isfinite(miss) and miss == 0.0)
        worst = max(worst, abs(err))
        side = {"upper": " (up to)", "lower": " (over)"}.get(p.bound, f" (+/- {p.sigma:g})")
        parts.append(f"{p.label} {p.year:g}: {sim:,.0f} vs {p.value:,.0f}{side}, {err:+.1%}")
    return {
        "check": "forecast band",
        "group": "behaviour",
        "tests": "the calibrated baseline stays within the industry's own published projections",
        "measure": f"largest relative gap of {base}@{ver} to a forecast",
        "threshold": "each within its tolerance or bound",
        "status": "pass" if ok else "fail",
        "figure": float(worst),
        "details": "; ".join(parts),
    }


def to_dataset(cal: Calibration, final_time: float | None = None) -> xr.Dataset:
    """The calibration as an xarray Dataset: fit trajectories, figures, estimates, profiles."""
    sp, best = cal.spec, cal.fit
    obj = best.objective
    runs = [best.u] + ([cal.holdout_fit.u] if cal.holdout_fit is not None else [])
    sim = obj.simulate(np.array(runs), outputs=obj.outputs, final_time=final_time)
    fits = ["calibrated"] + (["holdout fit"] if cal.holdout_fit is not None else [])
    sim = sim.drop_vars([c for c in sim.coords if c not in ("sample", "time")])
    sim = sim.assign_coords(sample=fits).rename(sample="fit")
    pts = cal.points
    fig = xr.Dataset(
        {
            "observed": ("figure", pts.observed.to_numpy(float)),
            "simulated": ("figure", pts.simulated.to_numpy(float)),
            "weighted_residual": (
                "figure",
                pts.weighted_residual.to_numpy(float),
                {"units": "Dmnl", "long_name": "residual / standard error"},
            ),
            "relative_error": ("figure", pts.relative_error.to_numpy(float), {"units": "Dmnl"}),
        },
        coords={
            "figure": np.arange(len(pts)),
            "figure_series": ("figure", pts.series.to_numpy(str)),
            "figure_year": ("figure", pts.year.to_numpy(float), {"units": "Year"}),
            "figure_kind": ("figure", pts.kind.to_numpy(str)),
            "figure_bound": ("figure", pts.bound.to_numpy(str)),
            "figure_role": ("figure", pts.role.to_numpy(str)),
            "figure_holdout": ("figure", pts.holdout.to_numpy(bool)),
            "figure_output": ("figure", pts.output.to_numpy(str)),
            "figure_share": ("figure", pts.share.to_numpy(str)),
            "figure_source": ("figure", pts.source.to_numpy(str)),
        },
    )
    names = [f.name for f in sp.free]
    par = xr.Dataset(
        {"estimate": ("parameter", [best.estimates[n] for n in names])},
        coords={
            "parameter": names,
            "parameter_units": ("parameter", [f.units for f in sp.free]),
            "bound_low": ("parameter", [f.low for f in sp.free]),
            "bound_high": ("parameter", [f.high for f in sp.free]),
        },
    )
    if cal.profiles is not None:
        tab = cal.profiles.table.loc[names]
        prof = cal.profiles
        vals = np.array([f.from_unit(prof.grid[j]) for j, f in enumerate(sp.free)])
        par = par.assign(
            low95=("parameter", tab.low95.to_numpy(float)),
            high95=("parameter", tab.high95.to_numpy(float)),
            flag=("parameter", tab.flag.to_numpy(str)),
            profile_value=(("parameter", "grid_point"), vals),
            profile_cost=(
                ("parameter", "grid_point"),
                prof.cost,
                {"units": "Dmnl", "long_name": "0.5 * sum of squared residuals"},
            ),
            correlation=(("parameter", "parameter_b"), prof.correlation.to_numpy(float)),
        ).assign_coords(parameter_b=names)
    out = xr.merge([sim, fig, par], combine_attrs="override")
    if not cal.statistics.empty:
        st = cal.statistics
        out = out.assign_coords(series=st.index.to_numpy(str))
        for col in st.columns:
            out[f"stat_{col}"] = ("series", st[col].to_numpy(float))
    out.attrs = {
        "title": f"hubsd calibration of {sp.hub}",
        "hub": sp.hub,
        "cost": best.cost,
        "provenance": json.dumps(cal.provenance, default=str),
        "holdout_from": sp.holdout_from if sp.holdout_from is not None else "none",
    }
    return out
