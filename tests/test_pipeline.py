"""The main job (``hubsd pipeline``): calibrated hubs, runs, sweep, notebooks, report; resume."""

from __future__ import annotations

import ast
import json

import nbformat
import pytest

import hubsd.cli.commands as _cli_commands
import hubsd.workflows.pipeline as _workflows_pipeline
from hubsd.inputs.calibrated import versions
from hubsd.workflows.sweep import notebook_parameters

NOTEBOOKS = sorted(_workflows_pipeline.NOTEBOOKS.glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_parameter_of_a_notebook_is_seen_by_papermill(path):
    """papermill silently drops a line of the parameters cell it cannot parse (a comment with
    parentheses did it once), so a sweep or the pipeline could not set that parameter."""
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assigned = [
        t.id
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
    ]
    assert list(notebook_parameters(path)) == assigned


def test_hubs_resolve_to_their_newest_calibrated_set():
    names = _workflows_pipeline.resolve_hubs(["krakow"])
    found = versions("krakow")
    assert names == ([f"krakow@{found[-1]}"] if found else ["krakow"])
    with pytest.raises(
        _workflows_pipeline.PipelineError, match=r"unknown hub 'krakov'; did you mean"
    ):
        _workflows_pipeline.resolve_hubs(["krakov"])


def test_notebook_parameters_follow_each_notebook():
    # 02 refits the lead hub (not its calibrated set) with the pipeline's settings, not the
    # notebook's cheaper defaults (Vilnius)
    assert _workflows_pipeline.notebook_parameters("02_calibration.ipynb", "krakow@v1", "o") == {
        "hub": "krakow",
        "output_dir": "o",
        "starts": 2,
        "profile_points": 5,
    }
    assert _workflows_pipeline.notebook_parameters("03_policies.ipynb", "krakow@v1", "o") == {
        "hub": "krakow@v1",
        "output_dir": "o",
    }
    assert "hub" not in _workflows_pipeline.notebook_parameters("05_hubs.ipynb", "krakow@v1", "o")


def test_small_pipeline_runs_and_resumes_after_an_interruption(tmp_path, monkeypatch, capsys):
    out = tmp_path / "pipe"
    # the cheapest settings that still run every step: one hub, a 20-member sweep point, two
    # notebooks (the second is interrupted), a 20-member claims ledger
    kwargs = {
        "hubs": ["krakow"],
        "workers": 1,
        "notebooks": ["01_model_tour.ipynb", "03_policies.ipynb"],
        "sweep_fixed": {"samples": 20, "sobol_n": 8, "morris_trajectories": 2},
        "claims_members": 20,
        "policy_settings": {"members": 8, "generations": 1, "population": 4},
    }
    real = _workflows_pipeline._execute
    calls = []

    def interrupted(notebook, target, params, kernel):
        calls.append(notebook.name)
        if notebook.name == "03_policies.ipynb":
            raise KeyboardInterrupt
        real(notebook, target, params, kernel)

    monkeypatch.setattr(_workflows_pipeline, "_execute", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _workflows_pipeline.run_pipeline(out, **kwargs)
    assert (out / "notebooks" / "01_model_tour.ipynb").is_file()
    assert not (out / "notebooks" / "03_policies.ipynb").exists()
    assert not [p for p in (out / "notebooks").iterdir() if p.name.startswith(".")]
    done = json.loads((out / _workflows_pipeline.MANIFEST).read_text(encoding="utf-8"))["steps"]
    assert "notebook 01_model_tour.ipynb" in done and "report" not in done

    monkeypatch.setattr(_workflows_pipeline, "_execute", real)
    run_mtime = (out / "runs").stat().st_mtime_ns
    manifest = _workflows_pipeline.run_pipeline(out, resume=True, **kwargs)
    log = capsys.readouterr().err
    assert "notebooks/01_model_tour.ipynb: done before, kept" in log
    assert "done before, kept" in log and (out / "runs").stat().st_mtime_ns == run_mtime
    assert (out / "notebooks" / "03_policies.ipynb").is_file()
    index = out / "report" / "index.html"
    assert manifest["report"] == str(index) and index.is_file()
    assert (out / "sweep" / "sweep.nc").is_file()
    hub = manifest["hubs"][0]
    assert (out / "runs" / hub.replace("@", "_") / "hubsd-run.json").is_file()
    if "@" in hub:  # the policy design step runs for calibrated hubs and the report shows it
        assert (out / "policy" / hub.replace("@", "_") / "hubsd-policy.json").is_file()
        assert "Robust policy design" in index.read_text(encoding="utf-8")

    # without --resume the earlier pipeline is replaced before its first step runs again:
    # the runs step is redone, not kept, and what the earlier pipeline made is gone (the
    # notebooks, the report). The new run is interrupted at its second step (the sweep), as a
    # user's Ctrl-C: every step after it was run above, so running them again would test nothing
    # more (this saved the test suite a whole pipeline)
    def sweep_interrupted(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(_workflows_pipeline, "run_sweep", sweep_interrupted)
    with pytest.raises(KeyboardInterrupt):
        _workflows_pipeline.run_pipeline(out, **{**kwargs, "notebooks": ["01_model_tour.ipynb"]})
    assert "done before" not in capsys.readouterr().err
    assert (out / "runs").stat().st_mtime_ns != run_mtime
    assert (out / "runs" / hub.replace("@", "_") / "hubsd-run.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == [_workflows_pipeline.MANIFEST, "runs"]
    done = json.loads((out / _workflows_pipeline.MANIFEST).read_text(encoding="utf-8"))
    assert list(done["steps"]) == [f"run {hub}"]
    assert done["notebooks"] == ["01_model_tour.ipynb"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hub", "atlantis"], r"unknown hub 'atlantis'"),
        (["--workers", "0"], r"--workers must be at least 1"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, argv, message):
    code = _cli_commands.main(["pipeline", *argv, "--out", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("hubsd: error:")
    assert __import__("re").search(message, err), err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_a_folder_that_is_not_a_pipeline(tmp_path, capsys):
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "mine.txt").write_text("keep", encoding="utf-8")
    code = _cli_commands.main(["pipeline", "--out", str(tmp_path / "p"), "--resume"])
    assert code == 2 and "is not a pipeline folder" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "p").iterdir()] == ["mine.txt"]


def test_bad_input_leaves_an_earlier_pipeline_in_place(tmp_path, capsys):
    """An earlier pipeline is replaced only once every input has been checked."""
    out = tmp_path / "p"
    out.mkdir()
    (out / _workflows_pipeline.MANIFEST).write_text("{}", encoding="utf-8")
    (out / "report").mkdir()
    code = _cli_commands.main(["pipeline", "--out", str(out), "--hub", "krakov"])
    assert code == 2 and "unknown hub 'krakov'" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == [_workflows_pipeline.MANIFEST, "report"]
