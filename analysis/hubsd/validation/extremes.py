"""Extreme-condition checks of the battery (Sterman 2000, ch. 21).

No adoption is the no-AI world, full junior automation, zero graduates limit hiring, no
multiplier keeps services at base.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from hubsd.engine.pysd_runner import KEY_OUTPUTS, run_sector, sector_inputs, sectors
from hubsd.validation.context import Context, quiet, run_members
from hubsd.validation.report import make_row, skipped_row
from hubsd.validation.settings import (
    AI_EFFECT_EXTREMES,
    FULL_AUTOMATION,
    IDENTITY_TOLERANCE,
    NEGATIVE_TOLERANCE,
    NO_ADOPTION,
    NO_MULTIPLIER,
    SHOCK,
)

# --------------------------------------------------------------------------------------------
# (a) units, (b) reality checks
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
    """The extreme-condition rows (skipped where the model lacks a variable), with their data."""
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
