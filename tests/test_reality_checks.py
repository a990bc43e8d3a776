"""Reality checks: the hub model passes its own; false statements and bad files are caught."""

from __future__ import annotations

import textwrap

import pytest

from hubsd.validation.reality import CHECKS_FILE, RealityCheckError, load_checks, run_checks


def _write(tmp_path, text):
    path = tmp_path / "checks.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_hub_model_passes_its_reality_checks():
    results = run_checks(CHECKS_FILE)
    assert len(load_checks(CHECKS_FILE)) >= 7
    failed = results[~results.passed]
    assert failed.empty, "\n".join(failed.message)
    # every check ran at defaults and at the corners of its parameters
    runs = results.groupby("check").run.nunique()
    assert (runs >= 3).all()


def test_false_statement_names_statement_input_and_first_failure(tmp_path):
    path = _write(tmp_path, """
        checks:
          - name: hub stays small
            statement: The hub never employs more than 40,000 people.
            inputs: {local_multiplier: 1.5}
            conditions:
              - {output: total_hub_staff, check: "<=", value: 40000}
            corners: [client_demand_growth_rate]
    """)
    results = run_checks(path)
    failed = results[~results.passed]
    # defaults plus the corner parameter at its low and high end; all three fail
    assert list(results.run) == ["defaults", "client_demand_growth_rate=low",
                                 "client_demand_growth_rate=high"]
    assert len(failed) == 3
    msg = failed.message.iloc[0]
    assert "'hub stays small' failed: The hub never employs more than 40,000 people." in msg
    assert "local_multiplier" in msg and "first fails at 20" in msg
    assert 2010 < failed.first_failure.iloc[0] < 2020


def test_eventually_and_at(tmp_path):
    path = _write(tmp_path, """
        checks:
          - name: adoption happens
            statement: Adoption eventually passes one half, and is complete by 2045.
            conditions:
              - {output: adopting_share, check: ">", value: 0.5, when: eventually}
              - {output: adopting_share, check: ">=", value: 0.99, at: 2045}
              - {output: adopting_share, check: ">=", value: 0.99, after: 2030}
    """)
    results = run_checks(path)
    assert list(results.passed) == [True, True, False]
    assert results.first_failure.iloc[2] == 2030


@pytest.mark.parametrize(
    "text, message",
    [
        ("checks:\n  - name: a\n    statement: b\n   conditions: [\n", r"line \d+: malformed YAML"),
        ("checks: 3\n", "line 1: expected a mapping with a list under 'checks'"),
        ("""checks:
  - name: a
    statement: b
    conditions:
      - {output: junior_staf, check: "<=", value: 1}
""", r"line 5: unknown output 'junior_staf'; did you mean 'junior_staff'"),
        ("""checks:
  - name: a
    statement: b
    inputs: {local_multiplyer: 1}
    conditions:
      - {output: junior_staff, check: "<=", value: 1}
""", r"line 2: unknown parameter 'local_multiplyer'; did you mean 'local_multiplier'"),
        ("""checks:
  - name: a
    statement: b
    inputs: {local_multiplier: 9}
    conditions:
      - {output: junior_staff, check: "<=", value: 1}
""", r"line 2: .*outside its range"),
        ("""checks:
  - name: a
    statement: b
    conditions:
      - {output: junior_staff, check: "~", value: 1}
""", r"line 5: check '~' is not one of"),
        ("""checks:
  - name: a
    statement: b
    conditions:
      - {output: junior_staff, check: "<=", value: 1, value_of: mid_staff}
""", "line 5: give exactly one of 'value' and 'value_of'"),
        ("""checks:
  - name: a
    statement: b
    inputs: {local_multiplier: 1}
    conditions:
      - {output: junior_staff, check: "<=", value: 1}
    corners: [local_multiplier]
""", "line 2: corner parameter 'local_multiplier' is also fixed"),
        ("""checks:
  - name: a
    statment: b
    conditions:
      - {output: junior_staff, check: "<=", value: 1}
""", "line 2: unknown key"),
    ],
)
def test_bad_check_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "checks.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RealityCheckError, match=message):
        load_checks(path)
