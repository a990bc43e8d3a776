"""The checks of the battery (see :mod:`hubsd.validation.battery` for the list).

Units, reality checks, conservation and integration error over the scenarios, NaN and negative
stocks over a Latin hypercube, behaviour reproduction and the forecast band; the extreme
conditions are in :mod:`hubsd.validation.extremes`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.calibration import calibrate
from hubsd.core import sampling
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.engine.ensemble import compile_model
from hubsd.engine.results import base_name, flat_outputs
from hubsd.inputs.hubs import HubError, load_hub
from hubsd.inputs.scenarios import load_scenarios, scenario_parameters, smart_mix
from hubsd.model.parameters import ParameterError
from hubsd.model.parameters import table as parameter_table
from hubsd.model.units import UnitsError, check_units
from hubsd.validation.context import Context, quiet, run_members
from hubsd.validation.reality import load_checks, run_checks
from hubsd.validation.report import make_row, skipped_row
from hubsd.validation.settings import (
    CONSERVATION_TESTS,
    CONSERVATION_TOLERANCE,
    ENVELOPE_OUTPUTS,
    FAIL,
    HALVING_THRESHOLD,
    HISTORY_TESTS,
    HISTORY_TOLERANCE,
    INTEGRATION_OUTPUTS,
    INTEGRATION_TESTS,
    LHS_CHUNK,
    LHS_SAMPLES,
    LHS_SEED,
    LHS_TESTS,
    NEGATIVE_TOLERANCE,
    REFERENCE_DIVISOR,
    REFERENCE_THRESHOLD,
    SCALE_FLOOR,
    SHOCK,
    SIGNED_STOCKS,
    STRONG_SHOCK,
    UNITS_TESTS,
)

# --------------------------------------------------------------------------------------------
# (a) units, (b) reality checks


def units_rows(ctx: Context) -> list[dict]:
    """The units row: dimensional consistency of every equation of the model."""
    tests = UNITS_TESTS
    try:
        issues = check_units(ctx.mdl)
    except UnitsError as exc:
        return [
            make_row(
                "units",
                "units consistency",
                tests,
                "unit mismatches",
                np.nan,
                details=str(exc),
                status=FAIL,
            )
        ]
    details = "; ".join(str(i) for i in issues[:3])
    if len(issues) > 3:
        details += f"; and {len(issues) - 3} more"
    n_eq = len(ctx.engine.elements)
    return [
        make_row(
            "units",
            "units consistency",
            tests,
            "unit mismatches",
            len(issues),
            "==",
            0,
            details or f"{n_eq} variables checked, no mismatch",
        )
    ]


def reality_rows(ctx: Context, checks: Path | None) -> list[dict]:
    """One row per statement of the reality-check file (one skipped row without a file)."""
    if checks is None:
        return [
            skipped_row(
                "reality",
                "reality checks",
                "declarative statements beside the model",
                f"no checks file beside the model ({ctx.mdl.stem}.checks.yaml)",
            )
        ]
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
            where = (
                "at the "
                + ("hub values" if ctx.hub else "model defaults")
                + (
                    f" and the low and high ends of {', '.join(check.corners)}"
                    if check.corners
                    else ""
                )
            )
            details = (
                f"{n_cond} condition{'s hold' if n_cond > 1 else ' holds'} in {runs} "
                f"run{'s' if runs > 1 else ''}, {where}"
            )
        rows.append(
            make_row(
                "reality",
                f"reality: {name}",
                check.statement,
                f"failing run x condition pairs (of {len(sub)})",
                len(bad),
                "==",
                0,
                details,
            )
        )
    return rows


# --------------------------------------------------------------------------------------------
# scenarios: conservation and integration error


def scenario_cases(ctx: Context) -> dict[str, dict]:
    """Policy scenarios (with the hub's sizes) and automation shocks, as named cases.

    From data/scenarios.yaml; a case is kept when the model has its parameters, and the
    model's own values (``defaults``) are the only case when none of them applies.
    """
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
    try:  # a workspace of another model has no scenario file: no policy mix
        mix = smart_mix()
    except (HubError, ParameterError, KeyError):
        mix = None
    for name, params in (
        ("shock", SHOCK),
        ("strong_shock", STRONG_SHOCK),
        ("shock_mix", None if mix is None else {**SHOCK, **mix}),
    ):
        if params is not None and set(params) <= consts:
            cases[name] = params
    if len(cases) == 1:
        cases = {"defaults": {}}
    return cases


def _key_outputs(ctx: Context) -> list[str]:
    present = [o for o in INTEGRATION_OUTPUTS if ctx.has(o)]
    return present if present else list(ctx.stocks)


def _relative_error(ds: xr.Dataset) -> xr.DataArray:
    err = np.abs(ds["people_accounting_error"])
    people = np.maximum(np.abs(ds["people_in_tracked_stocks"]), 1.0)
    return err / people


def integration_and_conservation_rows(ctx, cases, lhs) -> tuple[list[dict], dict]:
    """Conservation and integration-error rows over the cases (and the LHS), with their data."""
    outputs = _key_outputs(ctx)
    accounting = ctx.has("people_accounting_error", "people_in_tracked_stocks")
    extra = [o for o, _ in SCALE_FLOOR.values() if ctx.has(o)]
    needed = list(
        dict.fromkeys(
            outputs
            + extra
            + (["people_accounting_error", "people_in_tracked_stocks"] if accounting else [])
        )
    )
    data = {}
    rows = []
    if not needed:
        reason = "the model has no stocks"
        rows = [
            skipped_row("conservation", "conservation of people", CONSERVATION_TESTS, reason),
            skipped_row("integration", "integration: TIME STEP halved", INTEGRATION_TESTS, reason),
            skipped_row("integration", "integration: fine reference", INTEGRATION_TESTS, reason),
        ]
        return rows, data
    runs = {
        k: run_members(ctx, cases, needed, time_step=ctx.dt / k) for k in (1, 2, REFERENCE_DIVISOR)
    }
    coarse = runs[1]
    # conservation: scenarios and the LHS
    tests = CONSERVATION_TESTS
    if not accounting:
        rows.append(
            skipped_row(
                "conservation",
                "conservation of people",
                tests,
                "the model has no people_accounting_error and people_in_tracked_stocks",
            )
        )
    else:
        rel = _relative_error(coarse)
        data["accounting_error"] = rel.rename(sample="scenario").assign_attrs(
            units="Dmnl", long_name="|people accounting error| / people in tracked stocks"
        )
        worst_s = rel.max("time")
        k = int(np.nanargmax(worst_s.values)) if np.isfinite(worst_s.values).any() else 0
        fig = float(np.nanmax(worst_s.values))
        kt = int(np.nanargmax(rel.values[k]))
        where = (
            f"worst: {list(cases)[k]} at {float(coarse.time[kt]):g}, "
            f"{float(np.abs(coarse['people_accounting_error'].values[k, kt])):.3g} people "
            f"of {float(coarse['people_in_tracked_stocks'].values[k, kt]):,.0f}"
        )
        n_lhs = 0
        if lhs is not None and "accounting_max" in lhs:
            acc = lhs["accounting_max"]
            finite = np.isfinite(acc)
            n_lhs = int(finite.sum())
            if finite.any() and float(np.max(acc[finite])) > fig:
                i = int(np.argmax(np.where(finite, acc, -np.inf)))
                fig = float(acc[i])
                where = (
                    f"worst: Latin hypercube sample {i} at {lhs['accounting_time'][i]:g}, "
                    f"{lhs['accounting_abs'][i]:.3g} people of "
                    f"{lhs['accounting_people'][i]:,.0f}"
                )
            data["lhs_accounting_error_max"] = xr.DataArray(
                lhs["accounting_by_time"],
                dims="time",
                attrs={
                    "units": "Dmnl",
                    "long_name": "max over the Latin hypercube of "
                    "|people accounting error| / people in tracked stocks",
                },
            )
            if (~finite).any():
                where += f"; {int((~finite).sum())} LHS runs with non-finite values left out"
        rows.append(
            make_row(
                "conservation",
                "conservation of people",
                tests,
                "max |accounting error| / people",
                fig,
                "<=",
                CONSERVATION_TOLERANCE,
                f"{len(cases)} scenario{'s' if len(cases) > 1 else ''} "
                f"({', '.join(cases)}) and {n_lhs} Latin hypercube runs; " + where,
            )
        )
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
        diffs,
        dims=("reference", "scenario", "output"),
        coords={
            "reference": ["dt/2", f"dt/{REFERENCE_DIVISOR}"],
            "scenario": list(cases),
            "output": outputs,
        },
        attrs={
            "units": "Dmnl",
            "long_name": "max |x(TIME STEP) - x(finer)| / scale",
            "time_step": ctx.dt,
        },
    )
    for r, (label, limit, what) in enumerate(
        (
            (
                "integration: TIME STEP halved",
                HALVING_THRESHOLD,
                f"key outputs move by less than {HALVING_THRESHOLD:.0%} of their scale when TIME "
                f"STEP {ctx.dt:g} is halved",
            ),
            (
                "integration: fine reference",
                REFERENCE_THRESHOLD,
                f"key outputs at TIME STEP {ctx.dt:g} stay within {REFERENCE_THRESHOLD:.0%} of "
                f"their scale of a run at TIME STEP / {REFERENCE_DIVISOR}",
            ),
        )
    ):
        d = diffs[r]
        if np.isnan(d).all():
            fig, details = np.nan, "no finite result"
        else:
            s, j = np.unravel_index(np.nanargmax(d), d.shape)
            fig = float(d[s, j])
            details = (
                f"worst: {outputs[j]} in {list(cases)[s]}; {len(outputs)} outputs "
                f"({', '.join(outputs)}) x {len(cases)} scenario"
                f"{'s' if len(cases) > 1 else ''} ({', '.join(cases)})"
            )
        rows.append(
            make_row(
                "integration", label, what, "max |difference| / scale", fig, "<", limit, details
            )
        )
    rows.append(history_row(ctx, cases, coarse, outputs))
    data["_scenario_time"] = coarse["time"]
    return rows, data


def case_start_year(ctx: Context, params: dict) -> float | None:
    """The year a case starts to differ from the baseline: its earliest start year.

    The earliest of the ``*start_year`` parameters it sets and, when it sets any parameter of
    the ``Scenario`` sector, the scenario start year (its own or the model's). ``None`` when it
    names no start year (a whole-run change such as an extreme condition).
    """
    years = [float(v) for k, v in params.items() if k.endswith("start_year")]
    if "scenario_start_year" in ctx.base:
        sector = parameter_table(ctx.mdl)["sector"]
        if any(sector.get(k) == "Scenario" for k in params):
            years.append(float(params.get("scenario_start_year", ctx.base["scenario_start_year"])))
    return min(years) if years else None


def history_row(ctx: Context, cases: dict, coarse: xr.Dataset, outputs: list[str]) -> dict:
    """Scenarios keep the history: each case equals the baseline before its start year."""
    check = "scenarios keep the calibrated history"
    base = "baseline" if "baseline" in cases else None
    starts = {k: case_start_year(ctx, v) for k, v in cases.items() if k != base}
    starts = {k: y for k, y in starts.items() if y is not None}
    if base is None or not starts:
        return skipped_row(
            "scenarios", check, HISTORY_TESTS, "no baseline case or no case with a start year"
        )
    time = coarse["time"].values
    worst, where = 0.0, ""
    for name, year in starts.items():
        before = time < year
        for o in outputs:
            a = coarse[o].sel(sample=name).values[before]
            b = coarse[o].sel(sample=base).values[before]
            scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)
            d = float(np.max(np.abs(a - b))) / scale if a.size else 0.0
            if d >= worst:
                worst, where = d, f"worst: {o} in {name} before {year:g}"
    return make_row(
        "scenarios",
        check,
        HISTORY_TESTS,
        "max |scenario - baseline| / scale before the start year",
        worst,
        "<=",
        HISTORY_TOLERANCE,
        f"{len(starts)} cases ({', '.join(f'{k} from {v:g}' for k, v in starts.items())}); "
        + where,
    )


# --------------------------------------------------------------------------------------------
# (d) Latin hypercube


def lhs_sample(ctx_or_mdl, samples: int = LHS_SAMPLES, seed: int = LHS_SEED) -> pd.DataFrame:
    """A seeded Latin hypercube over every parameter with a finite range (sorted by name)."""
    if isinstance(ctx_or_mdl, Context):
        tab = ctx_or_mdl.table
    else:
        tab = compile_model(ctx_or_mdl).parameter_table()
    tab = tab[np.isfinite(tab["low"]) & np.isfinite(tab["high"])].sort_index()
    if tab.empty:
        return pd.DataFrame(index=pd.RangeIndex(0, name="sample"))
    low, high = tab["low"].to_numpy(float), tab["high"].to_numpy(float)
    values = np.clip(sampling.lhs(low, high, int(samples), seed), low, high)
    return pd.DataFrame(values, columns=tab.index, index=pd.RangeIndex(samples, name="sample"))


def lhs_runs(ctx: Context, samples: int, seed: int) -> dict:
    """Run the Latin hypercube in chunks, keeping what the LHS and conservation rows need."""
    frame = lhs_sample(ctx, samples, seed)
    n = len(frame) if len(frame.columns) else 1
    params = frame if len(frame.columns) else None
    outputs = flat_outputs(ctx.engine)
    accounting = ctx.has("people_accounting_error", "people_in_tracked_stocks")
    env = [o for o in ENVELOPE_OUTPUTS if ctx.has(o)] or ctx.stocks[:6]
    checked = ctx.checked_stocks
    out = {
        "n": n,
        "parameters": frame,
        "env_outputs": env,
        "nonfinite": np.zeros(n, bool),
        "first_nonfinite": {},
        "stock_min": np.full(n, np.inf),
        "stock_min_at": {},
    }
    envelope = {o: [] for o in env}
    if accounting:
        for key in ("accounting_max", "accounting_time", "accounting_abs", "accounting_people"):
            out[key] = np.full(n, np.nan)
        by_time = None
    for lo in range(0, n, LHS_CHUNK):
        hi = min(lo + LHS_CHUNK, n)
        part = params.iloc[lo:hi] if params is not None else None
        ds = run_members(ctx, part, outputs)
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
                rel = np.abs(ds["people_accounting_error"].values) / np.maximum(
                    np.abs(ds["people_in_tracked_stocks"].values), 1.0
                )
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
            st = run_members(ctx, part, checked, saveper=ctx.dt)
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


def lhs_check_rows(ctx: Context, lhs: dict) -> tuple[list[dict], dict]:
    """The rows finite values and no negative stock over the LHS runs, with their data."""
    n = lhs["n"]
    npar = len(lhs["parameters"].columns)
    scope = (
        f"{n} runs over {npar} parameters"
        if npar
        else "the model's defaults (no parameter has a range)"
    )
    rows = []
    bad = np.flatnonzero(lhs["nonfinite"])
    if bad.size:
        i = int(bad[0])
        var, t = lhs["first_nonfinite"][i]
        details = (
            f"{bad.size} of {n} runs give non-finite values; first: {var} at {t:g} in "
            f"{_sample_text(lhs, i)}"
        )
    else:
        details = f"every variable finite at every save time in {scope}"
    rows.append(
        make_row(
            "lhs",
            "LHS: finite values",
            LHS_TESTS[0],
            f"runs with a non-finite value (of {n})",
            bad.size,
            "==",
            0,
            details,
        )
    )
    checked = lhs["checked"]
    if not checked:
        rows.append(
            skipped_row(
                "lhs", "LHS: no negative stock", LHS_TESTS[1], "the model has no stocks to check"
            )
        )
    else:
        low = lhs["stock_min"]
        i = int(np.argmin(low))
        fig = float(low[i])
        negative = int((low < -NEGATIVE_TOLERANCE).sum())
        s, t, v = lhs["stock_min_at"].get(i, ("", np.nan, np.nan))
        if negative:
            details = (
                f"{negative} of {n} runs have a negative stock; lowest: {s} = {v:.4g} at "
                f"{t:g} in {_sample_text(lhs, i)}"
            )
        else:
            details = (
                f"{len(checked)} stocks at every time step in {scope}; lowest value "
                f"relative to its scale: {fig:.3g} ({s})"
            )
        if SIGNED_STOCKS & set(ctx.stocks):
            details += f"; signed by definition, not checked: {', '.join(sorted(SIGNED_STOCKS))}"
        rows.append(
            make_row(
                "lhs",
                "LHS: no negative stock",
                LHS_TESTS[1],
                "lowest stock / its scale",
                fig,
                ">=",
                -NEGATIVE_TOLERANCE,
                details,
            )
        )
    data = {}
    if lhs["envelope"]:
        q = [0.0, 0.05, 0.5, 0.95, 1.0]
        with quiet():  # an all-NaN column (non-finite runs) is reported by its own row
            arr = np.stack(
                [np.nanquantile(lhs["envelope"][o], q, axis=0) for o in lhs["env_outputs"]]
            )
        data["lhs_envelope"] = xr.DataArray(
            arr,
            dims=("envelope_output", "quantile", "time"),
            coords={"envelope_output": lhs["env_outputs"], "quantile": q},
            attrs={
                "long_name": "quantiles over the Latin hypercube",
                "units": json.dumps(
                    {o: ctx.engine.nodes[base_name(o)].units for o in lhs["env_outputs"]}
                ),
            },
        )
    frame = lhs["parameters"]
    if len(frame.columns):
        data["lhs_parameters"] = xr.DataArray(
            frame.to_numpy(float),
            dims=("sample", "parameter"),
            coords={"sample": np.arange(len(frame)), "parameter": list(frame.columns)},
            attrs={"long_name": "Latin hypercube sample"},
        )
    return rows, data


# --------------------------------------------------------------------------------------------
# (f) extreme conditions


def _calibrated_row(check: str, tests: str, provider, hub: str | None, mdl, missing: str) -> dict:
    """A battery row from a provider of :mod:`hubsd.calibration.calibrate`.

    Skipped when the hub is None or the provider returns None.
    """
    if hub is None:
        return skipped_row("behaviour", check, tests, "no hub, so no calibrated set")
    row = provider(hub, mdl)
    if row is None:
        return skipped_row("behaviour", check, tests, f"{missing} for {hub}")
    return {**skipped_row("behaviour", check, tests, ""), **dict(row)}


def behaviour_rows(hub: str | None, mdl=DEFAULT_MODEL) -> dict:
    """Behaviour-reproduction statistics of the calibrated parameter set of ``hub``.

    :func:`hubsd.calibration.calibrate.behaviour_reproduction` (looked up on its module at
    call time, so a test can replace it) gives the row, or None when the hub has no calibrated
    set: the row is then skipped.
    """
    tests = "the calibrated model reproduces the historical data (fit statistics, Theil inequality)"
    return _calibrated_row(
        "behaviour reproduction",
        tests,
        calibrate.behaviour_reproduction,
        hub,
        mdl,
        "no calibrated set",
    )


def forecast_rows(hub: str | None, mdl=DEFAULT_MODEL) -> dict:
    """The calibrated baseline of ``hub`` against the industry's forecasts (a battery row).

    :func:`hubsd.calibration.calibrate.forecast_band` gives the row, or None when the hub has
    no calibrated set or its spec no forecast: the row is then skipped.
    """
    tests = "the calibrated baseline stays within the industry's own published projections"
    return _calibrated_row(
        "forecast band", tests, calibrate.forecast_band, hub, mdl, "no calibrated set or forecast"
    )
