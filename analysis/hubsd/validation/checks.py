"""The checks of the battery: units, reality checks, conservation and integration error over
the scenarios, NaN and negative stocks over a Latin hypercube, extreme conditions, behaviour
reproduction.
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
from hubsd.engine.pysd_runner import KEY_OUTPUTS, run_sector, sector_inputs, sectors
from hubsd.inputs.hubs import load_hub
from hubsd.inputs.scenarios import load_scenarios, scenario_parameters, smart_mix
from hubsd.model.units import UnitsError, check_units
from hubsd.validation.context import Context, quiet, run_members
from hubsd.validation.reality import load_checks, run_checks
from hubsd.validation.report import make_row, skipped_row
from hubsd.validation.settings import (
    AI_EFFECT_EXTREMES,
    CONSERVATION_TESTS,
    CONSERVATION_TOLERANCE,
    ENVELOPE_OUTPUTS,
    FAIL,
    FULL_AUTOMATION,
    HALVING_THRESHOLD,
    IDENTITY_TOLERANCE,
    INTEGRATION_OUTPUTS,
    INTEGRATION_TESTS,
    LHS_CHUNK,
    LHS_SAMPLES,
    LHS_SEED,
    LHS_TESTS,
    NEGATIVE_TOLERANCE,
    NO_ADOPTION,
    NO_MULTIPLIER,
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
    """Policy scenarios of data/scenarios.yaml (with the hub's sizes) and the automation shocks,
    for a model that has their parameters; the model's own values otherwise.
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
    for name, params in (
        ("shock", SHOCK),
        ("strong_shock", STRONG_SHOCK),
        ("shock_mix", {**SHOCK, **smart_mix()}),
    ):
        if set(params) <= consts:
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
    data["_scenario_time"] = coarse["time"]
    return rows, data


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
    frame = lhs_sample(ctx, samples, seed)
    n = len(frame) if len(frame.columns) else 1
    params = frame if len(frame.columns) else None
    outputs = ctx.engine.outputs_available()
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
                "units": json.dumps({o: ctx.engine.nodes[o].units for o in lhs["env_outputs"]}),
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

EXTREME_VARIABLES = [
    "adopting_share",
    "junior_staff",
    "total_hub_staff",
    "local_service_jobs",
    "junior_local_hiring",
    "junior_fill_ratio",
]
_AI_OUTPUTS = [
    "adopting_share",
    "junior_automated_share",
    "mid_automated_share",
    "augmented_share",
    "displaced_task_volume",
    "displaced_hub_workers",
]


def scale_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Max |a - b| relative to max |b| (1 when b is all zero)."""
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 0 else 1.0)


def extreme_check_rows(ctx: Context) -> tuple[list[dict], dict]:

    consts = set(ctx.engine.constants)
    specs = {
        "no_adoption": (
            "extreme: no adoption is the no-AI world",
            "with no AI adoption nothing is automated or augmented, every stock is the "
            "same whatever the AI parameters, and the default run equals it until AI "
            "arrives",
            set(NO_ADOPTION) | set(AI_EFFECT_EXTREMES),
            _AI_OUTPUTS + ["junior_productivity_multiplier"],
        ),
        "full_automation": (
            "extreme: full junior automation",
            "a_J = 1 and h = 0: juniors go (nearly) to zero, without a negative stock",
            set(FULL_AUTOMATION),
            ["junior_staff"],
        ),
        "zero_graduates": (
            "extreme: zero graduates limit hiring",
            "with no graduate job seekers the hub hires no local juniors: only "
            "external recruits fill vacancies and the hub ends smaller (workforce "
            "sector alone)",
            {"junior_external_recruitment_share"},
            [
                "graduate_job_seekers",
                "junior_local_hiring",
                "junior_hiring",
                "junior_external_recruitment",
                "junior_fill_ratio",
                "junior_vacancies",
                "total_hub_staff",
            ],
        ),
        "no_multiplier": (
            "extreme: no multiplier keeps services at base",
            "with a local multiplier of 0 local service jobs stay at their base, "
            "at the hub values and under an automation shock",
            set(NO_MULTIPLIER) | {"base_local_service_jobs"} | set(SHOCK),
            ["local_service_jobs"],
        ),
    }
    rows, missing = {}, {}
    for key, (check, tests, params, outs) in specs.items():
        lacking = sorted(params - consts) + ctx.lacks(outs)
        if lacking:
            missing[key] = lacking
            rows[key] = skipped_row(
                "extreme",
                check,
                tests,
                "not applicable: the model lacks "
                + ", ".join(lacking[:6])
                + (", ..." if len(lacking) > 6 else ""),
            )
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
        wanted = [
            v
            for v in EXTREME_VARIABLES + _AI_OUTPUTS + ["junior_productivity_multiplier"]
            if ctx.has(v)
        ]
        outs = list(dict.fromkeys(compared + wanted))
        ds = run_members(ctx, cases, outs)
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
                new = (
                    np.interp(t, zero["time"].values, zero[v].values)
                    if v in zero
                    else np.full(t.size, np.nan)
                )
                rows_[v] = (("case", "time"), np.vstack([ext[v].values, new]), ext[v].attrs)
            data["extremes"] = xr.Dataset(
                rows_, coords={"case": [*map(str, ext["case"].values), "zero_graduates"], "time": t}
            )
    order = ["no_adoption", "full_automation", "zero_graduates", "no_multiplier"]
    return [rows[k] for k in order], data


def _no_adoption_row(ctx, ds, compared, t, spec) -> dict:
    check, tests, _, _ = spec
    no_ai = ds.sel(sample="no_adoption")
    other = ds.sel(sample="no_adoption_ai_extremes")
    base = ds.sel(sample="baseline")
    diff = max(scale_diff(other[v].values, no_ai[v].values) for v in compared)
    worst = max(compared, key=lambda v: scale_diff(other[v].values, no_ai[v].values))
    ai_max = max(float(np.max(np.abs(no_ai[v].values))) for v in _AI_OUTPUTS)
    prod = float(np.max(np.abs(no_ai["junior_productivity_multiplier"].values - 1)))
    start = float(ctx.base.get("ai_start_year", t[0]))
    before = t <= start
    pre = max(scale_diff(base[v].values[before], no_ai[v].values[before]) for v in compared)
    fig = max(diff, pre)
    ok = ai_max == 0 and prod == 0
    details = (
        f"AI outputs ({', '.join(_AI_OUTPUTS)}) at most {ai_max:g}, productivity "
        f"multiplier 1 {'exactly' if prod == 0 else f'to {prod:g}'}; {len(compared)} "
        f"stocks and key outputs with every AI parameter at its other extreme differ by "
        f"{diff:.3g}{f' (largest: {worst})' if diff > 0 else ''}; the default run "
        f"differs by {pre:.3g} up to the AI start year {start:g}"
    )
    return make_row(
        "extreme",
        check,
        tests,
        "max relative difference from the no-AI run",
        fig,
        "<=",
        IDENTITY_TOLERANCE,
        details,
        ok=ok,
    )


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
    details = (
        f"juniors peak at {junior[k]:,.0f} in {t[k]:g} and end at {junior[-1]:,.0f} in "
        f"{t[-1]:g} ({ratio:.2%} of the peak), "
        f"{'falling steadily' if declining else 'NOT falling steadily'} after the peak; "
        f"lowest stock relative to its scale {low:.3g} ({low_name}): "
        f"{'no negative stock' if no_negative else 'NEGATIVE STOCK'}"
    )
    return make_row(
        "extreme",
        check,
        tests,
        "final / peak junior staff",
        ratio,
        "<",
        0.01,
        details,
        ok=declining and no_negative,
    )


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
    details = (
        f"local service jobs depart from the base {base:,.0f} by at most {worst:.3g} "
        f"(relative) at the "
        f"{'hub values' if ctx.hub else 'model defaults'} and under an automation shock "
        f"({shock}); with the default multiplier they reach {normal:,.0f}"
    )
    return make_row(
        "extreme",
        check,
        tests,
        "max |local service jobs / base - 1|",
        worst,
        "<=",
        IDENTITY_TOLERANCE,
        details,
    )


def _zero_graduates(ctx, spec) -> tuple[dict, xr.Dataset | None]:
    """The workforce sector alone (PySD) with no graduate job seekers."""
    check, tests, _, _ = spec
    if "workforce" not in sectors(ctx.mdl):
        return skipped_row(
            "extreme", check, tests, "not applicable: the model has no workforce sector (view)"
        ), None
    inputs = sector_inputs("workforce", ctx.mdl)
    if "graduate_job_seekers" not in inputs:
        return skipped_row(
            "extreme",
            check,
            tests,
            "not applicable: the workforce sector does not read graduate_job_seekers",
        ), None
    consts = set(ctx.engine.constants)
    series = [v for v in inputs if v not in consts and ctx.has(v)]
    full = run_members(
        ctx, None, list(dict.fromkeys(series + ["total_hub_staff"])), saveper=ctx.dt
    ).isel(sample=0)
    t = full["time"].values
    exo = {v: ("time", full[v].values) for v in series}
    exo["graduate_job_seekers"] = ("time", np.zeros(t.size))
    outs = [
        "junior_local_hiring",
        "junior_hiring",
        "junior_external_recruitment",
        "junior_fill_ratio",
        "junior_vacancies",
        "junior_staff",
        "total_hub_staff",
    ]
    with quiet():
        alone = run_sector(
            "workforce",
            exogenous=xr.Dataset(exo, coords={"time": t}),
            hub=ctx.hub,
            outputs=outs,
            mdl=ctx.mdl,
        )
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
    details = (
        f"local junior hiring at most {local:g} Person/Year; junior fill ratio "
        f"{lo:.3g}-{hi:.3g} while vacancies are open, the external recruitment share "
        f"{share:g}"
        f"{'' if fill_ok else ' (DIFFERENT)'}; hub staff in {t[-1]:g}: {end_alone:,.0f} "
        f"against {end_full:,.0f} with graduates{'' if smaller else ' (NOT SMALLER)'}"
    )
    row = make_row(
        "extreme",
        check,
        tests,
        "max local junior hiring [Person/Year]",
        local,
        "<=",
        0,
        details,
        ok=fill_ok and smaller,
    )
    return row, alone[
        ["junior_staff", "total_hub_staff", "junior_local_hiring", "junior_fill_ratio"]
    ]


# --------------------------------------------------------------------------------------------
# (g) behaviour reproduction


def behaviour_rows(hub: str | None, mdl=DEFAULT_MODEL) -> dict:
    """Behaviour-reproduction statistics of the calibrated parameter set of ``hub``.

    :func:`hubsd.calibration.calibrate.behaviour_reproduction` (looked up on its module at
    call time, so a test can replace it) gives the row, or None when the hub has no calibrated set: the row is then skipped.
    """
    check = "behaviour reproduction"
    tests = "the calibrated model reproduces the historical data (fit statistics, Theil inequality)"
    if hub is None:
        return skipped_row("behaviour", check, tests, "no hub, so no calibrated set")

    row = calibrate.behaviour_reproduction(hub, mdl)
    if row is None:
        return skipped_row("behaviour", check, tests, f"no calibrated set for {hub}")
    return {**skipped_row("behaviour", check, tests, ""), **dict(row)}


def forecast_rows(hub: str | None, mdl=DEFAULT_MODEL) -> dict:
    """The calibrated baseline of ``hub`` against the industry's forecasts (a battery row).

    :func:`hubsd.calibration.calibrate.forecast_band` gives the row, or None when the hub has
    no calibrated set or its spec no forecast: the row is then skipped.
    """
    check = "forecast band"
    tests = "the calibrated baseline stays within the industry's own published projections"
    if hub is None:
        return skipped_row("behaviour", check, tests, "no hub, so no calibrated set")
    row = calibrate.forecast_band(hub, mdl)
    if row is None:
        return skipped_row("behaviour", check, tests, f"no calibrated set or forecast for {hub}")
    return {**skipped_row("behaviour", check, tests, ""), **dict(row)}

