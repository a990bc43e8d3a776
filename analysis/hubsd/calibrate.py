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
starts cost about as much wall time as one.

Intervals: profile likelihood. For each free parameter the fit is repeated with that parameter
fixed on a grid over its bounds and the others re-optimised (again all grid points side by side);
the 95 % interval is where twice the cost rises less than 3.84 (chi-square, 1 degree of freedom)
above its minimum. Profile likelihood, not the bootstrap, because the data are a handful of
points per series: resampling three residuals says nothing, while the profile shows directly
whether the data pin a parameter down. A profile that stays under the threshold up to a bound
gives an interval that reaches the bound, and the parameter is flagged: ``identified`` (both
ends inside the bounds), ``one-sided`` (one end at a bound) or ``not identified`` (flat over the
whole range: the data say nothing; it stays a prior). The correlation of estimates comes from the
Jacobian at the optimum (Gauss-Newton covariance in the optimiser's coordinates).

Spec format::

    hub: krakow                     # data/hubs/<hub>.yaml: the starting values
    description: ...
    free:                           # parameters to estimate; bounds default to the table's
      early_hub_growth_rate: {}
      initial_hub_service_demand: {low: 3000, high: 30000, scale: log}
    shares:                         # optional nuisance parameters: hub / series region
      krakow_share_of_poland: {low: 0.1, high: 0.4, why: "..."}
    errors: {observed: 0.05, approximate: 0.15, forecast: 0.10, stylised: 0.25}
    series:                         # every row of (region, series) of the accepted kinds
      - {region: Krakow, series: business_services_employment, output: total_hub_staff}
      - {region: Poland, series: business_services_employment, output: total_hub_staff,
         share: krakow_share_of_poland}
      - {region: Philippines, series: members_implementing_ai, output: adopting_share,
         holdout: false}            # never held out (the only figure on adoption)
    targets:                        # one figure at one year, with its own tolerance
      - {region: Krakow, series: business_services_employment_forecast, year: 2023,
         output: total_hub_staff, tolerance: 0.10}
    holdout_from: 2022              # out-of-sample test: fit on earlier years only
    starts: 6                       # local fits from the best screened points (+ hub values)
    screen: 256                     # Latin-hypercube points screened
    seed: 1
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata as _md
import json
import math
import os
import re
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml
from scipy import optimize
from scipy.stats import qmc

from . import stats
from .data import OBSERVED, DataError, load_observations
from .model import DEFAULT_MODEL, REPO, file_hash
from .parameters import table as parameter_table
from .reality import _LineLoader  # YAML mappings carry their line as __line__
from .sweep import _hint  # "; did you mean 'x'?"

CALIBRATION_DIR = REPO / "data" / "calibration"
CALIBRATED_DIR = REPO / "data" / "calibrated"
KINDS = ("observed", "approximate", "forecast", "stylised")
DEFAULT_ERRORS = {"observed": 0.05, "approximate": 0.15, "forecast": 0.10, "stylised": 0.25}
CHI2_95 = 3.841458820694124  # chi-square quantile, 1 degree of freedom, 0.95
FAILED_RESIDUAL = 1e3  # residual given to a member whose simulation is not finite
_VERSION = re.compile(r"^v(\d+)$")


class CalibrationError(ValueError):
    """A malformed spec, data the model cannot be fitted to, or an optimiser that fails."""


class ImplausibleFigure(CalibrationError):
    """A figure or target the model cannot come near anywhere inside the free bounds."""


#: A figure is refused as implausible when it lies this factor beyond the range the model
#: produces over the Latin-hypercube screen of the free parameters' bounds.
PLAUSIBLE_FACTOR = 2.0


# -- the spec -------------------------------------------------------------------------------------


@dataclass
class Free:
    """One estimated quantity: a model parameter or a share (nuisance) parameter."""

    name: str
    low: float
    high: float
    log: bool = False
    share: bool = False
    units: str = ""
    why: str = ""

    def to_unit(self, x):
        x = np.asarray(x, dtype=float)
        if self.log:
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u):
        u = np.clip(np.asarray(u, dtype=float), 0.0, 1.0)
        if self.log:
            lo, hi = math.log(self.low), math.log(self.high)
            return np.clip(np.exp(lo + u * (hi - lo)), self.low, self.high)
        return self.low + u * (self.high - self.low)


@dataclass
class Point:
    """One figure the model is fitted to (or tested on)."""

    role: str  # "series" or "target"
    region: str
    series: str
    year: float
    value: float
    kind: str
    bound: str
    output: str
    share: str | None
    sigma: float  # relative standard error
    source_title: str
    source_address: str
    says: str
    holdout: bool = False
    keep_in_holdout: bool = False  # never held out (spec: ``holdout: false`` on its series)

    @property
    def label(self) -> str:
        return f"{self.region}/{self.series}"


@dataclass
class Spec:
    hub: str
    path: Path
    description: str
    free: list[Free]
    points: list[Point]
    errors: dict
    holdout_from: float | None
    starts: int
    screen: int
    seed: int
    profile_points: int
    final_time: float
    data_files: list[Path] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def _fail(path, line, msg):
    where = f"{path}, line {line}" if line else str(path)
    raise CalibrationError(f"{where}: {msg}")


def _number(value, path, line, what) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(path, line, f"{what} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        _fail(path, line, f"{what} must be finite, got {value!r}")
    return value


def _keys(entry: dict, allowed: set, path, line, what):
    extra = sorted(set(entry) - allowed - {"__line__"})
    if extra:
        _fail(path, line, f"unknown key {extra[0]!r} in {what}{_hint(extra[0], allowed)} "
                          f"(allowed: {', '.join(sorted(allowed))})")


def spec_file(hub: str, directory: Path = CALIBRATION_DIR) -> Path:
    """The calibration spec of a hub; an unknown hub raises with the hubs that have one."""
    known = sorted(p.stem for p in Path(directory).glob("*.yaml"))
    key = str(hub).strip().lower()
    if key not in known:
        raise CalibrationError(f"no calibration spec for hub {hub!r}{_hint(key, known)} "
                               f"Hubs with a spec in {directory}: {', '.join(known) or 'none'}")
    return Path(directory) / f"{key}.yaml"


def load_spec(spec: str | os.PathLike, data: list | None = None, mdl=DEFAULT_MODEL) -> Spec:
    """Read and validate a calibration spec (a hub name or a path); errors name file and line.

    ``data``: observation files (default: the bundled ``data/observed/hub_figures.csv``).
    """
    from .ensemble import compile_model
    from .hubs import HubError, load_hub

    path = Path(spec) if (str(spec).endswith((".yaml", ".yml")) or os.sep in str(spec)) else \
        spec_file(str(spec))
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _fail(path, mark.line + 1 if mark else None,
              f"malformed YAML: {getattr(exc, 'problem', None) or exc}")
    if not isinstance(doc, dict):
        _fail(path, 1, "expected a mapping with 'hub', 'free' and 'series'")
    top = {"hub", "description", "free", "shares", "errors", "series", "targets",
           "holdout_from", "starts", "screen", "seed", "profile_points"}
    _keys(doc, top, path, 1, "the spec")
    for key in ("hub", "free", "series"):
        if key not in doc:
            _fail(path, 1, f"missing {key!r}")
    hub = str(doc["hub"])
    try:
        load_hub(hub)
    except HubError as exc:
        _fail(path, doc.get("__line__", 1), str(exc))

    table = parameter_table(mdl)
    engine = compile_model(mdl)
    outputs = set(engine.outputs_available())

    free: list[Free] = []
    if not isinstance(doc["free"], dict) or not doc["free"]:
        _fail(path, doc["__line__"], "'free' must map parameter names to {low, high, scale}")
    for name, entry in doc["free"].items():
        if name == "__line__":
            continue
        entry = entry or {}
        line = entry.get("__line__", doc["__line__"]) if isinstance(entry, dict) else None
        if not isinstance(entry, dict):
            _fail(path, line, f"free parameter {name!r}: expected a mapping such as "
                              "{low: 0.1, high: 0.3}")
        _keys(entry, {"low", "high", "scale", "why"}, path, line, f"free parameter {name!r}")
        if name not in table.index:
            _fail(path, line, f"unknown parameter {name!r}{_hint(name, table.index)} "
                              "(`hubsd params` lists them)")
        row = table.loc[name]
        low = _number(entry.get("low", row.low), path, line, f"{name}: low")
        high = _number(entry.get("high", row.high), path, line, f"{name}: high")
        if not (row.low <= low < high <= row.high):
            _fail(path, line, f"{name}: bounds [{low:g}, {high:g}] must be increasing and inside "
                              f"the parameter table's range [{row.low:g}, {row.high:g}]")
        scale = entry.get("scale", "linear")
        if scale not in ("linear", "log"):
            _fail(path, line, f"{name}: scale {scale!r} is not 'linear' or 'log'")
        if scale == "log" and low <= 0:
            _fail(path, line, f"{name}: a log scale needs a positive lower bound, got {low:g}")
        free.append(Free(name, low, high, scale == "log", False, str(row.units),
                         str(entry.get("why", ""))))
    shares = doc.get("shares") or {}
    if not isinstance(shares, dict):
        _fail(path, doc["__line__"], "'shares' must map names to {low, high, why}")
    for name, entry in shares.items():
        if name == "__line__":
            continue
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        if not isinstance(entry, dict) or "low" not in entry or "high" not in entry:
            _fail(path, line, f"share {name!r}: expected {{low, high, why}}")
        _keys(entry, {"low", "high", "why"}, path, line, f"share {name!r}")
        if name in table.index:
            _fail(path, line, f"share {name!r} has the name of a model parameter")
        low = _number(entry["low"], path, line, f"{name}: low")
        high = _number(entry["high"], path, line, f"{name}: high")
        if not (0 < low < high <= 1):
            _fail(path, line, f"share {name!r}: bounds must satisfy 0 < low < high <= 1")
        free.append(Free(name, low, high, False, True, "Dmnl", str(entry.get("why", ""))))
    share_names = {f.name for f in free if f.share}

    errors = dict(DEFAULT_ERRORS)
    given = doc.get("errors") or {}
    if not isinstance(given, dict):
        _fail(path, doc["__line__"], "'errors' must map kinds to relative standard errors")
    for kind, value in given.items():
        if kind == "__line__":
            continue
        if kind not in KINDS:
            _fail(path, given["__line__"], f"errors: unknown kind {kind!r} (kinds: "
                                           f"{', '.join(KINDS)})")
        value = _number(value, path, given["__line__"], f"errors: {kind}")
        if not 0 < value < 1:
            _fail(path, given["__line__"], f"errors: {kind} = {value:g} must be in (0, 1)")
        errors[kind] = value

    data_files = [Path(p) for p in (data or [OBSERVED])]
    try:
        obs = load_observations(data_files)
    except DataError as exc:
        raise CalibrationError(str(exc)) from None

    initial = engine.controls["initial_time"]
    last_model = engine.controls["final_time"]
    points: list[Point] = []
    dropped: list[str] = []

    def _entry_common(entry, line, what):
        for key in ("region", "series", "output"):
            if key not in entry:
                _fail(path, line, f"{what}: missing {key!r}")
        out = str(entry["output"])
        if out not in outputs:
            _fail(path, line, f"{what}: the model has no variable {out!r}{_hint(out, outputs)}")
        share = entry.get("share")
        if share is not None and share not in share_names:
            _fail(path, line, f"{what}: share {share!r} is not declared under 'shares'"
                              f"{_hint(share, share_names)}")
        sel = obs[(obs.region == entry["region"]) & (obs.series == entry["series"])]
        if sel.empty:
            pairs = sorted({f"{r}/{s}" for r, s in zip(obs.region, obs.series, strict=True)})
            asked = f"{entry['region']}/{entry['series']}"
            _fail(path, line, f"{what}: no data for region {entry['region']!r}, series "
                              f"{entry['series']!r}{_hint(asked, pairs)}")
        return out, share, sel

    def _point(role, row, out, share, sigma):
        return Point(role, row.region, row.series, float(row.year), float(row.value), row.kind,
                     row.bound or "", out, share, sigma, row.source_title, row.source_address,
                     row.says)

    for entry in doc["series"] or []:
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        if not isinstance(entry, dict):
            _fail(path, line, "each series must be a mapping {region, series, output}")
        _keys(entry, {"region", "series", "output", "share", "kinds", "years", "holdout"}, path,
              line, "a series")
        if not isinstance(entry.get("holdout", True), bool):
            _fail(path, line, "series: holdout must be true or false")
        out, share, sel = _entry_common(entry, line, "series")
        kinds = entry.get("kinds", ["observed", "approximate"])
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            _fail(path, line, f"series: unknown kind {bad[0]!r} (kinds: {', '.join(KINDS)})")
        sel = sel[sel.kind.isin(kinds)]
        if "years" in entry:
            years = [float(y) for y in entry["years"]]
            sel = sel[sel.year.isin(years)]
        for row in sel.itertuples():
            if not math.isfinite(row.year):
                dropped.append(f"{row.region}/{row.series}: no year")
                continue
            if not initial <= row.year <= last_model:
                dropped.append(f"{row.region}/{row.series} {row.year:g}: outside the simulated "
                               f"period {initial:g}-{last_model:g}")
                continue
            points.append(_point("series", row, out, share, errors[row.kind]))
            points[-1].keep_in_holdout = not entry.get("holdout", True)
    for entry in doc.get("targets") or []:
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        if not isinstance(entry, dict):
            _fail(path, line, "each target must be a mapping {region, series, year, output, "
                              "tolerance}")
        _keys(entry, {"region", "series", "output", "share", "year", "tolerance", "kind"}, path,
              line, "a target")
        out, share, sel = _entry_common(entry, line, "target")
        if "year" not in entry:
            _fail(path, line, "target: missing 'year'")
        year = _number(entry["year"], path, line, "target: year")
        sel = sel[sel.year == year]
        if "kind" in entry:
            sel = sel[sel.kind == entry["kind"]]
        if len(sel) != 1:
            _fail(path, line, f"target: {len(sel)} figures of {entry['region']}/"
                              f"{entry['series']} in {year:g}; name exactly one (add 'kind')")
        if not initial <= year <= last_model:
            _fail(path, line, f"target: year {year:g} is outside the simulated period "
                              f"{initial:g}-{last_model:g}")
        row = next(sel.itertuples())
        tol = _number(entry.get("tolerance", errors[row.kind]), path, line, "target: tolerance")
        if not 0 < tol < 1:
            _fail(path, line, f"target: tolerance {tol:g} must be a relative error in (0, 1)")
        points.append(_point("target", row, out, share, tol))
    if not points:
        _fail(path, doc["__line__"], "no figure to fit: the series and targets select no rows "
                                     "inside the simulated period")
    holdout = doc.get("holdout_from")
    if holdout is not None:
        holdout = _number(holdout, path, doc["__line__"], "holdout_from")
        for p in points:
            p.holdout = p.year >= holdout and not p.keep_in_holdout
        if all(p.holdout for p in points) or not any(p.holdout for p in points):
            _fail(path, doc["__line__"], f"holdout_from {holdout:g} must leave figures both "
                                         "before and from that year")
    ints = {}
    for key, default, lo in (("starts", 6, 1), ("screen", 256, 8), ("seed", 1, 0),
                             ("profile_points", 9, 3)):
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            _fail(path, doc["__line__"], f"{key} must be a whole number >= {lo}, got {value!r}")
        ints[key] = value
    final_time = math.ceil(max(p.year for p in points))
    return Spec(hub, path, str(doc.get("description", "")).strip(), free, points, errors,
                holdout, ints["starts"], ints["screen"], ints["seed"], ints["profile_points"],
                float(final_time), data_files, dropped)


# -- the objective --------------------------------------------------------------------------------


class BatchBroker:
    """Gather the evaluation requests of several solver threads into one vectorised call.

    Each thread calls :meth:`evaluate` with a ``(k, p)`` array; when every live thread is
    waiting, the broker stacks the requests, calls ``batch_fn`` once, and hands each thread its
    rows. A thread calls :meth:`leave` when its solver is done.
    """

    def __init__(self, batch_fn, threads: int):
        self.batch_fn = batch_fn
        self.active = threads
        self.pending: dict[int, np.ndarray] = {}
        self.results: dict[int, object] = {}
        self.cond = threading.Condition()
        self.calls = 0
        self.members = 0

    def _flush(self):
        ids = sorted(self.pending)  # by solver key, not arrival: the same batch every time
        sizes = [len(self.pending[i]) for i in ids]
        try:
            out = self.batch_fn(np.vstack([self.pending[i] for i in ids]))
            self.calls += 1
            self.members += sum(sizes)
            start = 0
            for i, n in zip(ids, sizes, strict=True):
                self.results[i] = out[start:start + n]
                start += n
        except BaseException as exc:  # hand the failure to every waiting solver
            for i in ids:
                self.results[i] = exc
        self.pending.clear()
        self.cond.notify_all()

    def evaluate(self, x: np.ndarray, key: int | None = None) -> np.ndarray:
        """Rows of ``batch_fn`` for ``x``; ``key`` (the solver's number) orders the batch, so
        that a run is reproducible whatever order the threads arrive in."""
        me = threading.get_ident() if key is None else key
        with self.cond:
            self.pending[me] = np.atleast_2d(x)
            if len(self.pending) >= self.active:
                self._flush()
            while me not in self.results:
                self.cond.wait()
            out = self.results.pop(me)
        if isinstance(out, BaseException):
            raise out
        return out

    def leave(self):
        with self.cond:
            self.active -= 1
            if self.pending and len(self.pending) >= self.active:
                self._flush()


class Objective:
    """Weighted relative residuals of a spec's figures, for many parameter vectors at once."""

    def __init__(self, spec: Spec, points: list[Point] | None = None, mdl=DEFAULT_MODEL):
        from .ensemble import compile_model

        self.spec = spec
        self.engine = compile_model(mdl)
        self.points = spec.points if points is None else points
        self.free = spec.free
        self.outputs = sorted({p.output for p in spec.points})
        self.final_time = spec.final_time
        self.evaluations = 0
        self._model_idx = [i for i, f in enumerate(self.free) if not f.share]
        self._share_idx = {f.name: i for i, f in enumerate(self.free) if f.share}
        self.obs = np.array([p.value for p in self.points])
        self.sigma = np.array([p.sigma * abs(p.value) for p in self.points])
        self.bound = np.array([p.bound for p in self.points])

    # parameter vectors in the optimiser's unit cube <-> natural values
    def to_natural(self, u: np.ndarray) -> np.ndarray:
        u = np.atleast_2d(u)
        return np.column_stack([f.from_unit(u[:, j]) for j, f in enumerate(self.free)])

    def simulate(self, u: np.ndarray, outputs=None, saveper: float = 1.0,
                 final_time: float | None = None) -> xr.Dataset:
        """Ensemble run of the model at the parameter vectors ``u`` (rows, unit cube)."""
        x = self.to_natural(u)
        params = pd.DataFrame({self.free[j].name: x[:, j] for j in self._model_idx})
        self.evaluations += len(x)
        return self.engine.run(params=params, outputs=outputs or self.outputs,
                               hub=self.spec.hub, final_time=final_time or self.final_time,
                               saveper=saveper, workers=1)

    def predictions(self, u: np.ndarray, ds: xr.Dataset | None = None) -> np.ndarray:
        """Model values at each figure's year (divided by the series' share): ``(k, m)``."""
        u = np.atleast_2d(u)
        ds = self.simulate(u) if ds is None else ds
        x = self.to_natural(u)
        pred = np.empty((len(u), len(self.points)))
        for i, p in enumerate(self.points):
            val = ds[p.output].sel(time=p.year, method="nearest").to_numpy()
            if p.share is not None:
                val = val / x[:, self._share_idx[p.share]]
            pred[:, i] = val
        return pred

    def residuals_from(self, pred: np.ndarray) -> np.ndarray:
        r = (pred - self.obs) / self.sigma
        r = np.where(self.bound == "lower", np.minimum(r, 0.0), r)
        r = np.where(self.bound == "upper", np.maximum(r, 0.0), r)
        return np.where(np.isfinite(r), r, FAILED_RESIDUAL)

    def residuals(self, u: np.ndarray) -> np.ndarray:
        return self.residuals_from(self.predictions(u))


# -- optimisation ---------------------------------------------------------------------------------

FD_STEP = 1e-4  # forward-difference step in the unit cube


def _stencil(u: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points for a forward-difference Jacobian at ``u`` (backward at the upper bound)."""
    steps = np.where(u + FD_STEP <= 1.0, FD_STEP, -FD_STEP)
    pts = [u]
    for j in np.flatnonzero(~fixed):
        v = u.copy()
        v[j] += steps[j]
        pts.append(v)
    return np.array(pts), steps


def _solve(broker: BatchBroker, u0: np.ndarray, fixed: np.ndarray, max_nfev: int,
           solver: int | None = None):
    """One SciPy least_squares run in the unit cube, free coordinates only, via the broker."""
    cache: dict[bytes, np.ndarray] = {}
    free = np.flatnonzero(~fixed)

    def full(v):
        u = u0.copy()
        u[free] = v
        return u

    def fun(v):
        u = full(v)
        key = u.tobytes()
        if key not in cache:
            cache[key] = broker.evaluate(u[None, :], solver)[0]
        return cache[key]

    def jac(v):
        u = full(v)
        pts, steps = _stencil(u, fixed)
        res = broker.evaluate(pts, solver)
        cache[u.tobytes()] = res[0]
        return ((res[1:] - res[0]) / steps[free][:, None]).T

    if free.size == 0:
        return None
    return optimize.least_squares(fun, np.clip(u0[free], 0, 1), jac=jac, bounds=(0.0, 1.0),
                                  method="trf", x_scale=1.0, max_nfev=max_nfev,
                                  ftol=1e-10, xtol=1e-10, gtol=1e-10)


def _parallel_solves(objective: Objective, starts: list[tuple[np.ndarray, np.ndarray]],
                     max_nfev: int = 60) -> tuple[list, BatchBroker]:
    """Run least_squares from each (u0, fixed) side by side; returns the results in order."""
    broker = BatchBroker(objective.residuals, len(starts))
    results: list = [None] * len(starts)

    def work(i, u0, fixed):
        try:
            results[i] = _solve(broker, u0, fixed, max_nfev, i)
        except BaseException as exc:  # reported with the start below
            results[i] = exc
        finally:
            broker.leave()

    threads = [threading.Thread(target=work, args=(i, u0, fx), daemon=True)
               for i, (u0, fx) in enumerate(starts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, broker


@dataclass
class Fit:
    spec: Spec
    objective: Objective
    u: np.ndarray  # best point in the unit cube
    cost: float  # 0.5 * sum of squared residuals
    starts: pd.DataFrame  # one row per local fit: start, end, cost, status
    screened: int
    evaluations: int
    calls: int
    converged: bool = True  # False: the best start ran out of evaluations (SciPy status 0)

    @property
    def estimates(self) -> dict[str, float]:
        x = self.objective.to_natural(self.u)[0]
        return {f.name: float(v) for f, v in zip(self.spec.free, x, strict=True)}


def fit(spec: Spec, points: list[Point] | None = None, starts: int | None = None,
        mdl=DEFAULT_MODEL, max_nfev: int = 150) -> Fit:
    """Multi-start least-squares fit of a spec's free parameters to its figures."""
    obj = Objective(spec, points, mdl)
    p = len(spec.free)
    nstart = spec.starts if starts is None else starts
    sampler = qmc.LatinHypercube(d=p, seed=spec.seed)
    screen = sampler.random(spec.screen)
    # the hub's own values (clipped into the bounds) are always one start
    from .run import resolve_parameters

    hub_values = resolve_parameters(spec.hub, None, mdl)
    own = np.array([[np.clip(f.to_unit(hub_values[f.name]) if not f.share
                             else 0.5, 0, 1) for f in spec.free]])
    cand = np.vstack([own, screen])
    pred = obj.predictions(cand)
    _check_plausible(obj, pred)
    res = obj.residuals_from(pred)
    costs = 0.5 * np.sum(res**2, axis=1)
    order = [0] + [int(i) for i in np.argsort(costs[1:]) + 1][: max(nstart - 1, 0)]
    fixed = np.zeros(p, dtype=bool)
    results, broker = _parallel_solves(obj, [(cand[i], fixed) for i in order], max_nfev)
    rows, best = [], None
    for k, (i, r) in enumerate(zip(order, results, strict=True)):
        if isinstance(r, BaseException):
            rows.append({"start": k, "from": "hub values" if i == 0 else "screen",
                         "start_cost": costs[i], "cost": np.nan, "status": -99,
                         "message": f"{type(r).__name__}: {r}", "nfev": 0})
            continue
        rows.append({"start": k, "from": "hub values" if i == 0 else "screen",
                     "start_cost": costs[i], "cost": r.cost, "status": r.status,
                     "message": r.message, "nfev": r.nfev})
        # a start that ran out of evaluations (status 0) still counts; flagged if it is the best
        if r.status >= 0 and np.isfinite(r.cost) and (best is None or r.cost < best[1]):
            best = (r.x, r.cost, r.status > 0)
    table = pd.DataFrame(rows)
    if best is None:
        raise CalibrationError(
            f"calibration of {spec.hub!r} failed: no local fit converged ("
            + "; ".join(f"start {r['start']}: {r['message']}" for r in rows) + ")")
    return Fit(spec, obj, best[0], float(best[1]), table, spec.screen,
               obj.evaluations, broker.calls + 1, converged=bool(best[2]))


def _check_plausible(obj: Objective, pred: np.ndarray) -> None:
    """Refuse a figure far outside what the model produces anywhere in the bounds."""
    for i, p in enumerate(obj.points):
        col = pred[:, i][np.isfinite(pred[:, i])]
        if col.size == 0:
            continue
        lo, hi = float(col.min()), float(col.max())
        too_low = p.bound != "lower" and p.value < lo / PLAUSIBLE_FACTOR
        too_high = p.bound != "upper" and p.value > hi * PLAUSIBLE_FACTOR
        if too_low or too_high:
            raise ImplausibleFigure(
                f"{p.role} {p.label} {p.year:g} = {p.value:g} is outside what the model gives "
                f"for {p.output}{' / ' + p.share if p.share else ''} anywhere inside the free "
                f"parameters' bounds ({lo:.4g} to {hi:.4g}, screened at {len(col)} points); "
                "check the figure, its unit and the output it is matched to, or widen the bounds")


# -- intervals ------------------------------------------------------------------------------------


@dataclass
class Profiles:
    grid: np.ndarray  # (p, G) unit-cube values of the profiled parameter
    cost: np.ndarray  # (p, G) re-optimised cost
    table: pd.DataFrame  # estimate, interval, flag per parameter
    correlation: pd.DataFrame
    better: float | None  # lowest profile cost if it beat the fit by more than 1e-6 relative


def _crossing(grid, excess, side):
    """Where ``excess`` (2 * cost rise - chi2) crosses zero going away from the minimum."""
    k = int(np.argmin(excess))
    rng = range(k - 1, -1, -1) if side == "low" else range(k + 1, len(grid))
    prev = k
    for i in rng:
        if excess[i] > 0:
            a, b = excess[prev], excess[i]
            w = -a / (b - a) if b != a else 0.0
            return grid[prev] + w * (grid[i] - grid[prev]), True
        prev = i
    return (grid[0] if side == "low" else grid[-1]), False


def profile(fit_: Fit, points: int | None = None, max_nfev: int = 30) -> Profiles:
    """Profile-likelihood 95 % intervals of every free parameter (all grids side by side)."""
    spec, obj = fit_.spec, fit_.objective
    p = len(spec.free)
    g = spec.profile_points if points is None else points
    grid1 = np.linspace(0.0, 1.0, g)
    starts, where = [], []
    for j in range(p):
        for k, v in enumerate(grid1):
            u0 = fit_.u.copy()
            u0[j] = v
            fixed = np.zeros(p, dtype=bool)
            fixed[j] = True
            starts.append((u0, fixed))
            where.append((j, k))
    results, _ = _parallel_solves(obj, starts, max_nfev)
    cost = np.full((p, g), np.nan)
    for n, ((j, k), r) in enumerate(zip(where, results, strict=True)):
        if isinstance(r, BaseException):
            continue
        if r is None:  # one free parameter only: the profile is the cost itself
            cost[j, k] = 0.5 * float(np.sum(obj.residuals(starts[n][0]) ** 2))
        else:
            cost[j, k] = r.cost
    grid = np.tile(grid1, (p, 1))
    # the optimum itself belongs to every profile
    grid = np.column_stack([grid, fit_.u])
    cost = np.column_stack([cost, np.full(p, fit_.cost)])
    order = np.argsort(grid, axis=1, kind="stable")
    grid = np.take_along_axis(grid, order, axis=1)
    cost = np.take_along_axis(cost, order, axis=1)
    lowest = float(np.nanmin(cost))
    better = lowest if lowest < fit_.cost * (1 - 1e-6) - 1e-9 else None
    rows = []
    for j, f in enumerate(spec.free):
        ok = np.isfinite(cost[j])
        gj, cj = grid[j][ok], cost[j][ok]
        excess = 2 * (cj - min(cj.min(), fit_.cost)) - CHI2_95
        lo_u, lo_in = _crossing(gj, excess, "low")
        hi_u, hi_in = _crossing(gj, excess, "high")
        flag = ("identified" if lo_in and hi_in else
                "not identified" if not lo_in and not hi_in else "one-sided")
        lo, hi = float(f.from_unit(lo_u)), float(f.from_unit(hi_u))
        rows.append({"parameter": f.name, "estimate": fit_.estimates[f.name], "low95": lo,
                     "high95": hi, "bound_low": f.low, "bound_high": f.high,
                     "interval_share_of_range": float(hi_u - lo_u), "flag": flag,
                     "kind": "share" if f.share else "model", "units": f.units})
    table = pd.DataFrame(rows).set_index("parameter")
    return Profiles(grid, cost, table, correlation(fit_), better)


def correlation(fit_: Fit) -> pd.DataFrame:
    """Correlation of the estimates from the Gauss-Newton covariance at the optimum."""
    obj = fit_.objective
    pts, steps = _stencil(fit_.u, np.zeros(len(fit_.u), dtype=bool))
    res = obj.residuals(pts)
    jac = ((res[1:] - res[0]) / steps[:, None]).T
    cov = np.linalg.pinv(jac.T @ jac)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    names = [f.name for f in fit_.spec.free]
    return pd.DataFrame(corr, index=names, columns=names)


# -- fit report -----------------------------------------------------------------------------------


def point_table(fit_: Fit, points: list[Point] | None = None) -> pd.DataFrame:
    """Every figure with its simulated value, residual and provenance."""
    pts = fit_.spec.points if points is None else points
    obj = Objective(fit_.spec, pts)
    pred = obj.predictions(fit_.u[None, :])[0]
    res = obj.residuals_from(pred[None, :])[0]
    return pd.DataFrame([{
        "series": p.label, "role": p.role, "year": p.year, "observed": p.value,
        "simulated": s, "relative_error": (s - p.value) / p.value, "weighted_residual": r,
        "kind": p.kind, "bound": p.bound, "sigma": p.sigma, "output": p.output,
        "share": p.share or "", "holdout": p.holdout, "source": p.source_address,
    } for p, s, r in zip(pts, pred, res, strict=True)])


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
    """Everything a calibration produced: fit, intervals, holdout test and provenance."""

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
        lines = [] if self.fit.converged else [
            "WARNING: no start met SciPy's convergence tests within its evaluation budget; "
            "the best one is reported (see the local fits in the report)"]
        lines += [f"Calibration of {self.spec.hub!r}: cost {self.fit.cost:.4g} "
                 f"({len([p for p in self.spec.points])} figures, {len(self.spec.free)} free), "
                 f"{self.seconds:.1f} s"]
        if self.profiles is not None:
            lines.append(self.profiles.table[["estimate", "low95", "high95", "flag"]]
                         .to_string(float_format=lambda v: f"{v:.4g}"))
        if not self.statistics.empty:
            lines.append(self.statistics.to_string(float_format=lambda v: f"{v:.3g}"))
        if self.holdout is not None:
            h = self.holdout
            lines.append(f"holdout from {self.spec.holdout_from:g}: MAPE "
                         f"{np.mean(np.abs(h.relative_error)):.3f} over {len(h)} figures")
        return "\n".join(lines)


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


def calibrate(spec: str | os.PathLike | Spec, data: list | None = None, *,
              intervals: bool = True, holdout: bool = True, starts: int | None = None,
              profile_points: int | None = None, mdl=DEFAULT_MODEL) -> Calibration:
    """Fit a hub (its spec in ``data/calibration/``), with intervals and a holdout test."""
    import time

    t0 = time.perf_counter()
    sp = spec if isinstance(spec, Spec) else load_spec(spec, data, mdl)
    best = fit(sp, starts=starts, mdl=mdl)
    prof = profile(best, profile_points) if intervals else None
    pts = point_table(best)
    st = series_statistics(pts[pts.role == "series"])
    hold_tab, hold_fit = None, None
    if holdout and sp.holdout_from is not None:
        train = [p for p in sp.points if not p.holdout]
        hold_fit = fit(sp, points=train, starts=starts, mdl=mdl)
        tab = point_table(hold_fit)
        hold_tab = tab[tab.holdout].reset_index(drop=True)
    from .hubs import hub_file

    prov = {
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "model": _relative(mdl),
        "model_sha256": file_hash(mdl),
        "spec": _relative(sp.path), "spec_sha256": file_hash(sp.path),
        "hub_file_sha256": file_hash(hub_file(sp.hub)),
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
    return Calibration(sp, best, prof, pts, st, hold_tab, hold_fit, prov,
                       time.perf_counter() - t0)


# -- recovery test ------------------------------------------------------------------------------


def synthetic_spec(spec: Spec, truth: dict[str, float] | None = None, noise: bool = True,
                   seed: int = 0) -> tuple[Spec, dict[str, float]]:
    """The spec with every figure replaced by the model's value at ``truth`` (plus noise).

    Same figures, years, kinds, bounds and standard errors as the real data (the same
    sparsity); noise is Gaussian with each figure's relative standard error. ``truth``
    defaults to the middle of every free parameter's bounds (geometric middle on a log scale).
    """
    import copy

    obj = Objective(spec)
    u_true = np.array([0.5 if truth is None or f.name not in truth else
                       float(f.to_unit(truth[f.name])) for f in spec.free])
    if np.any((u_true < 0) | (u_true > 1)):
        raise CalibrationError("the true values must lie inside the free parameters' bounds")
    values = obj.predictions(u_true[None, :])[0]
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal(len(values)) if noise else np.zeros(len(values))
    fake = copy.deepcopy(spec)
    for p, v, e in zip(fake.points, values, eps, strict=True):
        p.value = float(v * (1 + p.sigma * e))
        p.source_title = "synthetic: model at known parameters" + (" plus noise" if noise else "")
        p.source_address, p.says = "hubsd.calibrate.synthetic_spec", f"seed {seed}"
    true = {f.name: float(x) for f, x in zip(spec.free, obj.to_natural(u_true)[0], strict=True)}
    return fake, true


def recovery(spec: Spec, truth: dict[str, float] | None = None, noise: bool = True,
             seed: int = 0, starts: int | None = None,
             profile_points: int | None = None) -> pd.DataFrame:
    """Fit synthetic data made from known parameters; one row per parameter with coverage."""
    fake, true = synthetic_spec(spec, truth, noise, seed)
    best = fit(fake, starts=starts)
    prof = profile(best, profile_points)
    tab = prof.table.copy()
    tab.insert(0, "truth", pd.Series(true))
    tab["covered"] = (tab.low95 <= tab.truth) & (tab.truth <= tab.high95)
    tab.attrs["cost"] = best.cost
    return tab


# -- results as a Dataset, calibrated sets, the report folder -------------------------------------


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
            "weighted_residual": ("figure", pts.weighted_residual.to_numpy(float),
                                  {"units": "Dmnl", "long_name": "residual / standard error"}),
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
    par = xr.Dataset({"estimate": ("parameter", [best.estimates[n] for n in names])},
                     coords={"parameter": names,
                             "parameter_units": ("parameter", [f.units for f in sp.free]),
                             "bound_low": ("parameter", [f.low for f in sp.free]),
                             "bound_high": ("parameter", [f.high for f in sp.free])})
    if cal.profiles is not None:
        tab = cal.profiles.table.loc[names]
        prof = cal.profiles
        vals = np.array([f.from_unit(prof.grid[j]) for j, f in enumerate(sp.free)])
        par = par.assign(
            low95=("parameter", tab.low95.to_numpy(float)),
            high95=("parameter", tab.high95.to_numpy(float)),
            flag=("parameter", tab.flag.to_numpy(str)),
            profile_value=(("parameter", "grid_point"), vals),
            profile_cost=(("parameter", "grid_point"), prof.cost,
                          {"units": "Dmnl", "long_name": "0.5 * sum of squared residuals"}),
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


def versions(hub: str, directory: Path | None = None) -> list[str]:
    """Saved calibrated versions of a hub, oldest first (``["v1", "v2"]``)."""
    folder = Path(directory or CALIBRATED_DIR) / hub
    found = [p.stem for p in folder.glob("v*.yaml") if _VERSION.match(p.stem)]
    return sorted(found, key=lambda v: int(v[1:]))


def calibrated_file(hub: str, version: str = "latest", directory: Path | None = None) -> Path:
    """Path of a saved calibrated set; ``latest`` (or ``calibrated``) is the newest version."""
    directory = Path(directory or CALIBRATED_DIR)
    known = versions(hub, directory)
    if not known:
        raise CalibrationError(f"hub {hub!r} has no calibrated set in {directory}; run "
                               f"`hubsd calibrate --hub {hub}`")
    if version in ("latest", "calibrated"):
        version = known[-1]
    if version not in known:
        raise CalibrationError(f"hub {hub!r} has no calibrated version {version!r}; versions: "
                               f"{', '.join(known)} (or 'calibrated' for the newest)")
    return Path(directory) / hub / f"{version}.yaml"


def _plain(v):
    if isinstance(v, (np.floating, float)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def calibrated_document(cal: Calibration, version: str) -> dict:
    """The YAML document of a calibrated set (a hub overlay with provenance)."""
    sp, best = cal.spec, cal.fit
    tab = cal.profiles.table if cal.profiles is not None else None
    date = cal.provenance["created"][:10]
    params, shares = {}, {}
    for f in sp.free:
        est = best.estimates[f.name]
        entry = {"value": float(f"{est:.6g}")}
        if tab is not None:
            row = tab.loc[f.name]
            entry.update({"low95": float(f"{row.low95:.6g}"), "high95": float(f"{row.high95:.6g}"),
                          "flag": str(row.flag)})
            note = {"identified": "identified by the data",
                    "one-sided": "bounded by the data on one side only",
                    "not identified": "not identified by the data: the value is one point of a "
                                      "flat ridge and stays a prior"}[row.flag]
            entry["source"] = (f"Calibrated ({sp.path.name}, {version}, {date}): 95 % profile-"
                               f"likelihood interval [{row.low95:.4g}, {row.high95:.4g}] within "
                               f"bounds [{f.low:g}, {f.high:g}]; {note}.")
        else:
            entry["source"] = f"Calibrated ({sp.path.name}, {version}, {date}); no intervals."
        (shares if f.share else params)[f.name] = entry
    stats_ = {k: {c: _plain(v) for c, v in row.items()}
              for k, row in cal.statistics.to_dict(orient="index").items()}
    doc = {
        "hub": sp.hub,
        "version": version,
        "name": f"{sp.hub} calibrated {version}",
        "description": sp.description,
        "parameters": params,
        "shares": shares,
        "fit": {"cost": float(best.cost), "figures": len(sp.points), "statistics": stats_},
        "provenance": json.loads(json.dumps(cal.provenance, default=_plain)),
    }
    if cal.holdout is not None:
        doc["holdout"] = {
            "from_year": float(sp.holdout_from),
            "mape": float(np.mean(np.abs(cal.holdout.relative_error))),
            "figures": [{"series": r.series, "year": float(r.year), "observed": float(r.observed),
                         "simulated": float(f"{r.simulated:.6g}"),
                         "relative_error": float(f"{r.relative_error:.4g}")}
                        for r in cal.holdout.itertuples()],
        }
    return doc


def save_calibrated(cal: Calibration, directory: Path | None = None) -> Path:
    """Save as the hub's next version (``data/calibrated/<hub>/vN.yaml``); never overwrites."""
    directory = Path(directory or CALIBRATED_DIR)
    folder = directory / cal.spec.hub
    folder.mkdir(parents=True, exist_ok=True)
    known = versions(cal.spec.hub, directory)
    number = int(known[-1][1:]) + 1 if known else 1
    while True:
        version = f"v{number}"
        target = folder / f"{version}.yaml"
        text = yaml.safe_dump(calibrated_document(cal, version), sort_keys=False,
                              allow_unicode=True, width=100)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{version}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            try:
                os.link(tmp, target)  # fails if the version appeared meanwhile: no overwrite
            except FileExistsError:
                number += 1
                continue
            return target
        finally:
            Path(tmp).unlink(missing_ok=True)


def load_calibrated(hub: str, version: str = "latest", directory: Path | None = None) -> dict:
    """A calibrated set's document (model parameters under ``parameters``)."""
    from .hubs import read_yaml

    path = calibrated_file(hub, version, directory)
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise CalibrationError(f"{path}: not a calibrated set (no 'parameters' mapping)")
    doc["file"] = str(path)
    return doc


def check_report_dir(out: str | os.PathLike) -> Path:
    """A report folder may be new, empty, or an earlier report (it is then replaced)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or (any(out.iterdir())
                                              and not (out / "report.md").is_file())):
        raise CalibrationError(f"{str(out)!r} exists and is not an earlier calibration report; "
                               "give a new folder")
    return out


def write_report(cal: Calibration, out: str | os.PathLike, figures: bool = True) -> Path:
    """Fit report folder: ``calibration.nc``, ``report.md``, CSV tables and PNG figures.

    Built beside the target and renamed into place, so an interrupted run leaves no
    half-written folder; an existing folder is replaced only if it holds an earlier report.
    """
    out = check_report_dir(out)
    from .atomic import atomic_folder

    ds = to_dataset(cal)
    with atomic_folder(out) as tmp:
        ds.to_netcdf(tmp / "calibration.nc")
        cal.points.to_csv(tmp / "figures.csv", index=False)
        if cal.profiles is not None:
            cal.profiles.table.to_csv(tmp / "estimates.csv")
            cal.profiles.correlation.to_csv(tmp / "correlation.csv")
        if not cal.statistics.empty:
            cal.statistics.to_csv(tmp / "statistics.csv")
        if cal.holdout is not None:
            cal.holdout.to_csv(tmp / "holdout.csv", index=False)
        if figures:
            from . import plots

            for name, fig in (("fit", plots.calibration_fit(ds)),
                              ("residuals", plots.calibration_residuals(ds)),
                              *((("profiles", plots.calibration_profiles(ds)),
                                 ("correlation", plots.calibration_correlation(ds)))
                                if cal.profiles is not None else ())):
                fig.savefig(tmp / f"{name}.png")
        (tmp / "report.md").write_text(report_markdown(cal, figures), encoding="utf-8")
    return out


def report_markdown(cal: Calibration, figures: bool = True) -> str:
    """The fit report as Markdown."""
    sp, best = cal.spec, cal.fit

    def fmt(v):
        return "" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"

    lines = [f"# Calibration of `{sp.hub}`", "", sp.description, "",
             f"- spec: `{sp.path.name}`; {len(sp.points)} figures, {len(sp.free)} free "
             f"quantities; cost (0.5 x sum of squared weighted residuals) **{best.cost:.4g}**",
             f"- optimiser: {cal.provenance['optimiser']}; {best.evaluations} model evaluations "
             f"in {best.calls} vectorised runs; {cal.seconds:.1f} s in all",
             "- standard errors by kind (relative): "
             + ", ".join(f"{k} {v:g}" for k, v in sp.errors.items()),
             f"- model `{cal.provenance['model']}` sha256 `{cal.provenance['model_sha256'][:12]}`"]
    if sp.dropped:
        lines.append("- left out: " + "; ".join(sp.dropped))
    if not best.converged:
        lines += ["", "**Warning**: no start met SciPy's convergence tests within its "
                      "evaluation budget; the best is reported. Treat the estimates with care."]
    lines += ["", "## Local fits", "", "| start | from | start cost | cost | status | nfev |",
              "| --- | --- | --- | --- | --- | --- |"]
    for _, r in best.starts.iterrows():
        lines.append(f"| {r['start']} | {r['from']} | {fmt(r.start_cost)} | {fmt(r.cost)} "
                     f"| {r.status} | {r.nfev} |")
    if cal.profiles is not None:
        lines += ["", "## Estimates and 95 % intervals (profile likelihood)", "",
                  "Profile likelihood, not the bootstrap: with a handful of figures per series "
                  "a resample of residuals carries no information, while the profile shows "
                  "directly how far the data pin a parameter down. `not identified`: the "
                  "profile stays under the 95 % threshold over the whole range (the value "
                  "stays a prior); `one-sided`: bounded by the data on one side only.", "",
                  "| parameter | estimate | low 95 | high 95 | bounds | flag |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for name, r in cal.profiles.table.iterrows():
            lines.append(f"| {name} | {fmt(r.estimate)} | {fmt(r.low95)} | {fmt(r.high95)} | "
                         f"[{r.bound_low:g}, {r.bound_high:g}] | {r.flag} |")
        if cal.profiles.better is not None:
            lines += ["", f"**Warning**: a profile point reached cost {cal.profiles.better:.4g}, "
                          f"below the fit's {best.cost:.4g}: the multi-start missed a better "
                          "optimum; raise `starts` or `screen`."]
        corr = cal.profiles.correlation
        strong = [(a, b, corr.loc[a, b]) for i, a in enumerate(corr.index)
                  for b in corr.index[i + 1:] if abs(corr.loc[a, b]) >= 0.9]
        lines += ["", "Correlation of estimates (Gauss-Newton, optimiser coordinates); pairs "
                      "with |r| >= 0.9: " + ("; ".join(f"{a} / {b} {c:+.2f}" for a, b, c in strong)
                                             or "none")]
    if not cal.statistics.empty:
        lines += ["", "## Fit statistics per series (in-sample and holdout figures, point "
                      "figures only)", "",
                  "| series | n | RMSE | MAPE | R² | U_M | U_S | U_C |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, r in cal.statistics.iterrows():
            lines.append(f"| {name} | {int(r.n)} | {fmt(r.rmse)} | {fmt(r.mape)} | {fmt(r.r2)} | "
                         f"{fmt(r.U_M)} | {fmt(r.U_S)} | {fmt(r.U_C)} |")
        lines += ["", "R² needs three points; Theil's proportions two; empty cells are "
                      "undefined, not zero."]
    lines += ["", "## Figures", "", "| series | year | kind | observed | simulated | error | "
              "residual/se | holdout |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in cal.points.itertuples():
        kind = r.kind + (f" ({r.bound} bound)" if r.bound else "")
        lines.append(f"| {r.series} | {r.year:g} | {kind} | {r.observed:.6g} | "
                     f"{r.simulated:.6g} | {r.relative_error:+.1%} | {r.weighted_residual:+.2f} | "
                     f"{'yes' if r.holdout else ''} |")
    if cal.holdout is not None:
        h = cal.holdout
        lines += ["", f"## Out of sample: fitted on figures before {sp.holdout_from:g}", "",
                  f"Refitted without the {len(h)} figures from {sp.holdout_from:g} on (cost "
                  f"{cal.holdout_fit.cost:.4g}); their error: MAPE "
                  f"{np.mean(np.abs(h.relative_error)):.1%}, largest "
                  f"{np.max(np.abs(h.relative_error)):.1%}.", "",
                  "| series | year | observed | simulated | error |",
                  "| --- | --- | --- | --- | --- |"]
        for r in h.itertuples():
            lines.append(f"| {r.series} | {r.year:g} | {r.observed:.6g} | {r.simulated:.6g} | "
                         f"{r.relative_error:+.1%} |")
    if figures:
        lines += ["", "![fit](fit.png)", "", "![residuals](residuals.png)"]
        if cal.profiles is not None:
            lines += ["", "![profiles](profiles.png)", "", "![correlation](correlation.png)"]
    return "\n".join(lines) + "\n"


# -- behaviour reproduction for hubsd validate ----------------------------------------------------

#: Largest per-series MAPE of a calibrated set that ``hubsd validate`` accepts (assumption: the
#: figures carry 5-15 % standard errors, so a calibrated path within 10 % of every series on
#: average reproduces the history the data can check).
REPRODUCTION_MAPE = 0.10


def behaviour_reproduction(hub: str, mdl=DEFAULT_MODEL) -> dict | None:
    """A ``hubsd validate`` row: the newest (or named) calibrated set of ``hub`` against its data.

    Runs the model (PySD) at the calibrated set, compares it with every figure of the hub's spec
    (in-sample and holdout) and reports the largest per-series MAPE, with Theil's proportions in
    the details. Fails when the set was calibrated on another version of the model. None when
    the hub has no calibrated set or no spec.
    """
    from .run import run

    base, _, version = str(hub).partition("@")
    if not versions(base) or not (CALIBRATION_DIR / f"{base}.yaml").is_file():
        return None
    doc = load_calibrated(base, version or "latest")
    ver = doc.get("version", Path(doc["file"]).stem)
    spec = load_spec(base, mdl=mdl)
    tests = ("the calibrated model reproduces the historical data (per-series MAPE, Theil "
             "inequality proportions)")
    row = {"check": "behaviour reproduction", "group": "behaviour", "tests": tests,
           "measure": f"largest per-series MAPE of {base}@{ver}",
           "threshold": f"<= {REPRODUCTION_MAPE:g}"}
    model_sha = file_hash(mdl)
    if doc.get("provenance", {}).get("model_sha256") != model_sha:
        return {**row, "status": "fail", "figure": float("nan"),
                "details": f"{base}@{ver} was calibrated on another version of the model "
                           f"({str(doc.get('provenance', {}).get('model_sha256'))[:12]} vs "
                           f"{model_sha[:12]}); run `hubsd calibrate --hub {base}` again"}
    outputs = sorted({p.output for p in spec.points})
    ds = run(f"{base}@{ver}", outputs=outputs, final_time=spec.final_time, saveper=1, mdl=mdl)
    shares = {k: float(v["value"]) for k, v in (doc.get("shares") or {}).items()}
    rows = []
    for p in spec.points:
        if p.bound:
            continue
        sim = float(ds[p.output].sel(time=p.year, method="nearest"))
        if p.share:
            sim /= shares.get(p.share, float("nan"))
        rows.append({"series": p.label, "simulated": sim, "observed": p.value})
    frame = pd.DataFrame(rows)
    parts, worst = [], 0.0
    for label, grp in frame.groupby("series", sort=False):
        st = stats.fit_statistics(grp.simulated, grp.observed)
        worst = max(worst, st["mape"])
        theil = (f", U_M {st['U_M']:.2f} U_S {st['U_S']:.2f} U_C {st['U_C']:.2f}"
                 if st["n"] >= 2 else "")
        parts.append(f"{label}: n {st['n']}, MAPE {st['mape']:.3f}{theil}")
    ok = bool(np.isfinite(worst) and worst <= REPRODUCTION_MAPE)
    return {**row, "status": "pass" if ok else "fail", "figure": float(worst),
            "details": "; ".join(parts)}
