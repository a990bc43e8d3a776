"""The `hubsd` command line: the main job writes what it says, bad input writes nothing."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import xarray as xr

import hubsd
import hubsd.cli.commands as _cli_commands
import hubsd.model.pysd_model as _model_pysd_model
import hubsd.plots.figures as _plots_figures
import hubsd.workflows.runfolder as _workflows_runfolder

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUICK = ["--final-time", "2030", "--scenario", "baseline"]


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def no_model_run(monkeypatch):
    """Fail the test if the model is asked to run."""
    model = _model_pysd_model.load()

    def boom(*args, **kwargs):
        raise AssertionError("the model ran although the input was bad")

    monkeypatch.setattr(model, "run", boom)
    monkeypatch.setattr(model, "set_components", boom)
    monkeypatch.setattr(_workflows_runfolder, "run_scenarios", boom)
    return model


def test_help(capsys):
    assert _cli_commands.main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("run", "params", "hubs", "sectors"):
        assert command in out
    assert _cli_commands.main(["run", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--hub", "--scenario", "--set", "--out", "--no-figures", "--final-time"):
        assert option in out


def test_console_script_is_declared_and_runs():
    (script,) = entry_points(group="console_scripts", name="hubsd")
    assert script.load() is _cli_commands.main
    done = subprocess.run([sys.executable, "-m", "hubsd.cli", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "usage: hubsd" in done.stdout


def test_no_command_is_a_usage_error(capsys):
    assert _cli_commands.main([]) == 2
    assert "usage: hubsd" in capsys.readouterr().err


def test_run_writes_netcdf_with_units(in_tmp, capsys):
    out = in_tmp / "out"
    assert _cli_commands.main(["run", "--no-figures", *QUICK, "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert f"Output folder: {out}" in stdout
    assert "baseline" in stdout and "jobs 2024" in stdout
    with xr.open_dataset(out / "krakow_scenarios.nc") as ds:
        assert set(ds.dims) == {"scenario", "time"}
        assert list(ds["scenario"].values) == ["baseline"]
        assert float(ds["time"].max()) == 2030.0
        assert ds["time"].attrs["units"] == "Year"
        assert set(ds.data_vars) == set(hubsd.KEY_OUTPUTS)
        for name, var in ds.data_vars.items():
            assert var.attrs.get("units"), f"{name} has no units"
        assert ds.attrs["hub"] == "krakow"
    assert not list(out.glob("*.png"))  # --no-figures
    manifest = json.loads((out / _workflows_runfolder.MANIFEST).read_text())
    assert manifest["scenarios"] == ["baseline"] and manifest["final_time"] == 2030.0
    assert _listing(in_tmp) == ["out", *(f"out/{f}" for f in sorted(
        ["krakow_scenarios.nc", "krakow_summary.csv", _workflows_runfolder.MANIFEST]))]  # no temporaries


def test_run_with_figures_and_set(in_tmp, capsys):
    out = in_tmp / "figs"
    argv = ["run", "--final-time", "2030", "--scenario", "baseline", "reskilling",
            "--set", "Local multiplier=1.6", "--out", str(out)]
    assert _cli_commands.main(argv) == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"krakow_{stem}.png" for stem in _plots_figures.FIGURES)
    for png in pngs:
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    with xr.open_dataset(out / "krakow_scenarios.nc") as ds:
        assert list(ds["scenario"].values) == ["baseline", "reskilling"]
        assert json.loads(ds.attrs["common_parameters"]) == {"local_multiplier": 1.6}
        ds = ds.load()
    fig = _plots_figures.displacement_and_youth(ds)
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels == ["Displaced hub workers [Person]", "Youth unemployment rate [%]"]
    assert _plots_figures.tier_composition(ds).axes[0].get_xlabel() == "Time [Year]"


def test_rerun_replaces_an_earlier_run_only(in_tmp):
    out = in_tmp / "out"
    assert _cli_commands.main(["run", "--no-figures", *QUICK, "--out", str(out)]) == 0
    first = json.loads((out / _workflows_runfolder.MANIFEST).read_text())["created"]
    (out / "stale.txt").write_text("from an earlier run")
    assert _cli_commands.main(["run", "--no-figures", *QUICK, "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists()  # the folder was replaced as a whole
    assert json.loads((out / _workflows_runfolder.MANIFEST).read_text())["created"] >= first
    assert _listing(in_tmp)[0] == "out" and not any(".tmp" in p or ".old" in p
                                                    for p in _listing(in_tmp))


def test_failure_while_writing_leaves_nothing(in_tmp, monkeypatch, capsys):
    def disk_full(ds, path):
        Path(path).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_workflows_runfolder, "save", disk_full)
    assert _cli_commands.main(["run", "--no-figures", *QUICK, "--out", str(in_tmp / "a" / "b")]) == 1
    assert "hubsd: error: No space left on device" in capsys.readouterr().err
    assert _listing(in_tmp) == []  # neither the folder, its temporary nor the parents


BAD_INPUTS = [
    (["--hub", "krakov"], r"unknown hub 'krakov'; did you mean 'krakow'\?.*Known hubs: .*krakow"),
    (["--scenario", "baseline", "reskiling"],
     r"unknown scenario 'reskiling'; did you mean 'reskilling'\?.*Known scenarios: baseline"),
    (["--set", "bass_imitation=0.3"],
     r"--set 'bass_imitation=0.3': unknown parameter 'bass_imitation'; "
     r"did you mean 'bass_imitation_coefficient'"),
    (["--set", "bass_imitation_coefficient=5"],
     r"'bass_imitation_coefficient' = 5 is outside its range \[0.2, 0.6\] 1/Year"),
    (["--set", "bass_imitation_coefficient=-1"], r"outside its range \[0.2, 0.6\]"),
    (["--set", "bass_imitation_coefficient=nan"], r"'bass_imitation_coefficient' must be finite"),
    (["--set", "bass_imitation_coefficient=inf"], r"must be finite"),
    (["--set", "bass_imitation_coefficient=abc"],
     r"--set 'bass_imitation_coefficient=abc': value 'abc' is not a number"),
    (["--set", "bass_imitation_coefficient"], r"'bass_imitation_coefficient' is not NAME=VALUE"),
    (["--set", "=0.3"], r"no parameter name"),
    (["--set", "local_multiplier=1.5", "--set", "Local multiplier=1.6"],
     r"'local_multiplier' twice"),
    (["--final-time", "2000"], r"--final-time '2000' is out of range; give a year after .*2005"),
    (["--final-time", "soon"], r"--final-time 'soon' is not a number"),
    (["--final-time", "nan"], r"--final-time 'nan' is out of range"),
    (["--bogus"], r"unrecognized arguments: --bogus"),
]


@pytest.mark.parametrize("argv, message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(in_tmp, no_model_run, capsys,
                                                            argv, message):
    code = _cli_commands.main(["run", *argv, "--out", str(in_tmp / "out" / "deeper")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("hubsd: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert re.search(message, err), err
    assert _listing(in_tmp) == []


def test_bad_input_with_default_out_writes_nothing(in_tmp, no_model_run, capsys):
    assert _cli_commands.main(["run", "--scenario", "nope"]) == 2
    assert _listing(in_tmp) == []


def test_foreign_folder_is_not_replaced(in_tmp, no_model_run, capsys):
    mine = in_tmp / "notes"
    mine.mkdir()
    (mine / "keep.txt").write_text("precious")
    assert _cli_commands.main(["run", "--out", str(mine)]) == 2
    assert "is not an earlier hubsd run folder" in capsys.readouterr().err
    assert _cli_commands.main(["run", "--out", str(in_tmp)]) == 2  # the current folder
    assert _listing(in_tmp) == ["notes", "notes/keep.txt"]
    assert (mine / "keep.txt").read_text() == "precious"


def test_params_markdown_prints_the_table(capsys):
    assert _cli_commands.main(["params", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert "| name | Vensim name | default | low | high | units | sector | source |" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| `")]
    assert len(rows) == len(hubsd.parameter_table())
    assert any(ln.startswith("| `bass_imitation_coefficient` |") for ln in rows)


def test_params_by_sector(capsys):
    assert _cli_commands.main(["params", "--markdown", "--sector", "ai_adoption"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("| `")]
    tab = hubsd.parameter_table()
    assert len(rows) == (tab["sector"] == "AI adoption").sum() > 0
    assert _cli_commands.main(["params", "--sector", "AI adoption"]) == 0
    assert "bass_imitation_coefficient" in capsys.readouterr().out
    assert _cli_commands.main(["params", "--sector", "weather"]) == 2
    assert "unknown sector 'weather'; sectors with parameters: AI adoption" in (
        capsys.readouterr().err)


def test_hubs_and_sectors(capsys):
    assert _cli_commands.main(["hubs"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("bangalore: Bengaluru")  # hubs in alphabetical order
    assert "krakow: Kraków" in out
    versions = sorted(
        (p.stem for p in (Path(__file__).parents[1] / "data/calibrated/krakow").glob("v*.yaml")),
        key=lambda v: int(v[1:]),
    )
    assert f"calibrated: {', '.join(versions)}" in out and f"--hub krakow@{versions[-1]}" in out
    assert _cli_commands.main(["sectors"]) == 0
    out = capsys.readouterr().out
    for sector in hubsd.sectors():
        assert f"{sector}: " in out
    assert "junior_automated_share" in out  # an input of the workforce sector
