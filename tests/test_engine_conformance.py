"""Conformance of the ensemble engine with PySD, one small model per construct (issue 14).

Each model in ``tests/models/engine/`` exercises one Vensim construct. The engine's result is
compared with PySD's own run of the same file (``pysd.read_vensim(...).run``), at the model's
defaults and for members whose parameters are drawn inside their ranges (each element of a
subscripted constant varied on its own), to 1e-9 relative to the scale of each series. A few
tests also check values derived by hand from the Vensim documentation, and the constructs the
engine still refuses are refused at compile time, naming the construct and the variable.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hubsd.engine.conformance import differences, load_pysd, pysd_params
from hubsd.engine.ensemble import compile_model
from hubsd.engine.ir import EnsembleError, UnsupportedConstructError
from hubsd.model.parameters import ParameterError

pysd = pytest.importorskip("pysd")

MODELS = Path(__file__).parent / "models" / "engine"
#: Models whose runs equal PySD's only in distribution (RANDOM functions): tested below.
RANDOM_MODELS = {"random"}
ALL = sorted(m for m in MODELS.glob("*.mdl") if m.stem not in RANDOM_MODELS)
RTOL = 1e-9
CONTROL = ("initial_time", "final_time", "time_step", "saveper")
#: Parameters that set the time grid cannot vary per member (they are varied one run at a time).
FIXED = {"control_expressions": {"start_year", "horizon"}}
#: Series of the data variables without equations, per model (``compile_model(data_files=)``).
DATA_FILES = {"data_files": [MODELS / "data_files.csv"]}


def compiled(mdl: Path):
    """The engine's model of a conformance file (with its data files, if any)."""
    return compile_model(mdl, DATA_FILES.get(mdl.stem))


def pysd_run(mdl: Path, model, params: dict, outputs: list[str], tmp_path: Path):
    """PySD's run of the file (translated in a temporary folder) with ``params`` set."""
    pm = load_pysd(mdl, tmp_path, DATA_FILES.get(mdl.stem))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm.run(params=params, return_columns=[model.nodes[o].element for o in outputs])


def assert_member_equals_pysd(mdl, model, ens, member, values, outputs, tmp_path):
    df = pysd_run(mdl, model, pysd_params(model, values), outputs, tmp_path)
    np.testing.assert_allclose(ens.time.values, df.index.values, rtol=0, atol=1e-9)
    for column, rel in differences(model, ens, df, member, outputs).items():
        assert rel <= RTOL, f"{mdl.stem}, member {member}: {column} differs by {rel:.3g}"


def outputs_of(model) -> list[str]:
    return [o for o in model.outputs_available() if o not in CONTROL]


@pytest.mark.parametrize("mdl", ALL, ids=[m.stem for m in ALL])
def test_construct_equals_pysd_at_defaults(mdl, tmp_path):
    model = compiled(mdl)
    outputs = outputs_of(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # :NA: is non-finite on purpose
        ens = model.run(None, outputs)
    assert_member_equals_pysd(mdl, model, ens, 0, {}, outputs, tmp_path)


@pytest.mark.parametrize("mdl", ALL, ids=[m.stem for m in ALL])
def test_construct_equals_pysd_for_perturbed_members(mdl, tmp_path):
    model = compiled(mdl)
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    table = table[~table.index.isin(FIXED.get(mdl.stem, set()))]
    if table.empty:
        pytest.skip("no parameter with a range")
    rng = np.random.default_rng(len(mdl.stem))
    params = {k: rng.uniform(row.low, row.high, 3) for k, row in table.iterrows()}
    outputs = outputs_of(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ens = model.run(params, outputs, workers=1)
    for member in range(3):
        values = {k: v[member] for k, v in params.items()}
        assert_member_equals_pysd(mdl, model, ens, member, values, outputs, tmp_path)


# --------------------------------------------------------------------------------------------
# Values derived from the Vensim documentation
# --------------------------------------------------------------------------------------------


def test_control_values_follow_their_expressions(tmp_path):
    model = compile_model(MODELS / "control_expressions.mdl")
    assert model.controls == {
        "initial_time": 2000.0,
        "final_time": 2012.0,
        "time_step": 0.125,
        "saveper": 0.125,
    }
    ds = model.run({"horizon": 6.0}, ["stock"], time_step=0.25)  # SAVEPER = TIME STEP follows
    np.testing.assert_array_equal(ds.time.values, np.arange(2000.0, 2006.01, 0.25))
    df = pysd_run(MODELS / "control_expressions.mdl", model, {"horizon": 6.0}, ["stock"], tmp_path)
    assert df.index[-1] == 2006.0
    with pytest.raises(ParameterError, match="sets FINAL TIME and cannot vary per member"):
        model.run({"horizon": [6.0, 8.0]}, ["stock"])


def test_saveper_not_a_multiple_of_time_step_saves_as_pysd():
    ds = compile_model(MODELS / "saveper_not_multiple.mdl").run(None, ["level"])
    np.testing.assert_array_equal(ds.time.values, [0.0, 3.0, 6.0, 9.0])
    # Euler: level(t) = 50 (1 - 0.3 dt)^(t / dt)
    np.testing.assert_allclose(ds.level.values[0], 50 * 0.925 ** (ds.time.values / 0.25))


def test_na_is_nan_where_vensim_has_na():
    with pytest.warns(RuntimeWarning, match="non-finite"):
        ds = compile_model(MODELS / "na.mdl").run(None, ["observed", "scaled", "missing"])
    t = ds.time.values
    np.testing.assert_array_equal(ds.observed.values[0], np.where(t > 5, np.nan, t))
    assert np.isnan(ds.missing.values).all()


def test_delay_fixed_is_the_input_one_delay_time_earlier():
    ds = compile_model(MODELS / "delay_fixed.mdl").run(
        {"delay_time": [2.0, 3.0]}, ["delayed", "input"], saveper=0.25
    )
    t = ds.time.values
    for member, delay in enumerate([2.0, 3.0]):
        expected = np.where(t >= delay, (t - delay) + 10 * (t - delay > 3 - 0.125), -1)
        np.testing.assert_allclose(ds.delayed.values[member], expected, rtol=0, atol=1e-12)


def test_array_functions_and_elmcount():
    ds = compile_model(MODELS / "array_functions.mdl").run(None, "all")
    staff = ds.staff.isel(sample=0)
    assert staff.dims == ("time", "Region", "Level")
    assert list(ds.Region.values) == ["Krakow", "Manila", "Pune"]
    np.testing.assert_allclose(ds.total_staff[0], staff.sum(["Region", "Level"]), rtol=1e-12)
    np.testing.assert_allclose(ds.largest[0], staff.max(["Region", "Level"]), rtol=1e-12)
    np.testing.assert_allclose(ds.growth_factor[0], 1.02 * 1.05 * 1.1, rtol=1e-12)
    assert (ds.regions.values == 3).all()


# --------------------------------------------------------------------------------------------
# Subscripted parameters and results
# --------------------------------------------------------------------------------------------


def test_subscripted_constants_vary_per_element_and_keep_named_dims():
    model = compile_model(MODELS / "subscripts_1d.mdl")
    table = model.parameter_table()
    assert "growth[Krakow]" in table.index
    assert table.loc["growth[Manila]", "default"] == 0.1
    frame = pd.DataFrame({"growth[Krakow]": [0.0, 0.2], "Initial staff[Pune]": [50.0, 400.0]})
    ds = model.run(frame, ["staff", "krakow_share"])
    assert ds.staff.dims == ("sample", "time", "Region")
    np.testing.assert_array_equal(ds["growth[Krakow]"].values, [0.0, 0.2])
    start = ds.staff.isel(time=0)
    np.testing.assert_array_equal(start.sel(Region="Pune").values, [50.0, 400.0])
    np.testing.assert_array_equal(start.sel(Region="Krakow").values, [100.0, 100.0])
    with pytest.raises(ParameterError, match="unknown parameter"):
        model.run({"growth[Lodz]": [0.1]}, ["staff"])


def test_two_dims_in_another_order_are_transposed():
    ds = compile_model(MODELS / "subscripts_2d.mdl").run(None, ["cost", "staff", "pay"])
    assert ds.cost.dims == ("sample", "time", "Level", "Region")
    expected = (ds.staff * ds.pay).transpose("sample", "time", "Level", "Region")
    np.testing.assert_array_equal(ds.cost.values, expected.values)


# --------------------------------------------------------------------------------------------
# What is still refused, at compile time
# --------------------------------------------------------------------------------------------

CONTROLS = """
FINAL TIME = 10 ~ Year ~ |
INITIAL TIME = 0 ~ Year ~ |
SAVEPER = 1 ~ Year ~ |
TIME STEP = 0.25 ~ Year ~ |
"""


def _assert_refused(tmp_path, equations, construct, variable):
    """A model of ``equations`` is refused at compile time naming the construct and variable."""
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\n" + equations + "\n" + CONTROLS, encoding="utf-8")
    with pytest.raises(UnsupportedConstructError) as err:
        compile_model(path)
    assert err.value.construct.startswith(construct)
    assert variable in err.value.variable


@pytest.mark.parametrize(
    "equations, construct, variable",
    [
        (  # the stock's update (_integ_s) runs after the delay's (_delayn_x) in PySD
            "x = DELAY N(1, 1 + Time, 0, 2) ~~|\ns = INTEG(x, 0) ~~|",
            "DELAY N with a delay time that changes during the run, whose output is first read "
            "by the update of _integ_s",
            "x",
        ),
        (  # DELAY FIXED reads its input in the state update, after every derivative
            "x = DELAY N(1, 1 + Time, 0, 2) ~~|\nf = DELAY FIXED(x, 1, 0) ~~|",
            "DELAY N with a delay time that changes during the run, whose output is first read "
            "by the update of _delayfixed_f",
            "x",
        ),
        (  # its own input reads its output: read after its update
            "x = DELAY N(1 + x / 10, 1 + Time, 0, 2) ~~|",
            "DELAY N with a delay time that changes during the run, whose output is first read "
            "by the update of _delayn_x",
            "x",
        ),
        (
            "s = INTEG(1, 0) ~~|\nx = SAMPLE IF TRUE(Time > 2, s, 0) ~~|",
            "SAMPLE IF TRUE whose input reads _integ_s",
            "x",
        ),
        (
            "r: a, b ~~|\nq: c, d -> r ~~|\nx[r] = 1 ~~|\ny[q] = x[r] ~~|",
            "subscript r not on the left-hand side",
            "y",
        ),
        (
            "r: a, b ~~|\nt[r]((0, 0), (1, 1)) ~~|\nx[r] = t(Time) ~~|",
            "subscripted table 't' called without subscripts",
            "x",
        ),
        (
            "r: a, b ~~|\nx[r] = 1, 2 ~~|\ny = VECTOR SELECT(x[r!], x[r!], 0, x[r], 0) ~~|",
            "VECTOR SELECT with a subscripted numerical action",
            "y",
        ),
        ("x = RANDOM POISSON(0, 10, 2, 0, 1, 3) ~~|", "RANDOM POISSON", "x"),
        ("r: a, b ~~|\nx[r] = 1 ~~|\ny = x[r] ~~|", "subscript r not on the left-hand side", "y"),
    ],
)
def test_unsupported_constructs_are_refused_at_compile_time(
    tmp_path, equations, construct, variable
):
    _assert_refused(tmp_path, equations, construct, variable)


def test_vector_functions_by_hand():
    ds = compile_model(MODELS / "vector_functions.mdl").run(None, "all").isel(sample=0, time=0)
    assert float(ds.selected_total) == 100 + 200 + 150  # open: Krakow, Pune, Cebu
    assert float(ds.selected_max) == 200
    assert float(ds.selected_mean) == 150
    assert float(ds.none_selected) == -1  # the missing value
    np.testing.assert_array_equal(ds.cheapest_level.values, [10, 5, 15, 12])
    np.testing.assert_array_equal(ds.order.values, [0, 3, 2, 1])  # 0-based, as PySD
    np.testing.assert_array_equal(ds.descending.values, [1, 2, 3, 0])
    np.testing.assert_array_equal(ds["rank"].values, [1, 4, 3, 2])
    np.testing.assert_array_equal(ds.sorted_staff.values, [100, 150, 200, 300])
    np.testing.assert_array_equal(ds.pay_sorted.values[1], [5, 30])


def test_mappings_copies_and_subscripts_as_values_by_hand():
    ds = compile_model(MODELS / "mappings.mdl").run(None, "all").isel(sample=0)
    np.testing.assert_allclose(ds.received.isel(time=0).values, [8, 16, 24])  # sent * 0.8
    assert list(ds.zoned.dims) == ["time", "Zone"]
    np.testing.assert_array_equal(ds.position.isel(time=0).values, [13, 23, 33])
    np.testing.assert_allclose(ds.asia_position.isel(time=0).values, [2 + 23, 3 + 33])


def test_subscripted_tables_by_hand():
    ds = compile_model(MODELS / "subscripted_tables.mdl").run(None, ["y", "z"]).isel(sample=0)
    # x = Time * pace = 3, 2, 4 at Time 10: Krakow holds 4, Manila holds 0, Pune 3 (end values),
    # plus same(10) = 2
    np.testing.assert_allclose(ds.y.sel(time=10).values, [6, 2, 5])
    np.testing.assert_allclose(ds.z.sel(time=2).values, 0.75)  # Manila: 1 - 0.5 / 2


# --------------------------------------------------------------------------------------------
# RANDOM functions: equal to PySD in distribution, reproducible by seed
# --------------------------------------------------------------------------------------------


def test_random_draws_follow_pysds_distributions(tmp_path):
    stats = pytest.importorskip("scipy.stats")
    mdl = MODELS / "random.mdl"
    model = compile_model(mdl)
    ds = model.run(None, ["uniform_draw", "normal_draw", "exponential_draw", "unit_draw"], n=400)
    outputs = ["uniform_draw", "normal_draw", "exponential_draw", "unit_draw"]
    frames = [pysd_run(mdl, model, {}, outputs, tmp_path) for _ in range(4)]
    theory = {
        "uniform_draw": stats.uniform(2, 3).cdf,
        "unit_draw": stats.uniform(0, 1).cdf,
        "normal_draw": stats.truncnorm(-2, 2, loc=0, scale=0.5).cdf,
        "exponential_draw": stats.truncexpon(4.5, loc=1, scale=2).cdf,
    }
    for o in outputs:
        ours = ds[o].values.ravel()
        column = model.nodes[o].element
        cols = [c for c in frames[0].columns if c.split("[")[0] == column]
        theirs = np.concatenate([f[c].to_numpy() for f in frames for c in cols])
        assert stats.kstest(ours, theory[o]).pvalue > 1e-3, o
        assert stats.kstest(theirs, theory[o]).pvalue > 1e-3, o
        assert stats.ks_2samp(ours, theirs).pvalue > 1e-3, o
    # a new value every step, for every member and element
    assert np.unique(ds.normal_draw.values).size == ds.normal_draw.size


def test_random_streams_are_reproducible_per_member():
    model = compile_model(MODELS / "random.mdl")
    one = model.run({"low": np.full(6, 2.0)}, ["noisy_stock", "normal_draw"], seed=7, workers=1)
    again = model.run(
        {"low": np.full(6, 2.0)}, ["noisy_stock", "normal_draw"], seed=7, chunk_size=2
    )
    xr.testing.assert_identical(one.drop_attrs(), again.drop_attrs())
    part = model.run({"low": np.full(3, 2.0)}, ["noisy_stock"], seed=7)  # first members only
    np.testing.assert_array_equal(part.noisy_stock.values, one.noisy_stock.values[:3])
    other = model.run({"low": np.full(6, 2.0)}, ["noisy_stock"], seed=8)
    assert not np.array_equal(other.noisy_stock.values, one.noisy_stock.values)
    assert len({tuple(m) for m in one.noisy_stock.values}) == 6  # members differ
    assert one.attrs["random_seed"] == 7
    with pytest.raises(ParameterError, match="seed must be"):
        model.run(None, ["noisy_stock"], seed=-1)


def test_get_direct_reads_the_file_with_pysds_reader(tmp_path):
    model = compile_model(MODELS / "get_direct.mdl")
    table = model.parameter_table()
    assert table.loc["share[Manila]", "default"] == 0.35  # cell C2 of get_direct.csv
    assert table.loc["base_share", "default"] == 0.2
    xs, ys, _ = model.tables["demand_index"]
    np.testing.assert_array_equal(xs, [0, 5, 10])
    np.testing.assert_array_equal(ys, [1, 3, 2])
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\nx = GET DIRECT CONSTANTS('none.csv', ',', 'B2') ~~|\n" + CONTROLS)
    with pytest.raises(EnsembleError, match="cannot read the data of 'x'.*none.csv"):
        compile_model(path)


def test_subscripted_parameters_from_a_dataset_with_sample_and_subscript_dims():
    model = compile_model(MODELS / "subscripts_1d.mdl")
    growth = xr.DataArray(
        [[0.05, 0.03, 0.1], [0.2, 0.01, 0.0]],
        coords={"sample": [10, 11], "Region": ["Manila", "Pune", "Krakow"]},
        dims=("sample", "Region"),
    )  # the regions in another order than the model's
    staff = (("Region", "sample"), [[60.0, 90.0], [70.0, 100.0], [50.0, 80.0]])  # growth's order
    ds = model.run(xr.Dataset({"growth": growth, "Initial staff": staff}))
    frame = pd.DataFrame(
        {
            "growth[Krakow]": [0.1, 0.0],
            "growth[Manila]": [0.05, 0.2],
            "growth[Pune]": [0.03, 0.01],
            "initial_staff[Krakow]": [50.0, 80.0],
            "initial_staff[Manila]": [60.0, 90.0],
            "initial_staff[Pune]": [70.0, 100.0],
        },
        index=[10, 11],
    )
    expected = model.run(frame)
    np.testing.assert_array_equal(ds.staff.values, expected.staff.values)
    assert list(ds.sample.values) == [10, 11]
    with pytest.raises(ParameterError, match="needs \\('sample', 'Region',\\)"):
        model.run(xr.Dataset({"growth": growth.rename(Region="Place")}))
    with pytest.raises(ParameterError, match="unknown parameter 'grow'"):
        model.run(xr.Dataset({"grow": growth}))


# --------------------------------------------------------------------------------------------
# Data variables and orders given by variables
# --------------------------------------------------------------------------------------------


def test_data_variables_follow_their_keywords_by_hand():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # :RAW: is NaN between the file's times
        ds = compile_model(MODELS / "get_data.mdl").run(None, "all").isel(sample=0)
    at = lambda v, t: ds[v].sel(time=t).values  # noqa: E731
    # get_data.csv: times 1, 2.5, 4, 6, 9; demand 5, 8, 6, 9, 7
    assert at("demand", 0.0) == 5 and at("demand", 10.0) == 7  # the end values outside
    np.testing.assert_allclose(at("demand", 3.0), 8 + (3 - 2.5) / 1.5 * (6 - 8), rtol=1e-12)
    assert at("price", 3.0) == 2.5 and at("price", 2.0) == 2.0  # HOLD BACKWARD
    np.testing.assert_array_equal(at("wage", 3.0), [31, 12])  # LOOK FORWARD: the values at 4
    assert at("audit", 2.5) == 12 and np.isnan(at("audit", 3.0))  # RAW


def test_data_files_are_needed_for_data_variables_without_equations(tmp_path):
    mdl = MODELS / "data_files.mdl"
    with pytest.raises(EnsembleError, match="'arrivals' has no equation: give the files"):
        compile_model(mdl)
    other = tmp_path / "other.csv"
    other.write_text("Time,departures\n0,1\n5,2\n")
    with pytest.raises(EnsembleError, match="cannot read the data variable 'arrivals'"):
        compile_model(mdl, [other])
    ds = compile_model(mdl, DATA_FILES["data_files"]).run(None, ["arrivals", "quota"])
    assert float(ds.arrivals.sel(time=1.0)[0]) == 24  # 20 + (26 - 20) / 1.5 at Time 1
    np.testing.assert_array_equal(ds.quota.sel(time=4.0).values[0], [7, 7])  # held from 3


def test_an_order_given_by_a_variable_is_its_value_at_initial_time(tmp_path):
    mdl = MODELS / "variable_order.mdl"
    model = compile_model(mdl)
    ds = model.run({"base_order": [2.0, 2.0], "height": [5.0, 12.0]}, ["delayed", "smoothed"])
    assert ds.delayed.dims == ("sample", "time")
    for member, height in enumerate([5.0, 12.0]):  # PySD needs an int order for SMOOTH N
        df = pysd_run(mdl, model, {"base_order": 2, "height": height}, ["delayed"], tmp_path)
        for column, rel in differences(model, ds, df, member, ["delayed"]).items():
            assert rel <= RTOL, column
    with pytest.raises(ParameterError, match="order of DELAY N in 'delayed' differs"):
        model.run({"base_order": [2.0, 3.0]}, ["delayed"])
    with pytest.raises(EnsembleError, match="SMOOTH N in 'smoothed': order 1.5 is not a whole"):
        model.run({"base_order": 2.5}, ["smoothed"])


@pytest.mark.parametrize(
    "equations, construct, variable",
    [
        (
            "s = INTEG(1, 1) ~~|\nx = DELAY N(1, 2, 0, s) ~~|",
            "DELAY N whose order depends on s",
            "x",
        ),
        (
            "r: a, b ~~|\nn[r] = 1, 2 ~~|\nx[r] = SMOOTH N(1, 2, 0, n[r]) ~~|",
            "SMOOTH N with a",
            "x",
        ),
    ],
)
def test_orders_the_engine_cannot_take_are_refused(tmp_path, equations, construct, variable):
    _assert_refused(tmp_path, equations, construct, variable)


# --------------------------------------------------------------------------------------------
# Macros: inlined per call
# --------------------------------------------------------------------------------------------


def test_macros_are_inlined_per_call_by_hand():
    model = compile_model(MODELS / "macros.mdl")
    assert "base" not in model.parameter_table().index  # a constant of the macro, not the model's
    assert "smoothed" in model.outputs_available()
    ds = model.run(None, ["smoothed", "smoothed_again"]).isel(sample=0)
    # EXPSMOOTH from 1 towards an input of 0 until Time 2: Euler, 4 steps of 1/4 a year
    np.testing.assert_allclose(ds.smoothed.sel(time=1.0), (1 - 0.25 / 3) ** 4, rtol=1e-12)
    # the second call starts at 0; SCALED(Time, 2) = 2 Time + 2 / 10 + 0.5
    np.testing.assert_allclose(ds.smoothed_again.sel(time=0.0), 0.7, rtol=1e-12)


@pytest.mark.parametrize(
    "equations, construct, variable",
    [
        (
            ":MACRO: M(a)\nM = a * 2 ~~|\n:END OF MACRO:\nr: x, y ~~|\nv[r] = 1, 2 ~~|\n"
            "w[r] = M(v[r]) ~~|",
            "macro m called with subscripted arguments",
            "w",
        ),
        (
            ":MACRO: M(a)\nM = DELAY FIXED(a, 1, 0) ~~|\n:END OF MACRO:\nw = M(Time) ~~|",
            "DELAY FIXED inside macro m",
            "w",
        ),
    ],
)
def test_macros_the_engine_cannot_inline_are_refused(tmp_path, equations, construct, variable):
    _assert_refused(tmp_path, equations, construct, variable)


# --------------------------------------------------------------------------------------------
# ALLOCATE BY PRIORITY and ALLOCATE AVAILABLE: PySD's algorithms per member
# --------------------------------------------------------------------------------------------


def test_allocations_by_hand():
    model = compile_model(MODELS / "allocate.mdl")
    ds = model.run({"width": [1.0, 3.0]}, ["shipped", "served", "capacity"])
    start = ds.isel(time=0)
    # supply 40: Krakow (priority 3) is served in full; with a width of 1, Pune (2) gets the
    # rest and Manila (1) nothing; with a width of 3 the rest is shared by request.
    np.testing.assert_allclose(start.shipped.values[0], [30, 0, 10], rtol=0, atol=1e-12)
    assert start.shipped.values[1].sum() == pytest.approx(40) and start.shipped.values[1, 1] > 0
    # ALLOCATE AVAILABLE hands out the whole capacity when it is short of the requests
    np.testing.assert_allclose(ds.served.sum("Region"), ds.capacity, rtol=1e-6)


def test_allocation_inputs_pysd_refuses_give_nan_for_that_member(tmp_path):
    path = tmp_path / "m.mdl"
    equations = (
        "r: a, b ~~|\nd[r] = 1, 2 ~~|\np[r] = 2, 1 ~~|\n"
        "x[r] = ALLOCATE BY PRIORITY(d[r], p[r], ELMCOUNT(r), 1, 2.5) ~~|\n"
    )
    path.write_text("{UTF-8}\n" + equations + CONTROLS, encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="x \\(1 members\\)"):  # PySD: ValueError
        ds = compile_model(path).run({"d[b]": [2.0, -1.0]}, ["x"])
    assert np.isnan(ds.x.values[1]).all()
    np.testing.assert_array_equal(ds.x.values[0, 0], [1, 1.5])


def test_a_macro_call_before_a_data_variable_leaves_the_model_as_it_was(tmp_path):
    (tmp_path / "s.csv").write_text("time,v\n0,1\n10,3\n")
    path = tmp_path / "m.mdl"
    equations = (
        ":MACRO: HALF(a)\nHALF = a / 2 ~~|\n:END OF MACRO:\n"
        "y = HALF(Time) ~~|\nx := GET DIRECT DATA('s.csv', ',', 'A', 'B2') ~~|\n"
    )
    path.write_text("{UTF-8}\n" + equations + CONTROLS, encoding="utf-8")
    ds = compile_model(path).run(None, ["x", "y"]).isel(sample=0)
    np.testing.assert_allclose(ds.x.values, 1 + 0.2 * ds.time.values, rtol=1e-12)
    np.testing.assert_allclose(ds.y.values, ds.time.values / 2, rtol=1e-12)


def test_delay_n_with_a_changing_delay_time_keeps_each_stage_s_delay_time(tmp_path):
    """PySD's DelayN by hand: a first-order DELAY N whose delay time doubles at time 2.

    One stage: d(state)/dt = input - state / times[0], with times[0] the delay time set at the
    last update, and the output state / times[0] read before the update (the previous step's
    delay time). Input 1 from INITIAL TIME, state 0; delay time 1 before t = 2, then 2.
    """
    src = (
        "{UTF-8}\nx = DELAY N(1, tau, 0, 1) ~~|\ntau = 1 + STEP(1, 2) ~ Year ~|\n"
        "FINAL TIME = 4 ~~|\nINITIAL TIME = 0 ~~|\nSAVEPER = 0.5 ~~|\nTIME STEP = 0.5 ~~|\n"
    )
    path = tmp_path / "by_hand.mdl"
    path.write_text(src, encoding="utf-8")
    ds = compile_model(path).run(None, ["x"])
    dt, state, times0, expected = 0.5, 0.0, 1.0, []
    for k in range(9):
        t = k * dt
        expected.append(state / times0)  # the output: times[0] of the previous update
        times0 = 1.0 + (t >= 2)  # the update sets times[0] to the current delay time
        state += dt * (1.0 - state / times0)
    np.testing.assert_allclose(ds.x.values[0], expected, rtol=0, atol=1e-15)
