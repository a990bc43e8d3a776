"""Warm start of the ensemble engine: a continuation equals the full run; what it refuses."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hubsd.engine.ensemble import compile_model
from hubsd.engine.warmstart import WarmStartError, warm_start
from hubsd.studies.policy_design import HUB_OUTPUTS, Evaluator, hub_outcomes, policy_ensemble
from hubsd.studies.policy_spec import load_design

MODELS = Path(__file__).parent / "models"
HUB = "krakow@calibrated"
#: Outputs of the equality test: the policy design's, plus the triggers' latches and signals.
OUTPUTS = list(HUB_OUTPUTS) + [
    "reskilling_triggered",
    "new_industry_attraction_triggered",
    "human_centred_ai_policy_triggered",
    "reported_youth_unemployment_rate",
    "reported_junior_hiring_fall",
    "attraction_running_time",
]
#: Policy candidates, one per row: fixed starts (at the base year itself and later) and
#: adaptive triggers on the reported (delayed) youth unemployment and junior hiring signals.
CANDIDATES = pd.DataFrame(
    {
        "reskilling_policy_capacity": [0.0, 3000.0, 6000.0, 1500.0, 4000.0],
        "reskilling_start_year": [2026.0, 2030.0, 2026.0, 2028.0, 2026.0],
        "reskilling_trigger_youth_unemployment": [0.0, 0.0, 0.12, 0.2, 0.08],
        "reskilling_trigger_junior_hiring_fall": [0.0, 0.0, 0.1, 0.0, 0.3],
        "new_industry_attraction_jobs": [1000.0, 0.0, 3000.0, 2000.0, 500.0],
        "new_industry_attraction_start_year": [2027.0, 2026.0, 2031.0, 2026.0, 2026.0],
        "new_industry_attraction_duration": [5.0, 15.0, 3.0, 10.0, 1.0],
        "new_industry_attraction_trigger_youth_unemployment": [0.0, 0.1, 0.0, 0.15, 0.0],
        "human_centred_ai_policy_share": [0.0, 0.5, 1.0, 0.3, 0.8],
        "human_centred_ai_policy_start_year": [2035.0, 2026.0, 2029.0, 2026.0, 2033.0],
        "human_centred_ai_policy_trigger_junior_hiring_fall": [0.0, 0.2, 0.0, 0.05, 0.4],
    }
)


@pytest.fixture(scope="module")
def hub():
    model = compile_model()
    members = policy_ensemble(HUB, 24, seed=3).reset_index(drop=True)
    return model, members


def _relative(a: np.ndarray, b: np.ndarray) -> float:
    scale = np.maximum(np.abs(b), 1e-12)
    return float(np.max(np.abs(a - b) / scale))


@pytest.mark.parametrize("final_time", [2040.0, 2045.0])
def test_warm_start_equals_the_full_run(hub, final_time):
    model, members = hub
    npol, nmem = len(CANDIDATES), len(members)
    ws = warm_start(model, members, 2026.0, OUTPUTS, HUB)
    changes = CANDIDATES.loc[CANDIDATES.index.repeat(nmem)].reset_index(drop=True)
    member = np.tile(np.arange(nmem), npol)
    warm = ws.run(changes, member, final_time=final_time, saveper=0.25)
    full_params = members.iloc[member].reset_index(drop=True)
    for c in changes:
        full_params[c] = changes[c].to_numpy()
    full = model.run(full_params, OUTPUTS, HUB, final_time=final_time, saveper=0.25)
    assert warm["time"].to_numpy()[0] == 2026.0
    assert warm["time"].to_numpy()[-1] == final_time
    full = full.sel(time=warm["time"])
    for name in OUTPUTS:
        assert _relative(warm[name].to_numpy(), full[name].to_numpy()) <= 1e-9, name
    np.testing.assert_array_equal(warm["member"].to_numpy(), member)
    # the test is not vacuous: some trigger waits for its signal beyond its start year (so
    # the reporting delay's pipe, kept at 2026, decides when), and the policies differ
    latch = warm["reskilling_triggered"].to_numpy().reshape(npol, nmem, -1)
    t = warm["time"].to_numpy()
    on = np.argmax(latch > 0.5, axis=2)
    waited = (latch[2:].max(axis=2) > 0.5) & (t[on[2:]] > 2026.5)
    assert waited.any()
    yu = warm["youth_unemployment_rate"].to_numpy().reshape(npol, nmem, -1)
    assert np.ptp(yu[:, :, -1], axis=0).max() > 1e-4


def test_policy_evaluator_is_the_same_warm_or_cold(hub):
    model, members = hub
    design = load_design(hub=HUB)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    x = low + (high - low) * np.random.default_rng(4).uniform(size=(6, len(low)))
    warm = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, HUB)
    cold = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, HUB, warm=False)
    assert warm.warm_from == design.base_year and cold.warm_from is None
    xr.testing.assert_identical(warm.evaluate(x), cold.evaluate(x))
    xr.testing.assert_identical(warm.baseline_dataset(), cold.baseline_dataset())


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"reskilling_start_year": [2026.0, 2025.0]}, "reskilling_start_year"),
        ({"scenario_start_year": 2024.0}, "scenario_start_year"),
        ({"automatable_junior_share": [0.3, 0.4]}, "automatable_junior_share"),
        ({"initial_hub_service_demand": 50000.0}, "initial_hub_service_demand"),
        ({"policy_signal_reporting_delay": 1.0}, "policy_signal_reporting_delay"),
        ({"client_demand_growth_multiplier": 2.0}, "client_demand_growth_multiplier"),
    ],
)
def test_refuses_a_change_that_acts_before_the_start(hub, changes, named):
    model, members = hub
    ws = warm_start(model, members.iloc[:2], 2026.0, ["total_hub_staff"], HUB)
    with pytest.raises(WarmStartError, match=named):
        ws.run(changes, np.array([0, 1]))


def test_allows_what_switches_on_from_the_start(hub):
    model, members = hub
    ws = warm_start(model, members.iloc[:2], 2026.0, ["total_hub_staff"], HUB)
    # AI-capability futures switch on with the scenario switch (STEP at 2026)
    ds = ws.run({"ai_adoption_speed_multiplier": [2.0, 0.5]}, np.array([1, 0]), final_time=2030.0)
    assert ds.sizes["sample"] == 2 and float(ds["time"][-1]) == 2030.0


def test_bad_warm_starts(hub):
    model, members = hub
    with pytest.raises(WarmStartError, match="time grid"):
        warm_start(model, members.iloc[:2], 2026.01, ["total_hub_staff"], HUB)
    with pytest.raises(WarmStartError, match="after FINAL TIME"):
        warm_start(model, members.iloc[:2], 2050.0, ["total_hub_staff"], HUB)
    ws = warm_start(model, members.iloc[:2], 2026.0, ["total_hub_staff"], HUB)
    with pytest.raises(WarmStartError, match="before the warm start"):
        ws.run(None, np.array([0, 1]), final_time=2025.0)
    with pytest.raises(WarmStartError, match="member positions"):
        ws.run(None, np.array([0, 2]))
    with pytest.raises(WarmStartError, match="RANDOM"):
        warm_start(compile_model(MODELS / "engine" / "random.mdl"), None, 5.0, n=2)


def _varied(model, members=5):
    """Up to three constants of a test model, each varied around its default."""
    table = model.parameter_table()
    out = {}
    for name in table.index:
        row = table.loc[name]
        if np.isfinite(row.default) and row.default != 0 and len(out) < 3:
            values = row.default * np.linspace(0.9, 1.1, members)
            out[name] = np.clip(values, row.low, row.high)
    return out


#: The small models with every kind of state the warm start keeps (no subscripts).
STATEFUL_SCALAR_MODELS = [
    "smooth.mdl",
    "delay.mdl",
    "integ.mdl",
    "initial.mdl",
    "engine/delay_fixed.mdl",
    "engine/delay_n.mdl",
    "engine/smooth_n.mdl",
    "engine/trend.mdl",
    "engine/forecast.mdl",
    "engine/sample_if_true.mdl",
    "engine/active_initial.mdl",
]


@pytest.mark.parametrize(
    "mdl",
    [
        *STATEFUL_SCALAR_MODELS,
        "engine/subscripts_1d.mdl",
        "engine/array_functions.mdl",
    ],
)
def test_every_kind_of_state_is_kept(mdl):
    # No change: members continued in another order from mid-run equal their full runs.
    model = compile_model(MODELS / mdl)
    c = model.controls
    k = int(round((c["final_time"] - c["initial_time"]) / c["time_step"] / 2))
    until = c["initial_time"] + k * c["time_step"]
    params = _varied(model)
    assert params, mdl
    ws = warm_start(model, params, until, "all")
    member = np.array([3, 1, 4, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NaN outputs of na-style models
        warm = ws.run(None, member)
        full = model.run({k: v[member] for k, v in params.items()}, "all")
    full = full.sel(time=warm["time"])
    assert warm.sizes["time"] >= 2
    for name in warm.data_vars:
        a, b = warm[name].to_numpy(), full[name].to_numpy()
        if not np.array_equal(a, b, equal_nan=True):
            assert _relative(a, b) <= 1e-9, (mdl, name)


def test_a_time_step_given_to_the_warm_start_is_the_continuations_step(hub):
    """warm_start(time_step=...) continues at that step, as the full run at it (the explorer's)."""
    model, members = hub
    ws = warm_start(model, members, 2026.0, OUTPUTS, HUB, time_step=1 / 8)
    assert ws.ctrl["time_step"] == 1 / 8
    changes = {"reskilling_policy_capacity": 3000.0, "reskilling_start_year": 2027.0}
    warm = ws.run(changes, saveper=1.0)
    params = members.assign(**changes)
    full = model.run(params, OUTPUTS, HUB, time_step=1 / 8, saveper=1.0).sel(time=warm["time"])
    own = model.run(params, OUTPUTS, HUB, saveper=1.0).sel(time=warm["time"])  # 1/32
    for name in OUTPUTS:
        assert _relative(warm[name].to_numpy(), full[name].to_numpy()) <= 1e-9, name
    assert _relative(warm["total_hub_staff"].to_numpy(), own["total_hub_staff"].to_numpy()) > 1e-9


# --------------------------------------------------------------------------------------------
# the fused backend (numba) continues the same state: equal to the numpy continuation bit for bit


def test_warm_fused_equals_warm_numpy_and_the_full_run(hub):
    pytest.importorskip("numba")
    model, members = hub
    # the reporting delay differs between members: so do the pipes' orders (DELAY FIXED)
    members = members.assign(policy_signal_reporting_delay=np.linspace(0.25, 1.0, len(members)))
    npol, nmem = len(CANDIDATES), len(members)
    ws = warm_start(model, members, 2026.0, OUTPUTS, HUB)
    changes = CANDIDATES.loc[CANDIDATES.index.repeat(nmem)].reset_index(drop=True)
    member = np.tile(np.arange(nmem), npol)
    kw = dict(final_time=2045.0, saveper=0.25)
    numpy_ = ws.run(changes, member, backend="numpy", **kw)
    fused_ = ws.run(changes, member, backend="fused", workers=2, chunk_size=25, **kw)
    full_params = members.iloc[member].reset_index(drop=True)
    for c in changes:
        full_params[c] = changes[c].to_numpy()
    full = model.run(full_params, OUTPUTS, HUB, backend="numpy", **kw).sel(time=numpy_["time"])
    np.testing.assert_array_equal(fused_["time"].to_numpy(), numpy_["time"].to_numpy())
    np.testing.assert_array_equal(fused_["member"].to_numpy(), member)
    for name in OUTPUTS:
        a, b = fused_[name].to_numpy(), numpy_[name].to_numpy()
        assert np.array_equal(a, b, equal_nan=True), name
        assert _relative(a, full[name].to_numpy()) <= 1e-9, name
    # not vacuous: the triggers wait for the delayed signal, and the delays' orders differ
    latch = fused_["reskilling_triggered"].to_numpy().reshape(npol, nmem, -1)
    assert (latch[2:].max(axis=2) > 0.5).any()
    assert len({round(d / model.controls["time_step"]) for d in members.iloc[:, -1]}) > 5


def test_warm_fused_from_members_that_are_all_alike(hub):
    pytest.importorskip("numba")
    model, _ = hub
    ws = warm_start(model, None, 2026.0, OUTPUTS, HUB, n=3)  # one state for every member
    changes = CANDIDATES.iloc[[0, 2, 4, 1]].reset_index(drop=True)
    member = np.array([2, 0, 1, 2])
    a = ws.run(changes, member, final_time=2035.0, backend="numpy")
    b = ws.run(changes, member, final_time=2035.0, backend="fused")
    for name in OUTPUTS:
        assert np.array_equal(a[name].to_numpy(), b[name].to_numpy(), equal_nan=True), name


def test_warm_backend_choice(hub):
    pytest.importorskip("numba")
    from hubsd.engine import fused
    from hubsd.model.parameters import ParameterError

    model, members = hub
    ws = warm_start(model, members.iloc[:2], 2026.0, ["total_hub_staff"], HUB)
    assert ws._fused(None, fused.FUSED_MIN_MEMBERS) is not None  # auto: enough rows
    assert ws._fused("auto", fused.FUSED_MIN_MEMBERS - 1) is None  # auto: too few
    assert ws._fused("numpy", 10**6) is None
    with pytest.raises(ParameterError, match="backend must be one of auto, numpy, fused"):
        ws.run(None, np.array([0, 1]), backend="numba")


@pytest.mark.parametrize("mdl", STATEFUL_SCALAR_MODELS)
def test_every_kind_of_state_is_kept_by_the_fused_backend(mdl):
    pytest.importorskip("numba")
    model = compile_model(MODELS / mdl)
    c = model.controls
    k = int(round((c["final_time"] - c["initial_time"]) / c["time_step"] / 2))
    until = c["initial_time"] + k * c["time_step"]
    params = _varied(model)
    ws = warm_start(model, params, until, "all")
    member = np.array([3, 1, 4, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = ws.run(None, member, backend="numpy")
        b = ws.run(None, member, backend="fused")
    assert a.sizes["time"] >= 2
    for name in a.data_vars:
        assert np.array_equal(a[name].to_numpy(), b[name].to_numpy(), equal_nan=True), (mdl, name)


def test_policy_evaluator_warm_fused_is_the_cold_run(hub):
    """Enough rows for the fused backend: warm (fused) and cold (fused) outcomes are the same."""
    pytest.importorskip("numba")
    model, members = hub
    design = load_design(hub=HUB)
    low = np.array([d.low for d in design.decisions])
    high = np.array([d.high for d in design.decisions])
    x = low + (high - low) * np.random.default_rng(5).uniform(size=(42, len(low)))  # 1,008 rows
    warm = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, HUB)
    numpy_ = Evaluator(model, members, design, hub_outcomes, HUB_OUTPUTS, HUB, backend="numpy")
    assert warm.warm_from == design.base_year
    assert warm._start._fused(None, 42 * len(members)) is not None  # the fused continuation
    xr.testing.assert_identical(warm.evaluate(x), numpy_.evaluate(x))
