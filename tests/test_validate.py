"""The validation battery (`hubsd validate`): it passes on the hub model, and every check can fail.

Each kind of failure is shown on a small deliberately broken model of ``tests/models/validate/``
(a copy of ``population.mdl`` with one defect, named in its comments) or on a copy of the hub
model with one equation changed; the small models use a small Latin hypercube, the hub model
the full default once (through the command line).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import hubsd
import hubsd.cli.commands as _cli_commands
import hubsd.validation.battery as _validation_battery
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.validation.battery import validate_model as validate
from hubsd.validation.checks import behaviour_rows as _behaviour_reproduction
from hubsd.validation.settings import LHS_SAMPLES, ValidationInputError

MODELS = Path(__file__).parent / "models" / "validate"
BAD_SYNTAX = Path(__file__).parent / "models" / "units" / "units_bad_syntax.mdl"
SMALL = 16  # Latin hypercube size where the hub model is not the point

HUB_CHECKS = [
    "units consistency",
    "conservation of people",
    "LHS: finite values",
    "LHS: no negative stock",
    "integration: TIME STEP halved",
    "integration: fine reference",
    "extreme: no adoption is the no-AI world",
    "extreme: full junior automation",
    "extreme: zero graduates limit hiring",
    "extreme: no multiplier keeps services at base",
    "behaviour reproduction",
]


def _status(report) -> dict[str, str]:
    return dict(zip(report.table["check"], report.table["status"], strict=True))


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# ============================================================ the hub model passes (full default)


def test_hub_model_passes_the_battery(in_tmp, capsys):
    """`hubsd validate` with every default: models/hub.mdl, its reality checks, the Kraków hub,
    1000 Latin hypercube samples; every check passes, behaviour reproduction of the newest
    calibrated Kraków set included; the report folder holds what it says."""
    assert _cli_commands.main(["validate"]) == 0
    out = capsys.readouterr().out
    folder = in_tmp / "outputs" / "validate-krakow"
    assert f"Report: {folder / 'validation.md'}" in out
    assert "All 22 checks pass." in out
    for name in HUB_CHECKS:
        assert name in out
    files = _listing(folder)
    for name in ("validation.md", "validation.csv", "validation.nc", "hubsd-validate.json",
                 "integration_error.png", "conservation.png", "lhs_envelope.png",
                 "extreme_conditions.png"):
        assert name in files
    assert not any(f.startswith(".") for f in files)
    for png in folder.glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")

    ds = xr.open_dataset(folder / "validation.nc")
    try:
        table = dict(zip(ds["check"].values, ds["check_status"].values, strict=True))
        figure = dict(zip(ds["check"].values, ds["check_figure"].values, strict=True))
        assert ds.attrs["lhs_samples"] == LHS_SAMPLES
        tab = hubsd.parameter_table()
        finite = int((np.isfinite(tab["low"]) & np.isfinite(tab["high"])).sum())
        assert finite == len(tab)  # every parameter of the hub model has a finite range
        assert table["scenarios keep the calibrated history"] == "pass"
        assert ds.sizes["sample"] == LHS_SAMPLES and ds.sizes["parameter"] == finite
        assert set(ds["scenario"].values) >= {"baseline", "smart_mix", "shock", "strong_shock"}
    finally:
        ds.close()
    for name in HUB_CHECKS[:-1]:
        assert table[name] == "pass", name
    assert table["behaviour reproduction"] == "pass"  # data/calibrated/krakow/v2.yaml
    assert table["forecast band"] == "pass"  # ABSL's forecasts for Kraków and Poland
    assert table["city side"] == "pass"  # Małopolska's youth unemployment, data/city_checks.yaml
    assert table["youth unemployment keeps its historical range"] == "pass"  # Poland 2010-2025
    reality = [c for c in table if c.startswith("reality: ")]
    assert len(reality) >= 7 and all(table[c] == "pass" for c in reality)
    # the figures behind the verdicts
    assert figure["conservation of people"] < 1e-9
    assert figure["integration: TIME STEP halved"] < 0.01
    assert figure["integration: fine reference"] < 0.02
    assert figure["extreme: full junior automation"] < 0.01
    report = (folder / "validation.md").read_text(encoding="utf-8")
    assert "| integration: TIME STEP halved |" in report and "![conservation]" in report
    manifest = json.loads((folder / "hubsd-validate.json").read_text(encoding="utf-8"))
    assert manifest["passed"] is True and manifest["samples"] == LHS_SAMPLES
    assert manifest["hub"] == "krakow"


# ============================================================ each check can fail


def test_the_unbroken_small_model_passes():
    report = validate(None, MODELS / "population.mdl", lhs_samples=SMALL)
    status = _status(report)
    assert report.passed, report.format_table()
    assert status["reality: suburbs fill from the city"] == "pass"  # the checks file beside it
    assert status["conservation of people"] == "pass"
    assert all(v == "skipped" for k, v in status.items() if k.startswith("extreme: "))


@pytest.mark.parametrize(
    "model, failing, detail",
    [
        ("leaky", ["conservation of people"],
         r"worst: Latin hypercube sample \d+ at [\d.]+, [\d.]+ people of [\d,]+"),
        ("negative_stock", ["LHS: no negative stock"],
         r"runs have a negative stock; lowest: suburbanites = -[\d.]+ at [\d.]+ in sample \d+"),
        ("nonfinite", ["LHS: finite values"],
         r"runs give non-finite values; first: births at 0 in sample \d+"),
        ("units_mismatch", ["units consistency"],
         r"births: equation not in the variable's declared units: .* is Person/Month, "
         r"expected Person/Year"),
        ("coarse_step", ["integration: TIME STEP halved", "integration: fine reference"],
         r"worst: suburbanites in defaults"),
    ],
)
def test_each_check_can_fail(model, failing, detail):
    """One defect, one failing check, with the variable (and run and time) in its details;
    the other checks still pass."""
    report = validate(None, MODELS / f"{model}.mdl", lhs_samples=SMALL)
    assert not report.passed
    failed = report.failed.set_index("check")
    assert sorted(failed.index) == sorted(failing), report.format_table()
    for name in failing:
        assert failed.loc[name, "details"], name
        assert re.search(detail, failed.loc[name, "details"]), \
            failed.loc[name, "details"]
        assert not failed.loc[name, "figure"] == 0
    text = report.format_table()
    assert f"FAIL {failing[0]}: " in text and "checks FAIL" in text


def test_a_false_reality_statement_fails_its_row(tmp_path):
    checks = tmp_path / "checks.yaml"
    checks.write_text(textwrap.dedent("""\
        checks:
          - name: the city never shrinks
            statement: The city never has fewer residents than at the start.
            conditions:
              - {output: residents, check: ">=", value_of: initial_residents}
            corners: [time_to_move]
          - name: suburbs fill from the city
            statement: Somebody moves to the suburbs.
            conditions:
              - {output: suburbanites, check: ">", value: 0, when: eventually}
    """), encoding="utf-8")
    report = validate(None, MODELS / "population.mdl", checks=checks, lhs_samples=SMALL)
    row = report.table.set_index("check").loc["reality: the city never shrinks"]
    assert row.status == "fail" and row.figure == 3  # defaults and both corners
    assert "'the city never shrinks' failed: The city never has fewer residents" in row.details
    assert "first fails at 0.5" in row.details
    assert _status(report)["reality: suburbs fill from the city"] == "pass"
    assert list(report.failed["check"]) == ["reality: the city never shrinks"]


def test_an_extreme_condition_can_fail(tmp_path):
    """A hub model whose local services grow with a zero multiplier (a constant 0.05 added to
    it) fails the m = 0 extreme condition and nothing else."""
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    old = "base local service jobs + local multiplier * salary weighted tradable jobs"
    assert old in text
    broken = tmp_path / "hub.mdl"
    broken.write_text(text.replace(old, "base local service jobs + (local multiplier + 0.05) "
                                        "* salary weighted tradable jobs"), encoding="utf-8")
    report = validate("krakow", broken, lhs_samples=8)
    failed = report.failed.set_index("check")
    # the calibrated Kraków set was fitted to models/hub.mdl, not to this edited copy
    assert list(failed.index) == ["extreme: no multiplier keeps services at base",
                                  "behaviour reproduction"]
    assert "calibrated on another version of the model" in failed.loc[
        "behaviour reproduction", "details"]
    row = report.failed.iloc[0]
    assert row.figure > 0.01
    assert "local service jobs depart from the base 250,000 by at most" in row.details
    status = _status(report)
    for name in ("extreme: no adoption is the no-AI world", "extreme: full junior automation",
                 "extreme: zero graduates limit hiring"):
        assert status[name] == "pass", name
    assert status["reality checks"] == "skipped"  # no hub.checks.yaml beside the copy


def test_a_check_that_cannot_run_fails_with_the_reason(tmp_path):
    """A DELAY3 whose delay time can fall below 3 time steps inside its range: the ensemble
    engine refuses those samples, so both Latin hypercube rows fail with the engine's reason
    while the other checks run."""
    src = (MODELS / "population.mdl").read_text(encoding="utf-8")
    src = src.replace("Residents * birth fraction\n", "Residents * perceived birth fraction\n")
    src = src.replace("initial residents=", "perceived birth fraction=\n\tDELAY3(birth fraction, "
                      "fertility delay)\n\t~\t1/Year\n\t~\tBirth fraction as perceived.\n\t|\n\n"
                      "fertility delay=\n\t1\n\t~\tYear [0.01,2]\n\t~\tBROKEN: can be shorter "
                      "than three time steps.\n\t|\n\ninitial residents=")
    model = tmp_path / "delayed.mdl"
    model.write_text(src, encoding="utf-8")
    report = validate(None, model, lhs_samples=SMALL)
    failed = report.failed.set_index("check")
    assert sorted(failed.index) == ["LHS: finite values", "LHS: no negative stock"]
    assert failed["details"].str.contains(
        "the check could not run: EnsembleError: delay in 'perceived birth fraction'").all()
    assert _status(report)["integration: TIME STEP halved"] == "pass"


# ============================================================ report, data, hooks


def test_report_files_and_data(tmp_path):
    report = validate(None, MODELS / "leaky.mdl", lhs_samples=SMALL)
    files = report.write(tmp_path)
    assert sorted(p.name for p in files) == sorted(p.name for p in tmp_path.iterdir())
    md = (tmp_path / "validation.md").read_text(encoding="utf-8")
    assert "| conservation of people |" in md and "**FAIL**" in md
    ds = xr.open_dataset(tmp_path / "validation.nc")
    try:
        assert ds["accounting_error"].dims == ("scenario", "time")
        assert float(ds["check_figure"].sel(check="conservation of people")) > 0.1
    finally:
        ds.close()
    summary = report.summary()
    assert summary.loc["conservation of people", "status"] == "fail"
    assert summary.loc["LHS: finite values", "figure"] == "0"


def test_behaviour_reproduction_hook(monkeypatch):
    import hubsd.calibration.calibrate as calibrate

    monkeypatch.setattr(calibrate, "versions", lambda hub, directory=None: [], raising=False)
    row = _behaviour_reproduction("krakow")
    assert (row["status"], row["details"]) == ("skipped", "no calibrated set for krakow")
    assert _behaviour_reproduction(None)["status"] == "skipped"

    def provider(hub, mdl):
        return {"status": "pass", "figure": 0.12, "threshold": "<= 0.2",
                "measure": "Theil U", "details": f"fit of {hub}"}

    monkeypatch.setattr(calibrate, "behaviour_reproduction", provider, raising=False)
    row = _behaviour_reproduction("krakow")
    assert row["status"] == "pass" and row["details"] == "fit of krakow"
    assert row["check"] == "behaviour reproduction"


def test_old_name_hubsd_validate_is_a_deprecated_alias_of_check_parameters():
    """``hubsd.validate`` (the parameter checker before the restructure) still works for one
    release, with a DeprecationWarning; the battery is ``hubsd.validate_model``."""
    assert hubsd.check_parameters({"local_multiplier": 1.5}) == {"local_multiplier": 1.5}
    with pytest.warns(DeprecationWarning, match="check_parameters"):
        assert hubsd.validate({"local_multiplier": 1.5}) == {"local_multiplier": 1.5}
    with pytest.raises(hubsd.ParameterError, match="outside its range"):
        hubsd.check_parameters({"local_multiplier": 9})
    assert hubsd.validate_model is _validation_battery.validate_model


# ============================================================ command line: exit codes, bad input


def test_a_failing_check_exits_1_with_the_report(in_tmp, capsys):
    out = in_tmp / "report"
    model = str(MODELS / "leaky.mdl")
    assert _cli_commands.main(["validate", "--model", model, "--samples", "8", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "FAIL conservation of people: " in text
    assert re.search(r"\b1 of \d+ checks FAIL", text), text
    assert (out / "validation.md").is_file() and (out / "hubsd-validate.json").is_file()
    manifest = json.loads((out / "hubsd-validate.json").read_text(encoding="utf-8"))
    assert manifest["passed"] is False and manifest["hub"] is None  # no hub fits this model
    # an earlier validation folder is replaced
    assert _cli_commands.main(["validate", "--model", model, "--samples", "8", "--out", str(out)]) == 1
    assert not [p for p in in_tmp.iterdir() if p.name.startswith(".")]


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", str(BAD_SYNTAX)],
         r"units_bad_syntax.mdl, line 2: the model does not translate \(PySD\): Rule"),
        (["--model", "{undefined}"],
         r"undefined.mdl, line 54: the model does not translate \(PySD\): 'birth fractoin' is "
         r"used but not defined"),
        (["--model", "nope.mdl"], "model file not found: nope.mdl"),
        (["--model", str(MODELS / "population.mdl"), "--checks", "{unknown_output}"],
         r"checks.yaml, line 5: unknown output 'residentz'; did you mean 'residents'"),
        (["--model", str(MODELS / "population.mdl"), "--checks", "{malformed}"],
         r"malformed.yaml, line \d+: malformed YAML"),
        (["--model", str(MODELS / "population.mdl"), "--checks", "missing.yaml"],
         "cannot read missing.yaml"),
        (["--model", str(MODELS / "population.mdl"), "--hub", "krakow"],
         "hub 'krakow' sets parameters that .*population.mdl does not have"),
        (["--hub", "atlantis"], "unknown hub 'atlantis'"),
        (["--samples", "1"], "--samples 1: the Latin hypercube needs at least 2 samples"),
        (["--samples", "many"], "argument --samples: invalid int value"),
        (["--seed", "-3"], "--seed -3: give a whole number >= 0"),
        (["--out", "{foreign}"], "exists and is not an earlier `hubsd validate` folder"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(in_tmp, capsys, args, message):
    undefined = in_tmp / "undefined.mdl"
    undefined.write_text((MODELS / "population.mdl").read_text(encoding="utf-8").replace(
        "Residents * birth fraction\n", "Residents * birth fractoin\n"), encoding="utf-8")
    unknown = _write(in_tmp, "checks.yaml", """\
        checks:
          - name: a
            statement: b
            conditions:
              - {output: residentz, check: ">=", value: 0}
    """)
    malformed = _write(in_tmp, "malformed.yaml", "checks:\n  - name: a\n   statement: [\n")
    foreign = in_tmp / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine", encoding="utf-8")
    subs = {"{undefined}": str(undefined), "{unknown_output}": str(unknown),
            "{malformed}": str(malformed), "{foreign}": str(foreign)}
    argv = ["validate", *(subs.get(a, a) for a in args)]
    if "--out" not in args:
        argv += ["--out", str(in_tmp / "report")]
    before = _listing(in_tmp)
    assert _cli_commands.main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("hubsd: error: ") and "\n" not in err, err
    assert re.search(message, err), err
    assert "Traceback" not in captured.err and captured.out == ""
    assert _listing(in_tmp) == before  # no report, no outputs/, no temporary folder


def test_api_bad_input():
    with pytest.raises(ValidationInputError, match=r"units_bad_syntax.mdl, line 2"):
        validate(None, BAD_SYNTAX)
    with pytest.raises(ValidationInputError, match="at least 2 samples"):
        validate(None, MODELS / "population.mdl", lhs_samples=1)
    with pytest.raises(ValidationInputError, match="not a Vensim model"):
        validate(None, MODELS / "population.checks.yaml")
    assert np.isfinite(LHS_SAMPLES) and LHS_SAMPLES >= 200
