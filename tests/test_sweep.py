"""``hubsd sweep``: spec expansion and validation, parallel points, resume, failures, combine.

The sweeps run ``tests/notebooks/tiny.ipynb`` (no model run, about a second per point).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import hubsd.workflows.sweep as _workflows_sweep
from hubsd.cli.commands import main

TINY = Path(__file__).parent / "notebooks" / "tiny.ipynb"
NB_PARAMS = {
    "x": {"inferred_type_name": "None", "default": "1.0"},
    "y": {"inferred_type_name": "None", "default": "2.0"},
    "samples": {"inferred_type_name": "None", "default": "3"},
    "label": {"inferred_type_name": "None", "default": '"a"'},
    "fail": {"inferred_type_name": "None", "default": "False"},
    "output_dir": {"inferred_type_name": "None", "default": "None"},
    "hub": {"inferred_type_name": "None", "default": '"krakow"'},
    "automatable_junior_share": {"inferred_type_name": "None", "default": "0.5"},
}


# --------------------------------------------------------------------------------------------
# expansion and validation (no notebook runs)


def test_grid_expands_to_every_combination_in_order():
    plan = _workflows_sweep.expand_spec({"grid": {"x": [1, 2, 3], "label": ["a", "b"]},
                              "fixed": {"y": 0.5}}, NB_PARAMS)
    assert plan["kind"] == "grid" and plan["names"] == ["x", "label"]
    assert [p["params"] for p in plan["points"]][:3] == [
        {"x": 1, "label": "a"}, {"x": 1, "label": "b"}, {"x": 2, "label": "a"}]
    assert len(plan["points"]) == 6 and plan["fixed"] == {"y": 0.5}
    assert [p["id"] for p in plan["points"]] == [f"p{i:04d}" for i in range(6)]


def test_lhs_is_stratified_seeded_and_inside_the_ranges():
    spec = {"lhs": {"samples": 10, "seed": 3,
                    "ranges": {"automatable_junior_share": [0.3, 0.9], "samples": [1, 20]}}}
    a = _workflows_sweep.expand_spec(spec, NB_PARAMS)
    b = _workflows_sweep.expand_spec(spec, NB_PARAMS)
    assert a["points"] == b["points"] and a["kind"] == "lhs"
    share = np.array([p["params"]["automatable_junior_share"] for p in a["points"]])
    assert share.min() >= 0.3 and share.max() <= 0.9
    # one sample in each tenth of the range: the Latin hypercube property
    assert sorted(np.floor((share - 0.3) / 0.06).astype(int)) == list(range(10))
    assert all(isinstance(p["params"]["samples"], int) for p in a["points"])  # int default


def test_list_points_fill_missing_names_with_the_default():
    plan = _workflows_sweep.expand_spec({"list": [{"x": 5}, {"x": 6, "label": "q"}]}, NB_PARAMS)
    assert [p["params"] for p in plan["points"]] == [{"x": 5, "label": "a"},
                                                      {"x": 6, "label": "q"}]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"grid": {"automatable_junor_share": [0.5]}}, "did you mean 'automatable_junior_share'"),
        ({"grid": {"automatable_junior_share": [1.5]}}, "outside its range"),
        ({"grid": {"automatable_junior_share": [float("nan")]}}, "finite"),
        ({"lhs": {"samples": 4, "ranges": {"automatable_junior_share": [0.1, 1.2]}}},
         "outside its range"),
        ({"lhs": {"samples": 0, "ranges": {"x": [0, 1]}}}, "positive whole number"),
        ({"lhs": {"samples": 4, "ranges": {"x": [1, 0]}}}, "low < high"),
        ({"grid": {"x": [1]}, "list": [{"x": 1}]}, "exactly one of"),
        ({"gird": {"x": [1]}}, "did you mean 'grid'"),
        ({"grid": {"x": []}}, "non-empty list"),
        ({"grid": {"x": ["one"]}}, "must be a number"),
        ({"grid": {"samples": [2.5]}}, "whole number"),
        ({"grid": {"output_dir": ["a"]}}, "set by the sweep"),
        ({"grid": {"hub": ["krakw"]}}, "did you mean 'krakow'"),
        ({"grid": {"x": [1]}, "fixed": {"x": 2}}, "both swept and fixed"),
        ({"list": []}, "non-empty list"),
    ],
)
def test_bad_specs_are_refused_with_a_reason(spec, message):
    with pytest.raises(_workflows_sweep.SweepError, match=message.replace("(", r"\(")):
        _workflows_sweep.expand_spec(spec, NB_PARAMS)


def test_malformed_yaml_names_the_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid:\n  x: [1, 2\n  y: [3]\n", encoding="utf-8")
    with pytest.raises(_workflows_sweep.SweepError, match="line 3"):
        _workflows_sweep.read_spec(bad)


def test_cli_refuses_a_bad_spec_before_running(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("grid: {xx: [1, 2]}\n", encoding="utf-8")
    out = tmp_path / "sw"
    assert main(["sweep", str(TINY), str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hubsd: error:") and "did you mean 'x'" in err and "\n" not in err
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# running (tiny notebook, two local workers)


def _plan(spec):
    return _workflows_sweep.prepare(TINY, spec)


def test_grid_sweep_combines_into_a_dim_per_parameter(tmp_path):
    res = _workflows_sweep.run_sweep(_plan({"grid": {"x": [1.0, 2.0], "label": ["a", "b", "c"]},
                                 "fixed": {"y": 10.0}}), tmp_path / "sw", workers=2,
                          progress=False)
    assert res["failed"] == [] and len(res["done"]) == 6
    ds = xr.open_dataset(res["result"])
    assert ds["z"].dims == ("x", "label", "time")
    assert list(ds["label"].values) == ["a", "b", "c"]
    np.testing.assert_allclose(ds["z"].sel(x=2.0, label="c").values, [10, 12, 14])
    assert json.loads(ds.attrs["sweep_fixed"]) == {"y": 10.0}
    folder = tmp_path / "sw" / "points" / "p0003"
    assert {p.name for p in folder.iterdir()} >= {"tiny.ipynb", "tiny.nc", "point.json"}
    assert not list((tmp_path / "sw" / "points").glob(".*"))  # no temporary folders left


def test_failing_point_is_reported_and_the_others_finish(tmp_path, capsys):
    spec = tmp_path / "s.yaml"
    spec.write_text("list:\n  - {x: 1}\n  - {x: 2, fail: true}\n  - {x: 3}\n", encoding="utf-8")
    out = tmp_path / "sw"
    assert main(["sweep", str(TINY), str(spec), "--out", str(out), "--workers", "2"]) == 1
    text = capsys.readouterr().out
    assert "2 of 3 point(s) done" in text
    assert "FAILED p0001 (x=2, fail=True)" in text and "asked to fail at x=2" in text
    assert (out / "failed" / "p0001" / "error.txt").is_file()
    assert not (out / "points" / "p0001").exists()
    ds = xr.open_dataset(out / "sweep.nc")
    assert list(ds["point"].values) == ["p0000", "p0002"]
    assert list(ds["x"].values) == [1, 3] and ds["x"].dims == ("point",)
    assert ds.attrs["sweep_missing_points"] == "p0001"


def test_resume_redoes_unfinished_points_only(tmp_path):
    plan = _plan({"lhs": {"samples": 3, "seed": 1, "ranges": {"x": [0.0, 1.0]}}})
    out = tmp_path / "sw"
    first = _workflows_sweep.run_sweep(plan, out, workers=2, progress=False)
    assert first["done"] == ["p0000", "p0001", "p0002"]
    points = out / "points"
    # a simulated kill: p0001 was still running (only its temporary folder, half written)
    stamp = {p: (points / p / "tiny.nc").stat().st_mtime_ns for p in ("p0000", "p0002")}
    (points / "p0001").rename(points / ".p0001.tmp-killed")
    (points / ".p0001.tmp-killed" / "tiny.nc").write_bytes(b"\x89HDF truncated")
    # without --resume the folder is refused
    with pytest.raises(_workflows_sweep.SweepError, match="--resume"):
        _workflows_sweep.run_sweep(plan, out, workers=2, progress=False)
    again = _workflows_sweep.run_sweep(plan, out, workers=2, resume=True, progress=False)
    assert again["skipped"] == ["p0000", "p0002"] and list(again["seconds"]) == ["p0001"]
    assert {p: (points / p / "tiny.nc").stat().st_mtime_ns for p in stamp} == stamp
    assert not list(points.glob(".*"))
    ds = xr.open_dataset(out / "sweep.nc")
    assert ds.sizes["point"] == 3
    xs = [p["params"]["x"] for p in plan["points"]]
    np.testing.assert_allclose(ds["x"].values, xs)
    np.testing.assert_allclose(ds["z"].isel(time=1).values, np.array(xs) + 2.0)


def test_resume_refuses_a_different_spec(tmp_path):
    out = tmp_path / "sw"
    _workflows_sweep.run_sweep(_plan({"list": [{"x": 1.0}]}), out, workers=1, progress=False)
    with pytest.raises(_workflows_sweep.SweepError, match="differs"):
        _workflows_sweep.run_sweep(_plan({"list": [{"x": 2.0}]}), out, resume=True, progress=False)


def test_points_run_on_a_dask_scheduler(tmp_path):
    distributed = pytest.importorskip("distributed")
    plan = _plan({"list": [{"x": 1.0}, {"x": 2.0}], "fixed": {"label": "d"}})
    # one worker process: both points go through the scheduler (that several local workers
    # share the points is test_grid_sweep_combines_into_a_dim_per_parameter's); a second
    # worker cost the suite about 8 s of CPU to import distributed, hubsd and papermill
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        res = _workflows_sweep.run_sweep(plan, tmp_path / "sw", scheduler=cluster.scheduler_address,
                              progress=False)
    assert res["done"] == ["p0000", "p0001"] and res["failed"] == []
    ds = xr.open_dataset(res["result"])
    np.testing.assert_allclose(ds["z"].isel(time=2).values, [4.0, 6.0])


def test_points_with_different_variables_combine_with_nan_where_absent(tmp_path):
    """The sensitivity notebook varies other parameters for each hub (a hub file fixes some),
    stored as coordinates along ``sample``: a list sweep over hubs still combines."""
    import numpy as np
    import xarray as xr

    plan = _workflows_sweep.expand_spec({"list": [{"label": "a"}, {"label": "b"}]}, NB_PARAMS)
    points = tmp_path / "points"
    for pid, coord, values in (("p0000", "alpha", [1.0, 2.0]), ("p0001", "beta", [5.0, 6.0])):
        (points / pid).mkdir(parents=True)
        ds = xr.Dataset({"y": ("sample", [10.0, 20.0] if pid == "p0000" else [30.0, 40.0])},
                        coords={"sample": [0, 1], coord: ("sample", values)})
        ds.to_netcdf(points / pid / "out.nc")
    plan["notebook"] = str(tmp_path / "nb.ipynb")
    out = _workflows_sweep.combine(plan, points)
    assert out["y"].dims == ("point", "sample")
    np.testing.assert_array_equal(out["alpha"].values, [[1.0, 2.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(out["beta"].values, [[np.nan, np.nan], [5.0, 6.0]])
    assert list(out["label"].values) == ["a", "b"]
