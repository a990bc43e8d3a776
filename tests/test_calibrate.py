"""Calibration (``hubsd.calibrate``, ``hubsd calibrate``): spec checks, the solver broker, the
Kraków fit, profile intervals, recovery of known parameters, holdout, saved versions, bad input.

The fits here run the real model through the ensemble engine; the recovery test and the whole
calibration through the command line are in ``tests/test_calibrate_refits.py`` (run beside these
on another pytest-xdist worker).
"""

from __future__ import annotations

import dataclasses
import json
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest
import yaml

import hubsd
import hubsd.calibration.calibrate as _calibration_calibrate
import hubsd.calibration.fit as _calibration_fit
import hubsd.calibration.profiles as _calibration_profiles
import hubsd.calibration.spec as _calibration_spec
import hubsd.calibration.store as _calibration_store
import hubsd.cli.calibrate_cmd as _cli_calibrate_cmd
import hubsd.cli.commands as _cli_commands
import hubsd.core.paths as _core_paths
import hubsd.inputs.calibrated as _inputs_calibrated
import hubsd.inputs.observations as _inputs_observations
import hubsd.model.pysd_model as _model_pysd_model
from hubsd.core.errors import HubsdError
from hubsd.core.paths import REPO
from hubsd.inputs.hubs import HubError, load_hub

FIXTURES = Path(__file__).parent / "fixtures"

#: A small spec on the bundled data: three growth parameters and Kraków's share of Poland.
SMALL = """\
hub: krakow
free:
  initial_hub_service_demand: {low: 3000, high: 30000, scale: log}
  client_demand_growth_rate: {}
shares:
  krakow_share_of_poland: {low: 0.1, high: 0.4}
series:
  - {region: Krakow, series: business_services_employment, output: total_hub_staff}
  - {region: Poland, series: business_services_employment, output: total_hub_staff,
     share: krakow_share_of_poland, years: [2019, 2022, 2023, 2024, 2025]}
targets:
  - {region: Krakow, series: business_services_employment_forecast, year: 2023,
     output: total_hub_staff, tolerance: 0.1}
holdout_from: 2023
starts: 3
screen: 64
seed: 2
profile_points: 7
"""


def _write(tmp_path, text, name="spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    return _calibration_spec.load_spec(_write(tmp_path_factory.mktemp("spec"), SMALL))


@pytest.fixture(scope="module")
def small_cal(small_spec):
    return _calibration_calibrate.calibrate(small_spec)


# -- the spec ---------------------------------------------------------------------------------


def test_bundled_spec_reads_every_figure_with_its_source():
    spec = _calibration_spec.load_spec("krakow")
    assert spec.hub == "krakow" and spec.path == REPO / "data" / "calibration" / "krakow.yaml"
    labels = {p.label for p in spec.points}
    assert "Krakow/business_services_employment" in labels
    assert all(p.source_address and p.says for p in spec.points)
    # Poland's 2003 figure is before the model starts: left out with a reason, not dropped silently
    assert all("outside the simulated period" in d for d in spec.dropped)
    # the holdout splits the figures
    assert any(p.holdout for p in spec.points) and not all(p.holdout for p in spec.points)
    # "over 50,000" (Kraków 2013) and "over 150,000" (Poland 2014) are lower bounds; ABSL's
    # "up to 650,000" for Poland in 2031 is an upper bound on the forecast
    lower = [p for p in spec.points if p.bound == "lower"]
    assert lower and {p.year for p in lower} == {2013, 2014}
    upper = [p for p in spec.points if p.bound == "upper"]
    assert [(p.year, p.kind) for p in upper] == [(2031, "forecast")]


BAD_SPECS = [
    ("hub: krakow\nfree: {bass_imitation: {}}\nseries: []\n",
     r"line 2: unknown parameter 'bass_imitation'; did you mean 'bass_imitation_coefficient'"),
    ("hub: krakow\nfree:\n  client_demand_growth_rate: {low: 0, high: 0.5}\nseries: []\n",
     r"line 3: client_demand_growth_rate: bounds \[0, 0.5\] .* range \[0, 0.1\]"),
    ("hub: krakow\nfree:\n  client_demand_growth_rate: {hi: 0.05}\nseries: []\n",
     r"line 3: unknown key 'hi'"),
    ("hub: krakov\nfree: {client_demand_growth_rate: {}}\nseries: []\n",
     r"unknown hub 'krakov'; did you mean 'krakow'"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Krakow, series: business_services_employment, output: hub_staff}\n",
     r"line 4: series: the model has no variable 'hub_staff'; did you mean 'total_hub_staff'"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Krakow, series: business_service_employment, output: total_hub_staff}\n",
     r"line 4: series: no data for region 'Krakow', series 'business_service_employment'"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Poland, series: business_services_employment, output: total_hub_staff,\n"
     "     share: poland_share}\n",
     r"line 4: series: share 'poland_share' is not declared under 'shares'"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries: []\ntargets:\n"
     "  - {region: Krakow, series: business_services_employment_forecast, year: 2023,\n"
     "     output: total_hub_staff, tolerance: 1.5}\n",
     r"line 5: target: tolerance 1.5 must be a relative error in \(0, 1\)"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries: []\ntargets:\n"
     "  - {region: Krakow, series: business_services_employment_forecast, year: 2031,\n"
     "     output: total_hub_staff}\n",
     r"line 5: target: 0 figures of Krakow/business_services_employment_forecast in 2031"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Krakow, series: business_services_employment, output: total_hub_staff}\n"
     "holdout_from: 2000\n",
     r"holdout_from 2000 must leave figures both before and from that year"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries: [\n",
     r"malformed YAML"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries: []\n",
     r"no figure to fit"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nerrors: {measured: 0.1}\nseries: []\n",
     r"errors: unknown kind 'measured'"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {scale: log}}\nseries: []\n",
     r"a log scale needs a positive lower bound"),
    ("hub: krakow\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Krakow, series: business_services_employment, output: total_hub_staff}\n"
     "targets:\n"
     "  - {region: Krakow, series: business_services_employment_forecast, year: 2023,\n"
     "     output: total_hub_staff, holdout: false}\nholdout_from: 2022\n",
     r"line 6: target Krakow/business_services_employment_forecast 2023: 'holdout: false' is "
     r"only for a forecast published before holdout_from 2022"),
    ("hub: manila\nfree: {client_demand_growth_rate: {}}\nseries:\n"
     "  - {region: Philippines, series: it_bpm_employment, output: total_hub_staff}\n"
     "targets:\n"
     "  - {region: Philippines, series: it_bpm_employment_forecast_v2019, year: 2022,\n"
     "     output: total_hub_staff, holdout: false}\nholdout_from: 2019\n",
     r"line 6: target .*_forecast_v2019 2022: 'holdout: false' is only for a forecast published "
     r"before holdout_from 2019"),
]


@pytest.mark.parametrize("text, message", BAD_SPECS, ids=[m[:40] for _, m in BAD_SPECS])
def test_bad_spec_is_refused_with_file_and_line(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(_inputs_calibrated.CalibrationError, match=message) as err:
        _calibration_spec.load_spec(path)
    assert "spec.yaml" in str(err.value) or "unknown hub" in str(err.value)


def test_forecast_published_before_the_holdout_stays_in_the_holdout_fit(tmp_path):
    # IBPAP's November 2019 forecast for 2022 was known in 2021: with holdout: false it stays in
    # the fit before 2022; the same target without it, and the observed 2022 figure, are held out
    text = (
        "hub: manila\nfree: {client_demand_growth_rate: {}}\nseries:\n"
        "  - {region: Philippines, series: it_bpm_employment, output: total_hub_staff}\n"
        "targets:\n"
        "  - {region: Philippines, series: it_bpm_employment_forecast_v2019, year: 2022,\n"
        "     output: total_hub_staff, holdout: %s}\nholdout_from: 2022\n"
    )
    for keep, held in (("false", False), ("true", True)):
        spec = _calibration_spec.load_spec(_write(tmp_path, text % keep))
        (target,) = [p for p in spec.points if p.role == "target"]
        assert target.holdout is held and target.bound == "lower"
        observed = [p for p in spec.points if p.role == "series" and p.year == 2022]
        assert observed and all(p.holdout for p in observed)


def test_malformed_data_file_is_refused_with_its_line(tmp_path):
    path = _write(tmp_path, SMALL)
    with pytest.raises(_inputs_calibrated.CalibrationError, match=r"bad_data_value.csv.*line"):
        _calibration_spec.load_spec(path, [_inputs_observations.OBSERVED, FIXTURES / "bad_data_value.csv"])


def test_unknown_hub_spec_names_the_known_ones():
    with pytest.raises(_inputs_calibrated.CalibrationError, match=r"no calibration spec for hub 'krakov'; "
                                                    r"did you mean 'krakow'"):
        _calibration_spec.spec_file("krakov")


def test_a_users_series_joins_the_bundled_data(tmp_path):
    text = SMALL.replace("targets:", "  - {region: Krakow, series: hub_jobs_my_count, "
                         "output: total_hub_staff}\ntargets:")
    spec = _calibration_spec.load_spec(_write(tmp_path, text), [_inputs_observations.OBSERVED,
                                                   FIXTURES / "user_series.csv"])
    mine = [p for p in spec.points if p.series == "hub_jobs_my_count"]
    assert len(mine) == 1 and mine[0].value == 95000 and mine[0].source_address.startswith("http")


# -- the broker and the objective -------------------------------------------------------------


def test_broker_batches_requests_of_all_threads_into_one_call():
    calls = []

    def batch(x):
        calls.append(len(x))
        return x * 2.0

    broker = _calibration_fit.BatchBroker(batch, 4)
    out = {}

    def work(i):
        try:
            for step in range(3):
                out[(i, step)] = broker.evaluate(np.full((i + 1, 2), float(i + step)))
        finally:
            broker.leave()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert calls == [10, 10, 10]  # 1+2+3+4 rows per round, three rounds
    for (i, step), res in out.items():
        np.testing.assert_array_equal(res, np.full((i + 1, 2), 2.0 * (i + step)))


def test_broker_hands_a_failure_to_every_waiting_solver():
    def batch(x):
        raise RuntimeError("model blew up")

    broker = _calibration_fit.BatchBroker(batch, 2)
    errors = []

    def work():
        try:
            broker.evaluate(np.zeros((1, 1)))
        except RuntimeError as exc:
            errors.append(str(exc))
        finally:
            broker.leave()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == ["model blew up"] * 2


def test_residuals_are_relative_and_bounds_one_sided(small_spec):
    obj = _calibration_fit.Objective(small_spec)
    pred = np.array([[p.value for p in small_spec.points]])
    np.testing.assert_allclose(obj.residuals_from(pred), 0.0)
    # 10 % above every figure: +2 standard errors where sigma is 5 %
    r = obj.residuals_from(pred * 1.1)[0]
    for p, ri in zip(small_spec.points, r, strict=True):
        if p.bound == "lower":
            assert ri == 0.0  # above a lower bound costs nothing
        else:
            assert ri == pytest.approx(0.1 / p.sigma)
    r = obj.residuals_from(pred * 0.9)[0]
    for p, ri in zip(small_spec.points, r, strict=True):
        assert ri == pytest.approx(-0.1 / p.sigma)
    assert obj.residuals_from(pred * np.nan)[0][0] == _calibration_spec.FAILED_RESIDUAL


def test_predictions_equal_a_single_pysd_run(small_spec):
    """The objective's model values are those of hubsd.run (PySD) at the same parameters."""
    obj = _calibration_fit.Objective(small_spec)
    u = np.array([[0.3, 0.6, 0.4]])
    x = obj.to_natural(u)[0]
    pred = obj.predictions(u)[0]
    ds = hubsd.run("krakow", {"initial_hub_service_demand": x[0], "client_demand_growth_rate": x[1]},
                   ["total_hub_staff"], final_time=2025, saveper=1)
    for p, v in zip(small_spec.points, pred, strict=True):
        ref = float(ds.total_hub_staff.sel(time=p.year)) / (x[2] if p.share else 1.0)
        assert v == pytest.approx(ref, rel=1e-9)


# -- the fit ----------------------------------------------------------------------------------


def test_fit_converges_from_every_start_to_one_optimum(small_cal):
    best = small_cal.fit
    assert (best.starts.status > 0).all()
    # a well-posed three-parameter fit: every start ends at (nearly) the same cost
    assert best.starts.cost.max() <= best.cost * (1 + 1e-3) + 1e-6
    assert best.starts.start_cost.min() > best.cost  # the optimiser improved on the screen
    st = small_cal.statistics
    assert list(st.columns) == ["n", "rmse", "mape", "r2", "U_M", "U_S", "U_C"]
    row = st.loc["Poland/business_services_employment"]
    assert row.n == 5 and row.U_M + row.U_S + row.U_C == pytest.approx(1.0)
    assert row.mape < 0.1


def test_profile_intervals_contain_the_estimate_and_follow_the_threshold(small_cal):
    prof = small_cal.profiles
    tab = prof.table
    assert (tab.low95 <= tab.estimate).all() and (tab.estimate <= tab.high95).all()
    assert tab.loc["krakow_share_of_poland", "flag"] == "identified"
    assert prof.better is None
    # at each identified end the re-optimised cost has risen by chi2(1)/2 = 1.92
    for j, name in enumerate(tab.index):
        if tab.loc[name, "flag"] != "identified":
            continue
        free = small_cal.spec.free[j]  # the profile is linear between grid points in the
        ok = np.isfinite(prof.grid[j])  # optimiser's (unit) coordinates; NaN: no refinement
        rise = 2 * (prof.cost[j][ok] - small_cal.fit.cost)
        for end in (tab.loc[name, "low95"], tab.loc[name, "high95"]):
            at = float(free.to_unit(end))
            crossing = np.interp(at, prof.grid[j][ok], rise)
            assert crossing == pytest.approx(_calibration_spec.CHI2_95, rel=1e-6)


def test_refined_ends_bracket_the_threshold_more_closely(small_cal):
    """The refinement adds a profile fit at each end that the grid alone interpolates inside the
    bounds (one step of regula falsi): that value is then a point of the profile, and the end
    is interpolated between two points closer together than grid neighbours."""
    prof = small_cal.profiles
    plain = _calibration_profiles.profile(small_cal.fit, refine=False)
    assert prof.grid.shape[1] == plain.grid.shape[1] + 2
    assert np.isnan(plain.grid).sum() == 0
    step = 1 / (plain.grid.shape[1] - 2)  # the even grid's spacing in the unit cube
    refined = 0
    for j, name in enumerate(prof.table.index):
        free = small_cal.spec.free[j]
        g = prof.grid[j][np.isfinite(prof.grid[j])]
        for end in ("low95", "high95"):
            first = float(free.to_unit(plain.table.loc[name, end]))
            if not 0 < first < 1:
                continue
            assert np.min(np.abs(g - first)) < 1e-12  # a profile fit at the grid's end
            at = float(free.to_unit(prof.table.loc[name, end]))
            k = int(np.searchsorted(g, at))
            assert 0 < k < len(g) and g[k] - g[k - 1] < step - 1e-9
            refined += 1
    assert refined > 0
    assert prof.table.flag.equals(plain.table.flag)


def test_holdout_refits_without_the_late_figures(small_cal):
    h = small_cal.holdout
    # Poland 2023-2025 (hub_figures.csv) and Kraków 2023-2024 (industry_series.csv)
    assert set(h.year) == {2023.0, 2024.0, 2025.0} and len(h) == 6
    assert small_cal.holdout_fit.cost <= small_cal.fit.cost  # fewer figures, lower cost
    assert np.all(np.isfinite(h.relative_error))


def test_dataset_has_named_dims_and_units(small_cal):
    ds = _calibration_calibrate.to_dataset(small_cal)
    assert ds["total_hub_staff"].dims == ("fit", "time")
    assert list(ds["fit"].values) == ["calibrated", "holdout fit"]
    assert ds["total_hub_staff"].attrs["units"] == "Person"
    assert ds["profile_cost"].dims == ("parameter", "grid_point")
    assert set(ds["flag"].values) <= {"identified", "one-sided", "not identified"}
    assert json.loads(ds.attrs["provenance"])["model_sha256"] == _model_pysd_model.file_hash(
        _core_paths.DEFAULT_MODEL)


def test_implausible_target_is_refused_before_fitting(tmp_path):
    spec = _calibration_spec.load_spec(_write(tmp_path, SMALL))
    target = next(p for p in spec.points if p.role == "target")
    target.value = 5e7  # jobs in Kraków in 2023: no parameter inside the bounds gets near
    with pytest.raises(_calibration_spec.ImplausibleFigure, match=r"target Krakow/business_services_employ"
                                                    r"ment_forecast 2023 = 5e\+07 is outside"):
        _calibration_fit.fit(spec)


def test_failing_optimiser_is_an_error_naming_each_start(monkeypatch, small_spec):
    class Failed:
        status, cost, message, nfev, x = 0, np.nan, "maximum evaluations reached", 1, None

    monkeypatch.setattr(_calibration_fit, "_solve", lambda *a, **k: Failed())
    with pytest.raises(_inputs_calibrated.CalibrationError, match=r"no local fit converged \(start 0: maximum "
                                                   r"evaluations reached"):
        _calibration_fit.fit(small_spec)


# -- saved sets -------------------------------------------------------------------------------


def test_saved_versions_never_overwrite_and_load_as_hubs(small_cal, tmp_path, monkeypatch):
    first = _calibration_store.save_calibrated(small_cal, tmp_path)
    second = _calibration_store.save_calibrated(small_cal, tmp_path)
    assert (first.name, second.name) == ("v1.yaml", "v2.yaml")
    assert _inputs_calibrated.versions("krakow", tmp_path) == ["v1", "v2"]
    doc = yaml.safe_load(first.read_text(encoding="utf-8"))
    prov = doc["provenance"]
    assert prov["model_sha256"] and prov["spec_sha256"] and prov["data"]
    # paths inside the repository are written relative to it (no machine paths in data/)
    assert prov["model"] == "models/hub.mdl" and "data/observed/hub_figures.csv" in prov["data"]
    assert {"pysd", "scipy", "numpy"} <= set(prov["versions"])
    assert "shares" in doc and "krakow_share_of_poland" in doc["shares"]
    assert all("Calibrated" in e["source"] for e in doc["parameters"].values())
    assert not list(tmp_path.rglob("*.tmp"))

    monkeypatch.setattr(_inputs_calibrated, "CALIBRATED_DIR", tmp_path)
    hub = load_hub("krakow@calibrated")
    assert hub["hub"] == "krakow@v2" and "calibrated v2" in hub["name"]
    est = small_cal.fit.estimates["client_demand_growth_rate"]
    assert hub["parameters"]["client_demand_growth_rate"] == pytest.approx(est, rel=1e-5)
    base = load_hub("krakow")
    kept = {k: v for k, v in base["parameters"].items() if k not in small_cal.fit.estimates}
    assert kept and all(hub["parameters"][k] == v for k, v in kept.items())
    with pytest.raises(HubError, match=r"no calibrated version 'v9'; versions: v1, v2"):
        load_hub("krakow@v9")
    ds = hubsd.run("krakow@v1", outputs=["total_hub_staff"], final_time=2010)
    assert np.isfinite(ds.total_hub_staff).all()


# -- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hub", "atlantis"], r"no calibration spec for hub 'atlantis'"),
        (["--starts", "0"], r"--starts must be at least 1"),
        (["--data", "nowhere.csv"], r"--data 'nowhere.csv': no such file"),
        (["--data", str(FIXTURES / "bad_data_malformed.csv")], r"bad_data_malformed.csv"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "report"
    code = _cli_commands.main(["calibrate", *argv, "--out", str(out), "--save-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hubsd: error:") and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert list(tmp_path.iterdir()) == []


def test_cli_optimiser_failure_exits_1_and_leaves_earlier_results(tmp_path, capsys,
                                                                  monkeypatch):
    spec = _write(tmp_path, SMALL)
    saves = tmp_path / "calibrated"
    (saves / "krakow").mkdir(parents=True)
    (saves / "krakow" / "v1.yaml").write_text("earlier", encoding="utf-8")

    class Failed:
        status, cost, message, nfev, x = -1, np.nan, "improper input", 0, None

    monkeypatch.setattr(_calibration_fit, "_solve", lambda *a, **k: Failed())
    code = _cli_commands.main(["calibrate", "--spec", str(spec), "--out", str(tmp_path / "report"),
                     "--save-dir", str(saves)])
    err = capsys.readouterr().err
    assert code == 1 and "no local fit converged" in err
    assert not (tmp_path / "report").exists()
    assert [p.name for p in (saves / "krakow").iterdir()] == ["v1.yaml"]
    assert (saves / "krakow" / "v1.yaml").read_text(encoding="utf-8") == "earlier"


def test_calibration_runs_on_the_fused_kernel_with_the_numpy_values(small_spec, monkeypatch):
    """Where numba is installed the objective's runs go to the fused kernel (any size, not
    only from the engine's 1,000 members), with the numpy backend's residuals; without numba,
    or for a model the kernel refuses, they run on numpy."""
    pytest.importorskip("numba")
    obj = _calibration_fit.Objective(small_spec)
    used = []
    run = type(obj.engine).run

    def spy(self, *args, **kwargs):
        used.append(kwargs.get("backend"))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(type(obj.engine), "run", spy)
    u = np.random.default_rng(4).random((12, len(small_spec.free)))
    on_fused = obj.residuals(u)
    with monkeypatch.context() as m:
        m.setattr(_calibration_fit, "run_backend", lambda engine: "numpy")
        on_numpy = obj.residuals(u)
    assert used == ["fused", "numpy"]
    np.testing.assert_allclose(on_fused, on_numpy, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(_calibration_fit.fused, "available", lambda: False)
    assert _calibration_fit.run_backend(obj.engine) == "numpy"
    monkeypatch.setattr(_calibration_fit.fused, "available", lambda: True)
    monkeypatch.setattr(obj.engine, "_programs", {})  # no kernel compiled or refused yet
    monkeypatch.setattr(_calibration_fit.fused, "unsupported", lambda model, pl=None: "subscripts")
    assert _calibration_fit.run_backend(obj.engine) == "numpy"


def test_fit_is_reproducible_bit_for_bit(small_spec, monkeypatch):
    """The solvers' evaluations are batched in a fixed order (not the threads' arrival order),
    so the same spec gives the same estimates to the last bit: notebooks can print them. The
    speculative Jacobian (each new point simulated with its difference stencil, one ensemble run
    per iteration) changes how many runs there are, not a single bit of the result."""
    a = _calibration_fit.fit(small_spec, starts=2)
    solve = _calibration_fit._solve
    monkeypatch.setattr(
        _calibration_fit, "_solve", lambda *args: solve(*args[:6], speculate=False)
    )
    b = _calibration_fit.fit(small_spec, starts=2)
    assert a.u.tobytes() == b.u.tobytes()
    assert a.starts.equals(b.starts)
    assert a.calls < b.calls  # one run per iteration instead of two


def test_shared_runs_and_two_processes_change_no_result(small_spec, small_cal, monkeypatch):
    """The holdout fit shares the main fit's ensemble runs and the profiles run in two
    processes; each gives exactly what it gives alone, in one process."""
    train = [p for p in small_spec.points if not p.holdout]
    alone = _calibration_fit.fit(small_spec, points=train)
    shared = small_cal.holdout_fit
    assert shared.u.tobytes() == alone.u.tobytes() and shared.cost == alone.cost
    assert shared.starts.equals(alone.starts)
    assert shared.calls < alone.calls + small_cal.fit.calls
    two = _calibration_profiles.profile(small_cal.fit, 3)
    monkeypatch.setattr(_calibration_fit, "_cores", lambda: 1)
    one = _calibration_profiles.profile(small_cal.fit, 3)
    assert two.cost.tobytes() == one.cost.tobytes()
    assert two.table.equals(one.table)


def test_stylised_target_keeps_its_kind_bound_and_tolerance(tmp_path):
    """A claim of the public debate (kind stylised: "over 90,000 in Kraków in 2024") can be a
    point target; it stays tagged stylised, and as a lower bound it costs nothing when met."""
    text = SMALL.replace("targets:\n", "targets:\n  - {region: Krakow, series: business_services_"
                         "employment, year: 2024, kind: stylised, output: total_hub_staff,\n"
                         "     tolerance: 0.25}\n")
    spec = _calibration_spec.load_spec(_write(tmp_path, text))
    claim = next(p for p in spec.points if p.year == 2024 and p.role == "target")
    assert (claim.kind, claim.bound, claim.sigma, claim.value) == ("stylised", "lower", 0.25, 90000)
    obj = _calibration_fit.Objective(spec, [claim])
    assert obj.residuals_from(np.array([[95000.0]]))[0, 0] == 0.0
    assert obj.residuals_from(np.array([[67500.0]]))[0, 0] == pytest.approx(-1.0)


def test_cli_refuses_an_out_folder_that_is_not_a_report(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep", encoding="utf-8")
    code = _cli_commands.main(["calibrate", "--out", str(out), "--save-dir", str(tmp_path / "s")])
    err = capsys.readouterr().err
    assert code == 2 and "is not an earlier calibration report" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# -- an identical refit is not a new version (issue 15) ---------------------------------------


def test_an_identical_refit_is_recognised_and_a_changed_one_is_not(small_cal, tmp_path):
    assert _calibration_store.identical_version(small_cal, tmp_path) is None  # no set yet
    first = _calibration_store.save_calibrated(small_cal, tmp_path)
    assert _calibration_store.identical_version(small_cal, tmp_path) == first
    # another estimate, another data file, another model: each makes a new set
    moved = dataclasses.replace(small_cal.fit, u=np.clip(small_cal.fit.u + 0.01, 0, 1))
    other_data = {**small_cal.provenance["data"], "data/observed/mine.csv": "0" * 64}
    for changed in (
        dataclasses.replace(small_cal, fit=moved),
        dataclasses.replace(small_cal, provenance={**small_cal.provenance, "data": other_data}),
        dataclasses.replace(
            small_cal, provenance={**small_cal.provenance, "model_equations_sha256": "1" * 64}
        ),
    ):
        assert _calibration_store.identical_version(changed, tmp_path) is None


def test_cli_says_an_identical_refit_is_unchanged_and_saves_nothing(
    small_cal, tmp_path, capsys, monkeypatch
):
    spec = _write(tmp_path, SMALL)
    saves = tmp_path / "calibrated"
    _calibration_store.save_calibrated(small_cal, saves)
    monkeypatch.setattr(_cli_calibrate_cmd, "calibrate", lambda *a, **k: small_cal)
    code = _cli_commands.main(
        ["calibrate", "--spec", str(spec), "--out", str(tmp_path / "r"), "--save-dir", str(saves)]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Calibrated set: unchanged; the refit is identical to krakow@v1" in out
    assert "no new version was saved" in out
    assert _inputs_calibrated.versions("krakow", saves) == ["v1"]


def test_progress_bars_are_silent_unless_asked_for(small_spec, capsys, monkeypatch):
    """Not a terminal (tests, notebooks, papermill): no bar; HUBSD_PROGRESS=1: a bar per step.

    Three evaluations per fit are enough to draw (or not draw) the bar; the fit itself is
    tested above."""
    monkeypatch.delenv("HUBSD_PROGRESS", raising=False)
    _calibration_fit.fit(small_spec, starts=1, max_nfev=3)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("HUBSD_PROGRESS", "1")
    _calibration_fit.fit(small_spec, starts=1, max_nfev=3)
    err = capsys.readouterr().err
    # the bar with its total (its last state, 1/1, is drawn only if 0.1 s passed since 0/1:
    # on the fused kernel three evaluations take less)
    assert "krakow: fit" in err and "/1 [" in err
    monkeypatch.setenv("HUBSD_PROGRESS", "maybe")
    with pytest.raises(HubsdError, match=r"HUBSD_PROGRESS='maybe': use 1 .* or 0"):
        _calibration_fit.fit(small_spec, starts=1, max_nfev=3)
