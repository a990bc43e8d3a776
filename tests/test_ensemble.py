"""The vectorised ensemble engine (issue 5): equivalence with PySD runs, refusals, API.

Every member of an ensemble must equal a PySD single run (``hubsd.run``) with the same
parameters to within 1e-9 relative. "Relative" is taken against the scale of each series (its
largest absolute value), so a variable crossing zero is not judged by its round-off near zero.
``people_accounting_error`` is itself a round-off residual (people minus people), so its scale
is the people it accounts for.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import hubsd
import hubsd.engine.ensemble as _engine_ensemble
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.engine.ensemble import compile_model
from hubsd.engine.ir import EnsembleError, UnsupportedConstructError
from hubsd.engine.pysd_runner import available_outputs
from hubsd.engine.runtime import FixedDelay
from hubsd.model.parameters import ParameterError

MODELS = Path(__file__).parent / "models"
CONSTRUCT_MODELS = sorted(MODELS.glob("*.mdl"))
RTOL = 1e-9
SCALE_OF = {"people_accounting_error": "people_in_tracked_stocks"}


def random_params(mdl, n, seed):
    """``n`` parameter sets drawn uniformly inside every constant's range."""
    tab = compile_model(mdl).parameter_table()
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(row.low, row.high, n) for name, row in tab.iterrows()}


def max_rel_diff(ens, ref, outputs, member):
    """Largest |ensemble - PySD| over the series' scale, and where."""
    worst = (0.0, None)
    for o in outputs:
        a = ens[o].values[member]
        b = ref[o].values
        scale_var = SCALE_OF.get(o, o)
        scale = np.max(np.abs(ref[scale_var].values)) if scale_var in ref else 0.0
        diff = np.max(np.abs(a - b))
        rel = diff / scale if scale > 0 else diff
        if rel > worst[0] or worst[1] is None:
            worst = (rel, o)
    return worst


def pysd_member(mdl, params, member, outputs, **controls):
    values = {k: float(v[member]) for k, v in params.items()}
    return hubsd.run(None, values, outputs, mdl=mdl, **controls)


# --------------------------------------------------------------------------------------------
# Equivalence
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mdl", CONSTRUCT_MODELS, ids=[m.stem for m in CONSTRUCT_MODELS])
def test_construct_models_equal_pysd(mdl):
    params = random_params(mdl, 6, seed=len(mdl.stem))
    outputs = available_outputs(mdl)
    ens = compile_model(mdl).run(params, outputs)
    assert ens.sizes == {"sample": 6, "time": len(ens.time)}
    for i in range(6):
        ref = pysd_member(mdl, params, i, outputs)
        np.testing.assert_array_equal(ens.time.values, ref.time.values)
        rel, where = max_rel_diff(ens, ref, outputs, i)
        assert rel <= RTOL, f"{mdl.stem}, member {i}: {where} differs by {rel:.3g} relative"


def test_construct_models_at_defaults_equal_pysd():
    for mdl in CONSTRUCT_MODELS:
        outputs = available_outputs(mdl)
        ens = compile_model(mdl).run(None, outputs)
        ref = hubsd.run(None, None, outputs, mdl=mdl)
        rel, where = max_rel_diff(ens, ref, outputs, 0)
        assert rel <= RTOL, f"{mdl.stem} at defaults: {where} differs by {rel:.3g}"


def test_hub_model_equals_pysd_for_random_members():
    """Every variable of the committed hub model, 4 members across all parameter ranges."""
    params = random_params(DEFAULT_MODEL, 4, seed=5)
    outputs = available_outputs()
    ens = compile_model().run(params, outputs, workers=1)
    for i in range(4):
        ref = pysd_member(DEFAULT_MODEL, params, i, outputs)
        rel, where = max_rel_diff(ens, ref, outputs, i)
        assert rel <= RTOL, f"hub member {i}: {where} differs by {rel:.3g} relative"


def test_hub_model_with_hub_file_and_time_step_equals_pysd():
    """Kraków's values under the varied parameters, with a coarser time step."""
    params = {
        "bass_imitation_coefficient": np.array([0.25, 0.55]),
        "reinstatement_ratio": np.array([0.35, 0.9]),
    }
    outputs = hubsd.KEY_OUTPUTS
    ens = compile_model().run(params, outputs, hub="krakow", time_step=0.0625)
    for i in range(2):
        values = {k: float(v[i]) for k, v in params.items()}
        ref = hubsd.run("krakow", values, outputs, time_step=0.0625)
        rel, where = max_rel_diff(ens, ref, outputs, i)
        assert rel <= RTOL, f"krakow member {i}: {where} differs by {rel:.3g}"


def test_smoothi_integer_initial_value_follows_pysd():
    """PySD keeps SMOOTHI(x, T, 1) in an int array: the first step's input is truncated.

    The engine reproduces it (so ensembles equal hubsd.run); SMOOTHI(x, T, 1.0) is unaffected.
    """
    mdl = MODELS / "smooth.mdl"
    ds = compile_model(mdl).run(
        {"base": np.array([0.7])}, ["s1i", "s1f", "input"], time_step=0.125, saveper=0.125
    )
    dt, tau = 0.125, 2.0
    first = ds.s1i.values[0, 1]
    assert first == pytest.approx(1 + (0 - 1) * dt / tau)  # trunc(0.7) = 0, not 0.7


# --------------------------------------------------------------------------------------------
# Chunks, workers and memory
# --------------------------------------------------------------------------------------------


def test_chunks_and_workers_give_identical_results():
    params = random_params(DEFAULT_MODEL, 40, seed=9)
    model = compile_model()
    one = model.run(params, ["junior_staff", "rent_index"], workers=1, chunk_size=40)
    chunked = model.run(params, ["junior_staff", "rent_index"], workers=1, chunk_size=7)
    forked = model.run(params, ["junior_staff", "rent_index"], workers=2, chunk_size=9)
    for ds in (chunked, forked):
        xr.testing.assert_identical(ds.drop_attrs(), one.drop_attrs())


def test_only_requested_outputs_at_save_times():
    ds = compile_model().run({"layoff_time": np.linspace(0.3, 0.9, 3)}, ["mid_staff"], saveper=1.0)
    assert list(ds.data_vars) == ["mid_staff"]
    assert ds.mid_staff.dims == ("sample", "time")
    np.testing.assert_array_equal(ds.time.values, np.arange(2005.0, 2046.0))
    assert ds.mid_staff.attrs["units"] == "Person"
    assert ds.mid_staff.attrs["long_name"] == "Mid staff"
    np.testing.assert_array_equal(ds.layoff_time.values, np.linspace(0.3, 0.9, 3))


def test_dataframe_params_keep_their_index_and_scalars_apply_to_all():
    frame = pd.DataFrame(
        {"AI start year": [2012.0, 2020.0]}, index=pd.Index(["early", "late"], name="case")
    )
    model = compile_model()
    ds = model.run(frame, ["adopting_share"])
    assert list(ds.sample.values) == ["early", "late"]
    a = ds.adopting_share.sel(time=2016.0).values
    assert a[0] > 0.05 and a[1] == 0.0
    same = model.run({"ai_start_year": 2012.0}, ["adopting_share"], n=3)
    assert same.sizes["sample"] == 3
    np.testing.assert_array_equal(same.adopting_share.values[2], ds.adopting_share.values[0])


# --------------------------------------------------------------------------------------------
# Bad input and unsupported constructs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"no_such_parameter": [1.0]}, "unknown parameter"),
        ({"layof_time": [0.5]}, "did you mean 'layoff_time'"),
        ({"layoff_time": [0.5, np.nan]}, "must be finite"),
        ({"layoff_time": [0.5, 7.0]}, r"outside its range \[0.25, 1\]"),
        ({"layoff_time": ["a"]}, "must be numbers"),
        ({"layoff_time": [0.5, 0.6], "layoff time": [0.5, 0.6]}, "given twice"),
        ({"layoff_time": [0.5, 0.6], "time_to_fill_vacancies": [0.2]}, "has 1 values"),
        ({"desired_mid_staff": [1.0]}, "unknown parameter"),
    ],
)
def test_bad_parameters_are_refused_before_running(params, message):
    with pytest.raises(ParameterError, match=message):
        compile_model().run(params, ["mid_staff"])


def test_bad_outputs_and_controls_are_refused():
    model = compile_model()
    with pytest.raises(ParameterError, match="unknown output 'mid_stuff'"):
        model.run(None, ["mid_stuff"])
    with pytest.raises(ParameterError, match="time_step and saveper must be positive"):
        model.run(None, ["mid_staff"], saveper=-0.5)
    with pytest.raises(ParameterError, match="chunk_size"):
        model.run({"layoff_time": [0.5, 0.6]}, ["mid_staff"], chunk_size=0)
    for workers in (0, -1, 1.5, "2", True):
        with pytest.raises(ParameterError, match="workers must be a whole number >= 1"):
            model.run({"layoff_time": [0.5, 0.6]}, ["mid_staff"], workers=workers)


def write_model(tmp_path, equations: str) -> Path:
    control = """
FINAL TIME = 10
	~	Year
	~	|
INITIAL TIME = 0
	~	Year
	~	|
SAVEPER = 1
	~	Year
	~	|
TIME STEP = 0.25
	~	Year
	~	|
"""
    path = tmp_path / "m.mdl"
    path.write_text("{UTF-8}\n" + equations + control, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "equations, construct, variable",
    [
        ("x = RANDOM POISSON(0, 10, 2, 0, 1, 3)\n\t~\tDmnl\n\t~\t|\n", "RANDOM POISSON", "x"),
        (
            "x = 1\n\t~\tDmnl\n\t~\t|\ny = VECTOR SORT ORDER(x, 1)\n\t~\tDmnl\n\t~\t|\n",
            "VECTOR SORT ORDER of a value without subscripts (or with !)",
            "y",
        ),
        (
            "x = DELAY N(y, 2 + Time, 0, 4)\n\t~\tDmnl\n\t~\t|\ny = 1\n\t~\tDmnl\n\t~\t|\n"
            "s = INTEG(x, 0)\n\t~\tDmnl\n\t~\t|\n",  # read by a stock, updated after it
            "DELAY N with a delay time that changes during the run, whose output is first read "
            "by the update of _integ_s (not before _delayn_x's own: PySD's value then depends on "
            "its cache)",
            "x",
        ),
        (
            "x = SAMPLE IF TRUE(Time > 2, y, 0)\n\t~\tDmnl\n\t~\t|\n"
            "y = INTEG(1, 0)\n\t~\tDmnl\n\t~\t|\n",
            "SAMPLE IF TRUE whose input reads _integ_y, updated before it by PySD",
            "x",
        ),
    ],
)
def test_unsupported_constructs_are_refused_by_name(tmp_path, equations, construct, variable):
    path = write_model(tmp_path, equations)
    with pytest.raises(UnsupportedConstructError) as err:
        compile_model(path)
    assert err.value.construct == construct
    assert variable in err.value.variable
    assert f"{construct} is not supported" in str(err.value)
    assert repr(variable) in str(err.value)


def test_algebraic_loop_is_refused(tmp_path):
    path = write_model(tmp_path, "x = y + 1\n\t~\tDmnl\n\t~\t|\ny = x * 2\n\t~\tDmnl\n\t~\t|\n")
    with pytest.raises(EnsembleError, match="simultaneous equations"):
        compile_model(path)


def test_delay_order_larger_than_delay_time_is_refused():
    with pytest.raises(EnsembleError, match="order 3 x time step"):
        compile_model(MODELS / "delay.mdl").run(
            {"delay_time": [1.0, 2.0]}, ["d3"], time_step=0.5, saveper=0.5
        )


def test_generated_source_is_readable_python():
    src = compile_model().source(["adopting_share"])
    assert src.startswith("def simulate(")
    compile(src, "<test>", "exec")
    assert "junior_staff" not in src  # outputs that do not need it leave it out


def test_non_finite_outputs_warn(tmp_path):
    path = write_model(tmp_path, "x = 1 / (Time - 5)\n\t~\tDmnl\n\t~\t|\n")
    with pytest.warns(RuntimeWarning, match="non-finite values in outputs: x"):
        compile_model(path).run(None, ["x"])


def test_compiling_the_hub_model_warns_nothing_and_is_cached():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = compile_model()
    assert compile_model(DEFAULT_MODEL) is model
    assert _engine_ensemble.compile_model is compile_model


def test_dask_local_cluster_gives_identical_results():
    pytest.importorskip("dask.distributed")
    params = random_params(DEFAULT_MODEL, 12, seed=3)
    model = compile_model()
    local = model.run(params, ["junior_staff", "youth_unemployment_rate"], chunk_size=5, workers=1)
    on_dask = model.run(
        params, ["junior_staff", "youth_unemployment_rate"], chunk_size=5, scheduler="dask"
    )
    xr.testing.assert_identical(on_dask.drop_attrs(), local.drop_attrs())


def test_dask_client_is_used_as_given():
    distributed = pytest.importorskip("dask.distributed")
    params = {"layoff_time": np.linspace(0.3, 0.9, 6)}
    model = compile_model()
    local = model.run(params, ["mid_staff"], chunk_size=2, workers=1)
    with distributed.Client(processes=False, dashboard_address=None) as client:
        on_dask = model.run(params, ["mid_staff"], chunk_size=2, scheduler=client)
        assert client.status == "running"  # not closed by the run
    xr.testing.assert_identical(on_dask.drop_attrs(), local.drop_attrs())


#: A stock that decays over a time of its own: Euler with a step above twice that time swings
#: ever wider, and its exponential overflows to infinity.
STIFF = (
    "level = INTEG(-level / decay time, 1)\n\t~\tWidget\n\t~\t|\n"
    "decay time = 1\n\t~\tYear [0.01,10]\n\t~\t|\n"
    "blowup = EXP(level)\n\t~\tDmnl\n\t~\t|\n"
)


def test_finer_steps_rerun_only_the_members_a_step_cannot_integrate(tmp_path):
    model = compile_model(write_model(tmp_path, STIFF))
    taus = np.array([1.0, 0.1, 0.2, 0.02])  # stable at 0.25, 1/8, 0.25 and 1/32 only
    outs = ["level", "blowup"]
    with pytest.warns(RuntimeWarning, match=r"blowup \(2 members\)"):
        coarse = model.run({"decay_time": taus}, outs, time_step=0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every member mended: no warning
        fine = model.run({"decay_time": taus}, outs, time_step=0.25, finer_steps=(1 / 8, 1 / 32))
    steps = fine["member_time_step"].to_numpy()
    assert steps.tolist() == [0.25, 1 / 8, 0.25, 1 / 32]
    assert fine["member_time_step"].attrs["units"] == "Year"
    assert np.isfinite(fine["blowup"]).all()
    for i, step in enumerate(steps):  # each member equals a run of its own at its step
        alone = model.run({"decay_time": taus[i : i + 1]}, outs, time_step=step)
        for out in outs:
            np.testing.assert_array_equal(fine[out][i], alone[out][0])
    np.testing.assert_array_equal(fine["level"][[0, 2]], coarse["level"][[0, 2]])
    # a member even the finest step cannot integrate is kept, and warned about
    with pytest.warns(RuntimeWarning, match=r"blowup \(1 members\)"):
        some = model.run({"decay_time": taus}, outs, time_step=0.25, finer_steps=(1 / 8,))
    assert some["member_time_step"].to_numpy().tolist() == [0.25, 1 / 8, 0.25, 1 / 8]


def test_finer_steps_take_the_members_whose_delay_is_too_short():
    model = compile_model(MODELS / "delay.mdl")
    params = {"delay_time": [1.0, 2.0, 1.2]}  # order 3 x 0.5 exceeds 1 and 1.2
    ds = model.run(params, ["d3"], time_step=0.5, saveper=0.5, finer_steps=(0.25,))
    assert ds["member_time_step"].to_numpy().tolist() == [0.25, 0.5, 0.25]
    short = model.run({"delay_time": [1.0, 1.2]}, ["d3"], time_step=0.25, saveper=0.5)
    np.testing.assert_array_equal(ds["d3"][[0, 2]], short["d3"])
    with pytest.raises(EnsembleError, match="order 3 x time step 0.4"):  # still too short
        model.run(params, ["d3"], time_step=0.5, saveper=2.0, finer_steps=(0.4,))


@pytest.mark.parametrize(
    "finer, message",
    [
        ((0.5,), "smaller than the step before"),
        ((0.1, 0.2), "smaller than the step before"),
        ((0.0,), "positive finite"),
        ("0.1", "sequence of steps"),
        ((True,), "positive finite"),
    ],
)
def test_bad_finer_steps_are_refused(tmp_path, finer, message):
    model = compile_model(write_model(tmp_path, STIFF))
    with pytest.raises(ParameterError, match=message):
        model.run({"decay_time": [1.0, 2.0]}, ["level"], time_step=0.25, finer_steps=finer)


def test_finer_steps_must_save_at_the_same_times(tmp_path):
    model = compile_model(write_model(tmp_path, STIFF))
    with pytest.raises(EnsembleError, match="saves at other times"):
        model.run({"decay_time": [1.0, 0.1]}, ["blowup"], time_step=0.25, finer_steps=(0.075,))


def test_fixed_delay_with_orders_per_member_returns_each_member_s_past_input():
    dt = 0.5
    fd = FixedDelay(np.array([-1.0, -2.0, -3.0]), np.array([1.0, 1.5, 2.0]), dt)  # orders 2, 3, 4
    inputs = [np.array([10.0, 20.0, 30.0]) * (k + 1) for k in range(9)]
    for step, value in enumerate(inputs):
        out = fd.value(step)
        for i, order in enumerate((2, 3, 4)):
            expected = inputs[step - order][i] if step >= order else -1.0 - i
            assert out[i] == expected, (step, i)
        fd.push(step, value)
    moved = fd.take(np.array([2, 0]), 3)  # a warm start keeps members 2 and 0
    assert moved.value(9).tolist() == [inputs[5][2], inputs[7][0]]
