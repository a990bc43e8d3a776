"""AI exposure from task data: the hub files' AI parameters are the evidence computation.

``hubsd.inputs.evidence`` turns Eloundou et al. (2023) occupation ratings, mapped to business
functions and tiers (``data/evidence/exposure_occupations.csv``) and weighted by each hub's
function mix, into the automatable shares with a low-high range; the hub files carry the result
with its range, which studies sample (``hubsd.studies.uncertain_ranges``).
"""

from __future__ import annotations

import pandas as pd
import pytest

import hubsd
from hubsd.core.paths import EVIDENCE_DIR
from hubsd.inputs.evidence import PARAMETERS, EvidenceError, ai_parameters, tier_exposure
from hubsd.studies import uncertain_ranges

HUBS = ["krakow", "manila", "telangana"]


@pytest.mark.parametrize("hub", HUBS)
def test_hub_file_ai_parameters_equal_the_evidence_computation(hub):
    derived = ai_parameters(hub)
    loaded = hubsd.load_hub(hub)
    for name in PARAMETERS:
        assert loaded["parameters"][name] == pytest.approx(derived[name]["value"], abs=1e-9)
        assert list(loaded["ranges"][name]) == pytest.approx(derived[name]["range"], abs=1e-9)


def test_tiers_are_ordered_and_bands_contain_the_central_value():
    tab = tier_exposure("krakow")
    assert list(tab.index) == ["junior", "mid", "senior"]
    for kind in ("automatable", "augmentable"):
        assert (tab[f"{kind}_low"] <= tab[f"{kind}_central"]).all()
        assert (tab[f"{kind}_central"] <= tab[f"{kind}_high"]).all()
    # routine junior work is more automatable than senior work
    assert tab.loc["junior", "automatable_central"] > tab.loc["senior", "automatable_central"]


def test_changing_the_mapping_moves_the_parameter():
    mapping = pd.read_csv(EVIDENCE_DIR / "exposure_occupations.csv", dtype={"onet_soc_code": str})
    base = ai_parameters("krakow", mapping)["automatable_junior_share"]["value"]
    # map every junior cell to one highly exposed occupation (bookkeeping clerks)
    junior = mapping[mapping.tier == "junior"].drop_duplicates(["function", "tier"]).copy()
    junior["onet_soc_code"], junior["weight"] = "43-3031.00", 1.0
    other = mapping[mapping.tier != "junior"]
    moved = ai_parameters("krakow", pd.concat([other, junior]))["automatable_junior_share"]
    assert moved["value"] != pytest.approx(base, abs=1e-3)


def test_bad_mapping_and_unknown_hub_are_refused():
    mapping = pd.read_csv(EVIDENCE_DIR / "exposure_occupations.csv", dtype={"onet_soc_code": str})
    bad = mapping.copy()
    bad.loc[bad.index[0], "weight"] += 0.5
    with pytest.raises(EvidenceError, match="sum to 1"):
        tier_exposure("krakow", bad)
    with pytest.raises(EvidenceError, match="no function mix for hub 'atlantis'"):
        tier_exposure("atlantis")


def test_evidence_ranges_are_sampled_by_studies():
    ranges = uncertain_ranges("krakow")
    derived = ai_parameters("krakow")
    for name in PARAMETERS:
        assert list(ranges[name]) == pytest.approx(derived[name]["range"])


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("range: [0.9, 0.95]", r"value 0.39 is outside its range"),
        ("range: [0.1]", r"range must be \[low, high\] numbers"),
        ("range: [0.1, 1.5]", r"outside its range|range \[0.1, 1.5\]"),
        ("ranges: [0.1, 0.5]", r"unknown key\(s\) ranges"),
    ],
)
def test_bad_range_in_a_hub_file_is_refused(tmp_path, entry, message):
    (tmp_path / "testhub.yaml").write_text(
        "hub: testhub\nparameters:\n  automatable_junior_share:\n    value: 0.39\n"
        f"    {entry}\n    source: test\n",
        encoding="utf-8",
    )
    with pytest.raises(hubsd.HubsdError, match=message):
        hubsd.load_hub("testhub", hubs_dir=tmp_path)
