"""The vector backend of the ensemble engine (numba, ``hubsd.engine.vector``, issue 14).

``backend="vector"`` equals PySD to 1e-9 relative (the issue's standard; relative to the scale
of each series, as ``tests/test_ensemble.py`` judges the numpy backend) on the hub model at
defaults and with every parameter drawn, and the numpy backend to the same tolerance on the
conformance models of the constructs the fused kernel runs. Its own ``exp``/``log``/``**``
are checked against the C library's, its tables against ``numpy.interp``; with the C library's
functions (``exact=True``) it equals the fused kernel bit for bit (same statements, same
order). What it cannot run is refused with the construct named; warm starts are refused.
"""

from __future__ import annotations

import functools
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from engine_models import FUSED_RUNS

import hubsd
from hubsd.engine import fused, vector
from hubsd.engine.ensemble import compile_model
from hubsd.engine.pysd_runner import available_outputs
from hubsd.engine.warmstart import WarmStartError, warm_start
from hubsd.model.parameters import ParameterError

pytest.importorskip("numba")

MODELS = Path(__file__).parent / "models"
ENGINE = MODELS / "engine"
RTOL = 1e-9
SCALE_OF = {"people_accounting_error": "people_in_tracked_stocks"}
RUNS = FUSED_RUNS  # tests/engine_models.py
#: A few of them, with their tables, pipes and ``if`` statements, for the exact mode.
EXACT = [MODELS / "table.mdl", MODELS / "smooth.mdl", ENGINE / "delay_fixed.mdl"]
EXACT += [ENGINE / "delay_n_varying.mdl", ENGINE / "macros.mdl"]


def max_rel_diff(ens, ref, outputs, member):
    """Largest |ensemble - reference| over the reference series' scale, and where."""
    worst = (0.0, None)
    for o in outputs:
        a = ens[o].values[member]
        b = ref[o].values if ref[o].ndim == 1 else ref[o].values[member]
        scale_var = SCALE_OF.get(o, o)
        series = ref[scale_var].values if scale_var in ref else b
        scale = np.max(np.abs(series if series.ndim == 1 else series[member]))
        diff = np.max(np.abs(a - b))
        rel = diff / scale if scale > 0 else diff
        if rel > worst[0] or worst[1] is None:
            worst = (rel, o)
    return worst


def drawn(model, n, seed):
    table = model.parameter_table()
    rng = np.random.default_rng(seed)
    return {k: rng.uniform(r.low, r.high, n) for k, r in table.iterrows()}


def outputs_of(model) -> list[str]:
    control = ("initial_time", "final_time", "time_step", "saveper")
    return [o for o in model.outputs_available() if o not in control]


# --------------------------------------------------------------------------------------------
# The hub model against PySD
# --------------------------------------------------------------------------------------------


def test_hub_model_vector_equals_pysd_at_defaults_and_for_drawn_members():
    model = compile_model()
    outputs = available_outputs()  # every variable of the model
    ens = model.run(None, outputs, n=3, backend="vector")
    ref = hubsd.run(None, None, outputs)
    rel, where = max_rel_diff(ens, ref, outputs, 0)
    assert rel <= RTOL, f"defaults: {where} differs by {rel:.3g} relative"
    params = drawn(model, 11, seed=5)  # 11: a whole block of 8 and a padded one
    ens = model.run(params, outputs, backend="vector", workers=2, chunk_size=5)
    for i in (0, 7, 8, 10):
        values = {k: float(v[i]) for k, v in params.items()}
        ref = hubsd.run(None, values, outputs)
        rel, where = max_rel_diff(ens, ref, outputs, i)
        assert rel <= RTOL, f"member {i}: {where} differs by {rel:.3g} relative"


def test_hub_model_vector_equals_fused_for_many_members():
    """1,000 members across every parameter's range, every key output, to 1e-9 relative."""
    model = compile_model()
    params = drawn(model, 1000, seed=14)
    outputs = list(dict.fromkeys(list(hubsd.KEY_OUTPUTS) + ["people_in_tracked_stocks"]))
    a = model.run(params, outputs, backend="fused")
    b = model.run(params, outputs, backend="vector")
    np.testing.assert_array_equal(a.time.values, b.time.values)
    worst = max(max_rel_diff(b, a, outputs, i)[0] for i in range(0, 1000, 37))
    assert worst <= RTOL
    for o in outputs:  # every member: within 1e-9 of its series' scale
        x, y = a[o].values, b[o].values
        scale = np.max(np.abs(a[SCALE_OF.get(o, o)].values), axis=1, keepdims=True)
        assert (np.abs(x - y) <= RTOL * np.maximum(scale, 1e-300)).all(), o
    assert not np.array_equal(a["junior_staff"].values, b["junior_staff"].values)  # not fused's


# --------------------------------------------------------------------------------------------
# Conformance models; the exact mode
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mdl", RUNS, ids=[m.stem for m in RUNS])
def test_construct_vector_equals_numpy(mdl):
    model = compile_model(mdl)
    outputs = outputs_of(model)
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    table = table.drop(index=["start_year", "horizon"], errors="ignore")  # set FINAL TIME
    rng = np.random.default_rng(len(mdl.stem))
    params = {k: rng.uniform(r.low, r.high, 13) for k, r in table.iterrows()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # :NA: is non-finite on purpose
        for p in ({}, params) if params else ({},):
            a = model.run(p, outputs, n=None if p else 3, backend="numpy")
            b = model.run(p, outputs, n=None if p else 3, backend="vector")
            np.testing.assert_array_equal(a.time.values, b.time.values)
            for i in range(a.sizes["sample"]):
                for o in outputs:
                    x, y = a[o].values[i], b[o].values[i]
                    np.testing.assert_array_equal(np.isfinite(x), np.isfinite(y), err_msg=o)
                    ok = np.isfinite(x)
                    scale = np.max(np.abs(x[ok]), initial=0.0)
                    diff = np.max(np.abs(x[ok] - y[ok]), initial=0.0)
                    assert diff <= RTOL * scale, f"{mdl.stem} member {i}: {o} {diff:.3g}"


@pytest.mark.parametrize("mdl", EXACT, ids=[m.stem for m in EXACT])
def test_exact_mode_equals_fused_bit_for_bit(mdl, monkeypatch):
    model = compile_model(mdl)
    monkeypatch.setattr(vector, "choose", functools.partial(vector.choose, exact=True))
    outputs = outputs_of(model)
    table = model.parameter_table()
    table = table[np.isfinite(table.low) & np.isfinite(table.high)]
    rng = np.random.default_rng(3)
    params = {k: rng.uniform(r.low, r.high, 10) for k, r in table.iterrows()}
    a = model.run(params, outputs, backend="fused")
    b = model.run(params, outputs, backend="vector")
    assert ("vector", (), True) in model._programs
    for o in outputs:
        assert np.array_equal(a[o].values, b[o].values, equal_nan=True), o


# --------------------------------------------------------------------------------------------
# The helpers
# --------------------------------------------------------------------------------------------


def _ulps(got, want):
    with np.errstate(all="ignore"):
        d = np.abs(got - want) / np.spacing(np.abs(want))
    d[(got == want) | (np.isnan(got) & np.isnan(want))] = 0
    return d


def test_own_exp_log_pow_are_the_c_librarys_within_a_few_ulps():
    import numba

    h = vector.vector_helpers()
    one = numba.njit(lambda f, x: np.array([f(v) for v in x]))
    two = numba.njit(lambda f, a, b: np.array([f(a[k], b[k]) for k in range(len(a))]))
    rng = np.random.default_rng(0)
    special = [0.0, -0.0, np.inf, -np.inf, np.nan, 709.78, 709.79, -745.1, -745.2, 1e-300]
    x = np.concatenate([rng.uniform(-750, 750, 20_000), rng.uniform(-2, 2, 20_000), special])
    with np.errstate(all="ignore"):
        assert np.nanmax(_ulps(one(h["_vexp"], x), np.exp(x))) <= 2
    y = np.concatenate([10 ** rng.uniform(-310, 308, 20_000), rng.uniform(0.5, 2, 20_000)])
    y = np.concatenate([y, [0.0, -0.0, -1.0, np.inf, -np.inf, np.nan, 5e-324, 1e-310, 1.0]])
    with np.errstate(all="ignore"):
        assert np.nanmax(_ulps(one(h["_vlog"], y), np.log(y))) <= 1
    a = np.concatenate([rng.uniform(0, 5, 20_000), rng.uniform(-3, 3, 100)])
    b = np.concatenate([rng.uniform(-4, 4, 20_000), np.round(rng.uniform(-3, 3, 100))])
    got, want = two(h["_vpow"], a, b), np.array([math.pow(u, v) for u, v in zip(a, b, strict=True)])
    assert np.max(np.abs(got - want) / np.abs(want)) <= 1e-14
    edge_a = [-2.0, -2.0, -2.0, 0.0, 0.0, 0.0, 1.0, np.nan, -1.0, np.inf, -np.inf, -np.inf]
    edge_b = [3.0, 2.0, 0.5, 2.0, -1.0, 0.0, np.nan, 0.0, np.inf, 2.0, 3.0, 2.0]
    with np.errstate(all="ignore"):
        want = np.power(np.array(edge_a), np.array(edge_b))
    got = two(h["_vpow"], np.array(edge_a), np.array(edge_b))
    np.testing.assert_allclose(got, want, rtol=1e-15)  # NaN, inf and signs exactly


def test_table_lookup_is_numpys_interp():
    import numba

    h = vector.vector_helpers()
    xs = np.array([0.0, 0.5, 1.0, 1.0, 2.0, 4.0])
    ys = np.array([1.0, 3.0, -1.0, 2.0, 2.0, 5.0])
    with np.errstate(all="ignore"):
        slopes = (ys[1:] - ys[:-1]) / (xs[1:] - xs[:-1])
    x = np.concatenate([np.linspace(-1, 5, 601), [np.nan, np.inf, -np.inf], xs])
    look = numba.njit(lambda f, x, a, b, s: np.array([f(v, a, b, s) for v in x]))
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(look(h["_vinterp"], x, xs, ys, slopes), np.interp(x, xs, ys))


# --------------------------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------------------------


def test_vector_refuses_what_it_cannot_run(monkeypatch):
    model = compile_model(ENGINE / "subscripts_1d.mdl")
    with pytest.raises(ParameterError, match=r"backend='vector' cannot run .*needs subscripts"):
        model.run(None, outputs_of(model), n=2, backend="vector")
    model = compile_model(MODELS / "delay.mdl")
    with pytest.raises(ParameterError, match="drop scheduler="):
        model.run(None, outputs_of(model), backend="vector", scheduler="dask")

    def broken(model, pl=None, exact=False):
        raise OSError("read-only cache folder")

    slot = ("vector", (), False)
    model._programs.pop(slot, None)  # compiled by an earlier test
    monkeypatch.setattr(vector, "compile_vector", broken)
    with pytest.raises(ParameterError, match="a vector kernel that compiles.*read-only cache"):
        model.run(None, outputs_of(model), backend="vector")
    assert isinstance(model._programs.pop(slot), str)  # the refusal was kept (now dropped)
    auto = model.run(None, outputs_of(model), n=fused.FUSED_MIN_MEMBERS)  # auto: unaffected
    assert auto.sizes["sample"] == fused.FUSED_MIN_MEMBERS
    monkeypatch.setattr(fused, "available", lambda: False)
    with pytest.raises(ParameterError, match=r"backend='vector' needs numba"):
        model.run(None, outputs_of(model), backend="vector")


def test_a_statement_it_does_not_write_is_refused_by_name():
    with pytest.raises(vector._Unsupported, match="does not write.*for k in"):
        vector._parse("for k in range(3): x = k")


def test_warm_start_refuses_the_vector_backend():
    model = compile_model()
    ws = warm_start(model, None, 2026, ["junior_staff"], n=2)
    with pytest.raises(WarmStartError, match="backend='vector' runs whole simulations only"):
        ws.run(None, backend="vector")
