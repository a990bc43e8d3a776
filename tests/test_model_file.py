"""The model file as documentation: units, comments, sources, views; translation and lookups."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import hubsd
import hubsd.model.mdl as _model_mdl
from hubsd.core.paths import DEFAULT_MODEL, REPO
from hubsd.model.parameters import to_markdown
from hubsd.model.pysd_model import load, translate, use_fast_lookups

TEXT = DEFAULT_MODEL.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def doc():
    return load().doc


def test_every_variable_has_units_and_comment(doc):
    rows = doc[doc["Py Name"] != "time"]
    no_units = rows[rows["Units"].isna() | (rows["Units"].astype(str).str.strip() == "")]
    assert no_units.empty, f"variables without units: {list(no_units['Real Name'])}"
    no_comment = rows[rows["Comment"].isna() | (rows["Comment"].astype(str).str.len() < 10)]
    assert no_comment.empty, f"variables without a comment: {list(no_comment['Real Name'])}"


def test_every_parameter_has_range_and_source():
    tab = hubsd.parameter_table()
    assert len(tab) > 60
    for name, row in tab.iterrows():
        assert math.isfinite(row.low) and math.isfinite(row.high), f"{name}: range not finite"
        assert row.low <= row.default <= row.high, f"{name}: default outside its range"
        assert row.source, f"{name}: no 'Source:', 'Assumption' or 'Scenario input' in comment"


def test_sketch_has_one_view_per_sector_group():
    equations = TEXT.split(_model_mdl.SKETCH_MARKER)[0]
    groups = _model_mdl.parse_groups(equations)
    views = _model_mdl.parse_views(TEXT)
    assert list(views) == list(groups), "run scripts/sync_sketch.py"
    for name in groups:
        assert views[name] == groups[name], f"view {name!r} out of date: run scripts/sync_sketch.py"


def test_sectors_are_the_views():
    assert hubsd.sectors() == sorted(n.lower().replace(" ", "_") for n in _model_mdl.parse_views(TEXT))


def test_every_model_variable_belongs_to_a_sector(doc):
    sectors = _model_mdl.sector_of(TEXT.split(_model_mdl.SKETCH_MARKER)[0])
    control = {"FINAL TIME", "INITIAL TIME", "SAVEPER", "TIME STEP", "Time"}
    missing = set(doc["Real Name"]) - set(sectors) - control
    assert not missing, f"variables outside any sector group: {sorted(missing)}"


def test_parameter_markdown_is_current():
    committed = (REPO / "models" / "parameters.md").read_text(encoding="utf-8")
    assert committed == to_markdown(), "run `hubsd params --markdown > models/parameters.md`"


def test_generated_code_not_in_models_folder():
    assert not list((REPO / "models").glob("*.py"))
    assert not list((REPO / "models").glob("modules_*"))


def test_translation_cache_is_keyed_by_model_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBSD_CACHE_DIR", str(tmp_path / "cache"))
    py1 = translate(DEFAULT_MODEL)
    assert py1.is_file() and tmp_path in py1.parents
    assert translate(DEFAULT_MODEL) == py1  # cached
    changed = tmp_path / "hub.mdl"
    changed.write_text(TEXT.replace("2016\n", "2017\n", 1), encoding="utf-8")
    py2 = translate(changed)
    assert py2 != py1 and py2.is_file()
    assert not list(tmp_path.glob("*.py")), "translation must not write beside the .mdl"


def test_fast_lookups_match_pysd_tables():
    from pysd.py_backend.lookups import HardcodedLookups

    model = load(fresh=True)
    assert len(model._lookup_elements) >= 7
    rng = np.random.default_rng(7)
    for fast in model._lookup_elements:
        slow = HardcodedLookups.__new__(HardcodedLookups)
        slow.__dict__.update(fast.__dict__)
        xs = fast.data["lookup_dim"].values
        span = xs[-1] - xs[0]
        points = np.concatenate([xs, rng.uniform(xs[0] - span, xs[-1] + span, 200)])
        for x in points:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # PySD warns outside the range
                expected = slow(float(x))
            assert fast(float(x)) == pytest.approx(expected, rel=1e-12, abs=1e-12), fast.py_name


def test_fast_lookups_count_every_table():
    model = load(fresh=True)
    assert use_fast_lookups(model) == len(model._lookup_elements)


def test_no_subscripts_or_data_files(doc):
    # the ensemble engine planned in issue 5 relies on this; change it knowingly
    assert doc["Subscripts"].isna().all() or all(s in (None, []) for s in doc["Subscripts"])
    assert "GET " not in TEXT


def test_model_path_is_repo_relative():
    assert DEFAULT_MODEL == REPO / "models" / "hub.mdl"
    assert Path(hubsd.__file__).resolve().parents[2] == REPO
