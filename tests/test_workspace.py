"""No silent loss, strict version strings, files of one's own and workspaces (issue 16).

* An output folder another hubsd process is writing is refused, naming that process; a lock
  left by a process that has ended is taken over and said so; two ``hubsd run`` at once into
  one folder never lose a result without a word; a run replacing an earlier folder says so.
* ``krakow@``, ``krakow@v``, ``krakow@1.5`` are refused with the valid forms.
* A hub file outside the package is accepted wherever a hub name is.
* ``hubsd init DIR`` makes a workspace that every command run inside it uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import forked_cli
import pytest
import yaml

from hubsd.calibration.spec import find_spec
from hubsd.cli import main
from hubsd.core.atomic import atomic_folder, folder_lock, lock_path
from hubsd.core.paths import HUBS_DIR, WORKSPACE_FILE, WorkspaceError, read_workspace
from hubsd.inputs.calibrated import CalibrationError
from hubsd.inputs.hubs import HubError, load_hub
from hubsd.workflows.runfolder import run_into_folder

ANALYSIS = Path(__file__).resolve().parents[1] / "analysis"


def _env():
    env = {**os.environ, "PYTHONPATH": str(ANALYSIS)}
    env.pop("HUBSD_WORKSPACE", None)
    return env


def _cli(args, cwd):
    """``hubsd ARGS`` in a new process in ``cwd`` (the workspace is read at import), forked
    with hubsd's dependencies loaded and hubsd imported afresh (``tests/forked_cli.py``)."""
    return forked_cli.popen(args, cwd, _env())


# -- version strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("hub", ["krakow@", "krakow@v", "krakow@1.5", "krakow@v0", "krakow@v01",
                                 "krakow@newest"])
def test_bad_version_strings_are_refused_with_the_valid_forms(hub, in_tmp, capsys):
    code = main(["run", "--hub", hub, "--out", "r"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{hub}:" in err and "krakow@vN" in err and "krakow@calibrated" in err, err
    assert not (in_tmp / "r").exists()


@pytest.mark.parametrize("hub", ["krakow@v2", "KRAKOW@V2", "krakow@calibrated", "krakow@latest"])
def test_good_version_strings_are_taken(hub):
    assert load_hub(hub)["hub"].startswith("krakow@v")


# -- locks ----------------------------------------------------------------------------------------

HOLDER = """
import sys, time
from hubsd.core.atomic import folder_lock
with folder_lock(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_folder_another_process_writes_is_refused(in_tmp, capsys):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(in_tmp / "r")], env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        code = main(["run", "--out", "r", "--no-figures"])
        err = capsys.readouterr().err
        assert code == 2
        assert f"pid {holder.pid}" in err and "another hubsd process" in err, err
        assert not (in_tmp / "r").exists()
    finally:
        holder.kill()
        holder.communicate()
    # the kernel released the lock with the process: the folder is free again, and the lock
    # file it left behind is reported as stale
    assert lock_path(in_tmp / "r").is_file()
    code = main(["run", "--out", "r", "--no-figures"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"stale lock of 'r' left by pid {holder.pid}" in captured.err
    assert not lock_path(in_tmp / "r").exists()


def test_a_stale_lock_file_is_taken_over(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    lock_path(tmp_path / "out").write_text(json.dumps({"pid": pid, "started": "earlier"}))
    notes = []
    with folder_lock(tmp_path / "out", note=notes.append):
        owner = json.loads(lock_path(tmp_path / "out").read_text())
        assert owner["pid"] == os.getpid()
    assert len(notes) == 1 and f"pid {pid}" in notes[0] and "no longer running" in notes[0]
    assert not lock_path(tmp_path / "out").exists()


def test_the_lock_is_reentrant_in_one_process(tmp_path):
    with folder_lock(tmp_path / "out"), folder_lock(tmp_path / "out"):
        assert lock_path(tmp_path / "out").is_file()
    assert not lock_path(tmp_path / "out").exists()


@pytest.mark.slow
def test_two_runs_into_one_folder_lose_nothing_silently(tmp_path):
    procs = [_cli(["run", "--out", "same", "--no-figures"], tmp_path) for _ in range(2)]
    results = [(*p.communicate(timeout=600), p.returncode) for p in procs]
    results = [(code, out, err) for out, err, code in results]
    codes = sorted(code for code, _, _ in results)
    if codes == [0, 2]:  # one was refused while the other wrote
        _, _, err = next(r for r in results if r[0] == 2)
        assert "is being written by another hubsd process" in err, err
    else:  # the second started after the first had finished: it says what it replaced
        assert codes == [0, 0], results
        assert sum("Note: replacing the earlier results" in out for _, out, _ in results) == 1
    assert (tmp_path / "same" / "hubsd-run.json").is_file()
    assert not lock_path(tmp_path / "same").exists()


def test_a_run_that_replaces_an_earlier_folder_says_so(in_tmp, capsys):
    assert main(["run", "--out", "r", "--no-figures", "--scenario", "baseline"]) == 0
    first = capsys.readouterr().out
    assert "replacing" not in first
    created = json.loads((in_tmp / "r" / "hubsd-run.json").read_text())["created"]
    assert main(["run", "--out", "r", "--no-figures", "--scenario", "baseline"]) == 0
    second = capsys.readouterr().out
    assert f"Note: replacing the earlier results in {in_tmp / 'r'} (written {created})" in second


# -- files of one's own ---------------------------------------------------------------------------


def test_a_hub_file_outside_the_package(in_tmp, capsys):
    doc = yaml.safe_load((HUBS_DIR / "krakow.yaml").read_text(encoding="utf-8"))
    doc["name"] = "Łódź (a copy of Kraków)"
    (in_tmp / "lodz.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    assert load_hub("./lodz.yaml")["hub"] == "lodz"
    code = main(["run", "--hub", "./lodz.yaml", "--no-figures", "--scenario", "baseline"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Łódź" in out
    assert (in_tmp / "outputs" / "run-lodz" / "lodz_scenarios.nc").is_file()

    code = main(["run", "--hub", "./missing.yaml"])
    err = capsys.readouterr().err
    assert code == 2 and "hub file './missing.yaml' not found" in err and "krakow" in err


def test_a_scenario_file_of_ones_own(in_tmp, capsys):
    (in_tmp / "mine.yaml").write_text(
        "cheap_reskilling:\n  description: a small programme\n"
        "  parameters: {reskilling_policy_capacity: 100}\n"
    )
    code = main(["run", "--scenario-file", "mine.yaml", "--no-figures", "--out", "r"])
    out = capsys.readouterr().out
    assert code == 0
    assert "cheap_reskilling" in out and "smart_mix" not in out
    code = main(["run", "--scenario-file", "nope.yaml", "--out", "r2"])
    assert code == 2 and "scenario file 'nope.yaml' not found" in capsys.readouterr().err


# -- workspaces -----------------------------------------------------------------------------------


def test_init_makes_a_workspace_and_refuses_a_used_folder(tmp_path, capsys):
    assert main(["init", str(tmp_path / "ws")]) == 0
    ws = tmp_path / "ws"
    paths = read_workspace(ws)
    assert paths["model"] is None  # the bundled hub model
    assert (paths["hubs"] / "krakow.yaml").is_file()
    assert (paths["calibration"] / "krakow.yaml").is_file()
    assert (paths["observed"] / "hub_figures.csv").is_file()
    assert (paths["notebooks"] / "00_explorer.ipynb").is_file()
    assert paths["scenarios"].is_file()
    capsys.readouterr()
    assert main(["init", str(ws)]) == 2
    assert "not an empty folder" in capsys.readouterr().err


def test_a_malformed_workspace_file_names_the_valid_keys(tmp_path):
    (tmp_path / WORKSPACE_FILE).write_text('[workspace]\nhub = "hubs"\n')
    with pytest.raises(WorkspaceError, match="unknown key.*hub.*valid: model, hubs"):
        read_workspace(tmp_path)
    (tmp_path / WORKSPACE_FILE).write_text('[workspace]\nmodel = "missing.mdl"\n')
    with pytest.raises(WorkspaceError, match="missing.mdl.*is not a file"):
        read_workspace(tmp_path)


@pytest.mark.slow
def test_commands_inside_a_workspace_use_it(tmp_path):
    ws = tmp_path / "ws"
    proc = _cli(["init", str(ws)], tmp_path)
    proc.communicate(timeout=300)
    assert proc.returncode == 0
    doc = yaml.safe_load((ws / "hubs" / "krakow.yaml").read_text(encoding="utf-8"))
    doc["name"] = "Gdańsk"
    (ws / "hubs" / "gdansk.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True),
                                             encoding="utf-8")
    proc = _cli(["hubs"], ws)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "gdansk: Gdańsk" in out
    # calibrated sets are listed where they are: the workspace's copies, not the bundled ones
    assert f"{ws.resolve() / 'calibrated' / 'krakow'}/" in out
    assert "@calibrated; data/calibrated" not in out  # (hub descriptions may name the folder)
    proc = _cli(["run", "--hub", "gdansk", "--no-figures", "--scenario", "baseline"], ws)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert (ws / "outputs" / "run-gdansk" / "gdansk_scenarios.nc").is_file()
    assert not (tmp_path / "outputs").exists()  # nothing beside the workspace


# -- calibrate --hub FILE: its spec found in the workspace ----------------------------------------


def _specs(folder, **hubs):
    folder.mkdir(parents=True, exist_ok=True)
    for name, hub in hubs.items():
        (folder / f"{name}.yaml").write_text(f"hub: {hub}\nfree: {{}}\nseries: []\n")
    return folder


def test_the_spec_of_a_hub_file_is_the_one_naming_it(tmp_path):
    hub = tmp_path / "hubs" / "lodz.yaml"
    hub.parent.mkdir()
    hub.write_text("hub: lodz\n")
    specs = _specs(tmp_path / "calibration", krakow="krakow", fit="lodz")
    assert find_spec(hub, specs) == specs / "fit.yaml"  # by its stem
    _specs(specs, exact="../hubs/lodz.yaml")  # naming the file itself wins over the stem
    assert find_spec(hub, specs) == specs / "exact.yaml"


def test_a_hub_file_without_a_spec_says_what_was_looked_for(tmp_path):
    hub = tmp_path / "lodz.yaml"
    hub.write_text("hub: lodz\n")
    specs = _specs(tmp_path / "calibration", krakow="krakow", manila="manila")
    with pytest.raises(CalibrationError) as err:
        find_spec(hub, specs)
    text = str(err.value)
    assert f"looked in {specs} for a spec whose 'hub:' is {hub} or 'lodz'" in text
    assert "krakow.yaml (hub: krakow), manila.yaml (hub: manila)" in text and "--spec" in text
    _specs(specs, a="lodz", b="lodz")
    with pytest.raises(CalibrationError, match="found 2: a.yaml, b.yaml"):
        find_spec(hub, specs)


def test_calibrate_a_hub_file_without_spec_is_refused_before_fitting(in_tmp, capsys):
    (in_tmp / "lodz.yaml").write_text((HUBS_DIR / "krakow.yaml").read_text(encoding="utf-8"),
                                      encoding="utf-8")
    assert main(["calibrate", "--hub", "./lodz.yaml", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "no calibration spec for hub file './lodz.yaml'" in err and "'lodz'" in err
    assert not (in_tmp / "outputs").exists()


# -- the shape of a study command (hubsd policy, hubsd claims) ------------------------------------


def test_a_study_runs_into_its_folder_under_its_lock(in_tmp, capsys):
    calls = []

    def study():
        calls.append(lock_path(in_tmp / "outputs" / "study").is_file())  # held while it runs
        return 42

    def write(result, target):
        with atomic_folder(target) as tmp:
            (tmp / "study.json").write_text(json.dumps({"result": result}))

    with pytest.raises(HubError, match="unknown hub 'atlantis'"):  # before anything runs
        run_into_folder(["atlantis"], None, "study", "study.json", "Studying", study, write)
    assert calls == [] and not (in_tmp / "outputs").exists()
    first = run_into_folder(["krakow"], None, "study", "study.json", "Studying", study, write)
    assert calls == [True] and first.result == 42 and first.replaced is None
    assert first.target == (in_tmp / "outputs" / "study").resolve()
    assert json.loads((first.target / "study.json").read_text()) == {"result": 42}
    assert not lock_path(first.target).exists()
    again = run_into_folder(["krakow"], None, "study", "study.json", "Studying", study, write)
    assert again.replaced and "replacing the earlier results" in again.replaced
    again.report("text", "Result", again.target / "study.json")
    printed = capsys.readouterr()
    assert printed.err.count("Studying") == 2
    assert printed.out.splitlines()[0] == "text" and "Note: replacing" in printed.out
    assert printed.out.splitlines()[-1] == f"Result: {again.target / 'study.json'}"
