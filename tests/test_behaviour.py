"""Behaviour tests of ``models/hub.mdl``: reference modes, extreme conditions, conservation,
Latin hypercube robustness, integration error and partial-model (sector) reproduction.

Testing protocol of the design spec (``shared/design/model.md``, after Sterman, *Business
Dynamics*, ch. 21). Every test compares runs of the model with each other or with the model's
own parameters; no expected value is copied from a run. Parameter settings that show a
reference mode are inside the parameter table's ranges and are explained in each docstring.

Tests marked ``xfail(strict=True)`` state a behaviour the specification asks for and the
current model does not show; the reason gives the numbers. They fail (XPASS) as soon as the
model shows the behaviour, so the marker has to be removed then.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import xarray as xr
import yaml
from scipy.stats import qmc

import hubsd
from hubsd.model import REPO, load

DT = 1 / 32  # the model's TIME STEP [Year]

#: Strong automation in a mature hub: a_J at the top of the ILO range (0.24-0.8) and no
#: long-run demand growth (the table's low end), so automation, not demand, drives the hub.
SHOCK = {"automatable_junior_share": 0.8, "mature_hub_growth_rate": 0.0}

#: The "smart automation policy" of data/scenarios.yaml (all three levers from 2026).
SMART_MIX = yaml.safe_load((REPO / "data" / "scenarios.yaml").read_text(encoding="utf-8"))[
    "smart_mix"
]["parameters"]


# --------------------------------------------------------------------------- helpers


def _params(ds: xr.Dataset) -> dict:
    """The full parameter vector a run used (stored by ``hubsd.run``)."""
    return json.loads(ds.attrs["parameters"])


def _t(ds: xr.Dataset) -> np.ndarray:
    return ds["time"].values


def _rate(ds: xr.Dataset, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Time derivative of an output between saved times, at the interval midpoints."""
    t, x = _t(ds), ds[name].values
    return (t[1:] + t[:-1]) / 2, np.diff(x) / np.diff(t)


def _crossing(t: np.ndarray, x: np.ndarray, level: float) -> float:
    """First time ``x`` reaches ``level`` from below (linear interpolation)."""
    k = int(np.argmax(x >= level))
    assert x[k] >= level, f"never reaches {level}"
    if k == 0:
        return float(t[0])
    return float(t[k - 1] + (level - x[k - 1]) * (t[k] - t[k - 1]) / (x[k] - x[k - 1]))


def _inflection_time(ds: xr.Dataset) -> float:
    """Time of the fastest adoption (the Bass curve's inflection)."""
    tm, rate = _rate(ds, "adopting_share")
    return float(tm[np.argmax(rate)])


def _scale_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| relative to max |b| (the scale of the reference series)."""
    scale = float(np.max(np.abs(b)))
    return float(np.max(np.abs(a - b))) / (scale if scale > 0 else 1.0)


def _stock_names() -> dict[str, list[str]]:
    """Stocks of the model by PySD's own classification of its stateful objects."""
    doc = load().doc
    stateful = doc[doc["Type"] == "Stateful"]
    return {
        sub: sorted(stateful.loc[stateful["Subtype"] == sub, "Py Name"])
        for sub in ("Integ", "Smooth", "Delay")
    }


#: INTEG stocks that are signed by definition (net people who crossed the city boundary).
SIGNED_STOCKS = {"cumulative_net_boundary_flow"}


# ===================================================================== 1. reference modes
# ---- (1) AI adoption


def test_adoption_is_an_s_curve(baseline):
    """Reference mode 1: Bass adoption is monotone, has one inflection and saturates.

    Kraków defaults (p = 0.02, q = 0.45, AI from 2016).
    """
    t, a = _t(baseline), baseline["adopting_share"].values
    start = _params(baseline)["ai_start_year"]
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
    t50 = [_crossing(_t(r), r["adopting_share"].values, 0.5) for r in runs]
    assert t50[0] > t50[1] > t50[2], f"years to 50 % adoption for q={qs}: {t50}"
    assert np.all(runs[2]["adopting_share"].values >= runs[0]["adopting_share"].values - 1e-12), (
        "high q ever behind low q"
    )


# ---- (2) hub employment, polarisation and the missing rung

#: A mature hub under strong automation: a_J = 0.65 (upper part of the ILO range 0.24-0.8) and
#: long-run demand growth 0.01 a year, so juniors can fall once adoption passes its inflection.
MATURE_AUTOMATING = {"automatable_junior_share": 0.65, "mature_hub_growth_rate": 0.01}


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
    t = _t(hi)
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
        "mature_hub_growth_rate": 0.01,
        "reinstatement_ratio": 1.0,
    }
    outs = ["junior_staff", "mid_staff"]
    scarce = simulate(base, outs, saveper=1)
    bypass = simulate({**base, "experienced_applicant_fraction": 0.15}, outs, saveper=1)
    t = _t(scarce)
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
    assert growth["bypass"][later].min() > 0.01, "mid tier stalls even with outside applicants"


# ---- (3) enrolments


def test_enrolment_follows_prospects_with_programme_lag(simulate):
    """Reference mode 3 (lag): enrolment responds to a shift in perceived graduate prospects and
    graduates follow about one programme length later, on a declining cohort.

    The shock is the model's own start: the hub's growth drains the graduate pool in the first
    two years, so the prospects index leaves its normal value 1. Enrolment and graduation are
    taken per member of the (declining, -2 %/year) cohort; the lag is between the times each
    completes half of its rise. Programme length 3 vs 5 years (its range) and response slope
    0.5 vs 1.5 (its range).
    """
    outs = [
        "business_first_year_enrolment",
        "business_graduation",
        "catchment_cohort",
        "perceived_graduate_prospects",
    ]

    def half_rise_lag(run):
        t = _t(run)
        cohort = run["catchment_cohort"].values
        assert np.all(np.diff(cohort) < 0), "cohort not declining"
        times = []
        for name in ("business_first_year_enrolment", "business_graduation"):
            x = run[name].values / cohort
            times.append(_crossing(t, x, x[0] + 0.5 * (x.max() - x[0])))
        return times[1] - times[0]

    lags = {}
    for length in (3.0, 5.0):
        run = simulate({"programme_length": length}, outs)
        assert abs(run["perceived_graduate_prospects"].values[-1] - 1) > 0.1, "no shock"
        lags[length] = half_rise_lag(run)
        assert abs(lags[length] - length) <= 1.5, f"lag {lags[length]:.2f} for length {length}"
    assert 1 <= lags[5.0] - lags[3.0] <= 3, f"lags {lags}"
    rise = {}
    for slope in (0.5, 1.5):
        run = simulate({"enrolment_response_slope": slope}, outs)
        x = run["business_first_year_enrolment"].values / run["catchment_cohort"].values
        rise[slope] = x.max() / x[0] - 1
    assert rise[1.5] > rise[0.5] > 0, f"enrolment response by slope: {rise}"


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Model weakness: the graduate job-finding rate sits at its cap 1/applicant search time "
        "(5/yr) from about 2007 to 2045 at Kraków defaults, so the graduate prospects index is "
        "pinned at 2.5, enrolment per cohort member is constant (0.138) and the B3 cobweb "
        "cannot act: the local economy's openings (gap to a desired young-graduate share of "
        "local service jobs) always exceed the graduates available, and absorb any drop in hub "
        "hiring."
    ),
)
def test_enrolment_cobweb_after_junior_hiring_drop(simulate):
    """Reference mode 3 (cobweb): a drop in junior hiring lowers perceived prospects; enrolment
    per cohort member falls (more so with a steeper response), graduates follow a programme
    length later, and enrolment recovers (damped cobweb), on the declining cohort.

    Settings: ``SHOCK`` (a_J 0.8, no long-run growth: junior hiring falls by about 40 % from
    2024 to 2030); enrolment response slope 1.5 vs 0.5 (its range).
    """
    outs = [
        "junior_hiring",
        "perceived_graduate_prospects",
        "business_first_year_enrolment",
        "catchment_cohort",
        "business_graduation",
    ]
    runs = {s: simulate({**SHOCK, "enrolment_response_slope": s}, outs) for s in (0.5, 1.5)}
    run = runs[1.5]
    t = _t(run)
    hiring = run["junior_hiring"].values
    t_drop = t[int(np.argmax(hiring))]
    assert hiring[-1] < 0.8 * hiring.max(), "no junior hiring drop"
    prospects = run["perceived_graduate_prospects"].values
    before = prospects[t == t_drop][0]
    assert prospects[t > t_drop].min() < 0.95 * before, "perceived prospects do not fall"
    fall = {}
    for s, r in runs.items():
        x = r["business_first_year_enrolment"].values / r["catchment_cohort"].values
        x0 = x[t == t_drop][0]
        k = int(np.argmin(np.where(t > t_drop, x, np.inf)))
        fall[s] = 1 - x[k] / x0
        if s == 1.5:
            assert x[k:].max() > x[k] * 1.02, "enrolment does not recover (no cobweb)"
            g = r["business_graduation"].values / r["catchment_cohort"].values
            kg = int(np.argmin(np.where(t > t[k], g, np.inf)))
            assert 3 <= t[kg] - t[k] <= 5.5, "graduates do not follow a programme length later"
    assert fall[1.5] > fall[0.5] > 0.02, f"enrolment falls by {fall}"


# ---- (4) local services


def _local_services_step(simulate, factor: float, year: float = 2025.0) -> xr.Dataset:
    """Local services sector alone: hub and new-industry jobs follow the Kraków baseline up to
    ``year``, then stay at that year's level times ``factor``."""
    inputs = hubsd.sector_inputs("local_services")
    full = simulate(None, inputs, saveper=DT)
    t = _t(full)
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
    t = _t(hold)
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

    Settings: ``SHOCK`` (a_J 0.8, no long-run demand growth).
    """
    run = simulate(SHOCK, ["salary_weighted_tradable_jobs", "local_service_jobs"])
    t = _t(run)
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

#: Strong automation without human-centred deployments (h = 0, in range) and with the wage
#: multiplier switched off (elasticity 0, in range): the average hub salary rises by
#: composition when juniors are automated, which is not a pay rise for a young graduate.
MIGRATION_SHOCK = {
    **SHOCK,
    "baseline_human_centred_ai_share": 0.0,
    "wage_attractiveness_elasticity": 0.0,
}
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
        _t(shock),
        (shock["youth_unemployment_rate"] - no_ai["youth_unemployment_rate"]).values,
        rate(shock) - rate(no_ai),
        rate(no_ai),
    )


def _check_departures_follow_unemployment(t, d_unemp, d_rate, base_rate):
    k_u, k_r = int(np.argmax(d_unemp)), int(np.argmax(d_rate))
    assert d_unemp[k_u] > 0.01, "automation does not raise youth unemployment by 1 point"
    assert d_rate[k_r] > 0.05 * base_rate[k_r], (
        f"departure rate rises by only {d_rate[k_r] / base_rate[k_r]:.1%}"
    )
    assert 1 <= t[k_r] - t[k_u] <= 3, (
        f"youth unemployment peaks {t[k_u]:.2f}, departures {t[k_r]:.2f}"
    )
    return k_r


def test_out_migration_rises_after_youth_unemployment(simulate):
    """Reference mode 5: out-migration rises 1-3 years after youth unemployment, then settles.

    Settings: ``MIGRATION_SHOCK`` against the same parameters without AI (Bass p = 0). The
    departure rate (out-migration per member of the young graduate labour force) is compared,
    so the shrinking labour force does not mask the multiplier.
    """
    t, d_unemp, d_rate, base_rate = _excess_departures(simulate, MIGRATION_SHOCK)
    k_r = _check_departures_follow_unemployment(t, d_unemp, d_rate, base_rate)
    settled = d_rate[t >= t[k_r] + 8]
    assert settled.size and np.all(settled < 0.5 * d_rate[k_r]), "departures do not settle"


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Model weakness: with the default wage attractiveness elasticity (1) the average hub "
        "salary index rises by composition as juniors are automated (31 % above the no-AI run "
        "under this shock), which offsets the job-market multiplier: the departure rate rises "
        "by only 3 % above the no-AI run, peaks with youth unemployment (no lag), and ends "
        "13-23 % below it in 2035-2045."
    ),
)
def test_out_migration_rises_after_youth_unemployment_default_wage_response(simulate):
    """Reference mode 5 with the Kraków default wage response (elasticity 1)."""
    params = {**SHOCK, "baseline_human_centred_ai_share": 0.0}
    _check_departures_follow_unemployment(*_excess_departures(simulate, params))


def test_diversification_raises_net_young_migration_while_it_runs(simulate):
    """Reference mode 5: with the diversification lever on, net young migration is higher than
    without while the policy runs.

    Settings: ``MIGRATION_SHOCK``; attraction of 1,500 new-industry jobs a year for 10 years
    from 2026 (the ``attraction`` scenario) vs none.
    """
    lever = {
        "new_industry_attraction_jobs": 1500.0,
        "new_industry_attraction_start_year": 2026.0,
        "new_industry_attraction_duration": 10.0,
    }
    off = simulate(MIGRATION_SHOCK, MIGRATION_OUT + ["new_industry_jobs"])
    on = simulate({**MIGRATION_SHOCK, **lever}, MIGRATION_OUT + ["new_industry_jobs"])
    t = _t(on)
    window = (t >= 2026) & (t <= 2036)
    gain = (on["net_young_migration"] - off["net_young_migration"]).values
    assert (on["new_industry_jobs"] - off["new_industry_jobs"]).values[-1] > 10000
    base = off["net_young_migration"].values[window].mean()
    assert gain[window].mean() > 0, f"mean gain {gain[window].mean():.0f} a year on {base:.0f}"
    assert gain[window].max() > 0.01 * base, f"gain at most {gain[window].max():.0f} a year"


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Model weakness: at Kraków defaults the attraction lever lowers net young migration "
        "(by about 2-5 % from 2028 to 2045), and under the automation shock it does so from "
        "2034 on, near the policy's end: new industries hire young seekers, but only 60 % of "
        "their staff count in the young graduate labour force that scales both migration "
        "flows, and graduates are so scarce (pinned job-finding rate) that the extra jobs "
        "cannot lower unemployment."
    ),
)
def test_diversification_raises_net_young_migration_for_good(simulate):
    """Reference mode 5: diversification raises net young migration, also after it ends
    (Lithuania 2019, Estonia 2015-2018). Kraków defaults with and without the lever."""
    lever = {"new_industry_attraction_jobs": 1500.0}
    off = simulate({}, MIGRATION_OUT)
    on = simulate(lever, MIGRATION_OUT)
    t = _t(on)
    gain = (on["net_young_migration"] - off["net_young_migration"]).values
    assert np.all(gain[t > _params(on)["new_industry_attraction_start_year"] + 1] > 0)


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
    t = _t(on)
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
    t = _t(on)
    after = t >= 2022
    layoffs_off = np.trapezoid(off["junior_layoffs"].values[after], t[after])
    layoffs_on = np.trapezoid(on["junior_layoffs"].values[after], t[after])
    assert layoffs_on < 0.5 * layoffs_off, f"junior layoffs {layoffs_on:.0f} vs {layoffs_off:.0f}"
    assert on["displaced_hub_workers"].max() < off["displaced_hub_workers"].max()
    rate_on = (on["junior_attrition"] / on["junior_staff"]).values
    rate_off = (off["junior_attrition"] / off["junior_staff"]).values
    later = t > 2022.25
    assert np.all(rate_on[later] < rate_off[later]), "attrition rate not lower with higher h"
    assert np.all(rate_on[t <= 2022] == rate_off[t <= 2022])


def _diversification_alone(simulate, params, seeker_factor_after_2010=1.0):
    """Diversification sector alone, its labour inputs held at their 2005 values (seekers
    times a factor after 2010), no attraction policy."""
    inputs = hubsd.sector_inputs("diversification")
    tab = hubsd.parameter_table()
    series = [v for v in inputs if v not in tab.index]
    full = simulate(params, series, saveper=DT)
    t = _t(full)
    exo = {v: ("time", np.full(t.size, float(full[v].values[0]))) for v in series}
    exo["new_industry_attraction_inflow"] = ("time", np.zeros(t.size))
    seekers = exo["graduate_job_seekers"][1] * np.where(t >= 2010, seeker_factor_after_2010, 1.0)
    exo["graduate_job_seekers"] = ("time", seekers)
    return hubsd.run_sector(
        "diversification",
        exogenous=xr.Dataset(exo, coords={"time": t}),
        params=params,
        outputs=["new_industry_jobs", "labour_availability_ratio"],
    )


def test_new_industry_growth_is_s_shaped_and_labour_limited(simulate):
    """Reference mode 6: new-industry jobs grow S-shaped towards their potential, and more slowly
    when labour is scarce.

    Partial-model test of the diversification sector with its labour inputs (seekers, displaced
    workers, hub staff) held at their 2005 values, new-industry growth 0.3 a year (the spec's
    0.2-0.3 for diversifying cities, the table's high end); then the same with half the job
    seekers from 2010. The labour availability ratio still falls as new industries grow,
    since their own jobs count in its denominator.
    """
    params = {"new_industry_normal_growth_rate": 0.3}
    normal = _diversification_alone(simulate, params)
    scarce = _diversification_alone(simulate, params, 0.5)
    potential = _params(simulate(params, ["new_industry_jobs"]))["new_industry_potential"]
    t = _t(normal)
    jobs = normal["new_industry_jobs"].values
    assert np.all(np.diff(jobs) > 0), "new-industry jobs not growing"
    growth = np.diff(jobs)
    k = int(np.argmax(growth))
    assert 0 < k < growth.size - 1, "no inflection"
    assert 0.3 < jobs[k] / potential < 0.7, "inflection far from half the potential"
    assert jobs[-1] > 0.9 * potential and growth[-1] < 0.2 * growth[k], "does not saturate"
    later = t > 2010.5
    assert np.all(
        scarce["labour_availability_ratio"].values[later]
        < normal["labour_availability_ratio"].values[later]
    )
    assert np.all(scarce["new_industry_jobs"].values[later] < jobs[later])
    half = 0.5 * potential
    delay = _crossing(t, scarce["new_industry_jobs"].values, half) - _crossing(t, jobs, half)
    assert delay > 3, f"half the potential only {delay:.1f} years later with scarce labour"


# ================================================================= 2. extreme conditions

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
    start = _params(baseline)["ai_start_year"]
    before = _t(baseline) <= start
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
    baseline runs short of graduates after about 2029), local junior hiring equals the
    applicant limit, seekers x application share / search time.
    """
    inputs = hubsd.sector_inputs("workforce")
    tab = hubsd.parameter_table()
    series = [v for v in inputs if v not in tab.index]
    full = simulate(None, series + ["total_hub_staff"], saveper=DT)
    t = _t(full)
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
    p = _params(baseline)
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
    base = _params(run)["base_local_service_jobs"]
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
    between its low and high), Latin hypercube with a fixed seed."""
    tab = hubsd.parameter_table()
    unit = qmc.LatinHypercube(d=len(tab), seed=LHS_SEED).random(LHS_SAMPLES)
    values = tab["low"].values + unit * (tab["high"].values - tab["low"].values)
    stocks = _stock_names()
    checked = [s for group in stocks.values() for s in group if s not in SIGNED_STOCKS]
    out = []
    for row in values:
        params = dict(zip(tab.index, (float(v) for v in row), strict=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run = hubsd.run("krakow", params, "all", saveper=1)
        nonfinite = sorted(v for v in run.data_vars if not np.all(np.isfinite(run[v].values)))
        negative = {
            s: float(run[s].values.min())
            for s in checked
            if run[s].values.min() < -1e-9 * max(1.0, float(np.abs(run[s].values).max()))
        }
        accounting = float(
            np.max(
                np.abs(run["people_accounting_error"].values)
                / run["people_in_tracked_stocks"].values
            )
        )
        shares = float(np.max(np.abs(run["adopting_share"] + run["non_adopting_share"] - 1)))
        out.append(
            {
                "params": params,
                "nonfinite": nonfinite,
                "negative": negative,
                "accounting": accounting,
                "shares": shares,
                "warnings": [str(w.message) for w in caught],
            }
        )
    return {"runs": out, "checked": checked}


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
    assert not _first_bad(lhs_runs["runs"], "nonfinite"), _first_bad(lhs_runs["runs"], "nonfinite")
    assert not _first_bad(lhs_runs["runs"], "warnings"), _first_bad(lhs_runs["runs"], "warnings")


def test_lhs_no_negative_stock(lhs_runs):
    assert not _first_bad(lhs_runs["runs"], "negative"), _first_bad(lhs_runs["runs"], "negative")


def test_lhs_conservation(lhs_runs):
    worst = max(r["accounting"] for r in lhs_runs["runs"])
    assert worst < 1e-9, f"relative accounting error up to {worst:g}"
    assert max(r["shares"] for r in lhs_runs["runs"]) < 1e-12


# ==================================================================== 5. integration error

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
INTEGRATION_SCENARIOS = {"baseline": {}, "smart_mix": SMART_MIX, "shock": SHOCK}

_SMALL_HUMP = pytest.mark.xfail(
    strict=True,
    reason=(
        "Model weakness: without an automation shock the displaced stock is a small residual "
        "(peak about 130 people, 0.15 % of hub staff) of junior staff minus desired staff; "
        "Euler error moves it by 3.5 % (baseline) and 2.2 % (smart mix) when TIME STEP halves "
        "(first-order convergence: 1.8 % from 1/64 to 1/128). Under the shock (peak about "
        "1,300) it moves by 0.4 %."
    ),
)


@pytest.mark.parametrize(
    "scenario,output",
    [
        pytest.param(s, o, marks=_SMALL_HUMP)
        if (o == "displaced_hub_workers" and s in ("baseline", "smart_mix"))
        else (s, o)
        for s in INTEGRATION_SCENARIOS
        for o in INTEGRATION_OUTPUTS
    ],
)
def test_halving_time_step_changes_little(simulate, scenario, output):
    """Halving TIME STEP (1/32 -> 1/64 year) moves each key output by under 1 % of its scale
    (max absolute difference over max absolute value), saved every 0.25 year."""
    params = INTEGRATION_SCENARIOS[scenario]
    coarse = simulate(params, INTEGRATION_OUTPUTS)
    assert coarse.attrs["time_step"] == DT
    fine = simulate(params, INTEGRATION_OUTPUTS, time_step=DT / 2)
    diff = _scale_diff(coarse[output].values, fine[output].values)
    assert diff < 0.01, f"{output} moves by {diff:.2%} of its scale"


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
    worst = {v: _scale_diff(alone[v].values, full[v].values) for v in alone.data_vars}
    bad = {v: d for v, d in worst.items() if not d <= 1e-6}
    assert not bad, f"{sector}: {bad}"
