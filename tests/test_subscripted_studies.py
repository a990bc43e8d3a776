"""The validation battery and global sensitivity on a subscripted model of one's own.

``tests/models/subscripted/regions.mdl``: a population stock per region (North, South, East)
with a growth rate and an initial population per region, each with a range in its units
field; ``regions.checks.yaml`` beside it holds reality checks naming elements.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hubsd.core.errors import HubsdError
from hubsd.model.parameters import table
from hubsd.model.units import check_units
from hubsd.studies import sensitivity
from hubsd.validation.battery import validate_model as validate

MDL = Path(__file__).parent / "models" / "subscripted" / "regions.mdl"
REGIONS = ["North", "South", "East"]


def test_the_parameter_table_has_one_row_per_element():
    tab = table(MDL)
    assert sorted(f"growth[{r}]" for r in REGIONS) == [
        n for n in tab.index if n.startswith("growth")
    ]
    assert tab.loc["growth[South]", "default"] == 0.015
    assert tab.loc["initial_population[East]", ["low", "high"]].tolist() == [100.0, 10000.0]


def test_units_of_subscripted_equations_and_array_functions(tmp_path):
    assert check_units(MDL) == []
    bad = tmp_path / "bad.mdl"
    bad.write_text(
        MDL.read_text(encoding="utf-8").replace("SUM(Population[Region!])", "SUM(growth[Region!])"),
        encoding="utf-8",
    )
    issues = check_units(bad)
    assert [i.variable for i in issues] == ["total population"]
    assert "1/Year" in str(issues[0])


def test_the_battery_checks_each_element():
    report = validate(None, MDL, lhs_samples=16)
    rows = report.table.set_index("check")
    assert (rows["status"] != "fail").all(), rows[rows["status"] == "fail"]["details"].to_dict()
    for check in ("units consistency", "LHS: finite values", "LHS: no negative stock"):
        assert rows.loc[check, "status"] == "pass"
    assert rows.loc["integration: TIME STEP halved", "status"] == "pass"
    assert "3 stocks" in rows.loc["LHS: no negative stock", "details"]
    assert "population[" in rows.loc["LHS: no negative stock", "details"]
    reality = [c for c in rows.index if c.startswith("reality:")]
    assert len(reality) == 3 and (rows.loc[reality, "status"] == "pass").all()
    assert rows.loc["conservation of people", "status"] == "skipped"
    outputs = list(report.data["integration_error"]["output"].values)
    assert outputs == [f"population[{r}]" for r in REGIONS]


def test_a_reality_check_on_one_element_can_fail(tmp_path):
    checks = tmp_path / "regions.checks.yaml"
    checks.write_text(
        "checks:\n"
        "  - name: the north shrinks\n"
        "    statement: false on purpose, the north grows at the defaults\n"
        "    conditions:\n"
        "      - {output: 'population[North]', check: '<', value: 1000, when: eventually}\n"
        "  - name: every region stays below 2100\n"
        "    statement: false on purpose for the south\n"
        "    conditions:\n"
        "      - {output: population, check: '<', value: 2100}\n",
        encoding="utf-8",
    )
    report = validate(None, MDL, checks=checks, lhs_samples=4)
    rows = report.table.set_index("check")
    assert rows.loc["reality: the north shrinks", "status"] == "fail"
    assert rows.loc["reality: every region stays below 2100", "status"] == "fail"
    assert "first fails at" in rows.loc["reality: every region stays below 2100", "details"]


def test_sobol_over_subscripted_parameters():
    idx = sensitivity.sobol(
        ["population[North]@20", "total_population@10"],
        params=["growth[North]", "growth[South]", "departure_fraction"],
        n=64,
        seed=1,
        mdl=MDL,
    )
    assert idx["ST"].dims == ("metric", "parameter")
    assert list(idx["parameter"].values) == ["growth[North]", "growth[South]", "departure_fraction"]
    assert idx.attrs["hub"] == "model defaults" and idx["ST"].attrs["units"] == "1"
    north = idx["ST"].sel(metric="population[North]@20")
    # the south's growth does not reach the north: exactly zero; the north's own growth does
    assert north.sel(parameter="growth[South]") == 0.0
    assert north.sel(parameter="growth[North]") > 0.2
    assert idx["ST"].sel(metric="total_population@10", parameter="growth[South]") > 0.0


def test_morris_over_every_parameter_of_a_subscripted_model():
    idx = sensitivity.morris(["population[East]@20", "peak:total_population"], mdl=MDL, seed=3)
    assert idx["mu_star"].dims == ("metric", "parameter")
    assert len(idx["parameter"]) == 7
    east = idx["mu_star"].sel(metric="population[East]@20")
    assert east.sel(parameter="initial_population[North]") == 0.0
    assert east.sel(parameter="initial_population[East]") > 0.0
    assert np.isfinite(idx["mu_star"].values).all()


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ("population@20", "'population' is subscripted; name one element"),
        ("population[West]@20", "unknown output 'population\\[West\\]'"),
        ("population[North]@30", "year outside the run"),
    ],
)
def test_metrics_of_subscripted_outputs_are_checked(metric, message):
    with pytest.raises(HubsdError, match=message):
        sensitivity.sobol([metric], params=["growth[North]", "growth[East]"], n=8, mdl=MDL)
