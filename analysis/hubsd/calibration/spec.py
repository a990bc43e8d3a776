"""Calibration specs: which parameters are free, which figures they are fitted to, with what error.

Spec format::

    hub: krakow                     # data/hubs/<hub>.yaml: the starting values
    description: ...
    free:                           # parameters to estimate; bounds default to the table's
      hub_maturation_time: {}
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
      - {region: Telangana, series: it_bpm_employment_forecast_v2021, year: 2026,
         output: total_hub_staff, kind: forecast, holdout: false}
                                    # a forecast published before holdout_from (vintage in
                                    # the series name, _vYYYY) may stay in the holdout fit:
                                    # it was known then; any other target is refused
    holdout_from: 2022              # out-of-sample test: fit on earlier years only
    starts: 6                       # local fits from the best screened points (+ hub values)
    screen: 256                     # Latin-hypercube points screened
    seed: 1
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from hubsd.core.hints import did_you_mean as _hint
from hubsd.core.paths import CALIBRATION_DIR, DEFAULT_MODEL
from hubsd.core.yamlio import LineLoader
from hubsd.engine.ensemble import compile_model
from hubsd.inputs.calibrated import CalibrationError
from hubsd.inputs.hubs import HubError, hub_name, is_path, load_hub
from hubsd.inputs.observations import DataError, bundled_files, load_observations
from hubsd.model.parameters import ParameterError
from hubsd.model.parameters import table as parameter_table

KINDS = ("observed", "approximate", "forecast", "stylised")
DEFAULT_ERRORS = {"observed": 0.05, "approximate": 0.15, "forecast": 0.10, "stylised": 0.25}
CHI2_95 = 3.841458820694124  # chi-square quantile, 1 degree of freedom, 0.95
FAILED_RESIDUAL = 1e3  # residual given to a member whose simulation is not finite


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
        """Natural values mapped onto ``[0, 1]`` between the bounds (log scale if ``log``)."""
        x = np.asarray(x, dtype=float)
        if self.log:
            return (np.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def from_unit(self, u):
        """Natural values of unit-cube coordinates (clipped to ``[0, 1]`` and the bounds)."""
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
        """The figure's series as ``region/series``."""
        return f"{self.region}/{self.series}"


@dataclass
class Spec:
    """A calibration spec as read and checked by :func:`load_spec` (format above)."""

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
    #: The model the spec was checked against (its parameter table and outputs).
    mdl: Path = DEFAULT_MODEL

    @property
    def name(self) -> str:
        """The hub's name: ``hub`` itself, or the stem of a parameter file given as a path."""
        return hub_name(self.hub)


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


def _vintage(series: str) -> int | None:
    """The publication year of a forecast series named ``<series>_forecast_vYYYY``, else None."""
    head, sep, tail = series.rpartition("_forecast_v")
    return int(tail) if sep and head and tail.isdigit() and len(tail) == 4 else None


def _keys(entry: dict, allowed: set, path, line, what):
    extra = sorted(set(entry) - allowed - {"__line__"})
    if extra:
        _fail(
            path,
            line,
            f"unknown key {extra[0]!r} in {what}{_hint(extra[0], allowed)} "
            f"(allowed: {', '.join(sorted(allowed))})",
        )


def spec_file(hub: str, directory: Path = CALIBRATION_DIR) -> Path:
    """The calibration spec of a hub; an unknown hub raises with the hubs that have one."""
    known = sorted(p.stem for p in Path(directory).glob("*.yaml"))
    key = str(hub).strip().lower()
    if key not in known:
        raise CalibrationError(
            f"no calibration spec for hub {hub!r}{_hint(key, known)} "
            f"Hubs with a spec in {directory}: {', '.join(known) or 'none'}"
        )
    return Path(directory) / f"{key}.yaml"


def _spec_hub(path: Path) -> str | None:
    """The ``hub:`` of a spec file (a path resolved against its folder), or None if unreadable."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("hub"), str):
        return None
    hub = doc["hub"].strip()
    if is_path(hub.partition("@")[0]):
        base = Path(hub.partition("@")[0]).expanduser()
        return str(base if base.is_absolute() else (path.parent / base).resolve())
    return hub


def find_spec(hub_path: str | os.PathLike, directory: Path = CALIBRATION_DIR) -> Path:
    """The spec of a hub file given as a path: the one in ``directory`` whose ``hub:`` names it.

    A spec names the file when its ``hub:`` is that file's path (relative to the spec) or its
    stem (``hub: lodz`` for ``./lodz.yaml``). A spec naming the path wins over one naming the
    stem.

    Parameters
    ----------
    hub_path : path
        The hub file (``./lodz.yaml``).
    directory : path
        Folder of specs searched (default: the workspace's ``calibration/``, else the bundled).

    Returns
    -------
    Path
        The spec file.

    Raises
    ------
    CalibrationError
        No spec names the file, or several do equally; the message says what was looked for,
        where, and which specs are there with their ``hub:``.
    """
    target = Path(str(hub_path).strip()).expanduser().resolve()
    specs = sorted(Path(directory).glob("*.yaml"))
    hubs = {p: _spec_hub(p) for p in specs}
    by_path = [p for p, h in hubs.items() if h is not None and is_path(h) and Path(h) == target]
    by_stem = [p for p, h in hubs.items() if h is not None and h.lower() == target.stem.lower()]
    found = by_path or by_stem
    if len(found) == 1:
        return found[0]
    seen = ", ".join(f"{p.name} (hub: {hubs[p]})" for p in specs) or "none"
    what = (
        f"a spec whose 'hub:' is {target} or {target.stem!r}"
        if not found
        else f"one spec for {target}, found {len(found)}: {', '.join(p.name for p in found)}"
    )
    raise CalibrationError(
        f"no calibration spec for hub file {str(hub_path)!r}: looked in {directory} for {what}; "
        f"specs there: {seen}. Give --spec FILE, or add a spec with 'hub: {target.stem}'"
    )


def load_spec(
    spec: str | os.PathLike, data: list | None = None, mdl=DEFAULT_MODEL, hub: str | None = None
) -> Spec:
    """Read and validate a calibration spec (a hub name or a path); errors name file and line.

    ``data``: observation files (default: every bundled ``data/observed/*.csv``). ``hub``: the
    hub (name or file) whose values the fit starts from, instead of the spec's ``hub:`` (a hub
    file given on the command line whose spec names it by its stem).
    """
    path = (
        Path(spec)
        if (str(spec).endswith((".yaml", ".yml")) or os.sep in str(spec))
        else spec_file(str(spec))
    )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        _fail(
            path,
            mark.line + 1 if mark else None,
            f"malformed YAML: {getattr(exc, 'problem', None) or exc}",
        )
    if not isinstance(doc, dict):
        _fail(path, 1, "expected a mapping with 'hub', 'free' and 'series'")
    top = {
        "hub",
        "description",
        "free",
        "shares",
        "errors",
        "series",
        "targets",
        "holdout_from",
        "starts",
        "screen",
        "seed",
        "profile_points",
    }
    _keys(doc, top, path, 1, "the spec")
    for key in ("hub", "free", "series"):
        if key not in doc:
            _fail(path, 1, f"missing {key!r}")
    given = hub is not None  # a hub of the command line: a relative path is from the cwd
    hub = str(hub).strip() if given else str(doc["hub"]).strip()
    if not given and is_path(hub.partition("@")[0]) and not Path(hub).expanduser().is_absolute():
        hub = str(path.parent / hub)  # a parameter file of one's own, beside the spec
    try:
        load_hub(hub, mdl=mdl)
    except (HubError, ParameterError) as exc:
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
            _fail(
                path,
                line,
                f"free parameter {name!r}: expected a mapping such as {{low: 0.1, high: 0.3}}",
            )
        _keys(entry, {"low", "high", "scale", "why"}, path, line, f"free parameter {name!r}")
        if name not in table.index:
            _fail(
                path,
                line,
                f"unknown parameter {name!r}{_hint(name, table.index)} (`hubsd params` lists them)",
            )
        row = table.loc[name]
        low = _number(entry.get("low", row.low), path, line, f"{name}: low")
        high = _number(entry.get("high", row.high), path, line, f"{name}: high")
        if not (row.low <= low < high <= row.high):
            _fail(
                path,
                line,
                f"{name}: bounds [{low:g}, {high:g}] must be increasing and inside "
                f"the parameter table's range [{row.low:g}, {row.high:g}]",
            )
        scale = entry.get("scale", "linear")
        if scale not in ("linear", "log"):
            _fail(path, line, f"{name}: scale {scale!r} is not 'linear' or 'log'")
        if scale == "log" and low <= 0:
            _fail(path, line, f"{name}: a log scale needs a positive lower bound, got {low:g}")
        free.append(
            Free(name, low, high, scale == "log", False, str(row.units), str(entry.get("why", "")))
        )
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
            _fail(
                path,
                given["__line__"],
                f"errors: unknown kind {kind!r} (kinds: {', '.join(KINDS)})",
            )
        value = _number(value, path, given["__line__"], f"errors: {kind}")
        if not 0 < value < 1:
            _fail(path, given["__line__"], f"errors: {kind} = {value:g} must be in (0, 1)")
        errors[kind] = value

    data_files = [Path(p) for p in (data or bundled_files())]
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
            _fail(
                path,
                line,
                f"{what}: share {share!r} is not declared under 'shares'"
                f"{_hint(share, share_names)}",
            )
        sel = obs[(obs.region == entry["region"]) & (obs.series == entry["series"])]
        if sel.empty:
            pairs = sorted({f"{r}/{s}" for r, s in zip(obs.region, obs.series, strict=True)})
            asked = f"{entry['region']}/{entry['series']}"
            _fail(
                path,
                line,
                f"{what}: no data for region {entry['region']!r}, series "
                f"{entry['series']!r}{_hint(asked, pairs)}",
            )
        return out, share, sel

    def _point(role, row, out, share, sigma):
        return Point(
            role,
            row.region,
            row.series,
            float(row.year),
            float(row.value),
            row.kind,
            row.bound or "",
            out,
            share,
            sigma,
            row.source_title,
            row.source_address,
            row.says,
        )

    for entry in doc["series"] or []:
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        if not isinstance(entry, dict):
            _fail(path, line, "each series must be a mapping {region, series, output}")
        _keys(
            entry,
            {"region", "series", "output", "share", "kinds", "years", "holdout"},
            path,
            line,
            "a series",
        )
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
                dropped.append(
                    f"{row.region}/{row.series} {row.year:g}: outside the simulated "
                    f"period {initial:g}-{last_model:g}"
                )
                continue
            points.append(_point("series", row, out, share, errors[row.kind]))
            points[-1].keep_in_holdout = not entry.get("holdout", True)
    vintages = []  # targets kept in the holdout fit, checked once holdout_from is read
    for entry in doc.get("targets") or []:
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        if not isinstance(entry, dict):
            _fail(
                path,
                line,
                "each target must be a mapping {region, series, year, output, tolerance}",
            )
        _keys(
            entry,
            {"region", "series", "output", "share", "year", "tolerance", "kind", "holdout"},
            path,
            line,
            "a target",
        )
        if not isinstance(entry.get("holdout", True), bool):
            _fail(path, line, "target: holdout must be true or false")
        out, share, sel = _entry_common(entry, line, "target")
        if "year" not in entry:
            _fail(path, line, "target: missing 'year'")
        year = _number(entry["year"], path, line, "target: year")
        sel = sel[sel.year == year]
        if "kind" in entry:
            sel = sel[sel.kind == entry["kind"]]
        if len(sel) != 1:
            _fail(
                path,
                line,
                f"target: {len(sel)} figures of {entry['region']}/"
                f"{entry['series']} in {year:g}; name exactly one (add 'kind')",
            )
        if not initial <= year <= last_model:
            _fail(
                path,
                line,
                f"target: year {year:g} is outside the simulated period {initial:g}-{last_model:g}",
            )
        row = next(sel.itertuples())
        tol = _number(entry.get("tolerance", errors[row.kind]), path, line, "target: tolerance")
        if not 0 < tol < 1:
            _fail(path, line, f"target: tolerance {tol:g} must be a relative error in (0, 1)")
        points.append(_point("target", row, out, share, tol))
        if not entry.get("holdout", True):
            points[-1].keep_in_holdout = True
            vintages.append((points[-1], line))
    if not points:
        _fail(
            path,
            doc["__line__"],
            "no figure to fit: the series and targets select no rows inside the simulated period",
        )
    holdout = doc.get("holdout_from")
    if holdout is not None:
        holdout = _number(holdout, path, doc["__line__"], "holdout_from")
        for p, line in vintages:
            vintage = _vintage(p.series)
            if p.kind != "forecast" or vintage is None or vintage >= holdout:
                _fail(
                    path,
                    line,
                    f"target {p.label} {p.year:g}: 'holdout: false' is only for a forecast "
                    f"published before holdout_from {holdout:g}, named <series>_forecast_vYYYY "
                    f"(kind forecast, YYYY < {holdout:g}); held out otherwise",
                )
        for p in points:
            p.holdout = p.year >= holdout and not p.keep_in_holdout
        if all(p.holdout for p in points) or not any(p.holdout for p in points):
            _fail(
                path,
                doc["__line__"],
                f"holdout_from {holdout:g} must leave figures both before and from that year",
            )
    ints = {}
    for key, default, lo in (
        ("starts", 6, 1),
        ("screen", 256, 8),
        ("seed", 1, 0),
        ("profile_points", 9, 3),
    ):
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo:
            _fail(path, doc["__line__"], f"{key} must be a whole number >= {lo}, got {value!r}")
        ints[key] = value
    final_time = math.ceil(max(p.year for p in points))
    return Spec(
        hub,
        path,
        str(doc.get("description", "")).strip(),
        free,
        points,
        errors,
        holdout,
        ints["starts"],
        ints["screen"],
        ints["seed"],
        ints["profile_points"],
        float(final_time),
        data_files,
        dropped,
        Path(mdl),
    )
