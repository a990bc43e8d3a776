"""The model-testing battery as one call: :func:`validate` (and ``hubsd validate``).

The standard tests of a system-dynamics model (Sterman 2000, *Business Dynamics*, ch. 21), run
on a Vensim model file, each reported as one row: what it tests, pass, fail or skipped, the
figure measured, the threshold and details (for a failure: the variable, the run and the time).

>>> report = validate("krakow")        # models/hub.mdl, hub.checks.yaml, 1000 LHS runs
>>> report.table                        # pandas DataFrame, one row per check
>>> report.passed                       # no row failed (skipped rows do not fail)
>>> report.data                         # xarray Dataset behind the figures
>>> report.figures()                    # matplotlib Figures by name
>>> report.write("outputs/validation")  # Markdown report, PNGs, CSV and NetCDF

The checks, in order:

``units``
    Dimensional consistency of every equation (:func:`hubsd.units.check_units`).
``reality: <name>``
    One row per statement of the reality-check file (:mod:`hubsd.reality`), by default the
    ``<model>.checks.yaml`` beside the model; skipped when there is none.
``conservation of people``
    max |``people accounting error``| / ``people in tracked stocks`` over the policy scenarios,
    the automation shocks and every Latin hypercube run; at most :data:`CONSERVATION_TOLERANCE`.
``LHS: finite values`` and ``LHS: no negative stock``
    A seeded Latin hypercube over every parameter with a finite range (the whole parameter
    table of the hub model), one vectorised ensemble (:mod:`hubsd.ensemble`): every variable
    finite at every save time; every stock (INTEG, SMOOTH, DELAY, except :data:`SIGNED_STOCKS`)
    at least ``-1e-9`` times its scale at every time step.
``integration: TIME STEP halved`` and ``integration: fine reference``
    Key outputs (:data:`INTEGRATION_OUTPUTS`, or every stock of another model) at TIME STEP
    against TIME STEP / 2 (at most 1 % of their scale) and against TIME STEP / 8, a reference
    close to the exact solution (at most 2 %: Euler's error is proportional to the step, so
    the error of the model's step against the exact solution is about twice the halving
    difference). Scale: max |x| of the finer run, floored by :data:`SCALE_FLOOR`.
``extreme: ...``
    Sterman's extreme conditions of the model specification: no adoption reproduces the no-AI
    world; a_J = 1 and h = 0 drive juniors to about zero without a negative stock; zero
    graduates limit hiring (the workforce sector alone, PySD); a local multiplier of 0 keeps
    local services at their base. Skipped for a model without the variables they read.
``behaviour reproduction``
    Fit statistics of the calibrated parameter set, from :mod:`hubsd.calibrate` when it
    provides them (:func:`_behaviour_reproduction`); skipped otherwise.

A group of checks that cannot run on a model (the ensemble engine refuses some Latin hypercube
samples, say) fails its rows with the reason; the other groups still run.

Bad input (a model that does not translate, a hub or checks file that does not fit the model,
a bad sample size) raises :class:`ValidationInputError` before anything runs, with one line
naming the file (and the line, where PySD or the checks file says which).
"""

from __future__ import annotations

import json
import operator
import re
import sys
import time
import types
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
import yaml

from .model import DEFAULT_MODEL, REPO
from .parameters import validate as _validate_parameters
from .studies import STRESS

#: Latin hypercube defaults: samples and seed.
LHS_SAMPLES = 1000
LHS_SEED = 20251125
#: Members simulated together in one LHS chunk (memory: every variable of the model is kept).
LHS_CHUNK = 250

#: Strong automation in a mature hub: a_J at the top of the ILO range (0.24-0.8) and no
#: long-run demand growth (the table's low end), so automation, not demand, drives the hub.
SHOCK = {"automatable_junior_share": 0.8, "mature_hub_growth_rate": 0.0}

#: Full automation of junior tasks (a_J = 1 and h = 0) in a hub with no long-run demand growth
#: (:data:`hubsd.studies.STRESS`).
STRONG_SHOCK = dict(STRESS)

#: The "smart automation policy" of data/scenarios.yaml (all three levers from 2026).
SMART_MIX = yaml.safe_load((REPO / "data" / "scenarios.yaml").read_text(encoding="utf-8"))[
    "smart_mix"
]["parameters"]

#: Every parameter that acts only through AI adoption, at the other end of its range.
AI_EFFECT_EXTREMES = {
    "automatable_junior_share": 1.0,
    "automatable_mid_share": 0.25,
    "augmentation_productivity_gain": 0.34,
    "bass_imitation_coefficient": 0.6,
    "ai_implementation_delay": 1.0,
    "ai_start_year": 2010.0,
    "demand_response_to_augmentation": 0.3,
    "augmentation_attrition_reduction": 0.5,
    "reinstatement_ratio": 1.0,
    "baseline_human_centred_ai_share": 1.0,
}

#: No AI adoption: no innovators and no initial adopters.
NO_ADOPTION = {"bass_innovation_coefficient": 0.0, "initial_adopting_share": 0.0}
#: Every junior task automatable and no human-centred deployment.
FULL_AUTOMATION = {"automatable_junior_share": 1.0, "baseline_human_centred_ai_share": 0.0}
#: No local multiplier.
NO_MULTIPLIER = {"local_multiplier": 0.0}

#: INTEG stocks that are signed by definition (net people who crossed the city boundary).
SIGNED_STOCKS = {"cumulative_net_boundary_flow"}

#: Key outputs whose integration error is measured (those the model has).
INTEGRATION_OUTPUTS = [
    "total_hub_staff",
    "junior_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "business_first_year_enrolment",
    "local_service_jobs",
    "net_young_migration",
    "new_industry_jobs",
    "adopting_share",
]

#: Outputs that can stay at or near zero for a whole run: (reference output, fraction) whose
#: product floors their scale. The displaced stock is exactly 0 without an automation shock,
#: where its own max |x| would turn any round-off into a 100 % change; its scale is at least
#: 1 % of the run's peak hub staff (see ``tests/test_behaviour.py``).
SCALE_FLOOR = {"displaced_hub_workers": ("total_hub_staff", 0.01)}

#: Outputs drawn as Latin hypercube envelopes (those the model has; else its first stocks).
ENVELOPE_OUTPUTS = [
    "total_hub_staff",
    "junior_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "local_service_jobs",
    "new_industry_jobs",
]

CONSERVATION_TOLERANCE = 1e-9
NEGATIVE_TOLERANCE = 1e-9
HALVING_THRESHOLD = 0.01
REFERENCE_DIVISOR = 8
REFERENCE_THRESHOLD = 0.02
#: Exact identities of the extreme conditions, relative to the variables' scale.
IDENTITY_TOLERANCE = 1e-12

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
UNITS_TESTS = "every equation is dimensionally consistent with the units written in the model"
CONSERVATION_TESTS = ("every person leaving a stock enters another or crosses the boundary "
                      "through a counted flow")
LHS_TESTS = ("no variable is NaN or infinite anywhere in the parameter space",
             "no stock goes negative anywhere in the parameter space")
INTEGRATION_TESTS = "key outputs change little when TIME STEP is refined"
EXTREME_NAMES = ["no adoption is the no-AI world", "full junior automation",
                 "zero graduates limit hiring", "no multiplier keeps services at base"]
COLUMNS = ["check", "group", "tests", "status", "figure", "threshold", "measure", "details"]
_OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, "==": operator.eq}


class ValidationInputError(ValueError):
    """Bad input to :func:`validate`: the message is one line naming the file (and line)."""


# --------------------------------------------------------------------------------------------
# rows


def _row(group, check, tests, measure="", figure=np.nan, op=None, limit=None, details="",
         ok=True, status=None) -> dict:
    """One row; without ``status`` it passes when ``figure op limit`` holds and ``ok``."""
    figure = float(figure) if figure is not None else np.nan
    if status is None:
        holds = op is not None and np.isfinite(figure) and bool(_OPS[op](figure, limit))
        status = PASS if holds and ok else FAIL
    threshold = f"{op} {limit:g}" if op is not None else ""
    return {"check": check, "group": group, "tests": tests, "status": status, "figure": figure,
            "threshold": threshold, "measure": measure, "details": details}


def _skipped(group, check, tests, reason) -> dict:
    return _row(group, check, tests, details=reason, status=SKIPPED)


def _could_not_run(exc: BaseException, names) -> list[dict]:
    why = f"the check could not run: {type(exc).__name__}: {' '.join(str(exc).split())}"
    return [_row(g, c, t, details=why, status=FAIL) for g, c, t in names]


def format_figure(x: float, floor: float | None = None, digits: int = 3) -> str:
    """A figure as text: ``-`` when none, whole numbers as such, else ``digits`` significant
    digits; with ``floor``, magnitudes below it as ``< floor`` (round-off, stable text)."""
    if x is None or not np.isfinite(x):
        return "-" if x is None or np.isnan(x) else str(x)
    if x == int(x) and abs(x) < 1e15:
        return f"{int(x)}"
    if floor is not None and abs(x) < floor:
        return f"< {floor:g}"
    return f"{x:.{digits}g}"


# --------------------------------------------------------------------------------------------
# the report


@dataclass
class ValidationReport:
    """Results of :func:`validate`: ``table`` (one row per check) and ``data`` (figures)."""

    table: pd.DataFrame
    data: xr.Dataset
    model: Path
    hub: str | None
    checks: Path | None
    samples: int
    seed: int
    wall_time: float = 0.0
    info: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """True when no check failed (skipped checks do not fail)."""
        return not (self.table["status"] == FAIL).any()

    @property
    def failed(self) -> pd.DataFrame:
        return self.table[self.table["status"] == FAIL]

    def counts(self) -> dict[str, int]:
        return {s: int((self.table["status"] == s).sum()) for s in (PASS, FAIL, SKIPPED)}

    def verdict(self) -> str:
        c = self.counts()
        n = len(self.table)
        skipped = f" ({c[SKIPPED]} skipped)" if c[SKIPPED] else ""
        if c[FAIL]:
            return f"{c[FAIL]} of {n} checks FAIL{skipped}."
        return f"All {n - c[SKIPPED]} checks pass{skipped}."

    def title(self) -> str:
        hub = f"hub {self.hub}" if self.hub else "model defaults"
        return (f"Validation of {self.model.name} ({hub}; {self.samples} Latin hypercube "
                f"samples, seed {self.seed})")

    def summary(self, digits: int = 2, floor: float | None = 1e-12) -> pd.DataFrame:
        """The table with figures as rounded text (stable output for notebooks)."""
        out = self.table[["check", "status", "figure", "threshold", "measure"]].copy()
        out["figure"] = [format_figure(x, floor, digits) for x in out["figure"]]
        return out.set_index("check")

    def format_table(self) -> str:
        """The table as aligned text, then the details of every row that did not pass."""
        headers = ["check", "status", "figure", "threshold", "measure"]
        cells = [[r.check, r.status.upper() if r.status == FAIL else r.status,
                  format_figure(r.figure), r.threshold, r.measure]
                 for r in self.table.itertuples()]
        widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

        def fmt(parts):
            return "  ".join(p.ljust(w) for p, w in zip(parts, widths, strict=True)).rstrip()

        lines = [self.title(), fmt(headers), "  ".join("-" * w for w in widths)]
        lines += [fmt(c) for c in cells]
        notes = [r for r in self.table.itertuples() if r.status != PASS]
        if notes:
            lines.append("")
        for r in notes:
            lines.append(f"{r.status.upper()} {r.check}: {' '.join(str(r.details).split())}")
        lines += ["", self.verdict()]
        return "\n".join(lines)

    def to_markdown(self, figures: dict[str, str] | None = None,
                    files: list[str] | None = None) -> str:
        """A readable report: the table with details, then the figures (``name -> file``)."""

        def cell(text) -> str:
            return " ".join(str(text).split()).replace("|", "\\|")

        i = self.info
        lines = [f"# {self.title()}", "",
                 f"**{self.verdict()}**", "",
                 f"- model: `{self.model}` (sha256 `{i.get('model_sha256', '')[:16]}`)",
                 f"- hub: {self.hub or 'none (the model defaults)'}",
                 f"- reality checks: `{self.checks}`" if self.checks else
                 "- reality checks: none (no checks file beside the model)",
                 f"- Latin hypercube: {self.samples} samples over {i.get('lhs_parameters', 0)} "
                 f"parameters, seed {self.seed}",
                 f"- TIME STEP {i.get('time_step', float('nan')):g}, compared with "
                 f"TIME STEP / 2 and / {REFERENCE_DIVISOR}",
                 f"- hubsd {i.get('hubsd_version', '')}, {i.get('created', '')}, wall time "
                 f"{self.wall_time:.1f} s", "",
                 "| check | tests | status | figure | threshold | measure | details |",
                 "| --- | --- | --- | ---: | --- | --- | --- |"]
        for r in self.table.itertuples():
            status = f"**{r.status.upper()}**" if r.status == FAIL else r.status
            lines.append(f"| {cell(r.check)} | {cell(r.tests)} | {status} | "
                         f"{format_figure(r.figure)} | {cell(r.threshold)} | {cell(r.measure)} "
                         f"| {cell(r.details)} |")
        if figures:
            lines += ["", "## Figures", ""]
            for name, path in figures.items():
                lines += [f"### {FIGURE_TITLES.get(name, name)}", "", f"![{name}]({path})", ""]
        if files:
            lines += ["", "## Files", ""] + [f"- `{f}`" for f in files]
        return "\n".join(lines).rstrip() + "\n"

    def dataset(self) -> xr.Dataset:
        """``data`` plus the table along a ``check`` dimension (for NetCDF)."""
        ds = self.data.copy()
        index = pd.Index(list(self.table["check"]), name="check")
        for col in ("group", "tests", "status", "threshold", "measure", "details"):
            ds[f"check_{col}"] = xr.DataArray(self.table[col].astype(str).to_numpy(),
                                              coords={"check": index}, dims="check")
        ds["check_figure"] = xr.DataArray(self.table["figure"].to_numpy(float),
                                          coords={"check": index}, dims="check")
        ds.attrs.update({k: (json.dumps(v) if isinstance(v, (dict, list)) else v)
                         for k, v in self.info.items() if v is not None})
        ds.attrs.update({"title": self.title(), "verdict": self.verdict(),
                         "model_file": str(self.model), "hub": self.hub or "model defaults",
                         "checks_file": str(self.checks or ""), "lhs_samples": self.samples,
                         "lhs_seed": self.seed, "wall_time_s": round(self.wall_time, 2)})
        return ds

    def figures(self) -> dict:
        """The report's figures (matplotlib Figures) by name; those without data are left out."""
        out = {}
        for name, draw in FIGURES.items():
            fig = draw(self.data)
            if fig is not None:
                out[name] = fig
        return out

    def write(self, folder) -> list[Path]:
        """Write ``validation.md``, ``validation.csv``, ``validation.nc`` and the PNG figures
        into ``folder`` (which must exist; ``hubsd validate`` passes a temporary folder that
        it renames into place). Returns the files written."""
        from .run import save

        folder = Path(folder)
        files = []
        figs = {}
        for name, fig in self.figures().items():
            path = folder / f"{name}.png"
            fig.savefig(path, format="png")
            figs[name] = path.name
            files.append(path)
        csv = folder / "validation.csv"
        self.table.to_csv(csv, index=False, float_format="%.6g")
        files.append(csv)
        files.append(save(self.dataset(), folder / "validation.nc"))
        md = folder / "validation.md"
        names = [p.name for p in files]
        md.write_text(self.to_markdown(figs, names), encoding="utf-8")
        return [md, *files]


# --------------------------------------------------------------------------------------------
# preparing: every input checked before anything runs


@dataclass
class _Context:
    mdl: Path
    engine: object
    hub: str | None
    base: dict
    table: pd.DataFrame
    stocks: list[str]
    dt: float
    saveper: float

    def has(self, *names) -> bool:
        pool = set(self.engine.outputs_available())
        return all(n in pool for n in names)

    def lacks(self, names) -> list[str]:
        pool = set(self.engine.outputs_available())
        return [n for n in names if n not in pool]

    @property
    def checked_stocks(self) -> list[str]:
        """Stocks that must not go negative: all but :data:`SIGNED_STOCKS` and those whose
        declared range allows negative values."""
        out = []
        for s in self.stocks:
            low = (list(self.engine.nodes[s].limits) + [None])[0]
            if s not in SIGNED_STOCKS and not (low is not None and float(low) < 0):
                out.append(s)
        return out


def _parse_position(exc: BaseException) -> tuple[str, int] | None:
    """The text PySD's parser was reading and the offset where it stopped, if known."""
    text, pos = getattr(exc, "text", None), getattr(exc, "pos", None)
    if isinstance(text, str) and isinstance(pos, int):
        return text, pos
    found, tb = None, exc.__traceback__
    while tb is not None:  # a VisitationError: the innermost parse-tree node being built
        node = tb.tb_frame.f_locals.get("node")
        if isinstance(getattr(node, "full_text", None), str) and hasattr(node, "start"):
            found = (node.full_text, int(node.start))
        tb = tb.tb_next
    return found


def _locate(mdl: Path, exc: BaseException) -> tuple[int | None, str]:
    """The line of the model file where translation failed, and a one-line message."""
    msg = " ".join(str(exc).split("Parse tree:")[0].split()) or type(exc).__name__
    try:
        src = mdl.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, msg
    if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str):
        # PySD's namespace has no such variable: find where the model uses it
        name = exc.args[0]
        pattern = r"(?<![\w])" + r"[\s_]+".join(map(re.escape, name.split("_"))) + r"(?![\w])"
        match = re.search(pattern, src, flags=re.IGNORECASE)
        if match:
            line = src.count("\n", 0, match.start()) + 1
            return line, f"{match.group(0)!r} is used but not defined"
        return None, f"{name!r} is used but not defined"
    found = _parse_position(exc)
    if found is None:
        return None, msg
    text, pos = found
    idx = src.find(text)
    msg = re.sub(r"\s*\(line \d+, column \d+\)", "", msg)  # of the equation, not the file
    if idx >= 0:
        return src.count("\n", 0, idx + min(pos, len(text))) + 1, msg
    match = re.search(r"\s*".join(re.escape(tok) for tok in text.split()), src)
    if not match:
        return None, msg
    return src.count("\n", 0, match.start()) + 1 + text[:pos].count("\n"), msg


def _translation_error(mdl: Path, exc: BaseException, what: str) -> ValidationInputError:
    line, msg = _locate(mdl, exc)
    where = f"{mdl}, line {line}" if line else f"{mdl}"
    return ValidationInputError(f"{where}: {what}: {msg}")


def _model_hub_fits(engine, hub: str) -> list[str]:
    """Parameters of a hub file that the model does not have."""
    from .hubs import load_hub

    return sorted(set(load_hub(hub)["parameters"]) - set(engine.constants))


def _prepare(mdl, hub, samples, seed) -> _Context:
    from .ensemble import compile_model
    from .hubs import HubError, load_hub
    from .model import load
    from .parameters import ParameterError

    mdl = Path(mdl)
    if not mdl.is_file():
        raise ValidationInputError(f"model file not found: {mdl}")
    if mdl.suffix.lower() != ".mdl":
        raise ValidationInputError(f"{mdl}: not a Vensim model (.mdl)")
    try:
        load(mdl)  # PySD translation (cached by the file's hash) and initialisation
    except Exception as exc:  # PySD raises parser and builder errors of many kinds
        raise _translation_error(mdl, exc, "the model does not translate (PySD)") from None
    try:
        engine = compile_model(mdl)
    except Exception as exc:
        raise _translation_error(mdl, exc, "the ensemble engine cannot run the model") from None
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise ValidationInputError(f"the Latin hypercube needs a whole number of at least 2 "
                                   f"samples, got {samples!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValidationInputError(f"the seed must be a whole number >= 0, got {seed!r}")
    if hub == "auto":
        hub = default_hub(mdl)
    table = engine.parameter_table()
    base = table["default"].to_dict()
    if hub is not None:
        try:
            lacking = _model_hub_fits(engine, hub)
            base.update(load_hub(hub)["parameters"])
        except (HubError, ParameterError) as exc:
            raise ValidationInputError(" ".join(str(exc).split())) from None
        if lacking:
            raise ValidationInputError(
                f"hub {hub!r} sets parameters that {mdl} does not have ("
                f"{', '.join(lacking[:5])}{', ...' if len(lacking) > 5 else ''}); validate this "
                "model without a hub (hub=None, `--hub none`)")
    stocks = [n for n in engine.elements if engine.nodes[n].stateful]
    ctrl = engine.controls
    return _Context(mdl, engine, hub, base, table, stocks, ctrl["time_step"], ctrl["saveper"])


def default_hub(mdl=DEFAULT_MODEL) -> str | None:
    """``"krakow"`` when the model has every parameter of the Kraków hub file, else None."""
    from .ensemble import compile_model

    try:
        return None if _model_hub_fits(compile_model(mdl), "krakow") else "krakow"
    except Exception:  # a model that does not compile: validate() reports it properly
        return None


def default_checks(mdl=DEFAULT_MODEL) -> Path | None:
    """The reality-check file beside a model (``<stem>.checks.yaml``), if there is one."""
    path = Path(mdl).with_name(f"{Path(mdl).stem}.checks.yaml")
    return path if path.is_file() else None


@contextmanager
def _quiet():
    """Runs whose values may be non-finite: the checks report them, so no warnings."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def _run(ctx: _Context, cases: dict[str, dict] | pd.DataFrame | None, outputs, **kwargs):
    """Run named cases (name -> parameter overrides) or a DataFrame as one ensemble."""
    if isinstance(cases, dict):
        frame = pd.DataFrame(list(cases.values()), index=pd.Index(list(cases), name="sample"))
        for col in frame.columns:
            frame[col] = frame[col].fillna(ctx.base[col]).astype(float)
        params = frame if len(frame.columns) else None
        n = len(cases)
    else:
        params, n = cases, (None if cases is not None else 1)
    with _quiet():
        ds = ctx.engine.run(params, list(outputs), hub=ctx.hub, n=n, workers=1, **kwargs)
    ds = ds.drop_vars([c for c in ds.coords if c not in ("sample", "time")])
    if isinstance(cases, dict):
        ds = ds.assign_coords(sample=list(cases))
    return ds


# --------------------------------------------------------------------------------------------
# (a) units, (b) reality checks


def _units(ctx: _Context) -> list[dict]:
    from .units import UnitsError, check_units

    tests = UNITS_TESTS
    try:
        issues = check_units(ctx.mdl)
    except UnitsError as exc:
        return [_row("units", "units consistency", tests, "unit mismatches", np.nan,
                     details=str(exc), status=FAIL)]
    details = "; ".join(str(i) for i in issues[:3])
    if len(issues) > 3:
        details += f"; and {len(issues) - 3} more"
    n_eq = len(ctx.engine.elements)
    return [_row("units", "units consistency", tests, "unit mismatches", len(issues), "==", 0,
                 details or f"{n_eq} variables checked, no mismatch")]


def _reality(ctx: _Context, checks: Path | None) -> list[dict]:
    from .reality import load_checks, run_checks

    if checks is None:
        return [_skipped("reality", "reality checks", "declarative statements beside the model",
                         f"no checks file beside the model ({ctx.mdl.stem}.checks.yaml)")]
    res = run_checks(checks, hub=ctx.hub, mdl=ctx.mdl)
    rows = []
    for check in load_checks(checks, ctx.mdl):
        name = check.name
        sub = res[res["check"] == name]
        bad = sub[~sub["passed"]]
        runs = sub["run"].nunique()
        n_cond = sub["condition"].nunique()
        if len(bad):
            details = bad["message"].iloc[0]
            if len(bad) > 1:
                details += f" ({len(bad)} of {len(sub)} run x condition pairs fail)"
        else:
            where = ("at the " + ("hub values" if ctx.hub else "model defaults")
                     + (f" and the low and high ends of {', '.join(check.corners)}"
                        if check.corners else ""))
            details = (f"{n_cond} condition{'s hold' if n_cond > 1 else ' holds'} in {runs} "
                       f"run{'s' if runs > 1 else ''}, {where}")
        rows.append(_row("reality", f"reality: {name}", check.statement,
                         f"failing run x condition pairs (of {len(sub)})", len(bad), "==", 0,
                         details))
    return rows


# --------------------------------------------------------------------------------------------
# scenarios: conservation and integration error


def _scenarios(ctx: _Context) -> dict[str, dict]:
    """Policy scenarios of data/scenarios.yaml (with the hub's sizes) and the automation shocks,
    for a model that has their parameters; the model's own values otherwise."""
    from .hubs import load_hub, load_scenarios, scenario_parameters

    consts = set(ctx.engine.constants)
    try:
        if ctx.hub is not None:
            per = scenario_parameters(load_hub(ctx.hub))
        else:
            per = {k: dict(v.get("parameters") or {}) for k, v in load_scenarios().items()}
    except Exception:  # scenarios of another model: not applicable
        per = {}
    cases = {"baseline": {}} if "baseline" not in per else {}
    cases.update({k: v for k, v in per.items() if set(v) <= consts})
    for name, params in (("shock", SHOCK), ("strong_shock", STRONG_SHOCK),
                         ("shock_mix", {**SHOCK, **SMART_MIX})):
        if set(params) <= consts:
            cases[name] = params
    if len(cases) == 1:
        cases = {"defaults": {}}
    return cases


def _key_outputs(ctx: _Context) -> list[str]:
    present = [o for o in INTEGRATION_OUTPUTS if ctx.has(o)]
    return present if present else list(ctx.stocks)


def _relative_error(ds: xr.Dataset) -> xr.DataArray:
    err = np.abs(ds["people_accounting_error"])
    people = np.maximum(np.abs(ds["people_in_tracked_stocks"]), 1.0)
    return err / people


def _integration_and_conservation(ctx, cases, lhs) -> tuple[list[dict], dict]:
    outputs = _key_outputs(ctx)
    accounting = ctx.has("people_accounting_error", "people_in_tracked_stocks")
    extra = [o for o, _ in SCALE_FLOOR.values() if ctx.has(o)]
    needed = list(dict.fromkeys(outputs + extra + (
        ["people_accounting_error", "people_in_tracked_stocks"] if accounting else [])))
    data = {}
    rows = []
    if not needed:
        reason = "the model has no stocks"
        rows = [_skipped("conservation", "conservation of people", CONSERVATION_TESTS, reason),
                _skipped("integration", "integration: TIME STEP halved", INTEGRATION_TESTS,
                         reason),
                _skipped("integration", "integration: fine reference", INTEGRATION_TESTS,
                         reason)]
        return rows, data
    runs = {k: _run(ctx, cases, needed, time_step=ctx.dt / k)
            for k in (1, 2, REFERENCE_DIVISOR)}
    coarse = runs[1]
    # conservation: scenarios and the LHS
    tests = CONSERVATION_TESTS
    if not accounting:
        rows.append(_skipped("conservation", "conservation of people", tests,
                             "the model has no people_accounting_error and "
                             "people_in_tracked_stocks"))
    else:
        rel = _relative_error(coarse)
        data["accounting_error"] = rel.rename(sample="scenario").assign_attrs(
            units="Dmnl", long_name="|people accounting error| / people in tracked stocks")
        worst_s = rel.max("time")
        k = int(np.nanargmax(worst_s.values)) if np.isfinite(worst_s.values).any() else 0
        fig = float(np.nanmax(worst_s.values))
        kt = int(np.nanargmax(rel.values[k]))
        where = (f"worst: {list(cases)[k]} at {float(coarse.time[kt]):g}, "
                 f"{float(np.abs(coarse['people_accounting_error'].values[k, kt])):.3g} people "
                 f"of {float(coarse['people_in_tracked_stocks'].values[k, kt]):,.0f}")
        n_lhs = 0
        if lhs is not None and "accounting_max" in lhs:
            acc = lhs["accounting_max"]
            finite = np.isfinite(acc)
            n_lhs = int(finite.sum())
            if finite.any() and float(np.max(acc[finite])) > fig:
                i = int(np.argmax(np.where(finite, acc, -np.inf)))
                fig = float(acc[i])
                where = (f"worst: Latin hypercube sample {i} at {lhs['accounting_time'][i]:g}, "
                         f"{lhs['accounting_abs'][i]:.3g} people of "
                         f"{lhs['accounting_people'][i]:,.0f}")
            data["lhs_accounting_error_max"] = xr.DataArray(
                lhs["accounting_by_time"], dims="time",
                attrs={"units": "Dmnl", "long_name": "max over the Latin hypercube of "
                       "|people accounting error| / people in tracked stocks"})
            if (~finite).any():
                where += f"; {int((~finite).sum())} LHS runs with non-finite values left out"
        rows.append(_row("conservation", "conservation of people", tests,
                         "max |accounting error| / people", fig, "<=", CONSERVATION_TOLERANCE,
                         f"{len(cases)} scenario{'s' if len(cases) > 1 else ''} "
                         f"({', '.join(cases)}) and {n_lhs} Latin hypercube runs; " + where))
    # integration error
    diffs = np.full((2, len(cases), len(outputs)), np.nan)
    for r, k in enumerate((2, REFERENCE_DIVISOR)):
        fine = runs[k]
        for j, o in enumerate(outputs):
            a, b = coarse[o].values, fine[o].values
            scale = np.max(np.abs(b), axis=1)
            if o in SCALE_FLOOR and ctx.has(SCALE_FLOOR[o][0]):
                ref, frac = SCALE_FLOOR[o]
                scale = np.maximum(scale, frac * np.max(np.abs(fine[ref].values), axis=1))
            with np.errstate(all="ignore"):
                d = np.max(np.abs(a - b), axis=1) / np.where(scale > 0, scale, 1.0)
            diffs[r, :, j] = d
    data["integration_error"] = xr.DataArray(
        diffs, dims=("reference", "scenario", "output"),
        coords={"reference": ["dt/2", f"dt/{REFERENCE_DIVISOR}"], "scenario": list(cases),
                "output": outputs},
        attrs={"units": "Dmnl", "long_name": "max |x(TIME STEP) - x(finer)| / scale",
               "time_step": ctx.dt})
    for r, (label, limit, what) in enumerate((
            ("integration: TIME STEP halved", HALVING_THRESHOLD,
             f"key outputs move by less than {HALVING_THRESHOLD:.0%} of their scale when TIME "
             f"STEP {ctx.dt:g} is halved"),
            ("integration: fine reference", REFERENCE_THRESHOLD,
             f"key outputs at TIME STEP {ctx.dt:g} stay within {REFERENCE_THRESHOLD:.0%} of "
             f"their scale of a run at TIME STEP / {REFERENCE_DIVISOR}"))):
        d = diffs[r]
        if np.isnan(d).all():
            fig, details = np.nan, "no finite result"
        else:
            s, j = np.unravel_index(np.nanargmax(d), d.shape)
            fig = float(d[s, j])
            details = (f"worst: {outputs[j]} in {list(cases)[s]}; {len(outputs)} outputs "
                       f"({', '.join(outputs)}) x {len(cases)} scenario"
                       f"{'s' if len(cases) > 1 else ''} ({', '.join(cases)})")
        rows.append(_row("integration", label, what, "max |difference| / scale", fig, "<",
                         limit, details))
    data["_scenario_time"] = coarse["time"]
    return rows, data


# --------------------------------------------------------------------------------------------
# (d) Latin hypercube


def lhs_sample(ctx_or_mdl, samples: int = LHS_SAMPLES, seed: int = LHS_SEED) -> pd.DataFrame:
    """A seeded Latin hypercube over every parameter with a finite range (sorted by name)."""
    from scipy.stats import qmc

    if isinstance(ctx_or_mdl, _Context):
        tab = ctx_or_mdl.table
    else:
        from .ensemble import compile_model

        tab = compile_model(ctx_or_mdl).parameter_table()
    tab = tab[np.isfinite(tab["low"]) & np.isfinite(tab["high"])].sort_index()
    if tab.empty:
        return pd.DataFrame(index=pd.RangeIndex(0, name="sample"))
    unit = qmc.LatinHypercube(d=len(tab), seed=seed).random(int(samples))
    low, high = tab["low"].to_numpy(float), tab["high"].to_numpy(float)
    values = np.clip(low + unit * (high - low), low, high)
    return pd.DataFrame(values, columns=tab.index, index=pd.RangeIndex(samples, name="sample"))


def _lhs(ctx: _Context, samples: int, seed: int) -> dict:
    frame = lhs_sample(ctx, samples, seed)
    n = len(frame) if len(frame.columns) else 1
    params = frame if len(frame.columns) else None
    outputs = ctx.engine.outputs_available()
    accounting = ctx.has("people_accounting_error", "people_in_tracked_stocks")
    env = [o for o in ENVELOPE_OUTPUTS if ctx.has(o)] or ctx.stocks[:6]
    checked = ctx.checked_stocks
    out = {"n": n, "parameters": frame, "env_outputs": env,
           "nonfinite": np.zeros(n, bool), "first_nonfinite": {},
           "stock_min": np.full(n, np.inf), "stock_min_at": {}}
    envelope = {o: [] for o in env}
    if accounting:
        for key in ("accounting_max", "accounting_time", "accounting_abs", "accounting_people"):
            out[key] = np.full(n, np.nan)
        by_time = None
    for lo in range(0, n, LHS_CHUNK):
        hi = min(lo + LHS_CHUNK, n)
        part = params.iloc[lo:hi] if params is not None else None
        ds = _run(ctx, part, outputs)
        t = ds["time"].values
        for v in ds.data_vars:
            bad = ~np.isfinite(ds[v].values)
            if not bad.any():
                continue
            rows = np.flatnonzero(bad.any(axis=1))
            for i in rows:
                first = float(t[int(np.argmax(bad[i]))])
                prev = out["first_nonfinite"].get(lo + i)
                if prev is None or first < prev[1]:
                    out["first_nonfinite"][lo + i] = (v, first)
            out["nonfinite"][lo + rows] = True
        for o in env:
            envelope[o].append(ds[o].values)
        if accounting:
            with np.errstate(all="ignore"):
                rel = (np.abs(ds["people_accounting_error"].values)
                       / np.maximum(np.abs(ds["people_in_tracked_stocks"].values), 1.0))
            finite_rows = np.isfinite(rel).all(axis=1)
            safe = np.where(np.isfinite(rel), rel, -np.inf)
            kmax = np.argmax(safe, axis=1)
            out["accounting_max"][lo:hi] = np.where(finite_rows, safe.max(axis=1), np.nan)
            out["accounting_time"][lo:hi] = t[kmax]
            rows_ = np.arange(hi - lo)
            out["accounting_abs"][lo:hi] = np.abs(ds["people_accounting_error"].values)[rows_, kmax]
            out["accounting_people"][lo:hi] = ds["people_in_tracked_stocks"].values[rows_, kmax]
            part_max = np.where(np.isfinite(rel), rel, 0.0).max(axis=0)
            by_time = part_max if by_time is None else np.maximum(by_time, part_max)
        out["time"] = t
        del ds
        if checked:
            st = _run(ctx, part, checked, saveper=ctx.dt)
            ts = st["time"].values
            for s in checked:
                x = st[s].values
                with np.errstate(all="ignore"):
                    scale = np.maximum(1.0, np.nanmax(np.abs(x), axis=1))
                    rel = x / scale[:, None]
                rel = np.where(np.isfinite(rel), rel, np.inf)
                k = np.argmin(rel, axis=1)
                low = rel[np.arange(hi - lo), k]
                better = low < out["stock_min"][lo:hi]
                for i in np.flatnonzero(better):
                    out["stock_min_at"][lo + i] = (s, float(ts[k[i]]), float(x[i, k[i]]))
                out["stock_min"][lo:hi] = np.where(better, low, out["stock_min"][lo:hi])
            del st
    if accounting:
        out["accounting_by_time"] = by_time
    out["envelope"] = {o: np.concatenate(v, axis=0) for o, v in envelope.items()}
    out["checked"] = checked
    return out


def _sample_text(lhs: dict, i: int) -> str:
    frame = lhs["parameters"]
    if not len(frame.columns):
        return "the model's defaults"
    if len(frame.columns) <= 4:
        return f"sample {i} (" + ", ".join(f"{k}={v:.4g}" for k, v in frame.iloc[i].items()) + ")"
    return f"sample {i} (its values: lhs_parameters in validation.nc)"


def _lhs_rows(ctx: _Context, lhs: dict) -> tuple[list[dict], dict]:
    n = lhs["n"]
    npar = len(lhs["parameters"].columns)
    scope = (f"{n} runs over {npar} parameters" if npar else "the model's defaults (no "
             "parameter has a range)")
    rows = []
    bad = np.flatnonzero(lhs["nonfinite"])
    if bad.size:
        i = int(bad[0])
        var, t = lhs["first_nonfinite"][i]
        details = (f"{bad.size} of {n} runs give non-finite values; first: {var} at {t:g} in "
                   f"{_sample_text(lhs, i)}")
    else:
        details = f"every variable finite at every save time in {scope}"
    rows.append(_row("lhs", "LHS: finite values", LHS_TESTS[0],
                     f"runs with a non-finite value (of {n})", bad.size, "==", 0, details))
    checked = lhs["checked"]
    if not checked:
        rows.append(_skipped("lhs", "LHS: no negative stock", LHS_TESTS[1],
                             "the model has no stocks to check"))
    else:
        low = lhs["stock_min"]
        i = int(np.argmin(low))
        fig = float(low[i])
        negative = int((low < -NEGATIVE_TOLERANCE).sum())
        s, t, v = lhs["stock_min_at"].get(i, ("", np.nan, np.nan))
        if negative:
            details = (f"{negative} of {n} runs have a negative stock; lowest: {s} = {v:.4g} at "
                       f"{t:g} in {_sample_text(lhs, i)}")
        else:
            details = (f"{len(checked)} stocks at every time step in {scope}; lowest value "
                       f"relative to its scale: {fig:.3g} ({s})")
        if SIGNED_STOCKS & set(ctx.stocks):
            details += f"; signed by definition, not checked: {', '.join(sorted(SIGNED_STOCKS))}"
        rows.append(_row("lhs", "LHS: no negative stock", LHS_TESTS[1],
                         "lowest stock / its scale", fig, ">=", -NEGATIVE_TOLERANCE, details))
    data = {}
    if lhs["envelope"]:
        q = [0.0, 0.05, 0.5, 0.95, 1.0]
        with _quiet():  # an all-NaN column (non-finite runs) is reported by its own row
            arr = np.stack([np.nanquantile(lhs["envelope"][o], q, axis=0)
                            for o in lhs["env_outputs"]])
        data["lhs_envelope"] = xr.DataArray(
            arr, dims=("envelope_output", "quantile", "time"),
            coords={"envelope_output": lhs["env_outputs"], "quantile": q},
            attrs={"long_name": "quantiles over the Latin hypercube",
                   "units": json.dumps({o: ctx.engine.nodes[o].units
                                        for o in lhs["env_outputs"]})})
    frame = lhs["parameters"]
    if len(frame.columns):
        data["lhs_parameters"] = xr.DataArray(
            frame.to_numpy(float), dims=("sample", "parameter"),
            coords={"sample": np.arange(len(frame)), "parameter": list(frame.columns)},
            attrs={"long_name": "Latin hypercube sample"})
    return rows, data


# --------------------------------------------------------------------------------------------
# (f) extreme conditions

EXTREME_VARIABLES = ["adopting_share", "junior_staff", "total_hub_staff", "local_service_jobs",
                     "junior_local_hiring", "junior_fill_ratio"]
_AI_OUTPUTS = ["adopting_share", "junior_automated_share", "mid_automated_share",
               "augmented_share", "displaced_task_volume", "displaced_hub_workers"]


def _scale_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to max |b| (1 when b is all zero)."""
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 0 else 1.0)


def _extremes(ctx: _Context) -> tuple[list[dict], dict]:
    from .run import KEY_OUTPUTS

    consts = set(ctx.engine.constants)
    specs = {
        "no_adoption": ("extreme: no adoption is the no-AI world",
                        "with no AI adoption nothing is automated or augmented, every stock is the "
                        "same whatever the AI parameters, and the default run equals it until AI "
                        "arrives",
                        set(NO_ADOPTION) | set(AI_EFFECT_EXTREMES),
                        _AI_OUTPUTS + ["junior_productivity_multiplier"]),
        "full_automation": ("extreme: full junior automation",
                            "a_J = 1 and h = 0: juniors go (nearly) to zero, without a negative "
                            "stock", set(FULL_AUTOMATION), ["junior_staff"]),
        "zero_graduates": ("extreme: zero graduates limit hiring",
                           "with no graduate job seekers the hub hires no local juniors: only "
                           "external recruits fill vacancies and the hub ends smaller (workforce "
                           "sector alone)",
                           {"junior_external_recruitment_share"},
                           ["graduate_job_seekers", "junior_local_hiring", "junior_hiring",
                            "junior_external_recruitment", "junior_fill_ratio",
                            "junior_vacancies", "total_hub_staff"]),
        "no_multiplier": ("extreme: no multiplier keeps services at base",
                          "with a local multiplier of 0 local service jobs stay at their base, "
                          "at the hub values and under an automation shock",
                          set(NO_MULTIPLIER) | {"base_local_service_jobs"} | set(SHOCK),
                          ["local_service_jobs"]),
    }
    rows, missing = {}, {}
    for key, (check, tests, params, outs) in specs.items():
        lacking = sorted(params - consts) + ctx.lacks(outs)
        if lacking:
            missing[key] = lacking
            rows[key] = _skipped("extreme", check, tests, "not applicable: the model lacks "
                                 + ", ".join(lacking[:6]) + (", ..." if len(lacking) > 6 else ""))
    cases = {"baseline": {}}
    if "no_adoption" not in missing:
        cases["no_adoption"] = dict(NO_ADOPTION)
        cases["no_adoption_ai_extremes"] = {**NO_ADOPTION, **AI_EFFECT_EXTREMES}
    if "full_automation" not in missing:
        cases["full_automation"] = dict(FULL_AUTOMATION)
    if "no_multiplier" not in missing:
        cases["no_multiplier"] = dict(NO_MULTIPLIER)
        cases["no_multiplier_shock"] = {**SHOCK, **NO_MULTIPLIER}
    data = {}
    if len(cases) > 1:
        compared = list(dict.fromkeys(ctx.stocks + [o for o in KEY_OUTPUTS if ctx.has(o)]))
        wanted = [v for v in EXTREME_VARIABLES + _AI_OUTPUTS + ["junior_productivity_multiplier"]
                  if ctx.has(v)]
        outs = list(dict.fromkeys(compared + wanted))
        ds = _run(ctx, cases, outs)
        t = ds["time"].values
        if "no_adoption" in cases:
            rows["no_adoption"] = _no_adoption_row(ctx, ds, compared, t, specs["no_adoption"])
        if "full_automation" in cases:
            rows["full_automation"] = _full_automation_row(ctx, ds, t, specs["full_automation"])
        if "no_multiplier" in cases:
            rows["no_multiplier"] = _no_multiplier_row(ctx, ds, specs["no_multiplier"])
        keep = [v for v in EXTREME_VARIABLES if v in ds]
        data["extremes"] = ds[keep].rename(sample="case")
    if "zero_graduates" not in missing:
        row, zero = _zero_graduates(ctx, specs["zero_graduates"])
        rows["zero_graduates"] = row
        if zero is not None and "extremes" in data:
            ext = data["extremes"]
            t = ext["time"].values
            rows_ = {}
            for v in ext.data_vars:
                new = (np.interp(t, zero["time"].values, zero[v].values) if v in zero
                       else np.full(t.size, np.nan))
                rows_[v] = (("case", "time"), np.vstack([ext[v].values, new]), ext[v].attrs)
            data["extremes"] = xr.Dataset(
                rows_, coords={"case": [*map(str, ext["case"].values), "zero_graduates"],
                               "time": t})
    order = ["no_adoption", "full_automation", "zero_graduates", "no_multiplier"]
    return [rows[k] for k in order], data


def _no_adoption_row(ctx, ds, compared, t, spec) -> dict:
    check, tests, _, _ = spec
    no_ai = ds.sel(sample="no_adoption")
    other = ds.sel(sample="no_adoption_ai_extremes")
    base = ds.sel(sample="baseline")
    diff = max(_scale_diff(other[v].values, no_ai[v].values) for v in compared)
    worst = max(compared, key=lambda v: _scale_diff(other[v].values, no_ai[v].values))
    ai_max = max(float(np.max(np.abs(no_ai[v].values))) for v in _AI_OUTPUTS)
    prod = float(np.max(np.abs(no_ai["junior_productivity_multiplier"].values - 1)))
    start = float(ctx.base.get("ai_start_year", t[0]))
    before = t <= start
    pre = max(_scale_diff(base[v].values[before], no_ai[v].values[before]) for v in compared)
    fig = max(diff, pre)
    ok = ai_max == 0 and prod == 0
    details = (f"AI outputs ({', '.join(_AI_OUTPUTS)}) at most {ai_max:g}, productivity "
               f"multiplier 1 {'exactly' if prod == 0 else f'to {prod:g}'}; {len(compared)} "
               f"stocks and key outputs with every AI parameter at its other extreme differ by "
               f"{diff:.3g}{f' (largest: {worst})' if diff > 0 else ''}; the default run "
               f"differs by {pre:.3g} up to the AI start year {start:g}")
    return _row("extreme", check, tests, "max relative difference from the no-AI run", fig,
                "<=", IDENTITY_TOLERANCE, details, ok=ok)


def _full_automation_row(ctx, ds, t, spec) -> dict:
    check, tests, _, _ = spec
    run = ds.sel(sample="full_automation")
    junior = run["junior_staff"].values
    k = int(np.argmax(junior))
    ratio = float(junior[-1] / junior[k]) if junior[k] > 0 else np.nan
    declining = bool(np.all(np.diff(junior[k:]) < 0))
    lows = {}
    for s in ctx.checked_stocks:
        x = run[s].values
        lows[s] = float(np.min(x) / max(1.0, float(np.max(np.abs(x)))))
    low_name = min(lows, key=lows.get) if lows else ""
    low = lows.get(low_name, 0.0)
    no_negative = low >= -NEGATIVE_TOLERANCE
    details = (f"juniors peak at {junior[k]:,.0f} in {t[k]:g} and end at {junior[-1]:,.0f} in "
               f"{t[-1]:g} ({ratio:.2%} of the peak), "
               f"{'falling steadily' if declining else 'NOT falling steadily'} after the peak; "
               f"lowest stock relative to its scale {low:.3g} ({low_name}): "
               f"{'no negative stock' if no_negative else 'NEGATIVE STOCK'}")
    return _row("extreme", check, tests, "final / peak junior staff", ratio, "<", 0.01, details,
                ok=declining and no_negative)


def _no_multiplier_row(ctx, ds, spec) -> dict:
    check, tests, _, _ = spec
    base = float(ctx.base["base_local_service_jobs"])
    worst = 0.0
    for case in ("no_multiplier", "no_multiplier_shock"):
        x = ds["local_service_jobs"].sel(sample=case).values
        dev = np.max(np.abs(x - base)) / (base if base > 0 else 1.0)
        worst = max(worst, float(dev))
    normal = float(ds["local_service_jobs"].sel(sample="baseline").max())
    shock = ", ".join(f"{k}={v:g}" for k, v in SHOCK.items())
    details = (f"local service jobs depart from the base {base:,.0f} by at most {worst:.3g} "
               f"(relative) at the "
               f"{'hub values' if ctx.hub else 'model defaults'} and under an automation shock "
               f"({shock}); with the default multiplier they reach {normal:,.0f}")
    return _row("extreme", check, tests, "max |local service jobs / base - 1|", worst, "<=",
                IDENTITY_TOLERANCE, details)


def _zero_graduates(ctx, spec) -> tuple[dict, xr.Dataset | None]:
    """The workforce sector alone (PySD) with no graduate job seekers."""
    from .run import run_sector, sector_inputs, sectors

    check, tests, _, _ = spec
    if "workforce" not in sectors(ctx.mdl):
        return _skipped("extreme", check, tests, "not applicable: the model has no workforce "
                        "sector (view)"), None
    inputs = sector_inputs("workforce", ctx.mdl)
    if "graduate_job_seekers" not in inputs:
        return _skipped("extreme", check, tests, "not applicable: the workforce sector does not "
                        "read graduate_job_seekers"), None
    consts = set(ctx.engine.constants)
    series = [v for v in inputs if v not in consts and ctx.has(v)]
    full = _run(ctx, None, list(dict.fromkeys(series + ["total_hub_staff"])),
                saveper=ctx.dt).isel(sample=0)
    t = full["time"].values
    exo = {v: ("time", full[v].values) for v in series}
    exo["graduate_job_seekers"] = ("time", np.zeros(t.size))
    outs = ["junior_local_hiring", "junior_hiring", "junior_external_recruitment",
            "junior_fill_ratio", "junior_vacancies", "junior_staff", "total_hub_staff"]
    with _quiet():
        alone = run_sector("workforce", exogenous=xr.Dataset(exo, coords={"time": t}),
                           hub=ctx.hub, outputs=outs, mdl=ctx.mdl)
    local = float(np.max(np.abs(alone["junior_local_hiring"].values)))
    share = float(ctx.base["junior_external_recruitment_share"])
    open_ = alone["junior_vacancies"].values > 0
    fill = alone["junior_fill_ratio"].values[open_]
    fill_dev = float(np.max(np.abs(fill - share))) if fill.size else np.nan
    end_alone = float(alone["total_hub_staff"].values[-1])
    end_full = float(full["total_hub_staff"].values[-1])
    smaller = end_alone < 0.9 * end_full
    fill_ok = bool(fill.size) and fill_dev <= 1e-9
    lo, hi = (float(fill.min()), float(fill.max())) if fill.size else (np.nan, np.nan)
    details = (f"local junior hiring at most {local:g} Person/Year; junior fill ratio "
               f"{lo:.3g}-{hi:.3g} while vacancies are open, the external recruitment share "
               f"{share:g}"
               f"{'' if fill_ok else ' (DIFFERENT)'}; hub staff in {t[-1]:g}: {end_alone:,.0f} "
               f"against {end_full:,.0f} with graduates{'' if smaller else ' (NOT SMALLER)'}")
    row = _row("extreme", check, tests, "max local junior hiring [Person/Year]", local, "<=", 0,
               details, ok=fill_ok and smaller)
    return row, alone[["junior_staff", "total_hub_staff", "junior_local_hiring",
                       "junior_fill_ratio"]]


# --------------------------------------------------------------------------------------------
# (g) behaviour reproduction


def _behaviour_reproduction(hub: str | None, mdl=DEFAULT_MODEL) -> dict:
    """Behaviour-reproduction statistics of the calibrated parameter set of ``hub``.

    :func:`hubsd.calibrate.behaviour_reproduction` (imported here, never at module import)
    gives the row, or None when the hub has no calibrated set: the row is then skipped.
    """
    check = "behaviour reproduction"
    tests = ("the calibrated model reproduces the historical data (fit statistics, Theil "
             "inequality)")
    if hub is None:
        return _skipped("behaviour", check, tests, "no hub, so no calibrated set")
    from . import calibrate

    row = calibrate.behaviour_reproduction(hub, mdl)
    if row is None:
        return _skipped("behaviour", check, tests, f"no calibrated set for {hub}")
    return {**_skipped("behaviour", check, tests, ""), **dict(row)}


# --------------------------------------------------------------------------------------------
# the battery


def _check_inputs(hub, mdl, checks, lhs_samples, seed) -> tuple[_Context, Path | None]:
    from .reality import RealityCheckError, load_checks

    ctx = _prepare(mdl, hub, lhs_samples, seed)
    checks = default_checks(ctx.mdl) if checks is None else Path(checks)
    if checks is not None:
        try:
            load_checks(checks, ctx.mdl)
        except RealityCheckError as exc:
            raise ValidationInputError(" ".join(str(exc).split())) from None
    return ctx, checks


def check_inputs(hub: str | None = "krakow", mdl=DEFAULT_MODEL, checks=None,
                 lhs_samples: int = LHS_SAMPLES, seed: int = LHS_SEED) -> None:
    """Everything :func:`validate` checks before it runs anything (the model translates and
    compiles, the hub fits it, the checks file is well formed and names known variables, the
    sample size and seed are valid); raises :class:`ValidationInputError`."""
    _check_inputs(hub, mdl, checks, lhs_samples, seed)


def validate(hub: str | None = "krakow", mdl=DEFAULT_MODEL, checks=None,
             lhs_samples: int = LHS_SAMPLES, seed: int = LHS_SEED) -> ValidationReport:
    """Run the model-testing battery on a Vensim model; one row per check.

    Parameters
    ----------
    hub : str, None or "auto"
        Hub file whose values the runs use (``None``: the model's defaults; ``"auto"``:
        ``"krakow"`` when the model has its parameters, else the defaults).
    mdl : path
        The model file (default ``models/hub.mdl``).
    checks : path, optional
        Reality-check file (default: ``<model>.checks.yaml`` beside the model, if any).
    lhs_samples, seed : int
        Size and seed of the Latin hypercube.

    Returns
    -------
    ValidationReport

    Raises
    ------
    ValidationInputError
        Before anything runs: a model that does not translate (file and line), a hub that does
        not fit it, a malformed checks file or one naming unknown variables (file and line),
        a bad sample size or seed.
    """
    from . import __version__

    started = time.perf_counter()
    ctx, checks = _check_inputs(hub, mdl, checks, lhs_samples, seed)
    def attempt(fn, names):
        """Run one group of checks; if it cannot run, each of its rows fails with the error
        (a model the engine refuses for some samples, say), and the other groups still run."""
        try:
            return fn()
        except Exception as exc:  # reported in the table, not raised
            return _could_not_run(exc, names)

    rows = attempt(lambda: _units(ctx), [("units", "units consistency", UNITS_TESTS)])
    rows += attempt(lambda: _reality(ctx, checks),
                    [("reality", "reality checks", "declarative statements beside the model")])
    lhs, lhs_data = None, {}
    try:
        lhs = _lhs(ctx, int(lhs_samples), int(seed))
        lhs_rows, lhs_data = _lhs_rows(ctx, lhs)
    except Exception as exc:  # reported in the table, not raised
        lhs = None
        lhs_rows = _could_not_run(exc, [("lhs", "LHS: finite values", LHS_TESTS[0]),
                                        ("lhs", "LHS: no negative stock", LHS_TESTS[1])])
    cases = _scenarios(ctx)
    integ = attempt(lambda: _integration_and_conservation(ctx, cases, lhs),
                    [("conservation", "conservation of people", CONSERVATION_TESTS),
                     ("integration", "integration: TIME STEP halved", INTEGRATION_TESTS),
                     ("integration", "integration: fine reference", INTEGRATION_TESTS)])
    integ_rows, data = integ if isinstance(integ, tuple) else (integ, {})
    conservation = [r for r in integ_rows if r["group"] == "conservation"]
    integration = [r for r in integ_rows if r["group"] == "integration"]
    ext = attempt(lambda: _extremes(ctx),
                  [("extreme", f"extreme: {name}", "") for name in EXTREME_NAMES])
    extreme_rows, extreme_data = ext if isinstance(ext, tuple) else (ext, {})
    rows += conservation + lhs_rows + integration + extreme_rows
    rows += attempt(lambda: [_behaviour_reproduction(ctx.hub, ctx.mdl)],
                    [("behaviour", "behaviour reproduction", "")])
    table = pd.DataFrame(rows, columns=COLUMNS)

    time_ = data.pop("_scenario_time", None)
    if time_ is None and lhs is not None:
        time_ = xr.DataArray(lhs["time"], dims="time")
    coords = {} if time_ is None else {
        "time": ("time", np.asarray(time_.values, float),
                 {"units": ctx.engine.nodes["initial_time"].units or ""})}
    ds = xr.Dataset(coords=coords)
    for name, da in {**data, **lhs_data}.items():
        ds[name] = da
    if "extremes" in extreme_data:
        ext = extreme_data["extremes"]
        for v in ext.data_vars:
            ds[f"extreme_{v}"] = ext[v].assign_attrs(ext[v].attrs)
        ds = ds.assign_coords(case=ext["case"].values)
    info = {
        "model_sha256": ctx.engine.sha256,
        "hubsd_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "time_step": ctx.dt,
        "lhs_parameters": len(lhs["parameters"].columns) if lhs is not None else 0,
        "scenarios": cases,
    }
    return ValidationReport(table, ds, ctx.mdl, ctx.hub, checks, int(lhs_samples), int(seed),
                            time.perf_counter() - started, info)


# --------------------------------------------------------------------------------------------
# figures


def _style():
    import seaborn as sns

    from .plots import _CONTEXT, _STYLE

    return sns.axes_style(_STYLE), sns.plotting_context(_CONTEXT, font_scale=0.8)


def plot_integration(data: xr.Dataset):
    """Max relative difference per key output (worst scenario) for dt/2 and the fine reference,
    with the thresholds."""
    from .plots import _new_figure

    if "integration_error" not in data:
        return None
    err = data["integration_error"].max("scenario")
    outputs = [str(o) for o in err["output"].values]
    style, context = _style()
    with style, context:
        fig = _new_figure(7.5, 0.35 * len(outputs) + 1.8)
        ax = fig.subplots()
        y = np.arange(len(outputs))
        for i, (ref, limit) in enumerate(zip(err["reference"].values,
                                             (HALVING_THRESHOLD, REFERENCE_THRESHOLD),
                                             strict=True)):
            colour = f"C{i}"
            ax.barh(y + (i - 0.5) * 0.38, 100 * err.sel(reference=ref).values, height=0.36,
                    color=colour, label=f"vs {ref} (threshold {limit:.0%})")
            ax.axvline(100 * limit, color=colour, linestyle="--", linewidth=1)
        ax.set_yticks(y, [o.replace("_", " ") for o in outputs])
        ax.invert_yaxis()
        ax.set_xlabel("max |difference| / scale [%], worst scenario")
        ax.set_title(f"Integration error at TIME STEP {err.attrs.get('time_step', ''):g}",
                     fontsize="medium")
        ax.legend(loc="lower right", fontsize="small")
    return fig


def plot_conservation(data: xr.Dataset):
    """|people accounting error| / people over time, per scenario and the LHS maximum."""
    from .plots import _new_figure

    if "accounting_error" not in data:
        return None
    floor = 1e-18
    style, context = _style()
    with style, context:
        fig = _new_figure(7.5, 3.6)
        ax = fig.subplots()
        t = data["time"].values
        da = data["accounting_error"]
        for s in da["scenario"].values:
            ax.plot(t, np.maximum(da.sel(scenario=s).values, floor), linewidth=1, label=str(s))
        if "lhs_accounting_error_max" in data:
            ax.plot(t, np.maximum(data["lhs_accounting_error_max"].values, floor), color="k",
                    linewidth=1.6, linestyle=":", label="Latin hypercube, max")
        ax.axhline(CONSERVATION_TOLERANCE, color="r", linestyle="--", linewidth=1,
                   label=f"threshold {CONSERVATION_TOLERANCE:g}")
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, max(1.0, float(np.nanmax(da.values)) * 2))
        ax.set_xlabel(f"Time [{data['time'].attrs.get('units', 'Year')}]")
        ax.set_ylabel("|accounting error| / people")
        ax.set_title("Conservation of people", fontsize="medium")
        ax.legend(fontsize="x-small", ncols=2, loc="upper left")
    return fig


def plot_envelope(data: xr.Dataset):
    """Key outputs over the Latin hypercube: min-max and 5-95 % bands, the median."""
    from .plots import _new_figure

    if "lhs_envelope" not in data:
        return None
    env = data["lhs_envelope"]
    units = json.loads(env.attrs.get("units", "{}"))
    outputs = [str(o) for o in env["envelope_output"].values]
    ncols = 3 if len(outputs) > 4 else min(len(outputs), 2)
    nrows = int(np.ceil(len(outputs) / ncols))
    t = data["time"].values
    style, context = _style()
    with style, context:
        fig = _new_figure(4.0 * ncols, 2.8 * nrows + 0.6)
        axes = fig.subplots(nrows, ncols, sharex=True, squeeze=False).ravel()
        for ax, o in zip(axes, outputs, strict=False):
            q = env.sel(envelope_output=o)
            ax.fill_between(t, q.sel(quantile=0.0), q.sel(quantile=1.0), color="C0", alpha=0.2,
                            linewidth=0, label="min-max")
            ax.fill_between(t, q.sel(quantile=0.05), q.sel(quantile=0.95), color="C0",
                            alpha=0.4, linewidth=0, label="5-95 %")
            ax.plot(t, q.sel(quantile=0.5), color="C0", linewidth=1.4, label="median")
            ax.axhline(0, color="k", linewidth=0.6)
            ax.set_title(o.replace("_", " "), fontsize="medium")
            ax.set_ylabel(units.get(o, ""))
        for ax in axes[len(outputs):]:
            ax.set_visible(False)
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", ncols=3, frameon=False)
        n = data.sizes.get("sample", 0)
        fig.suptitle(f"Latin hypercube over the parameter table ({n} runs)", fontsize="large")
    return fig


def plot_extremes(data: xr.Dataset):
    """The extreme-condition runs against the baseline."""
    from .plots import _new_figure

    if "case" not in data.coords:
        return None
    cases = [str(c) for c in data["case"].values]
    panels = [
        ("No adoption", "extreme_junior_staff",
         ["baseline", "no_adoption", "no_adoption_ai_extremes"]),
        ("a_J = 1, h = 0", "extreme_junior_staff", ["baseline", "full_automation"]),
        ("Zero graduates (workforce alone)", "extreme_total_hub_staff",
         ["baseline", "zero_graduates"]),
        ("Local multiplier 0", "extreme_local_service_jobs",
         ["baseline", "no_multiplier", "no_multiplier_shock"]),
    ]
    panels = [(title, var, [c for c in want if c in cases]) for title, var, want in panels
              if var in data and any(c in cases for c in want[1:])]
    if not panels:
        return None
    t = data["time"].values
    style, context = _style()
    with style, context:
        fig = _new_figure(9.0, 3.0 * int(np.ceil(len(panels) / 2)) + 0.4)
        axes = fig.subplots(int(np.ceil(len(panels) / 2)), 2, squeeze=False).ravel()
        for ax, (title, var, want) in zip(axes, panels, strict=False):
            for i, c in enumerate(want):
                ax.plot(t, data[var].sel(case=c).values, linewidth=1.4,
                        linestyle=["-", "--", ":"][i % 3], label=c.replace("_", " "))
            ax.set_title(title, fontsize="medium")
            ax.set_ylabel(f"{var.removeprefix('extreme_').replace('_', ' ')} "
                          f"[{data[var].attrs.get('units', '')}]")
            ax.legend(fontsize="x-small")
        for ax in axes[len(panels):]:
            ax.set_visible(False)
        fig.suptitle("Extreme conditions", fontsize="large")
    return fig


FIGURES = {
    "integration_error": plot_integration,
    "conservation": plot_conservation,
    "lhs_envelope": plot_envelope,
    "extreme_conditions": plot_extremes,
}
FIGURE_TITLES = {
    "integration_error": "Integration error (TIME STEP against TIME STEP / 2 and / "
                         f"{REFERENCE_DIVISOR})",
    "conservation": "Conservation of people",
    "lhs_envelope": "Key outputs over the Latin hypercube",
    "extreme_conditions": "Extreme conditions",
}


# --------------------------------------------------------------------------------------------
# ``hubsd.validate`` was (and stays) the parameter validator exported by the package; importing
# this module rebinds the package attribute to the module, so the module is made callable and
# forwards a call to :func:`hubsd.parameters.validate`.


class _CallableModule(types.ModuleType):
    def __call__(self, values=None, mdl=DEFAULT_MODEL):
        """``hubsd.validate(values)``: :func:`hubsd.parameters.validate` (parameter checks)."""
        return _validate_parameters(values, mdl)


sys.modules[__name__].__class__ = _CallableModule
