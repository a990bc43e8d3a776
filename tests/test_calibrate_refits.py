"""Calibration refits that run the real model from scratch: recovery of known parameters and
the whole command line. Split from ``tests/test_calibrate.py`` (same checks, unchanged) so that
pytest-xdist runs the two halves on different workers (it keeps each file on one worker).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from test_calibrate import SMALL, _write

import hubsd.calibration.calibrate as _calibration_calibrate
import hubsd.calibration.spec as _calibration_spec
import hubsd.cli.commands as _cli_commands


@pytest.fixture(scope="module")
def small_spec(tmp_path_factory):
    return _calibration_spec.load_spec(_write(tmp_path_factory.mktemp("spec"), SMALL))


def test_recovery_of_known_parameters_at_the_datas_sparsity(small_spec):
    """Synthetic figures from known parameters plus noise (same years, kinds, errors): the
    95 % intervals contain the truth, and without noise the fit returns it."""
    exact = _calibration_calibrate.recovery(small_spec, noise=False, seed=0)
    assert exact.attrs["cost"] < 1e-8
    ident = exact[exact.flag == "identified"]
    assert len(ident) >= 2
    np.testing.assert_allclose(ident.estimate, ident.truth, rtol=1e-3)
    for seed in (1, 2):
        noisy = _calibration_calibrate.recovery(small_spec, noise=True, seed=seed)
        assert noisy.covered.all(), noisy


def test_cli_calibrate_writes_report_and_version(tmp_path, capsys):
    spec = _write(tmp_path, SMALL)
    out, saves = tmp_path / "report", tmp_path / "calibrated"
    code = _cli_commands.main(
        [
            "calibrate",
            "--spec",
            str(spec),
            "--out",
            str(out),
            "--save-dir",
            str(saves),
            "--no-holdout",
            "--starts",
            "2",
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert "krakow_share_of_poland" in text and "Calibrated set:" in text
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "calibration.nc",
        "correlation.csv",
        "correlation.png",
        "estimates.csv",
        "figures.csv",
        "fit.png",
        "profiles.png",
        "report.md",
        "residuals.png",
        "statistics.csv",
    ]
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "profile likelihood" in report and "U_M" in report
    with xr.open_dataset(out / "calibration.nc") as ds:
        assert "estimate" in ds and ds.attrs["hub"] == "krakow"
    assert (saves / "krakow" / "v1.yaml").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
