"""The bundled figures load with their provenance; bad files are refused with line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import hubsd.inputs.observations as _inputs_observations
from hubsd.inputs.observations import DataError, load_observations, series

FIX = Path(__file__).parent / "fixtures"


def test_bundled_figures_load_with_sources():
    obs = load_observations()
    assert len(obs) >= 40
    assert (obs.source_title.str.len() > 0).all() and (obs.says.str.len() > 0).all()
    assert set(obs.kind) <= _inputs_observations.KINDS
    # the brief's press claims are kept apart from data
    assert (obs[obs.via.str.contains("brief")].kind == "stylised").all()
    krakow = obs[(obs.region == "Krakow") & (obs.series == "business_services_employment")]
    assert {2013, 2020, 2021, 2022} <= set(krakow[krakow.kind == "observed"].year)
    assert krakow.set_index("year").loc[2013, "bound"] == "lower"


def test_series_carries_provenance():
    da = series("Krakow", "business_services_employment")
    # every bundled file: hub_figures.csv (2013, 2020-2022) and industry_series.csv (2017,
    # 2023, 2024; 2025 is a forecast and not an observation)
    assert list(da.year.values) == [2013, 2017, 2020, 2021, 2022, 2023, 2024]
    assert da.sel(year=2022).item() == 92686
    assert da.attrs["units"] == "persons"
    assert "businessinmalopolska.pl" in da.attrs["sources"]
    assert "lower" in da.attrs["bound"]


def test_unknown_series_names_what_exists():
    with pytest.raises(DataError, match="no 'hub_jobs' figures.*it has: .*business_services"):
        series("Krakow", "hub_jobs")


def test_user_series_added_beside_bundled():
    obs = load_observations([_inputs_observations.OBSERVED, FIX / "user_series.csv"])
    assert (obs.series == "hub_jobs_my_count").sum() == 1
    assert obs.line.min() >= 2


@pytest.mark.parametrize(
    "fixture, message",
    [
        ("bad_data_duplicate.csv", r"line 3: duplicate of .*line 2"),
        ("bad_data_value.csv", r"line 2: value 'lots' is not a number"),
        ("bad_data_column.csv", r"line 1: unknown column\(s\) units; missing column\(s\) unit"),
        ("bad_data_no_source.csv", r"line 2: empty 'source_address'"),
        ("bad_data_fraction.csv", r"line 2: value 3.7 outside the plausible range \[0, 1\]"),
        ("bad_data_malformed.csv", r"malformed CSV"),
        ("bad_data_no_year.csv", r"line 2: year missing"),
        ("bad_data_kind.csv", r"line 2: kind 'guess' is not one of"),
        ("bad_data_fields.csv", r"line 2: 10 fields, expected 11"),
    ],
)
def test_bad_files_are_refused_with_line_and_reason(fixture, message):
    with pytest.raises(DataError, match=message) as info:
        load_observations(FIX / fixture)
    assert fixture in str(info.value)


def test_duplicate_across_files(tmp_path):
    copy = tmp_path / "again.csv"
    copy.write_text(_inputs_observations.OBSERVED.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(
        DataError, match="again.csv, line 2: duplicate of .*hub_figures.csv, line 2"
    ):
        load_observations([_inputs_observations.OBSERVED, copy])


def test_missing_file():
    with pytest.raises(DataError, match="cannot read"):
        load_observations("no/such/file.csv")
