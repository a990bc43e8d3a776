"""The model-testing battery as one call: :func:`validate_model` (and ``hubsd validate``).

The standard tests of a system-dynamics model (Sterman 2000, *Business Dynamics*, ch. 21), run
on a Vensim model file, each reported as one row: what it tests, pass, fail or skipped, the
figure measured, the threshold and details (for a failure: the variable, the run and the time).

>>> report = validate_model("krakow")        # models/hub.mdl, hub.checks.yaml, 1000 LHS runs
>>> report.table                        # pandas DataFrame, one row per check
>>> report.passed                       # no row failed (skipped rows do not fail)
>>> report.data                         # xarray Dataset behind the figures
>>> report.figures()                    # matplotlib Figures by name
>>> report.write("outputs/validation")  # Markdown report, PNGs, CSV and NetCDF

The checks, in order:

``units``
    Dimensional consistency of every equation (:func:`hubsd.model.units.check_units`).
``reality: <name>``
    One row per statement of the reality-check file (:mod:`hubsd.validation.reality`), by
    default the ``<model>.checks.yaml`` beside the model; skipped when there is none.
``conservation of people``
    max |``people accounting error``| / ``people in tracked stocks`` over the policy scenarios,
    the automation shocks and every Latin hypercube run; at most :data:`CONSERVATION_TOLERANCE`.
``LHS: finite values`` and ``LHS: no negative stock``
    A seeded Latin hypercube over every parameter with a finite range (the whole parameter
    table of the hub model), one vectorised ensemble (:mod:`hubsd.engine.ensemble`): every variable
    finite at every save time; every stock (INTEG, SMOOTH, DELAY, except :data:`SIGNED_STOCKS`)
    at least ``-1e-9`` times its scale at every time step.
``integration: TIME STEP halved`` and ``integration: fine reference``
    Key outputs (:data:`INTEGRATION_OUTPUTS`, or every stock of another model) at TIME STEP
    against TIME STEP / 2 (at most 1 % of their scale) and against TIME STEP / 8, a reference
    close to the exact solution (at most 2 %: Euler's error is proportional to the step, so
    the error of the model's step against the exact solution is about twice the halving
    difference). Scale: max |x| of the finer run, floored by :data:`SCALE_FLOOR`.
``extreme: ...``
    Sterman's extreme conditions of the model specification: no adoption reproduces the no-AI
    world; a_J = 1 and h = 0 drive juniors to about zero without a negative stock; zero
    graduates limit hiring (the workforce sector alone, PySD); a local multiplier of 0 keeps
    local services at their base. Skipped for a model without the variables they read.
``behaviour reproduction``
    Fit statistics of the calibrated parameter set, from :mod:`hubsd.calibration` when it
    provides them (:func:`behaviour_rows`); skipped otherwise.
``forecast band``
    The newest calibrated set's baseline against every forecast of its spec (the industry's
    own projections), each within its tolerance or on the right side of its bound
    (:func:`forecast_rows`); skipped without a calibrated set or forecast.
``city side``
    The newest calibrated set's youth unemployment (and, reported beside it, migration, local
    service jobs, registered young unemployed) against its city's observed figures, each with
    its concept mismatch, the ratio model/observed inside the band of ``data/city_checks.yaml``
    (:func:`hubsd.validation.city.city_row`); skipped without a calibrated set or comparison.
``youth unemployment keeps its historical range``
    The newest calibrated set's baseline youth unemployment from the scenario start year on,
    inside the range of a long observed series of its country or region scaled to the model's
    concept (:func:`hubsd.validation.city.history_range_row`); a shock may leave it.

A group of checks that cannot run on a model (the ensemble engine refuses some Latin hypercube
samples, say) fails its rows with the reason; the other groups still run.

Bad input (a model that does not translate, a hub or checks file that does not fit the model,
a bad sample size) raises :class:`ValidationInputError` before anything runs, with one line
naming the file (and the line, where PySD or the checks file says which).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.paths import DEFAULT_MODEL
from hubsd.core.version import __version__
from hubsd.validation.checks import (
    behaviour_rows,
    forecast_rows,
    integration_and_conservation_rows,
    lhs_check_rows,
    lhs_runs,
    reality_rows,
    scenario_cases,
    units_rows,
)
from hubsd.validation.city import RANGE_CHECK, city_row, history_range_row
from hubsd.validation.context import Context, default_checks, prepare
from hubsd.validation.extremes import extreme_check_rows
from hubsd.validation.reality import RealityCheckError, load_checks
from hubsd.validation.report import ValidationReport, could_not_run_rows
from hubsd.validation.settings import (
    COLUMNS,
    CONSERVATION_TESTS,
    EXTREME_NAMES,
    INTEGRATION_TESTS,
    LHS_SAMPLES,
    LHS_SEED,
    LHS_TESTS,
    UNITS_TESTS,
    ValidationInputError,
)

# --------------------------------------------------------------------------------------------
# the battery


def _check_inputs(hub, mdl, checks, lhs_samples, seed) -> tuple[Context, Path | None]:

    ctx = prepare(mdl, hub, lhs_samples, seed)
    checks = default_checks(ctx.mdl) if checks is None else Path(checks)
    if checks is not None:
        try:
            load_checks(checks, ctx.mdl)
        except RealityCheckError as exc:
            raise ValidationInputError(" ".join(str(exc).split())) from None
    return ctx, checks


def check_inputs(
    hub: str | None = "krakow",
    mdl=DEFAULT_MODEL,
    checks=None,
    lhs_samples: int = LHS_SAMPLES,
    seed: int = LHS_SEED,
) -> None:
    """Everything :func:`validate_model` checks before it runs anything.

    The model translates and compiles, the hub fits it, the checks file is well formed and
    names known variables, the sample size and seed are valid; raises
    :class:`ValidationInputError` otherwise.
    """
    _check_inputs(hub, mdl, checks, lhs_samples, seed)


def validate_model(
    hub: str | None = "krakow",
    mdl=DEFAULT_MODEL,
    checks=None,
    lhs_samples: int = LHS_SAMPLES,
    seed: int = LHS_SEED,
) -> ValidationReport:
    """Run the model-testing battery on a Vensim model; one row per check.

    Units, reality checks, conservation of people, a Latin hypercube over every parameter
    (finite values, no negative stock), integration error at smaller time steps, extreme
    conditions and behaviour reproduction of the calibrated set (the module docstring lists
    them). A group of checks that cannot run fails its rows; it does not raise.

    Parameters
    ----------
    hub : str, None or "auto"
        Hub file whose values the runs use (``None``: the model's defaults; ``"auto"``:
        ``"krakow"`` when the model has its parameters, else the defaults).
    mdl : path
        The model file (default ``models/hub.mdl``).
    checks : path, optional
        Reality-check file (default: ``<model>.checks.yaml`` beside the model, if any).
    lhs_samples, seed : int
        Size (at least 2, default 1000) and seed (>= 0) of the Latin hypercube.

    Returns
    -------
    ValidationReport
        ``table``: one row per check with ``status`` (pass, fail, skipped), the ``figure``
        measured (a count, a ratio to the variable's scale, a MAPE; the ``measure`` column
        says which, with units where it has any, e.g. Person/Year) and its ``threshold``;
        ``data``: the Dataset behind the figures, along ``time`` [Year]; ``passed`` is True
        when no row failed; ``wall_time`` [s].

    Raises
    ------
    ValidationInputError
        Before anything runs: a model that does not translate (file and line), a hub that does
        not fit it, a malformed checks file or one naming unknown variables (file and line),
        a bad sample size or seed.

    Examples
    --------
    >>> report = validate_model("krakow", lhs_samples=200)
    >>> report.passed
    >>> print(report.format_table())
    >>> report.write("outputs/validation")  # the folder must exist
    """
    started = time.perf_counter()
    ctx, checks = _check_inputs(hub, mdl, checks, lhs_samples, seed)

    def attempt(fn, names):
        """Run one group of checks; if it cannot run, each of its rows fails with the error.

        A model the engine refuses for some samples, say: the other groups still run.
        """
        try:
            return fn()
        except Exception as exc:  # reported in the table, not raised
            return could_not_run_rows(exc, names)

    rows = attempt(lambda: units_rows(ctx), [("units", "units consistency", UNITS_TESTS)])
    rows += attempt(
        lambda: reality_rows(ctx, checks),
        [("reality", "reality checks", "declarative statements beside the model")],
    )
    lhs, lhs_data = None, {}
    try:
        lhs = lhs_runs(ctx, int(lhs_samples), int(seed))
        lhs_rows, lhs_data = lhs_check_rows(ctx, lhs)
    except Exception as exc:  # reported in the table, not raised
        lhs = None
        lhs_rows = could_not_run_rows(
            exc,
            [
                ("lhs", "LHS: finite values", LHS_TESTS[0]),
                ("lhs", "LHS: no negative stock", LHS_TESTS[1]),
            ],
        )
    cases = scenario_cases(ctx)
    integ = attempt(
        lambda: integration_and_conservation_rows(ctx, cases, lhs),
        [
            ("conservation", "conservation of people", CONSERVATION_TESTS),
            ("integration", "integration: TIME STEP halved", INTEGRATION_TESTS),
            ("integration", "integration: fine reference", INTEGRATION_TESTS),
        ],
    )
    integ_rows, data = integ if isinstance(integ, tuple) else (integ, {})
    conservation = [r for r in integ_rows if r["group"] == "conservation"]
    integration = [r for r in integ_rows if r["group"] == "integration"]
    history = [r for r in integ_rows if r["group"] == "scenarios"]
    ext = attempt(
        lambda: extreme_check_rows(ctx),
        [("extreme", f"extreme: {name}", "") for name in EXTREME_NAMES],
    )
    extreme_rows, extreme_data = ext if isinstance(ext, tuple) else (ext, {})
    rows += conservation + lhs_rows + integration + history + extreme_rows
    rows += attempt(
        lambda: [behaviour_rows(ctx.hub, ctx.mdl)], [("behaviour", "behaviour reproduction", "")]
    )
    rows += attempt(lambda: [forecast_rows(ctx.hub, ctx.mdl)], [("behaviour", "forecast band", "")])
    rows += attempt(lambda: [city_row(ctx.hub, mdl=ctx.mdl)], [("behaviour", "city side", "")])
    rows += attempt(
        lambda: [history_range_row(ctx.hub, mdl=ctx.mdl)], [("behaviour", RANGE_CHECK, "")]
    )
    table = pd.DataFrame(rows, columns=COLUMNS)

    time_ = data.pop("_scenario_time", None)
    if time_ is None and lhs is not None:
        time_ = xr.DataArray(lhs["time"], dims="time")
    coords = (
        {}
        if time_ is None
        else {
            "time": (
                "time",
                np.asarray(time_.values, float),
                {"units": ctx.engine.nodes["initial_time"].units or ""},
            )
        }
    )
    ds = xr.Dataset(coords=coords)
    for name, da in {**data, **lhs_data}.items():
        ds[name] = da
    if "extremes" in extreme_data:
        ext = extreme_data["extremes"]
        for v in ext.data_vars:
            ds[f"extreme_{v}"] = ext[v].assign_attrs(ext[v].attrs)
        ds = ds.assign_coords(case=ext["case"].values)
    info = {
        "model_sha256": ctx.engine.sha256,
        "hubsd_version": __version__,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "time_step": ctx.dt,
        "lhs_parameters": len(lhs["parameters"].columns) if lhs is not None else 0,
        "scenarios": cases,
    }
    return ValidationReport(
        table,
        ds,
        ctx.mdl,
        ctx.hub,
        checks,
        int(lhs_samples),
        int(seed),
        time.perf_counter() - started,
        info,
    )
