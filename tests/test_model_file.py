"""The model file as documentation: units, comments, sources, views; translation and lookups."""

from __future__ import annotations

import importlib.util
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
from hubsd.model.sketch import read_sketch, render_sketch

TEXT = DEFAULT_MODEL.read_text(encoding="utf-8")
EQUATIONS = TEXT.split(_model_mdl.SKETCH_MARKER)[0]
MODEL = _model_mdl.parse_model(EQUATIONS)
GROUPS = _model_mdl.parse_groups(EQUATIONS)
RATES = {f for v in MODEL.values() for f in v.inflows + v.outflows}
#: the sketch the equations give (the committed one must be the same: see the first sketch test)
DRAWN = read_sketch(render_sketch(EQUATIONS))
RESYNC = "run `python scripts/sync_sketch.py models/hub.mdl`"


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


def test_sketch_is_what_the_equations_draw():
    # a forgotten re-sync after an equation change fails here
    assert TEXT.startswith(EQUATIONS.rstrip() + "\n\n" + _model_mdl.SKETCH_MARKER), RESYNC
    assert TEXT[len(EQUATIONS) :] == render_sketch(EQUATIONS), RESYNC


def test_sketch_has_one_view_per_sector_group():
    views = _model_mdl.parse_views(TEXT)
    assert list(views) == list(GROUPS), RESYNC
    for name, variables in GROUPS.items():
        assert sorted(views[name]) == sorted(variables), f"view {name!r} out of date: {RESYNC}"


def _label(view, obj_id: int) -> str:
    """Name behind a sketch object: a variable's own name, a valve's attached rate."""
    fields = view.objects[obj_id]
    return view.objects[obj_id + 1][2] if fields[0] == "11" else fields[2]


@pytest.mark.parametrize("name", list(GROUPS))
def test_view_has_every_variable_once_and_shadows_for_the_rest(name):
    view = DRAWN[name]
    assert sorted(view.variables().values()) == sorted(GROUPS[name])  # once each, as real objects
    for i, shadow in view.variables(real=False).items():
        assert shadow in MODEL or shadow == _model_mdl.TIME
        if view.objects[i][7] != "40":  # a rate's second valve (another stock it changes) aside
            assert shadow not in GROUPS[name], f"{shadow!r} is a shadow on its own view"


@pytest.mark.parametrize("name", list(GROUPS))
def test_stocks_are_boxes_and_their_rates_pipes(name):
    view = DRAWN[name]
    stocks = {v.name for v in MODEL.values() if v.group == name and v.kind == "stock"}
    boxes = {f[2]: i for i, f in view.objects.items() if f[0] == "10" and f[7] == "3"}
    assert set(boxes) == stocks, "stocks (and only stocks) are boxes (shape 3)"
    pipes = [a for a in view.arrows if a[3]]
    for stock in stocks:
        drawn = {(_label(view, a[1]), a[4]) for a in pipes if a[2] == boxes[stock]}
        expected = {(f, 4) for f in MODEL[stock].inflows} | {
            (f, 100) for f in MODEL[stock].outflows
        }
        assert drawn == expected, f"{stock}: pipes to valves of its rates (4 fills, 100 drains)"
        assert drawn, f"{stock} has no valve and pipe"


@pytest.mark.parametrize("name", list(GROUPS))
def test_every_rate_has_a_valve_with_two_pipe_ends(name):
    view = DRAWN[name]
    valves = [i for i, f in view.objects.items() if f[0] == "11"]
    real = {}
    for i in valves:
        label = view.objects[i + 1]
        assert label[0] == "10" and label[7] == "40", "a valve's rate name follows it (shape 40)"
        ends = sorted(a[4] for a in view.arrows if a[3] and a[1] == i)
        assert ends == [4, 100], f"valve of {label[2]!r}: one end filled, one drained"
        assert {view.objects[a[2]][0] for a in view.arrows if a[3] and a[1] == i} <= {"10", "12"}
        if int(label[8]) % 2:
            real[label[2]] = real.get(label[2], 0) + 1
    mine = {f for f in RATES if MODEL[f].group == name}
    assert real == dict.fromkeys(mine, 1), "each rate of the sector has one real valve"


INFLUENCES = {name: sorted((u, v) for v in GROUPS[name] for u in MODEL[v].uses) for name in GROUPS}


@pytest.mark.parametrize("name", list(GROUPS))
def test_influence_arrows_are_the_equations(name):
    view = DRAWN[name]
    arrows = [a for a in view.arrows if not a[3]]
    drawn = sorted((_label(view, a[1]), _label(view, a[2])) for a in arrows)
    assert drawn == INFLUENCES[name]  # one arrow per variable an equation reads, no other
    for a in arrows:
        source = view.objects[a[1]]
        shadow = source[0] == "10" and int(source[8]) % 2 == 0
        assert shadow == (_label(view, a[1]) not in GROUPS[name]), "shadows for other sectors"


def test_influence_arrow_counts():
    counts = {name: len(pairs) for name, pairs in INFLUENCES.items()}
    assert {name: DRAWN[name].counts()["arrows"] for name in GROUPS} == counts
    assert sum(counts.values()) > 400
    # the model card's loops run through arrows and pipes of the views, e.g. R1 and B1:
    ai = INFLUENCES["AI adoption"]
    assert ("Adopting share", "AI adoption rate") in ai
    assert ("Non adopting share", "AI adoption rate") in ai


def test_equation_structure_matches_pysd():
    model = load()
    deps, names = model._dependencies, model._namespace

    def flat(d):
        out = set()
        for key, value in d.items():
            if isinstance(value, dict):
                out |= flat(value)
            elif key.startswith("_") and key in deps:  # a stateful object (INTEG, SMOOTH, ...)
                out |= flat(deps[key])
            elif not key.startswith("__"):
                out.add(key)
        return out

    for name, var in MODEL.items():
        if names[name] not in deps:
            continue
        theirs = flat(deps[names[name]]) - {names[name]}
        ours = {names[u] for u in var.uses + var.inflows + var.outflows}
        rhs = EQUATIONS.split(f"\n{name}=", 1)[-1].split("~", 1)[0]
        if "STEP(" in rhs or "PULSE" in rhs or "RAMP(" in rhs:
            theirs.discard("time")  # PySD's STEP reads the clock; Vensim draws no arrow
        assert ours == theirs, name


def test_sectors_are_the_views():
    views = _model_mdl.parse_views(TEXT)
    assert hubsd.sectors() == sorted(n.lower().replace(" ", "_") for n in views)
    modules = load().modules
    py_names = load()._namespace
    for name, variables in GROUPS.items():
        module = modules[name.lower().replace(" ", "_")]
        assert sorted(module) == sorted(py_names[v] for v in variables), name


def test_equations_hash_ignores_the_sketch(tmp_path):
    digest = _model_mdl.equations_hash(DEFAULT_MODEL)
    assert len(digest) == 64 and digest == _model_mdl.equations_hash(DEFAULT_MODEL)
    redrawn = tmp_path / "redrawn.mdl"
    redrawn.write_bytes(
        (EQUATIONS.rstrip() + "\n\n\n" + _model_mdl.SKETCH_MARKER + " - another drawing\n")
        .replace("\n", "\r\n")
        .encode("utf-8")
    )
    assert _model_mdl.equations_hash(redrawn) == digest
    bare = tmp_path / "bare.mdl"
    bare.write_text(EQUATIONS, encoding="utf-8")
    assert _model_mdl.equations_hash(bare) == digest
    changed = tmp_path / "changed.mdl"
    changed.write_text(TEXT.replace("2016\n", "2017\n", 1), encoding="utf-8")
    assert _model_mdl.equations_hash(changed) != digest


def test_parse_views_leaves_out_shadows():
    text = (
        "x = 1 ~~|\n" + _model_mdl.SKETCH_MARKER + "\nV300\n*One\n"
        "10,1,Stock,100,100,60,26,3,3,0,0,0,0,0,0\n"
        "10,2,Time,200,100,26,11,8,2,0,3,-1,0,0,0,128-128-128,0-0-0,|12||128-128-128\n"
        "///---\\\\\\\n"
    )
    assert _model_mdl.parse_views(text) == {"One": ["Stock"]}


def test_sync_sketch_script(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "sync_sketch", REPO / "scripts" / "sync_sketch.py"
    )
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    mdl = tmp_path / "hub.mdl"
    mdl.write_text(EQUATIONS + _model_mdl.SKETCH_MARKER + " - stale\n", encoding="utf-8")
    assert script.main(["--check", str(mdl)]) == 1 and "out of date" in capsys.readouterr().out
    assert script.main([str(mdl)]) == 0 and "Workforce: 12 stocks" in capsys.readouterr().out
    text = mdl.read_text(encoding="utf-8")
    assert text.startswith(EQUATIONS.rstrip() + "\n\n") and text.endswith(render_sketch(EQUATIONS))
    assert _model_mdl.equations_hash(mdl) == _model_mdl.equations_hash(DEFAULT_MODEL)
    assert script.main(["--check", str(mdl)]) == 0


def test_every_model_variable_belongs_to_a_sector(doc):
    sectors = _model_mdl.sector_of(EQUATIONS)
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
