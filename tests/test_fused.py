"""The fused backend of the ensemble engine (numba, ``hubsd.engine.fused``) equals the numpy one.

Bit for bit, on the hub model with every parameter drawn in its range and on the conformance
models of the constructs it runs (at defaults and for perturbed members); the ones it does not
run are refused by ``backend="fused"`` with the construct named, and ``"auto"`` falls back to
numpy for them, for small ensembles and without numba.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from engine_models import FUSED_RUNS

import hubsd
from hubsd.engine import fused
from hubsd.engine.ensemble import compile_model
from hubsd.model.parameters import ParameterError

pytest.importorskip("numba")

MODELS = Path(__file__).parent / "models"
ENGINE = MODELS / "engine"
RUNS = FUSED_RUNS  # tests/engine_models.py
#: Models it does not run, and the construct named in the refusal.
REFUSED = {
    "engine/subscripts_1d": "subscripts",
    "engine/get_xls_data": "data variables",
    "math": "a power with a number as base or exponent",
}


def outputs_of(model) -> list[str]:
    control = ("initial_time", "final_time", "time_step", "saveper")
    return [o for o in model.outputs_available() if o not in control]


def assert_identical(a, b, outputs):
    for o in outputs:
        assert np.array_equal(a[o].values, b[o].values, equal_nan=True), o
    np.testing.assert_array_equal(a.time.values, b.time.values)


def test_hub_model_fused_equals_numpy_bit_for_bit():
    model = compile_model()
    table = model.parameter_table()
    rng = np.random.default_rng(14)
    params = {k: rng.uniform(r.low, r.high, 64) for k, r in table.iterrows()}
    outputs = list(hubsd.KEY_OUTPUTS)
    a = model.run(params, outputs, backend="numpy", workers=1)
    b = model.run(params, outputs, backend="fused", workers=2, chunk_size=20)  # 4 chunks
    assert_identical(a, b, outputs)
    assert ("fused", ()) in model._programs
    c = model.run(params, outputs[::-1][:3], backend="fused")  # the same kernel, other outputs
    assert_identical(a, c, outputs[::-1][:3])


@pytest.mark.parametrize("mdl", RUNS, ids=[m.stem for m in RUNS])
def test_construct_fused_equals_numpy(mdl):
    model = compile_model(mdl)
    outputs = outputs_of(model)
    assert fused.unsupported(model) is None
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    table = table.drop(index=["start_year", "horizon"], errors="ignore")  # set FINAL TIME
    rng = np.random.default_rng(len(mdl.stem))
    params = {k: rng.uniform(r.low, r.high, 5) for k, r in table.iterrows()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # :NA: is non-finite on purpose
        for p in ({}, params) if params else ({},):
            a = model.run(p, outputs, n=None if p else 3, backend="numpy")
            b = model.run(p, outputs, n=None if p else 3, backend="fused")
            assert_identical(a, b, outputs)


@pytest.mark.parametrize("stem", sorted(REFUSED))
def test_fused_refuses_what_it_does_not_run_and_auto_falls_back(stem):
    model = compile_model(MODELS / f"{stem}.mdl")
    outputs = outputs_of(model)
    with pytest.raises(ParameterError, match=rf"needs {REFUSED[stem]}\b.*which only the numpy"):
        model.run(None, outputs, n=2, backend="fused")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        a = model.run(None, outputs, n=fused.FUSED_MIN_MEMBERS, backend="auto", seed=1)
        b = model.run(None, outputs, n=fused.FUSED_MIN_MEMBERS, backend="numpy", seed=1)
    assert_identical(a, b, outputs)


def test_backend_choice_and_errors(monkeypatch):
    model = compile_model(MODELS / "smooth.mdl")
    outputs = tuple(outputs_of(model))
    with pytest.raises(ParameterError, match="backend must be one of auto, numpy, fused"):
        model.run(None, list(outputs), backend="numba")
    with pytest.raises(ParameterError, match="drop scheduler="):
        model.run(None, list(outputs), backend="fused", scheduler="dask")
    key = ("fused", ())
    model._programs.pop(key, None)
    model.run(None, list(outputs), n=fused.FUSED_MIN_MEMBERS - 1)  # auto: small, numpy
    assert key not in model._programs
    model.run(None, list(outputs), n=fused.FUSED_MIN_MEMBERS)  # auto: large enough, fused
    assert key in model._programs
    monkeypatch.setattr(fused, "available", lambda: False)  # numba not installed
    with pytest.raises(ParameterError, match=r"needs numba: pip install 'hubsd\[fast\]'"):
        model.run(None, list(outputs), backend="fused")
    model._programs.pop(key)
    model.run(None, list(outputs), n=fused.FUSED_MIN_MEMBERS)  # auto without numba: numpy
    assert key not in model._programs


def test_scalar_lookup_is_numpys_interp():
    helpers = fused.helpers()
    xs = np.array([0.0, 0.5, 1.0, 1.0, 2.0, 4.0])
    ys = np.array([1.0, 3.0, -1.0, 2.0, 2.0, np.inf])
    with np.errstate(all="ignore"):
        slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    x = np.concatenate([np.linspace(-1, 5, 601), [np.nan, np.inf, -np.inf], xs])
    got = np.array([helpers["_interp"](v, xs, ys, slopes) for v in x])
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(got, np.interp(x, xs, ys))
    hold = np.array([helpers["_interp_hold"](v, xs, ys, slopes) for v in x])
    idx = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 1)
    np.testing.assert_array_equal(hold, ys[idx])


def test_a_kernel_that_fails_to_compile_falls_back_to_numpy(monkeypatch):
    model = compile_model(MODELS / "delay.mdl")
    outputs = outputs_of(model)
    model._programs.pop(("fused", ()), None)

    def broken(model, pl=None):
        raise OSError("read-only cache folder")

    monkeypatch.setattr(fused, "compile_fused", broken)
    with pytest.warns(UserWarning, match="running on numpy.*read-only cache folder"):
        a = model.run(None, outputs, n=fused.FUSED_MIN_MEMBERS)
    with pytest.raises(ParameterError, match="a fused kernel that compiles"):
        model.run(None, outputs, backend="fused")
    model._programs.pop(("fused", ()))
    assert_identical(
        a, model.run(None, outputs, n=fused.FUSED_MIN_MEMBERS, backend="numpy"), outputs
    )


def test_hub_fused_equals_numpy_with_exponents_equal_for_every_member():
    """A calibrated hub, few parameters varied: the elasticities (exponents) are one value.

    numpy's power of an array by one exponent takes shortcuts (``x * x`` for 2) that differ
    from the C library's pow in the last bit at times; both backends use pow (``_pow``).
    """
    from hubsd.engine.pysd_runner import resolve_parameters
    from hubsd.studies.policy_design import policy_ensemble

    hub = "krakow@calibrated"
    model = compile_model()
    assert resolve_parameters(hub, None, model.mdl)["rent_elasticity"] == 2.0  # a shortcut value
    members = policy_ensemble(hub, 24, seed=3)
    assert "rent_elasticity" not in members
    outputs = list(hubsd.KEY_OUTPUTS)
    a = model.run(members, outputs, hub, backend="numpy", saveper=1 / 32)
    b = model.run(members, outputs, hub, backend="fused", saveper=1 / 32)
    assert_identical(a, b, outputs)


def test_power_is_the_c_librarys_pow_whatever_is_varied():
    import math

    from hubsd.engine.runtime import RUNTIME

    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 2.0, 20_000)
    for e in (2.0, 0.5, -1.0, 1.7):
        want = np.array([math.pow(v, e) for v in x])
        np.testing.assert_array_equal(RUNTIME["_pow"](x, np.float64(e)), want)
        np.testing.assert_array_equal(RUNTIME["_pow"](x, np.full_like(x, e)), want)
        assert RUNTIME["_pow"](np.float64(x[0]), e) == want[0]
        np.testing.assert_array_equal([fused.helpers()["_pow"](v, e) for v in x[:500]], want[:500])
    assert (x**2.0 != np.array([math.pow(v, 2.0) for v in x])).any()  # numpy's shortcut differs


def test_a_kernel_compiled_after_a_cached_program_uses_the_runs_orders():
    """The fused kernel reads the orders of DELAY N / SMOOTH N from the model's nodes. A run at
    order 2, then a run at the default order whose numpy program was already cached, must not
    compile the default order's kernel with order 2 (it did until the nodes were set on every
    run, not only when a program was first generated: found by the test order of xdist)."""
    model = compile_model(ENGINE / "variable_order.mdl")
    outs = ["delayed", "smoothed", "shipped"]
    first = model.run({}, outs, n=3, backend="numpy")
    model.run({"base_order": [2.0, 2.0], "height": [5.0, 12.0]}, ["delayed", "smoothed"])
    again = model.run({}, outs, n=3, backend="numpy")
    fast = model.run({}, outs, n=3, backend="fused")
    for o in outs:
        np.testing.assert_array_equal(again[o].values, first[o].values)
        np.testing.assert_array_equal(fast[o].values, first[o].values)
