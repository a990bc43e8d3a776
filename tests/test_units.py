"""Units consistency of the model file, and proof that each kind of mismatch is caught."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubsd.core.paths import DEFAULT_MODEL
from hubsd.model.units import UnitsError, check_units, parse_units

MODELS = Path(__file__).parent / "models" / "units"


def test_hub_model_is_dimensionally_consistent():
    issues = check_units(DEFAULT_MODEL)
    assert not issues, "\n".join(map(str, issues))


def test_a_wrong_unit_in_the_hub_model_is_caught(tmp_path):
    text = DEFAULT_MODEL.read_text(encoding="utf-8")
    old = (
        "junior attrition=\n\tJunior staff / junior average duration * (1 - augmentation "
        "attrition reduction * augmented share)\n\t~\tPerson/Year"
    )
    assert old in text
    broken = tmp_path / "hub.mdl"
    broken.write_text(text.replace(old, old.replace("Person/Year", "Person")), encoding="utf-8")
    found = {str(i.variable) for i in check_units(broken)}
    assert "junior attrition" in found and "Junior staff" in found


def test_consistent_small_model():
    assert check_units(MODELS / "units_ok.mdl") == []


@pytest.mark.parametrize(
    "name, variable, message, found, expected",
    [
        (
            "units_stock_flow",
            "Stock",
            "net flow not in stock units per time",
            "Person",
            "Person/Year",
        ),
        ("units_sum", "mixed", "terms of a sum have different units", "Year", "Person"),
        ("units_xidz", "ratio", "XIDZ fallback not in the units of a/b", "Year", "Dmnl"),
        ("units_exp", "growth", "EXP of a dimensioned value", "Person", "Dmnl"),
        ("units_smooth_time", "smoothed", "smooth time not in time units", "Person", "Year"),
        ("units_table", "share", "equation not in the variable's declared units", "Person", "Dmnl"),
        ("units_missing", "nothing", "missing units", "none", "units"),
        (
            "units_declared",
            "person_years",
            "equation not in the variable's declared units",
            "Person*Year",
            "Person",
        ),
    ],
)
def test_each_kind_of_mismatch_is_caught(name, variable, message, found, expected):
    issues = check_units(MODELS / f"{name}.mdl")
    assert len(issues) == 1, issues
    issue = issues[0]
    assert (issue.variable, issue.message, issue.found, issue.expected) == (
        variable,
        message,
        found,
        expected,
    )
    assert variable in str(issue) and found in str(issue)


def test_model_that_does_not_translate():
    with pytest.raises(
        UnitsError, match=r"units_bad_syntax.mdl: the model does not translate.*line"
    ):
        check_units(MODELS / "units_bad_syntax.mdl")
    with pytest.raises(UnitsError, match="not found"):
        check_units(MODELS / "nope.mdl")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Person/Year", "Person/Year"),
        ("EUR/(Person*Year)", "EUR/(Person*Year)"),
        ("Dmnl", "Dmnl"),
        ("1/Year", "1/Year"),
        ("Person*Year/Person", "Year"),
        ("Year^2/Year", "Year"),
    ],
)
def test_parse_units(text, expected):
    assert str(parse_units(text)) == expected


@pytest.mark.parametrize("text", ["Person/(Year", "2/Year", "Year^x", "Person//Year", ""])
def test_bad_units_strings(text):
    with pytest.raises(UnitsError):
        parse_units(text)
