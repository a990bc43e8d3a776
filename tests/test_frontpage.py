"""The report's front page leads with findings; notebook pages hide code; all is self-contained."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import xarray as xr

from hubsd.inputs.calibrated import versions
from hubsd.workflows.frontpage import _calibration, headline
from hubsd.workflows.report import build_report
from hubsd.workflows.runfolder import run_folder

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A small pipeline folder: one hub's run, a claims ledger, two executed notebooks."""
    root = tmp_path_factory.mktemp("pipe")
    run_folder("krakow", out=root / "runs" / "krakow", command="test")
    (root / "claims").mkdir()
    (root / "claims" / "claims.csv").write_text(
        "row,claim_id,hub,scenario,statement,p_holds,q50,verdict,why\n"
        "junior_jobs_fall@krakow,junior_jobs_fall,krakow,baseline,junior jobs fall,0.7,-0.1,"
        "consistent with data and model,long text\n",
        encoding="utf-8",
    )
    (root / "notebooks").mkdir()
    for name in ("00_explorer.ipynb", "03_policies.ipynb"):
        shutil.copy(NOTEBOOKS / name, root / "notebooks")
    return root


def test_front_page_leads_with_each_hubs_findings(pipeline):
    index = build_report(pipeline / "notebooks", pipeline / "report")
    page = index.read_text(encoding="utf-8")
    findings, notebooks = page.index('id="krakow"'), page.index('id="notebooks"')
    assert findings < notebooks  # findings first
    assert "Kraków — krakow" in page and "smart_mix" in page
    assert "junior change 2035" in page and "net young migration change 2024-2035" in page
    assert page.count("data:image/png;base64,") == 3  # the run's three figures, embedded
    assert "Hub file values (no calibrated set)" in page
    assert "runs/krakow/krakow_scenarios.nc" in page
    assert 'id="claims"' in page and "junior_jobs_fall" in page
    assert "consistent with data and model" in page and "long text" not in page  # key columns
    # Markdown summaries rendered: backticks become <code>, never shown raw
    assert "<code>data/scenarios.yaml</code>" in page and "`data/scenarios.yaml`" not in page
    assert not re.search(r"<script[^>]*src=\"https?://", page)


def test_notebook_pages_hide_code_and_show_the_explorer_as_an_image(pipeline):
    index = build_report(pipeline / "notebooks", pipeline / "report")  # replaces the earlier
    page = (index.parent / "00_explorer.html").read_text(encoding="utf-8")
    assert re.search(r'<body class="hubsd-hide-code', page) and 'id="hubsd-toggle"' in page
    assert "application/vnd.jupyter.widget-view+json" not in page  # no widget without state
    assert "data:image/png;base64," in page  # the explorer's last state
    assert not re.search(r"<script[^>]*src=\"https?://", page)
    assert "mermaid.esm" not in page


def test_headline_compares_every_scenario_with_the_baseline(pipeline):
    with xr.open_dataset(pipeline / "runs" / "krakow" / "krakow_scenarios.nc") as ds:
        frame = headline(ds.load())
    assert list(frame.index)[0] == "baseline"
    assert (frame.loc["baseline", [c for c in frame if "change" in c]] == 0).all()
    assert frame.loc["baseline", "cost [M EUR]"] == 0 and frame.loc["smart_mix", "cost [M EUR]"] > 0


def test_calibrated_hub_shows_its_fit_and_holdout():
    found = versions("krakow")
    if not found:
        pytest.skip("no calibrated set of krakow")
    text = _calibration(f"krakow@{found[-1]}")
    assert "Calibration: krakow@" in text
    assert "Holdout" in text or "not readable" in text
