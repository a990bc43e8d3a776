"""Behaviour tests of ``models/hub.mdl``, continued: extreme conditions, conservation, Latin
hypercube robustness, integration error (section 5: where it is asserted) and partial-model
(sector) reproduction.

Moved unchanged from ``tests/test_behaviour.py`` (sections 2-6; the reference modes stay
there), so that pytest-xdist, which keeps a file on one worker, can run the two halves side by
side. The protocol, the scenarios (``SHOCK``, ``STRONG_SHOCK``, ``SMART_MIX``) and the
``simulate`` fixture (``tests/conftest.py``) are those of ``tests/test_behaviour.py``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from behaviour_helpers import DT, SMART_MIX, run_params, run_times

import hubsd
from hubsd.core import sampling
from hubsd.model.pysd_model import load
from hubsd.validation.extremes import scale_diff
from hubsd.validation.settings import (
    AI_EFFECT_EXTREMES,
    SHOCK,
    SIGNED_STOCKS,
)


def _stock_names() -> dict[str, list[str]]:
    """Stocks of the model by PySD's own classification of its stateful objects."""
    doc = load().doc
    stateful = doc[doc["Type"] == "Stateful"]
    return {
        sub: sorted(stateful.loc[stateful["Subtype"] == sub, "Py Name"])
        for sub in ("Integ", "Smooth", "Delay")
    }


# ================================================================= 2. extreme conditions

# AI_EFFECT_EXTREMES (hubsd.validate): every parameter that acts only through AI adoption, at
# the other end of its range.


def test_no_adoption_reproduces_the_no_ai_world(simulate, baseline):
    """Bass p = 0 with no initial adopters: nobody adopts, so every stock is identical whatever
    the AI parameters (they act only through the adopting share), and the default run equals
    the no-adoption run until AI becomes available."""
    no_ai = simulate({"bass_innovation_coefficient": 0.0})
    for name in (
        "adopting_share",
        "junior_automated_share",
        "mid_automated_share",
        "augmented_share",
        "displaced_task_volume",
        "displaced_hub_workers",
    ):
        assert np.all(no_ai[name].values == 0), name
    assert np.all(no_ai["junior_productivity_multiplier"].values == 1)
    other = simulate({"bass_innovation_coefficient": 0.0, **AI_EFFECT_EXTREMES})
    stocks = [s for group in _stock_names().values() for s in group]
    compared = sorted(set(stocks) | set(hubsd.KEY_OUTPUTS))
    for name in compared:
        np.testing.assert_array_equal(other[name].values, no_ai[name].values, err_msg=name)
    start = run_params(baseline)["ai_start_year"]
    before = run_times(baseline) <= start
    for name in compared:
        np.testing.assert_array_equal(
            baseline[name].values[before], no_ai[name].values[before], err_msg=name
        )
    assert not np.array_equal(baseline["junior_staff"].values, no_ai["junior_staff"].values)


def test_human_centred_subsidy_needs_adopters(simulate):
    """No adoption: the human-centred AI policy has nothing to subsidise, so it costs nothing and
    the run equals the no-AI run; with adoption (defaults) the same policy does cost money."""
    policy = {"human_centred_ai_policy_share": 0.6}
    no_ai = simulate({"bass_innovation_coefficient": 0.0}, hubsd.KEY_OUTPUTS)
    no_ai_policy = simulate({"bass_innovation_coefficient": 0.0, **policy}, hubsd.KEY_OUTPUTS)
    for name in hubsd.KEY_OUTPUTS:
        np.testing.assert_array_equal(no_ai_policy[name].values, no_ai[name].values, err_msg=name)
    with_ai = simulate(policy, ["cumulative_policy_cost"])
    assert with_ai["cumulative_policy_cost"].values[-1] > 0


def _assert_no_negative_stock(run, label=""):
    for group in _stock_names().values():
        for name in group:
            if name in SIGNED_STOCKS:
                continue
            x = run[name].values
            assert x.min() >= -1e-9 * max(1.0, np.abs(x).max()), (
                f"{label}{name} goes negative: {x.min():g}"
            )


def test_full_automation_drives_juniors_to_zero_without_negative_stocks(simulate):
    """a_J = 1 and h = 0: every junior task is eventually automated, juniors go to (near) zero,
    no stock goes negative."""
    run = simulate({"automatable_junior_share": 1.0, "baseline_human_centred_ai_share": 0.0})
    junior = run["junior_staff"].values
    assert junior[-1] < 0.01 * junior.max(), f"juniors end at {junior[-1]:.0f}"
    assert np.all(np.diff(junior[int(np.argmax(junior)) :]) < 0)
    _assert_no_negative_stock(run)


def test_zero_graduates_limits_junior_hiring(simulate, baseline):
    """Zero graduates limits hiring.

    Partial model: the workforce sector alone with no graduate job seekers hires no local
    juniors; only the external recruits arrive, so the fill ratio equals the external share and
    the hub ends smaller. Full model: whenever juniors fill below the normal rate (the Kraków
    baseline runs short of graduates from 2023 on), local junior hiring equals the
    applicant limit, seekers x application share / search time.
    """
    inputs = hubsd.sector_inputs("workforce")
    tab = hubsd.parameter_table()
    series = [v for v in inputs if v not in tab.index]
    full = simulate(None, series + ["total_hub_staff"], saveper=DT)
    t = run_times(full)
    exo = {v: ("time", full[v].values) for v in series}
    exo["graduate_job_seekers"] = ("time", np.zeros(t.size))
    alone = hubsd.run_sector(
        "workforce",
        exogenous=xr.Dataset(exo, coords={"time": t}),
        outputs=[
            "junior_local_hiring",
            "junior_hiring",
            "junior_external_recruitment",
            "junior_fill_ratio",
            "junior_vacancies",
            "total_hub_staff",
        ],
    )
    p = run_params(baseline)
    assert np.all(alone["junior_local_hiring"].values == 0)
    np.testing.assert_allclose(alone["junior_hiring"], alone["junior_external_recruitment"])
    open_ = alone["junior_vacancies"].values > 0
    np.testing.assert_allclose(
        alone["junior_fill_ratio"].values[open_], p["junior_external_recruitment_share"], rtol=1e-9
    )
    assert alone["total_hub_staff"].values[-1] < 0.9 * full["total_hub_staff"].values[-1]

    short = baseline["junior_fill_ratio"].values < 1 - 1e-6
    assert short.sum() > 10, "the baseline never runs short of graduates"
    limit = (
        baseline["graduate_job_seekers"] * p["hub_application_share"] / p["applicant_search_time"]
    ).values
    np.testing.assert_allclose(
        baseline["junior_local_hiring"].values[short], limit[short], rtol=1e-9
    )


@pytest.mark.parametrize("params", [{}, SHOCK], ids=["baseline", "shock"])
def test_no_local_multiplier_keeps_services_at_base(simulate, params):
    """m = 0: local service jobs stay exactly at their base whatever the hub does."""
    run = simulate({**params, "local_multiplier": 0.0}, ["local_service_jobs"])
    base = run_params(run)["base_local_service_jobs"]
    np.testing.assert_allclose(run["local_service_jobs"].values, base, rtol=1e-12)


# ======================================================================= 3. conservation


@pytest.mark.parametrize(
    "params", [{}, SMART_MIX, {**SHOCK, **SMART_MIX}], ids=["baseline", "smart_mix", "shock_mix"]
)
def test_people_accounting_closes(simulate, params):
    """Every person leaving a stock arrives in another or crosses the boundary through a
    counted flow: the accounting error stays at round-off; adoption shares sum to one."""
    run = simulate(params)
    error = np.abs(run["people_accounting_error"].values)
    people = run["people_in_tracked_stocks"].values
    assert np.max(error / people) < 1e-9, f"accounting error up to {np.max(error):g} people"
    assert run["cumulative_net_boundary_flow"].values.std() > 0, "no boundary flows at all"
    total = (run["adopting_share"] + run["non_adopting_share"]).values
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


# ================================================================ 4. Latin hypercube

LHS_SAMPLES = 200
LHS_SEED = 20251125


@pytest.fixture(scope="module")
def lhs_runs():
    """Summaries of ``LHS_SAMPLES`` runs over the whole parameter table (every parameter
    between its low and high), Latin hypercube with a fixed seed.

    The members run side by side on the ensemble engine, which equals PySD to round-off on this
    model (``tests/test_ensemble.py``); what is tested here is the model, not PySD.
    """
    tab = hubsd.parameter_table()
    values = sampling.lhs(tab["low"].values, tab["high"].values, LHS_SAMPLES, LHS_SEED)
    stocks = _stock_names()
    checked = [s for group in stocks.values() for s in group if s not in SIGNED_STOCKS]
    frame = pd.DataFrame(values, columns=tab.index)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ens = hubsd.run_ensemble("krakow", frame, "all", saveper=1)
    messages = [str(w.message) for w in caught]
    # each variable as (sample, everything else) once, then every check over all samples at once
    # (a loop over the members that selected each one with ``isel`` took most of this fixture)
    arrays = {
        v: (
            ens[v].transpose("sample", ...).values.reshape(LHS_SAMPLES, -1)
            if "sample" in ens[v].dims
            else np.broadcast_to(ens[v].values.reshape(1, -1), (LHS_SAMPLES, ens[v].size))
        )
        for v in ens.data_vars
    }
    finite = {v: np.isfinite(a).all(axis=1) for v, a in arrays.items()}
    low = {s: arrays[s].min(axis=1) for s in checked}
    scale = {s: np.maximum(1.0, np.abs(arrays[s]).max(axis=1)) for s in checked}
    accounting = np.max(
        np.abs(arrays["people_accounting_error"]) / arrays["people_in_tracked_stocks"], axis=1
    )
    shares = np.max(np.abs(arrays["adopting_share"] + arrays["non_adopting_share"] - 1), axis=1)
    out = []
    for i in range(LHS_SAMPLES):
        params = dict(zip(tab.index, (float(v) for v in values[i]), strict=True))
        nonfinite = sorted(v for v in arrays if not finite[v][i])
        negative = {s: float(low[s][i]) for s in checked if low[s][i] < -1e-9 * scale[s][i]}
        out.append(
            {
                "params": params,
                "nonfinite": nonfinite,
                "negative": negative,
                "accounting": float(accounting[i]),
                "shares": float(shares[i]),
                "warnings": messages if nonfinite else [],
            }
        )
    return {"runs": out, "checked": checked, "warnings": messages}


def _first_bad(runs, key):
    bad = [r for r in runs if r[key]]
    return (
        f"{len(bad)} of {len(runs)} runs; first: {bad[0][key]} with {bad[0]['params']}"
        if bad
        else ""
    )


def test_lhs_covers_the_whole_table(lhs_runs):
    """The sample spans every parameter's range and checks every stock."""
    tab = hubsd.parameter_table()
    assert len(lhs_runs["runs"]) >= 200
    for name, row in tab.iterrows():
        x = np.array([r["params"][name] for r in lhs_runs["runs"]])
        width = row.high - row.low
        assert x.min() >= row.low and x.max() <= row.high, name
        if width > 0:
            assert x.min() < row.low + 0.01 * width and x.max() > row.high - 0.01 * width, name
    integ = _stock_names()["Integ"]
    assert set(integ) - SIGNED_STOCKS <= set(lhs_runs["checked"])
    assert SIGNED_STOCKS <= set(integ), "signed-stock exception names a stock that is gone"


def test_lhs_no_nonfinite_output(lhs_runs):
    assert not lhs_runs["warnings"], lhs_runs["warnings"]
    assert not _first_bad(lhs_runs["runs"], "nonfinite"), _first_bad(lhs_runs["runs"], "nonfinite")
    assert not _first_bad(lhs_runs["runs"], "warnings"), _first_bad(lhs_runs["runs"], "warnings")


def test_lhs_no_negative_stock(lhs_runs):
    assert not _first_bad(lhs_runs["runs"], "negative"), _first_bad(lhs_runs["runs"], "negative")


def test_lhs_conservation(lhs_runs):
    worst = max(r["accounting"] for r in lhs_runs["runs"])
    assert worst < 1e-9, f"relative accounting error up to {worst:g}"
    assert max(r["shares"] for r in lhs_runs["runs"]) < 1e-12


# ==================================================================== 5. integration error
#
# Halving TIME STEP (1/32 -> 1/64 year) moves each key output (INTEGRATION_OUTPUTS, with the
# displaced stock's scale floored at 1 % of peak hub staff, SCALE_FLOOR) by under 1 % of its
# scale in the baseline, the smart mix and both automation shocks: this is the validation
# battery's "integration: TIME STEP halved" row (hubsd.validation.checks), on the same outputs,
# scale floor and threshold, over a superset of those scenarios, and asserted for the Kraków
# hub by tests/test_validate.py::test_hub_model_passes_the_battery (the row passes, its figure
# is < 0.01, the scenarios include baseline, smart_mix, shock and strong_shock). The battery
# runs it on the ensemble engine, whose equality with PySD is tests/test_ensemble.py's and
# tests/test_engine_conformance.py's; the PySD copy that stood here (eight runs, about 25 s of
# the suite's CPU) was removed.


# ======================================================================= 6. sectors alone


@pytest.mark.parametrize("params", [{}, {**SHOCK, **SMART_MIX}], ids=["baseline", "shock_mix"])
@pytest.mark.parametrize("sector", hubsd.sectors())
def test_sector_alone_reproduces_full_model(simulate, sector, params):
    """Each sector run alone, the other sectors' outputs fed in as exogenous series, reproduces
    the full model's values of its own variables (relative to each variable's scale)."""
    alone = hubsd.run_sector(sector, params=params)
    assert len(alone.data_vars) > 0
    full = simulate(params, "all", saveper=DT)
    np.testing.assert_array_equal(alone["time"].values, full["time"].values)
    worst = {v: scale_diff(alone[v].values, full[v].values) for v in alone.data_vars}
    bad = {v: d for v, d in worst.items() if not d <= 1e-6}
    assert not bad, f"{sector}: {bad}"
