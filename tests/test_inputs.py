"""Bad input gets a clear error before anything runs, and leaves no half-written output."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest
import xarray as xr

import hubsd
import hubsd.inputs.scenarios as _inputs_scenarios
import hubsd.model.pysd_model as _model_pysd_model
from hubsd.inputs.hubs import HubError, load_hub
from hubsd.model.parameters import ParameterError, resolve_name
from hubsd.model.parameters import check_parameters as validate

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def no_model_run(monkeypatch):
    """Fail the test if the PySD model is asked to run."""
    model = _model_pysd_model.load()

    def boom(*args, **kwargs):
        raise AssertionError("the model ran although the input was bad")

    monkeypatch.setattr(model, "run", boom)
    monkeypatch.setattr(model, "set_components", boom)
    return model


def test_unknown_parameter_suggests_a_name():
    with pytest.raises(
        ParameterError,
        match=r"unknown parameter 'bass_imitation'.*"
        r"did you mean 'bass_imitation_coefficient'",
    ):
        validate({"bass_imitation": 0.3})


def test_vensim_spelling_is_accepted():
    assert resolve_name("Bass imitation coefficient") == "bass_imitation_coefficient"
    assert validate({"Local multiplier": 1.5}) == {"local_multiplier": 1.5}


@pytest.mark.parametrize(
    "value, message",
    [
        (5.0, r"outside its range \[0.2, 0.6\] 1/Year"),
        (-0.1, "outside its range"),
        (math.nan, "must be finite"),
        (math.inf, "must be finite"),
        ("0.3", "must be a number"),
        (True, "must be a number"),
        (None, "must be a number"),
        ([0.3], "must be a number"),
    ],
)
def test_bad_values_are_refused_with_name_and_range(value, message):
    with pytest.raises(ParameterError, match=message) as info:
        validate({"bass_imitation_coefficient": value})
    assert "bass_imitation_coefficient" in str(info.value)


def test_same_parameter_twice_with_different_values():
    with pytest.raises(ParameterError, match="given twice"):
        validate({"local_multiplier": 1.0, "Local multiplier": 2.0})


def test_bad_parameter_never_reaches_the_model(no_model_run):
    with pytest.raises(ParameterError, match="did you mean"):
        hubsd.run(params={"local_multiplyer": 1.0})
    with pytest.raises(ParameterError, match="outside its range"):
        hubsd.run(params={"local_multiplier": 9.0})


def test_bad_output_name(no_model_run):
    with pytest.raises(ParameterError, match="unknown output 'junior_staf'.*junior_staff"):
        hubsd.run(outputs=["junior_staf"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"time_step": 0.0}, "must be positive"),
        ({"time_step": math.nan}, "finite"),
        ({"final_time": 2000}, "must be after initial_time"),
        ({"saveper": 0.1}, "whole multiple"),
        ({"time_step": "1"}, "must be a number"),
    ],
)
def test_bad_control_values(no_model_run, kwargs, message):
    with pytest.raises(ParameterError, match=message):
        hubsd.run(**kwargs)


def test_unknown_hub_lists_known_ones(no_model_run):
    with pytest.raises(
        HubError, match=r"unknown hub 'krakov'; did you mean 'krakow'\?\. Known hubs: bangalore, krakow"
    ):
        hubsd.run(hub="krakov")


def test_unknown_scenario(no_model_run):
    with pytest.raises(HubError, match="unknown scenario 'reskiling'; did you mean 'reskilling'"):
        hubsd.run_scenarios("krakow", ["baseline", "reskiling"])


def _hub_dir(tmp_path: Path, fixture: str) -> Path:
    folder = tmp_path / "hubs"
    folder.mkdir()
    shutil.copy(FIXTURES / fixture, folder / "testhub.yaml")
    return folder


@pytest.mark.parametrize(
    "fixture, error, message",
    [
        ("bad_hub_malformed.yaml", HubError, r"testhub.yaml, line \d+: malformed YAML"),
        ("bad_hub_no_source.yaml", HubError, "parameter 'local_multiplier' lacks source"),
        (
            "bad_hub_unknown_param.yaml",
            ParameterError,
            r"testhub.yaml: unknown parameter 'local_multiplyer'; did you mean",
        ),
        ("bad_hub_out_of_range.yaml", ParameterError, r"testhub.yaml: .*outside its range"),
        ("bad_hub_not_mapping.yaml", HubError, "must be a mapping"),
    ],
)
def test_bad_hub_files(tmp_path, fixture, error, message):
    with pytest.raises(error, match=message):
        load_hub("testhub", hubs_dir=_hub_dir(tmp_path, fixture))


def test_bad_scenario_file(tmp_path):
    path = tmp_path / "scenarios.yaml"
    path.write_text("baseline:\n  parameters: {reskilling_policy_capacity: -5}\n")
    with pytest.raises(ParameterError, match="scenario 'baseline'.*outside its range"):
        _inputs_scenarios.load_scenarios(path)


def test_every_bundled_hub_and_scenario_is_valid():
    for hub in hubsd.available_hubs():
        loaded = load_hub(hub)
        assert set(loaded["sources"]) == set(loaded["parameters"])
        assert all(len(s) > 20 for s in loaded["sources"].values())
    assert {"baseline", "reskilling", "attraction", "human_centred", "smart_mix"} <= set(
        _inputs_scenarios.load_scenarios()
    )


def test_save_is_atomic(tmp_path, monkeypatch):
    ds = xr.Dataset({"x": ("time", [1.0, 2.0])}, coords={"time": [0.0, 1.0]})
    target = tmp_path / "out.nc"
    hubsd.save(ds, target)
    before = target.read_bytes()

    def broken(self, path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(xr.Dataset, "to_netcdf", broken)
    with pytest.raises(OSError, match="disk full"):
        hubsd.save(ds, target)
    assert target.read_bytes() == before  # the old file is untouched
    assert [p.name for p in tmp_path.iterdir()] == ["out.nc"]  # no temporary left
