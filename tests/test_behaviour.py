"""Behaviour tests of ``models/hub.mdl``: reference modes, extreme conditions, conservation,
Latin hypercube robustness and partial-model (sector) reproduction: the reference modes here,
the rest in ``tests/test_behaviour_limits.py`` (one file took about 5 minutes of one worker;
two let pytest-xdist run them side by side).

Testing protocol of the design spec (``shared/design/model.md``, after Sterman, *Business
Dynamics*, ch. 21). Every test compares runs of the model with each other or with the model's
own parameters; no expected value is copied from a run. Parameter settings that show a
reference mode are inside the parameter table's ranges and are explained in each docstring.

Tests marked ``xfail(strict=True)`` state a behaviour the specification or the model card asks
for and the current model does not show; the reason gives the numbers. They fail (XPASS) as
soon as the model shows the behaviour, so the marker has to be removed then.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from behaviour_helpers import DT, run_params, run_times

import hubsd

# The settings below are shared with the validation battery (hubsd.validate), which runs the
# same extreme-condition, conservation and integration tests on any model file:
#
# SHOCK: strong automation in a mature hub: a_J at the top of the ILO range (0.24-0.8) and no
# long-run demand growth (the table's low end), so automation, not demand, drives the hub.
#
# STRONG_SHOCK: full automation of junior tasks (a_J = 1 and h = 0, the extreme-condition
# setting, both inside the parameter table) in a hub with no long-run demand growth. Junior hiring
# falls from about 12,000 a year (2022) to under 1,000 (2032), so graduate job seekers pile up:
# youth unemployment rises from 4.5 % (2020) to about 15 % (2031) and the graduate market,
# enrolment and migration loops (B3, B4) come into play. Under ``SHOCK`` (h = 0.2) youth
# unemployment only reaches 5.9 % and the graduate job-finding rate stays at its maximum
# (prospects index 1), so enrolment does not move; with a_J 0.8 and h = 0 prospects dip and
# recover to 1 without overshooting, since the index cannot exceed 1 in a tight market.
#
# SMART_MIX: the "smart automation policy" of data/scenarios.yaml (all three levers from 2026).
from hubsd.validation.settings import (
    SHOCK,
    STRONG_SHOCK,
)

# --------------------------------------------------------------------------- helpers


def _rate(ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Time derivative of an output between saved times, at the interval midpoints."""
    t, x = run_times(ds), ds[name].values
    return (t[1:] + t[:-1]) / 2, np.diff(x) / np.diff(t)


def _crossing(t: np.ndarray, x: np.ndarray, level: float) -> float:
    """First time ``x`` reaches ``level`` from below (linear interpolation)."""
    k = int(np.argmax(x >= level))
    assert x[k] >= level, f"never reaches {level}"
    if k == 0:
        return float(t[0])
    return float(t[k - 1] + (level - x[k - 1]) * (t[k] - t[k - 1]) / (x[k] - x[k - 1]))


def _crossing_down(t: np.ndarray, x: np.ndarray, level: float, after: float) -> float:
    """First time after ``after`` that ``x`` falls to ``level`` (linear interpolation)."""
    on = t > after
    return _crossing(t[on], -x[on], -level)


def _inflection_time(ds: xr.Dataset) -> float:
    """Time of the fastest adoption (the Bass curve's inflection)."""
    tm, rate = _rate(ds, "adopting_share")
    return float(tm[np.argmax(rate)])


# ===================================================================== 1. reference modes
# ---- (1) AI adoption


def test_adoption_is_an_s_curve(baseline):
    """Reference mode 1: Bass adoption is monotone, has one inflection and saturates.

    Kraków defaults (p = 0.02, q = 0.45, AI from 2016).
    """
    t, a = run_times(baseline), baseline["adopting_share"].values
    start = run_params(baseline)["ai_start_year"]
    assert np.all(a[t <= start] == 0), "adoption before AI is available"
    assert np.all(np.diff(a) >= -1e-12), "adopting share falls"
    tm, rate = _rate(baseline, "adopting_share")
    on = tm > start
    r = rate[on]
    k = int(np.argmax(r))
    assert 0 < k < r.size - 1, "fastest adoption at an end of the run: no inflection"
    assert np.all(np.diff(r[: k + 1]) >= -1e-9), "adoption rate not rising up to the inflection"
    assert np.all(np.diff(r[k:]) <= 1e-9), "adoption rate not falling after the inflection"
    share_at_inflection = np.interp(tm[on][k], t, a)
    assert 0.2 < share_at_inflection < 0.6, f"inflection at share {share_at_inflection:.2f}"
    assert a[-1] > 0.95, f"adoption does not saturate: {a[-1]:.3f} at the end"
    assert r[-1] < 0.05 * r[k], "adoption still fast at the end"


def test_higher_imitation_adopts_faster(simulate):
    """Reference mode 1: a higher Bass q (word of mouth) adopts faster.

    q at the low end, the default and the high end of its range (0.2-0.6, Sultan, Farley and
    Lehmann 1990); p at its default.
    """
    tab = hubsd.parameter_table().loc["bass_imitation_coefficient"]
    qs = [tab.low, tab.default, tab.high]
    runs = [simulate({"bass_imitation_coefficient": q}, ["adopting_share"]) for q in qs]
    t50 = [_crossing(run_times(r), r["adopting_share"].values, 0.5) for r in runs]
    assert t50[0] > t50[1] > t50[2], f"years to 50 % adoption for q={qs}: {t50}"
    assert np.all(runs[2]["adopting_share"].values >= runs[0]["adopting_share"].values - 1e-12), (
        "high q ever behind low q"
    )


# ---- (2) hub employment, polarisation and the missing rung

#: A mature hub under strong automation: a_J = 0.65 (upper part of the evidence range) and slow
#: demand growth (clients' offshorable work +2 % a year, no erosion of the wage advantage), so
#: juniors can fall once adoption passes its inflection.
MATURE_AUTOMATING = {
    "automatable_junior_share": 0.65,
    "client_demand_growth_rate": 0.02,
    "arbitrage_elasticity": 0.0,
}


def test_juniors_peak_after_inflection_mid_senior_grow_with_high_rho(simulate):
    """Reference mode 2: the hub grows to the 2020s; juniors peak and decline once adoption passes
    its inflection; mid + senior keep growing with a high reinstatement ratio and grow much more
    slowly with a low one (polarisation in the middle).

    Settings: ``MATURE_AUTOMATING`` (a_J 0.65, mature growth 0.01) with rho at the ends of its
    range, 1.0 and 0.3 (Acemoglu and Restrepo; spec range 0.3-1.0).
    """
    outs = ["adopting_share", "junior_staff", "mid_staff", "senior_staff", "total_hub_staff"]
    hi = simulate({**MATURE_AUTOMATING, "reinstatement_ratio": 1.0}, outs)
    lo = simulate({**MATURE_AUTOMATING, "reinstatement_ratio": 0.3}, outs)
    t = run_times(hi)
    t_infl = _inflection_time(hi)
    for run in (hi, lo):
        total = run["total_hub_staff"].values
        assert np.all(np.diff(total[t <= 2020]) > 0), "hub employment not growing to 2020"
        junior = run["junior_staff"].values
        k = int(np.argmax(junior))
        assert t_infl - 2 <= t[k] <= t_infl + 4, (
            f"juniors peak in {t[k]:.2f}, adoption inflection in {t_infl:.2f}"
        )
        assert junior[k:].min() <= 0.9 * junior[k], "juniors do not decline after their peak"
    ms_hi = (hi["mid_staff"] + hi["senior_staff"]).values
    ms_lo = (lo["mid_staff"] + lo["senior_staff"]).values
    assert np.all(np.diff(ms_hi) > 0), "mid + senior stop growing with high rho"
    after = t >= t_infl
    assert np.all(ms_lo[after] < ms_hi[after]), "low rho not below high rho after the inflection"
    assert ms_lo[t == 2035][0] <= 0.9 * ms_hi[t == 2035][0], "rho makes < 10 % difference by 2035"
    t_peak = t[int(np.argmax(hi["junior_staff"].values))]

    def decade_growth(ms):
        return np.interp(t_peak + 10, t, ms) / np.interp(t_peak, t, ms) - 1

    g_hi, g_lo = decade_growth(ms_hi), decade_growth(ms_lo)
    assert g_lo < 0.8 * g_hi, (
        f"mid + senior growth in the decade after the junior peak: rho 1.0 {g_hi:.1%}, "
        f"rho 0.3 {g_lo:.1%}; low rho should stall"
    )


def test_missing_rung_stalls_mid_tier_years_after_junior_peak(simulate):
    """Loop R2 (missing rung): when automation removes juniors, the mid tier, fed by promotions,
    stops growing and shrinks years after the juniors peak; with plenty of experienced outside
    applicants (the rung bypassed) it keeps growing.

    Settings: a_J 0.8 (top of the ILO range), mature growth 0.01, rho 1.0 (high demand for
    mid-tier new tasks); experienced applicant fraction at its default (0.04) vs its high end
    (0.15).
    """
    base = {
        "automatable_junior_share": 0.8,
        "client_demand_growth_rate": 0.01,
        "reinstatement_ratio": 1.0,
    }
    outs = ["junior_staff", "mid_staff"]
    scarce = simulate(base, outs, saveper=1)
    bypass = simulate({**base, "experienced_applicant_fraction": 0.15}, outs, saveper=1)
    t = run_times(scarce)
    t_peak = t[int(np.argmax(scarce["junior_staff"].values))]
    for run, label in ((scarce, "scarce"), (bypass, "bypass")):
        assert t[int(np.argmax(run["junior_staff"].values))] == t_peak, label
    growth = {
        k: np.diff(np.log(r["mid_staff"].values))
        for k, r in (("scarce", scarce), ("bypass", bypass))
    }
    tg = t[1:]
    later = tg > t_peak
    k = int(np.argmin(growth["scarce"][later]))
    assert growth["scarce"][later][k] < -0.01, "mid tier never shrinks when the rung is missing"
    assert tg[later][k] >= t_peak + 5, (
        f"mid tier shrinks fastest in {tg[later][k]:.0f}, juniors peak in {t_peak:.0f}: no delay"
    )
    assert growth["bypass"][later].min() > 0.005, "mid tier stalls even with outside applicants"


# ---- (3) enrolments


ENROLMENT_OUT = [
    "junior_hiring",
    "perceived_graduate_prospects",
    "business_first_year_enrolment",
    "business_graduation",
    "catchment_cohort",
]

#: Last year before junior automation moves the graduate market under ``STRONG_SHOCK`` (after
#: the start-up transient of model card deviation 13, before the first layoffs in 2021).
PRE_SHOCK_YEAR = 2020.0


def _per_cohort(run: xr.Dataset, name: str) -> np.ndarray:
    """An enrolment flow per member of the (declining) catchment cohort."""
    cohort = run["catchment_cohort"].values
    assert np.all(np.diff(cohort) < 0), "cohort not declining"
    return run[name].values / cohort


def test_enrolment_follows_prospects_with_programme_lag(simulate):
    """Reference mode 3 (lag): when perceived graduate prospects fall, enrolment falls, and
    graduates follow about one programme length later, on a declining cohort.

    Settings: ``STRONG_SHOCK`` (junior hiring collapses from 2023), programme length 3, 4 and
    5 years (its range). The same parameters without AI (Bass p = 0) keep perceived prospects at
    their normal 1 from 2015, so the fall is the shock's, not the start-up transient's or the
    cohort's. Enrolment and graduation are taken per member of the (-2 %/year) cohort; the lag is
    between the times each completes half of its fall from its 2020 level to its trough.
    """
    no_ai = simulate({**STRONG_SHOCK, "bass_innovation_coefficient": 0.0}, ENROLMENT_OUT)
    t = run_times(no_ai)
    calm = no_ai["perceived_graduate_prospects"].values[t >= 2015]
    assert np.all(np.abs(calm - 1) < 0.01), "prospects move without AI"
    lags = {}
    for length in (3.0, 4.0, 5.0):
        run = simulate({**STRONG_SHOCK, "programme_length": length}, ENROLMENT_OUT)
        prospects = run["perceived_graduate_prospects"].values
        assert prospects[t > PRE_SHOCK_YEAR].min() < 0.8, f"no shock to prospects ({length})"
        times = []
        for name in ("business_first_year_enrolment", "business_graduation"):
            x = _per_cohort(run, name)
            x0 = x[t == PRE_SHOCK_YEAR][0]
            trough = x[t > PRE_SHOCK_YEAR].min()
            assert trough < 0.8 * x0, f"{name} barely falls ({length})"
            times.append(_crossing_down(t, x, x0 - 0.5 * (x0 - trough), PRE_SHOCK_YEAR))
        lags[length] = times[1] - times[0]
        assert abs(lags[length] - length) <= 1.5, f"lag {lags[length]:.2f} for length {length}"
    assert lags[3.0] < lags[4.0] < lags[5.0], f"lags {lags}"
    assert 1 <= lags[5.0] - lags[3.0] <= 3, f"lags {lags}"


@pytest.mark.xfail(
    strict=True,
    reason="Bounded demand (issue 11) and shocks from 2026 (issue 17): under STRONG_SHOCK the "
    "hub declines from 86,000 (2026) to 27,000 (2040) over fourteen years rather than "
    "collapsing, so at slope 1 enrolment is still recovering in 2045 and the second swing of "
    "the cobweb falls outside the horizon.",
)
def test_enrolment_cobweb_after_junior_hiring_drop(simulate):
    """Reference mode 3 (cobweb): a drop in junior hiring lowers perceived prospects; enrolment
    per cohort member falls (more so with a steeper response), graduates reach their trough 3-5
    years later, and enrolment swings back up and down again with ever smaller swings (a damped
    cobweb), on the declining cohort.

    Settings: ``STRONG_SHOCK`` (junior hiring falls from about 12,000 a year in 2022 to under
    1,000 in 2032); enrolment response slope 0.5, 1 (default) and 1.5 (its range). The swings
    are checked at slopes 1 and 1.5: at 0.5 the response is too weak to overshoot before 2045.
    """
    runs = {
        s: simulate({**STRONG_SHOCK, "enrolment_response_slope": s}, ENROLMENT_OUT)
        for s in (0.5, 1.0, 1.5)
    }
    t = run_times(runs[1.0])
    fall = {}
    for s, run in runs.items():
        hiring = run["junior_hiring"].values
        k_drop = int(np.argmax(hiring))
        t_drop = t[k_drop]
        assert hiring[-1] < 0.2 * hiring.max(), "no junior hiring drop"
        prospects = run["perceived_graduate_prospects"].values
        assert prospects[t > t_drop].min() < 0.95 * prospects[k_drop], "prospects do not fall"
        x = _per_cohort(run, "business_first_year_enrolment")
        k = int(np.argmin(np.where(t > t_drop, x, np.inf)))
        fall[s] = 1 - x[k] / x[k_drop]
        if s == 0.5:
            continue
        g = _per_cohort(run, "business_graduation")
        kg = int(np.argmin(np.where(t > t[k], g, np.inf)))
        assert 3 <= t[kg] - t[k] <= 5.5, (
            f"slope {s}: graduates bottom out {t[kg] - t[k]:.2f} years after enrolment"
        )
        kp = k + int(np.argmax(x[k:]))
        assert t[kp] <= t[-1] - 1, f"slope {s}: enrolment still recovering at the end"
        down = x[kp] - x[kp:].min()
        assert down > 0.01 * x[kp], f"slope {s}: enrolment does not turn down again"
        swings = [x[k_drop] - x[k], x[kp] - x[k], down]
        assert swings[0] > swings[1] > swings[2], f"slope {s}: swings not damped: {swings}"
    assert fall[1.5] > fall[1.0] > fall[0.5] > 0.02, f"enrolment falls by {fall}"


# ---- (4) local services


def _local_services_step(simulate, factor: float, year: float = 2025.0) -> xr.Dataset:
    """Local services sector alone: hub and new-industry jobs follow the Kraków baseline up to
    ``year``, then stay at that year's level times ``factor``."""
    inputs = hubsd.sector_inputs("local_services")
    full = simulate(None, inputs, saveper=DT)
    t = run_times(full)
    exo = {}
    for var in inputs:
        x = full[var].values.copy()
        k = int(np.searchsorted(t, year))
        x[k:] = x[k] * factor
        exo[var] = ("time", x)
    return hubsd.run_sector(
        "local_services",
        exogenous=xr.Dataset(exo, coords={"time": t}),
        outputs=[
            "local_service_jobs",
            "indicated_local_service_jobs",
            "rent_index",
            "space_demand_index",
        ],
    )


def _half_time(t, response, target, t0):
    """Years after ``t0`` for ``response`` to cover half of ``target`` (both arrays)."""
    frac = np.where(t >= t0, response / target, 0.0)
    return float(t[int(np.argmax(frac >= 0.5))] - t0)


def test_local_services_grow_faster_than_they_decline(simulate):
    """Reference mode 4: local service jobs follow hub income with a lag, faster up than down;
    rents fall proportionally further than space demand when demand drops.

    Partial-model test of the local services sector: hub and new-industry jobs follow the
    baseline to 2025, then stay flat (reference), 30 % higher or 30 % lower. Default adjustment
    times (2 years up, 6 down; Glaeser and Gyourko 2005).
    """
    hold, up, down = (_local_services_step(simulate, f) for f in (1.0, 1.3, 0.7))
    t = run_times(hold)
    half = {}
    for name, run in (("up", up), ("down", down)):
        target = (run["indicated_local_service_jobs"] - hold["indicated_local_service_jobs"]).values
        response = (run["local_service_jobs"] - hold["local_service_jobs"]).values
        after = t >= 2025
        assert np.all(response[after] * np.sign(target[after]) >= 0), name
        first = int(np.argmax(t > 2025))
        assert abs(response[first]) < 0.1 * abs(target[first]), f"{name}: no lag"
        half[name] = _half_time(t, response, np.where(target == 0, np.inf, target), 2025)
        assert half[name] > 0, name
    assert half["up"] < half["down"], f"half-times of adjustment: {half}"
    after = t >= 2025
    rent = 1 - (down["rent_index"] / hold["rent_index"]).values[after]
    space = 1 - (down["space_demand_index"] / hold["space_demand_index"]).values[after]
    k_rent, k_space = int(np.argmax(rent)), int(np.argmax(space))
    assert space[k_space] > 0, "space demand does not drop"
    assert rent[k_rent] > space[k_rent], (
        f"rents fall {rent[k_rent]:.1%} while space demand falls {space[k_rent]:.1%}"
    )
    assert k_rent < k_space and rent[-1] < rent[k_rent], "rents do not overshoot down"


def test_local_services_track_hub_income_with_a_lag(simulate):
    """Reference mode 4 in the full model: after strong automation the salary-weighted hub and
    new-industry jobs peak and decline; local service jobs peak later and fall more slowly.

    Settings: ``STRONG_SHOCK``. Under ``SHOCK`` hub income has no peak: from 2034 new industries,
    growing on the labour automation frees, more than make up for the hub's loss.
    """
    run = simulate(STRONG_SHOCK, ["salary_weighted_tradable_jobs", "local_service_jobs"])
    t = run_times(run)
    income = run["salary_weighted_tradable_jobs"].values
    services = run["local_service_jobs"].values
    k_i, k_s = int(np.argmax(income)), int(np.argmax(services))
    assert 0 < k_i < t.size - 1, "hub income does not peak"
    assert 0 < t[k_s] - t[k_i] <= 6, f"hub income peaks {t[k_i]}, local services {t[k_s]}"
    fall_income = 1 - income[-1] / income[k_i]
    fall_services = 1 - services[-1] / services[k_s]
    rise_services = services[k_s] / services[0] - 1
    assert 0 < fall_services < fall_income
    assert rise_services > fall_services, "local services decline as much as they grew"


# ---- (5) out-migration

MIGRATION_OUT = [
    "youth_unemployment_rate",
    "young_out_migration",
    "young_graduate_labour_force",
    "net_young_migration",
]


def _excess_departures(simulate, params):
    """Excess youth unemployment and excess departure rate over the same run without AI."""
    shock = simulate(params, MIGRATION_OUT)
    no_ai = simulate({**params, "bass_innovation_coefficient": 0.0}, MIGRATION_OUT)

    def rate(run):
        return (run["young_out_migration"] / run["young_graduate_labour_force"]).values

    return (
        run_times(shock),
        (shock["youth_unemployment_rate"] - no_ai["youth_unemployment_rate"]).values,
        rate(shock) - rate(no_ai),
        rate(no_ai),
    )


@pytest.mark.parametrize(
    "elasticity", [0.0, None, 1.0], ids=["no_wage_response", "default", "elasticity_1"]
)
def test_out_migration_rises_after_youth_unemployment(simulate, elasticity):
    """Reference mode 5: out-migration rises 1-3 years after youth unemployment, then settles
    over several years (about 7 in the spec).

    Settings: ``SHOCK`` (a_J + 0.3 from 2026, no further client growth, automation saving no
    cost) against the same parameters without AI (Bass p = 0), with the wage
    attractiveness elasticity at its default (0.3), switched off (0) and at 1 (the earlier
    default, at which the average hub salary, rising by composition when juniors are automated,
    used to mask the job market). The departure rate (out-migration per member of the young
    graduate labour force) is compared, so the shrinking labour force does not mask the
    multiplier. Settling: the excess departure rate falls below half its peak 2-8 years after
    the peak, stays below half of it from 8 years after the peak on, and keeps falling.
    """
    # STRONG_SHOCK (every junior task automatable from 2026) drives youth unemployment to
    # almost 50 %, where departures sit at the Urban Dynamics table's maximum (8x) for a decade:
    # a saturation, not the reference mode, so the milder SHOCK shows the timing
    params = dict(SHOCK)
    if elasticity is not None:
        params["wage_attractiveness_elasticity"] = elasticity
    t, d_unemp, d_rate, base_rate = _excess_departures(simulate, params)
    k_u, k_r = int(np.argmax(d_unemp)), int(np.argmax(d_rate))
    assert d_unemp[k_u] > 0.01, "automation does not raise youth unemployment by 1 point"
    # at elasticity 1 the average hub salary, rising by composition, still masks part of the
    # job market: since juniors leaving the hub partly search locally again (job leaver search
    # share 0.28), the excess youth unemployment is 2.0 points rather than 2.3 and the departure
    # rate rises by 4.2 % at elasticity 1 (9.4 % at the default, 11.8 % without wage response),
    # so that case asks for a smaller but still visible rise
    visible = 0.03 if elasticity == 1.0 else 0.05
    assert d_rate[k_r] > visible * base_rate[k_r], (
        f"departure rate rises by only {d_rate[k_r] / base_rate[k_r]:.1%}"
    )
    assert 1 <= t[k_r] - t[k_u] <= 3, (
        f"youth unemployment peaks {t[k_u]:.2f}, departures {t[k_r]:.2f}"
    )
    if elasticity == 1.0:
        # the masking case checks that the rise shows and comes after youth unemployment; its
        # smaller excess also fades faster (halved 1.8 years after the peak, measured on the
        # model of 2026-11-29), so the settling below is the reference mode of the other two
        return
    t_half = _crossing_down(t, d_rate, 0.5 * d_rate[k_r], t[k_r])
    assert 2 <= t_half - t[k_r] <= 8, f"departures halve {t_half - t[k_r]:.2f} years after peak"
    # the shock is permanent (no further client growth), so a part of the excess stays: it
    # settles below half its peak and keeps falling (it fell below a quarter within 8 years
    # when the shock rewrote the history from 2005 and the hub had shrunk before 2026)
    settled = d_rate[t >= t[k_r] + 8]
    assert settled.size and np.all(settled < 0.5 * d_rate[k_r]), "departures do not settle"
    assert np.all(np.diff(d_rate[t >= t_half]) <= 1e-12), "departures rise again"


#: The ``attraction`` scenario: 1,500 new-industry jobs a year for 10 years from 2026.
ATTRACTION = {
    "new_industry_attraction_jobs": 1500.0,
    "new_industry_attraction_start_year": 2026.0,
    "new_industry_attraction_duration": 10.0,
}


def test_diversification_raises_net_young_migration_for_good(simulate):
    """Reference mode 5: with the diversification lever on, net young migration is higher than
    without, while the policy runs and after it ends (Lithuania 2019, Estonia 2015-2018).

    Settings: ``STRONG_SHOCK`` with the ``ATTRACTION`` lever (2026-2036) vs none; the gain must
    be positive from half a year after the start to 2045, nine years after the policy ends.
    """
    outs = MIGRATION_OUT + ["new_industry_jobs"]
    off = simulate(STRONG_SHOCK, outs)
    on = simulate({**STRONG_SHOCK, **ATTRACTION}, outs)
    t = run_times(on)
    start = ATTRACTION["new_industry_attraction_start_year"]
    end = start + ATTRACTION["new_industry_attraction_duration"]
    assert (on["new_industry_jobs"] - off["new_industry_jobs"]).values[-1] > 10000
    gain = (on["net_young_migration"] - off["net_young_migration"]).values
    assert np.all(gain[t >= start + 0.5] > 0), (
        f"gain down to {gain[t >= start + 0.5].min():.0f} a year"
    )
    window = (t >= start) & (t <= end)
    base = off["net_young_migration"].values[window].mean()
    assert gain[window].max() > 0.01 * abs(base), f"gain at most {gain[window].max():.0f} a year"
    assert gain[t > end].min() > 0.01 * abs(base), "gain fades after the policy ends"


def test_diversification_turns_net_young_migration_positive_again(simulate):
    """Reference mode 5: in a city losing young graduates, the diversification lever turns net
    young migration positive again, sooner than the migration equilibration (B4) alone does.

    Settings: ``STRONG_SHOCK`` (net young migration negative from about 2029) with the
    ``ATTRACTION`` lever started in 2031, when the city is already losing young graduates, vs
    none. Measured (model of 2026-11-29, juniors leaving the hub partly search locally again):
    with the lever net arrivals return in 2040.25 and stay positive; without it the city still
    loses young graduates in 2045, so B4 alone is "past the horizon". Until that change this
    was a strict xfail: without leavers re-entering the seeker pool, the shock's youth
    unemployment (about 48 % in 2034) kept net migration negative with the lever too.
    """
    start = 2031.0
    off = simulate(STRONG_SHOCK, MIGRATION_OUT)
    on = simulate(
        {**STRONG_SHOCK, **ATTRACTION, "new_industry_attraction_start_year": start},
        MIGRATION_OUT,
    )
    t = run_times(on)
    net_off, net_on = off["net_young_migration"].values, on["net_young_migration"].values
    assert net_off[t == start][0] < 0, "the city is not losing young graduates at the start"
    after = t >= start

    def back_positive(net):
        """The first time after the start with net arrivals; past the horizon if none."""
        if not np.any(net[after] > 0):
            return float(t[-1]) + 1.0
        return float(t[after][int(np.argmax(net[after] > 0))])

    assert back_positive(net_on) <= t[-1], "net migration never positive again with the lever"
    assert np.all(net_on[t >= back_positive(net_on)] > 0), "net migration turns negative again"
    assert back_positive(net_on) <= back_positive(net_off) - 1, (
        f"positive again in {back_positive(net_on):.2f} with the lever, "
        f"{back_positive(net_off):.2f} without"
    )
    assert np.all(net_on[t >= start + 0.5] > net_off[t >= start + 0.5])


# Reference mode 5 without a shock (diversification raises net young migration at Kraków's
# defaults) was a strict xfail here: the lever's dip is now explained and asserted in
# tests/test_economics.py::test_attraction_dip_is_small_and_explained (issue 13, 17).


# ---- (6) policy levers


def test_reskilling_lowers_and_shortens_the_displaced_hump(simulate):
    """Reference mode 6: reskilling capacity lowers the hump of displaced hub workers and of
    youth unemployment.

    Settings: ``SHOCK``; 3,000 places a year (the ``reskilling`` scenario) from 2022, when
    layoffs start, vs no programme.
    """
    outs = ["displaced_hub_workers", "youth_unemployment_rate", "workers_in_reskilling"]
    off = simulate(SHOCK, outs)
    on = simulate(
        {**SHOCK, "reskilling_policy_capacity": 3000.0, "reskilling_start_year": 2022.0}, outs
    )
    t = run_times(on)
    d_off, d_on = off["displaced_hub_workers"].values, on["displaced_hub_workers"].values
    assert on["workers_in_reskilling"].values.max() > 0
    assert d_on.max() <= 0.7 * d_off.max(), f"peak {d_on.max():.0f} vs {d_off.max():.0f}"
    assert np.trapezoid(d_on, t) < 0.7 * np.trapezoid(d_off, t)
    assert np.all(d_on <= d_off + 1e-6), "reskilling ever raises the displaced stock"
    end_off = t[(t > t[np.argmax(d_off)]) & (d_off < 0.1 * d_off.max())][0]
    end_on = t[(t > t[np.argmax(d_on)]) & (d_on < 0.1 * d_off.max())][0]
    assert end_on < end_off, "hump not shorter"
    late = t >= 2020  # the initial value (normal unemployment) is the maximum of both runs
    assert (
        on["youth_unemployment_rate"].values[late].max()
        < off["youth_unemployment_rate"].values[late].max()
    )


def test_human_centred_ai_lowers_junior_layoffs_and_attrition(simulate):
    """Reference mode 6: raising h lowers junior displacement and the junior attrition rate.

    Settings: ``SHOCK``; human-centred AI policy share 0.6 (the ``human_centred`` scenario) from
    2022 vs none (h stays at its baseline 0.2).
    """
    outs = ["junior_layoffs", "junior_attrition", "junior_staff", "displaced_hub_workers"]
    off = simulate(SHOCK, outs)
    on = simulate(
        {
            **SHOCK,
            "human_centred_ai_policy_share": 0.6,
            "human_centred_ai_policy_start_year": 2022.0,
        },
        outs,
    )
    t = run_times(on)
    after = t >= 2022
    layoffs_off = np.trapezoid(off["junior_layoffs"].values[after], t[after])
    layoffs_on = np.trapezoid(on["junior_layoffs"].values[after], t[after])
    assert layoffs_on < 0.6 * layoffs_off, f"junior layoffs {layoffs_on:.0f} vs {layoffs_off:.0f}"
    assert on["displaced_hub_workers"].max() < off["displaced_hub_workers"].max()
    rate_on = (on["junior_attrition"] / on["junior_staff"]).values
    rate_off = (off["junior_attrition"] / off["junior_staff"]).values
    later = t > 2022.25
    assert np.all(rate_on[later] < rate_off[later]), "attrition rate not lower with higher h"
    assert np.all(rate_on[t <= 2022] == rate_off[t <= 2022])


#: Hub vacancies the diversification sector sees when run alone: the baseline's in this year.
DIVERSIFICATION_VACANCY_YEAR = 2025.0


def _diversification_alone(simulate, params, availability):
    """Diversification sector alone at a fixed labour availability ratio: hub vacancies held at
    their ``DIVERSIFICATION_VACANCY_YEAR`` values, no displaced workers, graduate job seekers
    at ``availability`` x normal seekers per hub vacancy x those vacancies, no attraction."""
    inputs = hubsd.sector_inputs("diversification")
    tab = hubsd.parameter_table()
    series = [v for v in inputs if v not in tab.index]
    full = simulate(params, series, saveper=DT)
    t = run_times(full)
    k = int(np.searchsorted(t, DIVERSIFICATION_VACANCY_YEAR))
    exo = {v: ("time", np.full(t.size, float(full[v].values[k]))) for v in series}
    exo["displaced_hub_workers"] = ("time", np.zeros(t.size))
    exo["new_industry_attraction_inflow"] = ("time", np.zeros(t.size))
    vacancies = sum(exo[v][1] for v in ("junior_vacancies", "mid_vacancies", "senior_vacancies"))
    normal = run_params(full)["normal_seekers_per_hub_vacancy"]
    exo["graduate_job_seekers"] = ("time", availability * normal * vacancies)
    return hubsd.run_sector(
        "diversification",
        exogenous=xr.Dataset(exo, coords={"time": t}),
        params=params,
        outputs=["new_industry_jobs", "labour_availability_ratio", "new_industry_hiring"],
    ), exo


def test_new_industry_growth_is_s_shaped_and_labour_limited(simulate):
    """Reference mode 6: new-industry jobs grow S-shaped towards their potential, more slowly
    when labour is scarce and faster when it is plentiful.

    Partial-model test of the diversification sector with its labour inputs held constant: hub
    vacancies at their 2025 baseline values (about 7,000), no displaced workers, and as many
    graduate job seekers as give a labour availability ratio (seekers per open hub position over
    the normal) of 1, 0.5 (scarce) or 2 (plentiful). New-industry growth 0.3 a year (the spec's
    0.2-0.3 for diversifying cities, the table's high end). Seekers are plentiful enough that
    the hiring cap (seekers / search time) never binds, so the differences are the labour
    availability multiplier's (Urban Dynamics ELJMT: 0.5 -> 0.5, 2 -> 1.8).
    """
    params = {"new_industry_normal_growth_rate": 0.3}
    runs = {a: _diversification_alone(simulate, params, a) for a in (0.5, 1.0, 2.0)}
    p = run_params(simulate(params, ["new_industry_jobs"]))
    potential = p["new_industry_potential"]
    for a, (run, exo) in runs.items():
        np.testing.assert_allclose(run["labour_availability_ratio"].values, a, rtol=1e-9)
        cap = exo["graduate_job_seekers"][1] / p["applicant_search_time"]
        assert np.all(run["new_industry_hiring"].values < 0.9 * cap), f"hiring capped at {a}"
    normal = runs[1.0][0]
    t = run_times(normal)
    half = 0.5 * potential
    t_half = {}
    for a, (run, _) in runs.items():
        jobs = run["new_industry_jobs"].values
        assert np.all(np.diff(jobs) > 0), f"new-industry jobs not growing at {a}"
        growth = np.diff(jobs)
        k = int(np.argmax(growth))
        assert 0 < k < growth.size - 1, f"no inflection at {a}"
        assert 0.3 < jobs[k] / potential < 0.7, f"inflection far from half the potential at {a}"
        t_half[a] = _crossing(t, jobs, half)
        if a >= 1.0:
            assert jobs[-1] > 0.9 * potential and growth[-1] < 0.2 * growth[k], (
                f"does not saturate at {a}"
            )
    jobs = {a: r["new_industry_jobs"].values[1:] for a, (r, _) in runs.items()}
    assert np.all(jobs[0.5] < jobs[1.0]) and np.all(jobs[1.0] < jobs[2.0])
    assert t_half[0.5] - t_half[1.0] > 3, f"years to half the potential: {t_half}"
    assert t_half[1.0] - t_half[2.0] > 2, f"years to half the potential: {t_half}"


@pytest.mark.parametrize("growth", [0.04, 0.0])
def test_share_paced_by_national_growth_moves_only_with_new_work(simulate, growth):
    """B9 with the switch on: the share moves toward the marginal share m at the national
    sector's growth rate (integrated exactly over the step), never past m, and holds while the
    national sector shrinks (no client growth, wages converging); with the switch off it closes
    over the adjustment time."""
    outs = (
        "hub_share_of_national_sector",
        "hub_share_change",
        "national_sector_growth_rate",
        "long_run_hub_share_of_national_sector",
    )
    base = {
        "initial_hub_share_of_national_sector": 0.2,
        "long_run_hub_share_ratio": 2.0,
        "client_demand_growth_rate": growth,
    }
    run = simulate({**base, "share_paced_by_national_growth": 1}, outs)
    share, change = run.hub_share_of_national_sector.values, run.hub_share_change.values
    g, m = run.national_sector_growth_rate.values, run.long_run_hub_share_of_national_sector.values
    dt = float(run.attrs["time_step"])
    pace = (1 - np.exp(-np.maximum(0.0, g) * dt)) / dt  # growth, integrated exactly over a step
    np.testing.assert_allclose(change, (m - share) * pace, rtol=1e-12, atol=0)
    assert np.all(np.diff(share) >= 0) and share.max() < 0.4
    shrinking = g < 0
    if growth == 0.0:
        assert shrinking.sum() > 10, "the national sector should shrink without client growth"
        assert np.all(change[shrinking] == 0)
    else:
        assert not shrinking.any()
    off = simulate({**base, "hub_share_adjustment_time": 10.0}, outs)
    np.testing.assert_allclose(
        off.hub_share_change.values,
        (off.long_run_hub_share_of_national_sector.values - off.hub_share_of_national_sector.values)
        / 10.0,
        rtol=1e-12,
    )


def test_share_paced_by_national_growth_never_overshoots(simulate):
    """Extreme condition: a young sector far below its potential grows by hundreds of per cent
    a year at first; the paced share still moves only toward m (here below the initial share),
    never past it, so it stays positive (the first formulation, growth x (m - share), sent it
    below zero in one Euler step: the battery's Latin hypercube found it)."""
    run = simulate(
        {
            "share_paced_by_national_growth": 1,
            "initial_hub_share_of_national_sector": 0.9,
            "long_run_hub_share_ratio": 0.2,
            "initial_hub_service_demand": 100,
            "potential_hub_service_demand": 1e7,
            "hub_maturation_time": 2,
        },
        ("hub_share_of_national_sector", "national_sector_growth_rate"),
    )
    share = run.hub_share_of_national_sector.values
    assert float(run.national_sector_growth_rate.max()) * float(run.attrs["time_step"]) > 1
    assert share.min() >= 0.9 * 0.2 - 1e-12 and np.all(np.diff(share) <= 1e-15)
