"""Robust policy design: the optimiser, robustness metrics, scenario discovery, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hubsd.cli.commands import main
from hubsd.core.sampling import lhs
from hubsd.engine import warmstart
from hubsd.engine.ensemble import compile_model
from hubsd.studies.discovery import cart_rules, find_boxes
from hubsd.studies.policy_design import (
    Evaluator,
    design_policies,
    discounted,
    optimise,
    policy_ensemble,
    robustness,
)
from hubsd.studies.policy_spec import (
    Objective,
    PolicyDesignError,
    check_budget,
    check_objectives,
    load_design,
)

TINY = Path(__file__).parent / "models" / "policy"


def _tiny_outcomes(ds, design):
    end = ds.isel(time=-1)
    return {"harm": end["harm"].to_numpy(), "cost": end["cost"].to_numpy()}


@pytest.fixture(scope="module")
def tiny():
    model = compile_model(TINY / "lever.mdl")
    design = load_design(TINY / "lever_design.yaml", model_table=model.parameter_table())
    shocks = lhs(np.array([0.0]), np.array([1.0]), 200, 7)[:, 0]
    members = pd.DataFrame({"shock": shocks})
    return model, design, members


def _tiny_run(tiny, seed=3, budget=0.4, generations=40):
    model, design, members = tiny
    ev = Evaluator(model, members, design, _tiny_outcomes, ["harm", "cost"], saveper=0.25)
    objs = [Objective("harm_p90", "harm", "p90", -1), Objective("cost_mean", "cost", "mean", -1)]
    x, f = optimise(ev, objs, budget, generations, 20, seed, cost_outcome="cost")
    return x, f, np.quantile(members["shock"], 0.9)


def test_optimiser_finds_the_hand_computed_front(tiny):
    # Harm = shock (1 - lever), Cost = lever + waste at t = 1. Over the members, the worst
    # tenth of harm is q90(shock) (1 - lever); the front is waste = 0, lever in [0, budget],
    # and the lowest harm within a budget of 0.4 is at lever = 0.4: 0.6 q90(shock).
    x, f, q90 = _tiny_run(tiny)
    lever, waste = x[:, 0], x[:, 1]
    assert len(x) >= 5
    assert np.all(waste < 0.02)
    assert np.all(lever + waste <= 0.4 + 1e-9)
    np.testing.assert_allclose(f[:, 0], q90 * (1 - lever), rtol=1e-9)
    np.testing.assert_allclose(f[:, 1], lever + waste, rtol=1e-9)
    best = np.argmin(f[:, 0])
    assert lever[best] == pytest.approx(0.4, abs=0.01)
    assert f[best, 0] == pytest.approx(0.6 * q90, abs=0.01)


def test_front_is_bit_identical_for_the_same_seed(tiny):
    x1, f1, _ = _tiny_run(tiny, seed=5, generations=8)
    x2, f2, _ = _tiny_run(tiny, seed=5, generations=8)
    x3, _, _ = _tiny_run(tiny, seed=6, generations=8)
    assert np.array_equal(x1, x2) and np.array_equal(f1, f2)
    assert x1.shape != x3.shape or not np.array_equal(x1, x3)


def test_hub_front_is_bit_identical_and_complete():
    kw = dict(members=12, generations=2, population=4, seed=11, budget=5e8)
    a = design_policies("krakow", **kw)
    b = design_policies("krakow", **kw)
    xr.testing.assert_identical(a.front, b.front)
    xr.testing.assert_identical(a.outcomes, b.outcomes)
    table = a.table()
    assert table["recommended"].sum() == 1
    assert table["discounted_cost_p90"].max() <= 5e8
    assert all("reskilling_capacity=" in t for t in table["policy_text"])
    assert a.front["reskilling_capacity"].attrs["units"] == "Person/Year"
    # the no-policy run costs nothing and keeps no job-years
    none = a.outcomes.sel(policy="none")
    assert float(abs(none["discounted_cost"]).max()) == 0.0
    assert float(abs(none["job_years_kept"]).max()) == 0.0
    # every robustness number is computed from the outcomes
    yu = a.outcomes["youth_unemployment_peak"].to_numpy()
    regret = yu - yu.min(axis=0)
    np.testing.assert_allclose(a.front["max_regret"].to_numpy(), regret[:-1].max(axis=1))
    # the default failure rule is relative: each member's own youth unemployment rate at the
    # base year without policy, plus the table's rise
    design = load_design(hub="krakow")
    assert design.threshold_kind == "relative" and a.info["youth_unemployment_threshold_kind"]
    own = (
        compile_model()
        .run(
            a.members.reset_index(drop=True),
            ["youth_unemployment_rate"],
            "krakow",
            final_time=2030.0,
        )["youth_unemployment_rate"]
        .sel(time=design.base_year)
    )
    threshold = a.outcomes["youth_unemployment_threshold"].to_numpy()
    np.testing.assert_allclose(
        threshold, own.to_numpy() + design.youth_unemployment_threshold, rtol=1e-12
    )
    assert np.ptp(threshold) > 0  # one per member
    np.testing.assert_array_equal(
        a.front["satisficing_share"].to_numpy(), (yu[:-1] <= threshold).mean(axis=1)
    )


def test_serial_and_parallel_generations_are_bit_identical(monkeypatch):
    # The same seed run with every chunk in this process (workers=1) and with the rows of each
    # generation cut into chunks run by two forked worker processes (workers=2): the same front
    # and the same outcome arrays, bit for bit.
    calls = []
    run_local = warmstart._run_local

    def spy(model, job, rows, bounds, nworkers, *args):
        calls.append((nworkers, len(bounds)))
        return run_local(model, job, rows, bounds, nworkers, *args)

    monkeypatch.setattr(warmstart, "_run_local", spy)
    kw = dict(members=12, generations=3, population=6, seed=4, budget=5e8)
    serial = design_policies("krakow", workers=1, **kw)
    assert calls and all(c == (1, 1) for c in calls)
    calls.clear()
    parallel = design_policies("krakow", workers=2, **kw)
    assert calls and all(w == 2 and n >= 2 for w, n in calls)  # forked, two chunks or more
    assert serial.info["warm_start_from"] == 2026
    xr.testing.assert_identical(serial.front, parallel.front)
    xr.testing.assert_identical(serial.outcomes, parallel.outcomes)
    for name in serial.outcomes.data_vars:
        a, b = serial.outcomes[name].to_numpy(), parallel.outcomes[name].to_numpy()
        assert a.tobytes() == b.tobytes(), name  # identical bits (NaNs and signed zeros too)
    assert serial.recommended == parallel.recommended


@pytest.mark.parametrize("workers", [0, -1, 1.5, "2", True])
def test_bad_workers(workers):
    with pytest.raises(PolicyDesignError, match="workers"):
        design_policies("krakow", members=12, generations=1, population=2, workers=workers)


def test_discounting_by_hand():
    t = np.arange(0.0, 11.0)
    path = xr.DataArray(t * 100.0, dims="time", coords={"time": t})
    expected = 100.0 * np.exp(-0.05 * (t[:-1] + 0.5)).sum()
    assert discounted(path, 0.05, 0.0) == pytest.approx(expected, rel=1e-12)
    assert discounted(path, 0.0, 0.0) == pytest.approx(1000.0)


def test_robustness_metrics_by_hand():
    yu = np.array([[0.10, 0.20, 0.30], [0.12, 0.15, 0.40]])
    ds = xr.Dataset(
        {"youth_unemployment_peak": (("policy", "member"), yu)},
        coords={"policy": ["a", "b"], "member": [0, 1, 2]},
    )
    r = robustness(ds, threshold=0.2)
    assert r.loc["a", "satisficing_share"] == pytest.approx(2 / 3)
    assert r.loc["b", "satisficing_share"] == pytest.approx(2 / 3)
    assert r.loc["a", "max_regret"] == pytest.approx(0.05)  # member 1: 0.20 - 0.15
    assert r.loc["b", "max_regret"] == pytest.approx(0.10)  # member 2: 0.40 - 0.30


def test_prim_recovers_a_planted_box():
    rng = np.random.default_rng(42)
    x = pd.DataFrame(rng.uniform(size=(3000, 6)), columns=list("abcdef"))
    inside = (x["a"] >= 0.6) & (x["b"] <= 0.3)
    noise = rng.uniform(size=len(x)) < 0.03
    y = inside.to_numpy() ^ noise
    found = find_boxes(x, y)
    lim = found.limits[found.limits["box"] == 0].set_index("parameter")
    assert set(lim.index) == {"a", "b"}
    assert lim.loc["a", "low"] == pytest.approx(0.6, abs=0.05) and np.isnan(lim.loc["a", "high"])
    assert lim.loc["b", "high"] == pytest.approx(0.3, abs=0.05) and np.isnan(lim.loc["b", "low"])
    box = found.boxes.iloc[0]
    assert box["coverage"] > 0.8 and box["density"] > 0.8
    text, accuracy = cart_rules(x, y)
    assert "a <=" in text and "b <=" in text and accuracy > 0.9


def test_prim_with_no_failures_returns_no_box():
    x = pd.DataFrame({"a": np.linspace(0, 1, 50)})
    found = find_boxes(x, np.zeros(50, bool))
    assert found.boxes.empty and found.cases == 0


def test_design_table_checks(tmp_path, tiny):
    model, design, _ = tiny
    assert design.names == ["lever", "waste"] and design.pending == ["trigger"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "discount_rate: 0.03\nbase_year: 2026\nhorizon: 2040\nyouth_unemployment_threshold: 0.15\n"
        "decisions:\n  - {name: x, parameter: reskilling_budget_cap, low: 0, "
        "high: 1, kind: float}\n"
    )
    with pytest.raises(PolicyDesignError, match="not in the model.*reskilling_policy_capacity"):
        load_design(bad)
    with pytest.raises(PolicyDesignError, match="unknown lever 'nope'.*valid levers: lever"):
        design.select(["nope"])
    bad.write_text(
        bad.read_text()
        .replace("reskilling_budget_cap", "reskilling_policy_capacity")
        .replace("high: 1", "high: 2000000")
    )
    with pytest.raises(PolicyDesignError, match="inside reskilling_policy_capacity's range"):
        load_design(bad)
    good = bad.read_text().replace("high: 2000000", "high: 1000")
    bad.write_text(good.replace("0.15\n", "{kind: relative, value: 0.05}\n"))
    relative = load_design(bad)
    assert relative.threshold_kind == "relative"
    np.testing.assert_allclose(relative.thresholds(np.array([0.1, 0.2])), [0.15, 0.25])
    with pytest.raises(PolicyDesignError, match="needs each member's base-year"):
        relative.thresholds(None)
    bad.write_text(good)
    absolute = load_design(bad)  # a bare number: absolute, as before
    assert absolute.threshold_kind == "absolute"
    np.testing.assert_array_equal(absolute.thresholds(np.array([0.1, 0.2])), [0.15, 0.15])
    for text, match in [
        ("{kind: above, value: 0.05}", "kind must be 'absolute' or 'relative'"),
        ("{kind: relative, value: 2}", "must lie in"),
        ("{kind: relative, value: 0.05, base: 2025}", "unknown keys"),
    ]:
        bad.write_text(good.replace("0.15\n", text + "\n"))
        with pytest.raises(PolicyDesignError, match=match):
            load_design(bad)
    default = load_design(hub="telangana")
    cap = {d.name: d for d in default.decisions}["reskilling_capacity"]
    # scaled as the hub file resizes the lever (13,008 a year against Kraków's 3,000)
    assert cap.high == pytest.approx(6000 * 13008 / 3000)


@pytest.mark.parametrize("budget", [-1, float("nan"), "abc", True, float("inf")])
def test_bad_budget(budget):
    with pytest.raises(PolicyDesignError, match="budget"):
        check_budget(budget)


def test_bad_objective_and_members():
    with pytest.raises(PolicyDesignError, match="unknown objective 'jobs'.*fail_share"):
        check_objectives(["jobs"])
    with pytest.raises(PolicyDesignError, match="members"):
        policy_ensemble("krakow", members=0)
    with pytest.raises(PolicyDesignError, match="AI-capability group 'x'"):
        policy_ensemble("krakow", members=5, ai_capability=["x"])


def test_ensemble_widens_ai_capability_to_the_table_range():
    e = policy_ensemble("krakow@calibrated", members=100, seed=1)
    assert len(e) == 100 and e.index.name == "member"
    # futures from 2026 over the table's range [-1, 1]; the fitted share itself keeps its
    # posterior. A Latin hypercube of 100 members puts one in each 0.02-wide end stratum, so
    # the ends below hold for any seed if the range is the table's, and fail if it is narrower
    assert e["change_in_automatable_junior_share"].min() < -0.95
    assert e["change_in_automatable_junior_share"].max() > 0.95
    assert e["automatable_junior_share"].between(0.13, 0.713).all()
    assert "posterior" in e.attrs


@pytest.mark.parametrize(
    "extra",
    [
        ["--budget", "-5"],
        ["--budget", "nan"],
        ["--members", "0"],
        ["--objective", "happiness"],
        ["--lever", "tax_cut"],
        ["--hub", "atlantis"],
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, extra):
    out = tmp_path / "policy"
    args = ["policy", "--hub", "krakow", "--out", str(out), *extra]
    assert main(args) == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert err.startswith("hubsd: error:") and len(err.strip().splitlines()) == 1


def test_cli_writes_the_folder(tmp_path, capsys):
    out = tmp_path / "p"
    argv = [
        "policy",
        "--hub",
        "krakow",
        "--members",
        "10",
        "--generations",
        "1",
        "--population",
        "4",
        "--out",
        str(out),
        "--budget",
        "1e9",
    ]
    assert main(argv) == 0
    names = {p.name for p in out.iterdir()}
    assert {
        "front.nc",
        "front.csv",
        "recommended.json",
        "prim_boxes.csv",
        "prim_limits.csv",
        "cart.txt",
        "front.png",
        "outcomes.nc",
        "hubsd-policy.json",
    } <= names
    rec = json.loads((out / "recommended.json").read_text())
    assert set(rec["parameters"]) >= {"reskilling_policy_capacity", "human_centred_ai_policy_share"}
    assert "Recommended mix" in capsys.readouterr().out
