"""Reality checks: declarative statements about the model, each an input plus a condition.

A check file (``models/hub.checks.yaml``) lists statements a modeller believes must hold, in the
spirit of Vensim's reality checks (Sterman 2000, ch. 21)::

    checks:
      - name: no adoption, no automation
        statement: With no AI adoption nothing is automated and no one is laid off.
        inputs: {bass_innovation_coefficient: 0}
        conditions:
          - {output: junior_automated_share, check: "<=", value: 0}
          - {output: [junior_layoffs, mid_layoffs, senior_layoffs], check: "<=", value: 1.0e-9}
        corners: [automatable_junior_share, client_demand_growth_rate]

Each condition compares an output (or the sum of a list of outputs) with a number or with
another variable (``value_of: base_local_service_jobs``), ``when`` ``always`` (default),
``eventually``, ``after: YEAR`` or ``at: YEAR``, within ``tolerance`` (absolute, default 1e-6
times the larger of 1 and the compared value). There is no free-form expression language and
nothing is evaluated as Python.

Every check runs at the hub's values plus its ``inputs``, and at the *corners* of the parameter
table: each listed corner parameter at its low and at its high end, and all of them at low and
all at high together (``2k + 3`` runs). All runs of all checks are simulated together by the
ensemble engine. A failing check names the statement, the input and the first time it fails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.core.yamlio import LineLoader
from hubsd.engine.ensemble import compile_model
from hubsd.engine.pysd_runner import resolve_parameters
from hubsd.engine.results import base_name, flat_outputs, flatten
from hubsd.model.parameters import ParameterError, check_parameters, resolve_name, table

CHECKS_FILE = DEFAULT_MODEL.with_name("hub.checks.yaml")
COMPARISONS = {
    "<=": np.less_equal,
    ">=": np.greater_equal,
    "==": None,
    "<": np.less,
    ">": np.greater,
}
WHEN = ("always", "eventually")


class RealityCheckError(HubsdError):
    """A malformed or inconsistent reality-check file (the message names the line)."""


@dataclass
class Condition:
    """One condition of a check: outputs (summed) compared with a number or a variable."""

    outputs: list[str]
    check: str
    value: float | None
    value_of: str | None
    when: str
    year: float | None
    tolerance: float | None
    line: int

    def describe(self) -> str:
        """The condition as text, e.g. ``junior_staff >= 0 (always)``."""
        lhs = " + ".join(self.outputs)
        rhs = self.value_of if self.value_of else f"{self.value:g}"
        when = self.when if self.year is None else f"{self.when} {self.year:g}"
        return f"{lhs} {self.check} {rhs} ({when})"


@dataclass
class Check:
    """One statement of a check file: its inputs, conditions and corner parameters."""

    name: str
    statement: str
    inputs: dict
    conditions: list[Condition]
    corners: list[str] = field(default_factory=list)
    line: int = 0


def _fail(path, line, msg):
    raise RealityCheckError(f"{path}, line {line}: {msg}")


def _known_name(name, pool, path, line, what):
    if name not in pool:
        _fail(path, line, f"unknown {what} {name!r}{did_you_mean(name, pool)}")


def load_checks(path: str | Path = CHECKS_FILE, mdl=DEFAULT_MODEL) -> list[Check]:
    """Read and validate a reality-check file; every error names the file and line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RealityCheckError(f"cannot read {path}: {exc.strerror}") from None
    try:
        doc = yaml.load(text, Loader=LineLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else "?"
        _fail(path, line, f"malformed YAML: {getattr(exc, 'problem', exc)}")
    if not isinstance(doc, dict) or not isinstance(doc.get("checks"), list):
        _fail(path, 1, "expected a mapping with a list under 'checks'")
    engine = compile_model(mdl)
    outputs = set(engine.outputs_available()) | set(flat_outputs(engine))
    params = set(table(mdl).index)
    checks, names = [], set()
    for entry in doc["checks"]:
        if not isinstance(entry, dict):
            _fail(path, "?", "each check must be a mapping")
        line = entry.get("__line__", "?")
        unknown = set(entry) - {"name", "statement", "inputs", "conditions", "corners", "__line__"}
        if unknown:
            _fail(
                path,
                line,
                f"unknown key(s) {', '.join(sorted(unknown))}; valid: name, "
                "statement, inputs, conditions, corners",
            )
        for key in ("name", "statement", "conditions"):
            if key not in entry:
                _fail(path, line, f"check lacks {key!r}")
        name = str(entry["name"])
        if name in names:
            _fail(path, line, f"check name {name!r} used twice")
        names.add(name)
        inputs = {k: v for k, v in (entry.get("inputs") or {}).items() if k != "__line__"}
        for k in inputs:
            _known_name(k, params, path, line, "parameter")
        try:
            inputs = check_parameters(inputs, mdl)
        except ParameterError as exc:
            _fail(path, line, str(exc))
        corners = list(entry.get("corners") or [])
        for c in corners:
            _known_name(c, params, path, line, "corner parameter")
            if c in inputs:
                _fail(path, line, f"corner parameter {c!r} is also fixed in the inputs")
        conds = []
        if not isinstance(entry["conditions"], list) or not entry["conditions"]:
            _fail(path, line, "'conditions' must be a non-empty list")
        for c in entry["conditions"]:
            if not isinstance(c, dict):
                _fail(path, line, "each condition must be a mapping")
            cl = c.get("__line__", line)
            bad = set(c) - {
                "output",
                "check",
                "value",
                "value_of",
                "when",
                "at",
                "after",
                "tolerance",
                "__line__",
            }
            if bad:
                _fail(path, cl, f"unknown key(s) {', '.join(sorted(bad))} in a condition")
            outs = c.get("output")
            outs = [outs] if isinstance(outs, str) else outs
            if not outs:
                _fail(path, cl, "condition lacks 'output'")
            for o in outs:
                _known_name(o, outputs, path, cl, "output")
            if c.get("check") not in COMPARISONS:
                _fail(path, cl, f"check {c.get('check')!r} is not one of {', '.join(COMPARISONS)}")
            if ("value" in c) == ("value_of" in c):
                _fail(path, cl, "give exactly one of 'value' and 'value_of'")
            if "value_of" in c:
                _known_name(c["value_of"], outputs | params, path, cl, "variable")
            value = c.get("value")
            if value is not None and (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                _fail(path, cl, f"value {value!r} must be a finite number")
            when, year = c.get("when", "always"), None
            if "at" in c or "after" in c:
                when = "at" if "at" in c else "after"
                year = c[when]
                if not isinstance(year, (int, float)):
                    _fail(path, cl, f"{when} must be a year")
            elif when not in WHEN:
                _fail(path, cl, f"when {when!r} is not one of always, eventually (or use at/after)")
            tol = c.get("tolerance")
            if tol is not None and (not isinstance(tol, (int, float)) or tol < 0):
                _fail(path, cl, "tolerance must be a non-negative number")
            conds.append(
                Condition(
                    list(outs),
                    c["check"],
                    None if value is None else float(value),
                    c.get("value_of"),
                    when,
                    year,
                    tol,
                    cl,
                )
            )
        checks.append(Check(name, str(entry["statement"]), inputs, conds, corners, line))
    return checks


def _corner_inputs(check: Check, tab: pd.DataFrame) -> list[tuple[str, dict]]:
    runs = [("defaults", dict(check.inputs))]
    for c in check.corners:
        for end in ("low", "high"):
            runs.append((f"{c}={end}", {**check.inputs, c: float(tab.loc[c, end])}))
    if len(check.corners) > 1:
        for end in ("low", "high"):
            runs.append(
                (
                    f"all corners {end}",
                    {**check.inputs, **{c: float(tab.loc[c, end]) for c in check.corners}},
                )
            )
    return runs


def _member(da, i: int) -> np.ndarray:
    """Member ``i`` of a run's variable: (time, elements...), or a parameter's value."""
    return da.transpose("sample", *[d for d in ("time",) if d in da.dims], ...).values[i]


def _evaluate(cond: Condition, ds, i, t):
    """Whether a condition holds in run ``i``: (holds, first failing time, value there).

    A subscripted output must hold for every element (``eventually``: each element at some
    time).
    """
    lhs = sum(_member(ds[o], i) for o in cond.outputs)
    if cond.value_of is not None:
        ref = _member(ds[cond.value_of], i)
        rhs = np.broadcast_to(ref, lhs.shape)
    else:
        rhs = np.full(lhs.shape, cond.value)
    tol = cond.tolerance
    if tol is None:
        tol = 1e-6 * np.maximum(1.0, np.abs(rhs))
    if cond.check == "==":
        ok = np.abs(lhs - rhs) <= tol
    elif cond.check in ("<=", "<"):
        ok = COMPARISONS[cond.check](lhs, rhs + tol) if cond.check == "<=" else lhs < rhs
    else:
        ok = COMPARISONS[cond.check](lhs, rhs - tol) if cond.check == ">=" else lhs > rhs
    lhs, ok = lhs.reshape(len(t), -1), ok.reshape(len(t), -1)
    if cond.when == "eventually":
        return bool(ok.any(axis=0).all()), None, None
    if cond.when == "always":
        mask = np.ones(len(t), dtype=bool)
    elif cond.when == "after":
        mask = t >= cond.year
    elif cond.when == "at":
        k = int(np.argmin(np.abs(t - cond.year)))
        mask = np.zeros(len(t), dtype=bool)
        mask[k] = True
    bad = np.where(mask & ~ok.all(axis=1))[0]
    if bad.size:
        k = bad[0]
        return False, float(t[k]), float(lhs[k][~ok[k]][0])
    return True, None, None


def run_checks(
    path: str | Path = CHECKS_FILE, hub: str | None = "krakow", mdl=DEFAULT_MODEL
) -> pd.DataFrame:
    """Run every check at its inputs and corners; one row per check, run and condition.

    Columns: ``check``, ``statement``, ``run`` (defaults or the corner), ``condition``, ``passed``,
    ``first_failure`` (time), ``value_at_failure`` and ``message`` (for failures: the
    statement, the input and the first time it fails).
    """
    checks = load_checks(path, mdl)
    tab = table(mdl)
    engine = compile_model(mdl)
    rows, frames, plan = [], [], []
    for check in checks:
        for label, inputs in _corner_inputs(check, tab):
            plan.append((check, label, inputs))
            frames.append(inputs)
    params = pd.DataFrame(frames)
    defaults = engine.parameter_table()["default"]
    if hub is not None:
        base = resolve_parameters(hub, None, mdl)
    else:
        base = defaults.to_dict()
    for col in params.columns:
        params[col] = params[col].fillna(base[col])
    needed = sorted(
        {o for c in checks for cond in c.conditions for o in cond.outputs}
        | {
            c.value_of
            for ch in checks
            for c in ch.conditions
            if c.value_of and c.value_of in engine.outputs_available()
        }
    )
    run = list(dict.fromkeys(base_name(o) for o in needed))
    ds = engine.run(params if len(params.columns) else None, run, hub=hub, n=len(plan))
    cells = flatten(ds)  # an element named in a condition: "population[North]"
    ds = ds.merge(cells[[v for v in cells.data_vars if v not in ds]])
    t = ds["time"].values
    for i, (check, label, inputs) in enumerate(plan):
        for cond in check.conditions:
            if cond.value_of is not None and cond.value_of not in ds:
                value = inputs.get(cond.value_of, base.get(cond.value_of))
                cond = Condition(
                    cond.outputs,
                    cond.check,
                    float(value),
                    None,
                    cond.when,
                    cond.year,
                    cond.tolerance,
                    cond.line,
                )
            ok, when, val = _evaluate(cond, ds, i, t)
            msg = ""
            if not ok:
                moment = (
                    f"first fails at {when:g} (value {val:.6g})"
                    if when is not None
                    else "never holds"
                )
                msg = (
                    f"reality check {check.name!r} failed: {check.statement} Input: "
                    f"{label}, {inputs or 'hub values'}. Condition {cond.describe()} {moment}."
                )
            rows.append(
                {
                    "check": check.name,
                    "statement": check.statement,
                    "run": label,
                    "condition": cond.describe(),
                    "passed": ok,
                    "first_failure": when,
                    "value_at_failure": val,
                    "message": msg,
                }
            )
    return pd.DataFrame(rows)


def resolve(name: str) -> str:  # pragma: no cover - convenience for notebooks
    """The Python name of a parameter given either spelling."""
    return resolve_name(name)
