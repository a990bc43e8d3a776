"""Global sensitivity (SALib on the ensemble engine): indices that must come out right."""

from __future__ import annotations

import numpy as np
import pytest

import hubsd
import hubsd.core.paths as _core_paths
import hubsd.studies.sensitivity as _studies_sensitivity
from hubsd.model.parameters import ParameterError

PARAMS = [
    "automatable_junior_share",
    "client_demand_growth_rate",
    "local_multiplier",
    "cost_per_trainee",  # no effect without a reskilling programme: index must be ~0
]


@pytest.fixture(scope="module")
def sobol_idx():
    return _studies_sensitivity.sobol(["junior_staff@2040", "local_service_jobs@2040"], PARAMS, n=256, seed=3)


def test_sobol_ranks_known_drivers(sobol_idx):
    st = sobol_idx.ST.sel(metric="junior_staff@2040").to_series()
    assert st.idxmax() in {"automatable_junior_share", "client_demand_growth_rate"}
    assert st["cost_per_trainee"] == pytest.approx(0, abs=1e-9)
    assert sobol_idx.S1.sel(parameter="cost_per_trainee").values == pytest.approx(0, abs=1e-9)
    # local services depend on the multiplier, junior staff do only weakly
    ls = sobol_idx.ST.sel(metric="local_service_jobs@2040").to_series()
    assert ls["local_multiplier"] > 0.2
    assert ls["local_multiplier"] > st["local_multiplier"]


def test_sobol_indices_are_consistent(sobol_idx):
    s1, st = sobol_idx.S1.values, sobol_idx.ST.values
    assert np.all(st > -0.05) and np.all(st < 1.2)
    assert np.all(s1 <= st + 0.1)  # first order never far above total
    assert np.all(sobol_idx.ST_conf.values >= 0)
    assert sobol_idx.attrs["runs"] == 256 * (len(PARAMS) + 2)
    assert sobol_idx.ST.dims == ("metric", "parameter")


def test_sobol_is_reproducible_with_a_seed(sobol_idx):
    again = _studies_sensitivity.sobol(["junior_staff@2040", "local_service_jobs@2040"], PARAMS, n=256, seed=3)
    np.testing.assert_array_equal(again.ST.values, sobol_idx.ST.values)


def test_morris_screens_out_the_inert_parameter():
    idx = _studies_sensitivity.morris(
        ["junior_staff@2040", "cum:young_out_migration"], PARAMS, trajectories=10, seed=1
    )
    mu = idx.mu_star.sel(metric="junior_staff@2040").to_series()
    assert mu["cost_per_trainee"] == 0
    assert mu["automatable_junior_share"] > 0
    assert idx.attrs["runs"] == 10 * (len(PARAMS) + 1)


def test_default_problem_leaves_policy_out():
    prob = _studies_sensitivity.problem()
    assert "reskilling_policy_capacity" not in prob["names"]
    assert "automatable_junior_share" in prob["names"]
    assert all(lo < hi for lo, hi in prob["bounds"])


@pytest.mark.parametrize(
    "metric, message",
    [
        ("junior_staff", "a value needs one year"),
        ("junior_staf@2030", "unknown output 'junior_staf'; did you mean 'junior_staff'"),
        ("max:junior_staff", "malformed metric"),
        ("junior_staff@2100", "year outside the run"),
    ],
)
def test_bad_metrics(metric, message):
    with pytest.raises(ParameterError, match=message):
        _studies_sensitivity.sobol([metric], PARAMS[:2], n=8)


def test_bad_settings():
    with pytest.raises(ParameterError, match="power of two"):
        _studies_sensitivity.sobol(["junior_staff@2030"], PARAMS, n=100)
    with pytest.raises(ParameterError, match="unknown parameter"):
        _studies_sensitivity.sobol(["junior_staff@2030"], ["local_multiplyer", "cost_per_trainee"], n=8)


def test_tornado_draws(sobol_idx):
    fig = _studies_sensitivity.tornado(sobol_idx, "junior_staff@2040")
    assert len(fig.axes[0].patches) == len(PARAMS)


def test_morris_corners_of_the_whole_table_stay_finite():
    """Morris grids put many parameters on their bounds at once (e.g. no local services at all:
    base_local_service_jobs = 0 and local_multiplier = 0, which once gave 0/0). Every output of
    every member must stay finite and no stock negative."""
    import pandas as pd
    from SALib.sample import morris as morris_sample

    prob = _studies_sensitivity.problem()
    lo, hi = np.array(prob["bounds"]).T
    X = np.clip(morris_sample.sample(prob, 6, num_levels=4, seed=42), lo, hi)
    assert ((X == lo) | (X == hi)).sum() > X.size // 4  # many parameters at their bounds
    engine = _studies_sensitivity._engine(str(_core_paths.DEFAULT_MODEL))
    ds = engine.run(pd.DataFrame(X, columns=prob["names"]), "all", hub="krakow")
    for name, da in ds.data_vars.items():
        assert np.isfinite(da.values).all(), name
    stocks = [n for n in ds.data_vars if ds[n].attrs["long_name"][:1].isupper()]
    assert len(stocks) > 15
    for name in stocks:
        if name != "cumulative_net_boundary_flow":  # signed by construction
            assert ds[name].values.min() > -1e-6, name


def test_bounds_narrow_the_sampled_ranges():
    prob = _studies_sensitivity.problem(PARAMS, bounds={"client_demand_growth_rate": (0.02, 0.05)})
    assert prob["bounds"][1] == [0.02, 0.05] and prob["bounds"][0] == [0.0, 1.0]
    mo = _studies_sensitivity.morris("junior_staff@2040", PARAMS, trajectories=4, seed=1,
                     bounds={"automatable_junior_share": (0.4, 0.6)})
    assert np.isfinite(mo.mu_star).all()
    with pytest.raises(ParameterError, match=r"bounds of 'client_demand_growth_rate' \[0.02, 0.5\] "
                                             r"must be increasing and inside its range"):
        _studies_sensitivity.problem(PARAMS, bounds={"client_demand_growth_rate": (0.02, 0.5)})
    with pytest.raises(ParameterError, match="bounds given for layoff_time, which is not varied"):
        _studies_sensitivity.problem(PARAMS, bounds={"layoff_time": (0.3, 0.5)})


def test_calibrated_hub_is_uncertain_over_its_intervals():
    """A calibrated hub's fitted parameters vary over their 95 % intervals (a parameter the
    data do not identify over its whole range); the hub file's own values stay fixed."""
    from hubsd import studies
    from hubsd.inputs.calibrated import load_calibrated, versions

    plain = studies.uncertain_ranges("krakow")
    # the uncertain parameters, plus the hub file's values that carry an evidence range (the
    # AI exposure shares), each over that range
    # (policy levers and their costs are choices, not uncertainties, even with an evidence range)
    sector = hubsd.parameter_table()["sector"]
    evidence = {
        k: v
        for k, v in hubsd.load_hub("krakow")["ranges"].items()
        if sector[k] not in ("Policy", "Scenario")
    }
    assert set(plain) == set(studies.uncertain_parameters("krakow")) | set(evidence)
    for name, rng in evidence.items():
        assert plain[name] == tuple(rng)
    if not versions("krakow"):
        pytest.skip("no calibrated Kraków set")
    cal = studies.uncertain_ranges("krakow@calibrated")
    doc = load_calibrated("krakow")
    for name, entry in doc["parameters"].items():
        if entry["high95"] > entry["low95"]:
            assert cal[name] == (entry["low95"], entry["high95"])
    assert "local_multiplier" in cal and "base_local_service_jobs" not in cal  # hub file: fixed
    X = studies.lhs_parameters(50, 2, list(cal), ranges=cal)
    lo, hi = cal["initial_hub_service_demand"]
    assert X.initial_hub_service_demand.between(lo, hi).all()
