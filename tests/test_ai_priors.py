"""The AI block's priors against their evidence (``data/evidence/ai_priors.csv``).

Each row of the file is one sourced figure mapped to a model parameter; its ``role`` says what
it sets: ``default`` (the model's default), ``range_low`` / ``range_high`` (the ends of the
evidence range) or ``context`` (recorded, not used).  The tests hold ``models/hub.mdl`` to the
file, so that changing one without the other fails: the default and the range in the model
equal the rows that set them; where the model keeps wider logical bounds (needed by the
extreme-condition tests), its comment states the evidence range, and a number the file does not
give is covered by the word "Assumption" in the comment.  Every row has a source address and a
quoted sentence.
"""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from hubsd.core.paths import EVIDENCE_DIR
from hubsd.inputs.evidence import EvidenceError, prior_ranges
from hubsd.model.parameters import table
from hubsd.studies.policies import uncertain_ranges

PRIORS = pd.read_csv(EVIDENCE_DIR / "ai_priors.csv", dtype={"parameter": str, "role": str})
TABLE = table()
ROLES = {"default", "range_low", "range_high", "context"}
#: Parameters whose model range stays wider than the evidence, and why.  The admissible range
#: is what overrides are checked against, so it must hold the extreme conditions.
ADMISSIBLE = {
    # h = 0 (FULL_AUTOMATION, STRESS) and h = 1 (AI_EFFECT_EXTREMES) are extreme conditions
    "baseline_human_centred_ai_share": (0.0, 1.0),
    # 1 = automation that saves nothing (AI_EFFECT_EXTREMES, the SHOCK scenario); 0 = free AI
    "ai_running_cost_ratio": (0.0, 1.0),
    # the specification's range; behaviour tests compare 0.3 with 1
    "reinstatement_ratio": (0.3, 1.0),
}
EVIDENCE_RANGE = re.compile(r"evidence range \[([0-9.]+), ([0-9.]+)\]")


def _value(priors: pd.DataFrame, parameter: str, role: str) -> float | None:
    rows = priors[(priors.parameter == parameter) & (priors.role == role)]
    if len(rows) > 1:
        raise AssertionError(f"{parameter}: more than one {role} row")
    return None if rows.empty else float(rows["value"].iloc[0])


def problems(priors: pd.DataFrame, parameter: str, tab: pd.DataFrame = TABLE) -> list[str]:
    """What in the model's default, range and comment disagrees with the evidence file."""
    out = []
    row = tab.loc[parameter]
    comment = row.description
    default = _value(priors, parameter, "default")
    low, high = _value(priors, parameter, "range_low"), _value(priors, parameter, "range_high")
    if default is None:
        if "Assumption" not in comment:
            out.append("default without evidence or 'Assumption'")
    elif not math.isclose(row.default, default, abs_tol=1e-12):
        out.append(f"default {row.default:g} is not the evidence's {default:g}")
    match = EVIDENCE_RANGE.search(comment)
    stated = (float(match.group(1)), float(match.group(2))) if match else None
    if parameter in ADMISSIBLE:
        if (row.low, row.high) != ADMISSIBLE[parameter]:
            out.append(f"range [{row.low:g}, {row.high:g}] is not the admissible range")
        if low is None or high is None:
            out.append("no evidence range in the file")
        elif stated is None:
            out.append("the comment does not state the evidence range")
        elif not (math.isclose(stated[0], low) and math.isclose(stated[1], high)):
            out.append(f"stated evidence range {stated} is not the file's ({low:g}, {high:g})")
        elif not row.low <= low <= high <= row.high:
            out.append("evidence range outside the admissible range")
    else:
        for end, value in (("low", low), ("high", high)):
            if value is None:
                if "Assumption" not in comment:
                    out.append(f"{end} without evidence or 'Assumption'")
            elif not math.isclose(getattr(row, end), value, abs_tol=1e-12):
                out.append(f"{end} {getattr(row, end):g} is not the evidence's {value:g}")
        if stated is not None and not (
            math.isclose(stated[0], row.low) and math.isclose(stated[1], row.high)
        ):
            out.append(f"stated evidence range {stated} is not the model's range")
    if not row.low <= row.default <= row.high:
        out.append("default outside the range")
    if "data/evidence/ai_priors.csv" not in comment:
        out.append("the comment does not cite data/evidence/ai_priors.csv")
    return out


@pytest.mark.parametrize("parameter", sorted(PRIORS.parameter.unique()))
def test_model_default_and_range_equal_the_evidence(parameter):
    assert problems(PRIORS, parameter) == []


@pytest.mark.parametrize(
    ("parameter", "role", "shift", "message"),
    [
        ("ai_running_cost_ratio", "default", 0.01, "default"),
        ("baseline_human_centred_ai_share", "range_high", -0.05, "stated evidence range"),
        ("ai_implementation_delay", "range_high", 1.0, "high"),
        ("reinstatement_ratio", "range_low", 0.1, "stated evidence range"),
    ],
)
def test_a_figure_changed_in_the_file_alone_is_caught(parameter, role, shift, message):
    moved = PRIORS.copy()
    at = (moved.parameter == parameter) & (moved.role == role)
    assert at.sum() == 1
    moved.loc[at, "value"] += shift
    found = problems(moved, parameter)
    assert any(message in p for p in found), found


def test_a_number_without_evidence_must_be_called_an_assumption():
    tab = TABLE.copy()
    name = "mid_share_of_new_tasks"  # default and upper bound are assumptions
    assert problems(PRIORS, name, tab) == []
    tab.loc[name, "description"] = tab.loc[name, "description"].replace("Assumption", "Guess")
    found = problems(PRIORS, name, tab)
    assert "default without evidence or 'Assumption'" in found
    assert "high without evidence or 'Assumption'" in found


def test_every_row_is_sourced_with_an_address_and_a_quote():
    assert set(PRIORS.role) <= ROLES, set(PRIORS.role) - ROLES
    for _, r in PRIORS.iterrows():
        where = f"{r.parameter} / {r.quantity}"
        assert r.parameter in TABLE.index, f"{where}: not a model parameter"
        assert str(r.source_address).startswith("https://"), f"{where}: no web address"
        assert isinstance(r.says, str) and len(r.says) >= 40, f"{where}: no quoted sentence"
        assert isinstance(r.source_title, str) and r.source_title.strip(), f"{where}: no title"
        assert isinstance(r.mapping, str) and r.mapping.strip(), f"{where}: no mapping"
        assert isinstance(r.read_in, str) and r.read_in.strip(), f"{where}: where it was read"
        assert math.isfinite(r.value), f"{where}: value"
        if not math.isnan(r.low):
            assert r.low <= r.value, f"{where}: low above the value"
        if not math.isnan(r.high):
            assert r.value <= r.high, f"{where}: high below the value"


def test_rows_that_set_the_model_are_in_its_units():
    setting = PRIORS[PRIORS.role != "context"]
    assert not setting.empty
    for _, r in setting.iterrows():
        assert r.unit == TABLE.loc[r.parameter, "units"], f"{r.parameter}: {r.unit}"


def test_each_parameter_has_its_evidence_range_in_order():
    for parameter in PRIORS.parameter.unique():
        low = _value(PRIORS, parameter, "range_low")
        high = _value(PRIORS, parameter, "range_high")
        default = _value(PRIORS, parameter, "default")
        if low is not None and high is not None:
            assert low <= high, parameter
        if default is not None:
            assert low is None or low <= default, parameter
            assert high is None or default <= high, parameter


def test_studies_sample_the_priors_over_their_evidence_ranges():
    """Ensembles draw a prior over its evidence range (0.12-0.57 for h), not the admissible one
    ([0, 1], kept for the extreme conditions); a calibrated interval still wins."""
    ranges = prior_ranges()
    assert ranges["baseline_human_centred_ai_share"] == (0.12, 0.57)
    assert "mid_share_of_new_tasks" not in ranges  # one end only: the table's range stays
    drawn = uncertain_ranges("krakow")
    for name, (low, high) in ranges.items():
        assert drawn[name] == (low, high), name
    assert drawn["mid_share_of_new_tasks"] == tuple(
        TABLE.loc["mid_share_of_new_tasks", ["low", "high"]].astype(float)
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda d: d.assign(parameter=d.parameter.replace("reinstatement_ratio", "reinstate")),
            "unknown parameter 'reinstate'",
        ),
        (lambda d: pd.concat([d, d[d.role == "range_low"].head(1)]), "more than one range_low"),
        (
            lambda d: d.assign(value=d.value.where(d.role != "range_high", 0.01)),
            "is not an ordered range",
        ),
        (lambda d: d.drop(columns="role"), "missing column(s) ['role']"),
    ],
)
def test_a_bad_evidence_file_is_refused_naming_the_item(tmp_path, edit, message):
    path = tmp_path / "ai_priors.csv"
    edit(PRIORS.copy()).to_csv(path, index=False)
    with pytest.raises(EvidenceError) as err:
        prior_ranges(path)
    assert message in str(err.value) and str(path) in str(err.value)
