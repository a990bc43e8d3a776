"""Time steps of an ensemble run: members a step cannot integrate, and re-running them finer.

Euler with a coarse TIME STEP is fast but cannot integrate every member: a member whose shortest
time constant is below the step blows up (its outputs become non-finite), and a DELAY whose order
x TIME STEP exceeds its delay time is one PySD would lower the order of (the engine refuses it).
:meth:`hubsd.engine.ensemble.EnsembleModel.run` with ``finer_steps=(1/8, 1/32)`` runs every
member at its ``time_step`` and re-runs only the members that step cannot integrate at the first
finer step, those that still fail at the next, and so on (:func:`refine`); the result records
each member's step in the ``member_time_step`` coordinate. The finer steps must save at the same
times (SAVEPER a whole multiple of each step, or the same stamps).

A re-run member's RANDOM streams differ from those it would have had in the first run (the
streams depend on the member's position and on the step's times).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable

import numpy as np
import xarray as xr

from hubsd.engine.ir import EnsembleError, expr_deps
from hubsd.engine.members import evaluate, node_param
from hubsd.model.parameters import ParameterError


def check_finer_steps(finer_steps: Iterable[float] | None, time_step: float) -> tuple[float, ...]:
    """``finer_steps`` as a tuple of floats, each below the one before and below ``time_step``.

    Raises
    ------
    ParameterError
        A step that is not a positive finite number, or not finer than the one before it.
    """
    if finer_steps is None:
        return ()
    if isinstance(finer_steps, (str, bytes)) or not isinstance(finer_steps, Iterable):
        raise ParameterError(f"finer_steps must be a sequence of steps, got {finer_steps!r}")
    out: list[float] = []
    previous = float(time_step)
    for step in finer_steps:
        if (
            isinstance(step, bool)
            or not isinstance(step, (int, float, np.floating, np.integer))
            or not np.isfinite(step)
            or step <= 0
        ):
            raise ParameterError(f"finer_steps must be positive finite numbers, got {step!r}")
        if not float(step) < previous:
            raise ParameterError(
                f"finer_steps must each be smaller than the step before "
                f"(time_step {time_step:g}), got {float(step):g} after {previous:g}"
            )
        previous = float(step)
        out.append(previous)
    return tuple(out)


def delays_too_short(
    model, values: dict, varied: dict, dt: float, nsamp: int, orders: dict | None = None
):
    """Members with a DELAY whose order x ``dt`` exceeds its delay time, and the first message.

    Returns
    -------
    (numpy.ndarray of bool (nsamp,), str or None)
        The members (all of them when the delay time is the same for every member) and a
        message naming the first such delay, or ``(all False, None)``.
    """
    mask = np.zeros(nsamp, dtype=bool)
    message = None
    consts = {n for n in model.elements if model.nodes[n].kind == "const"}
    for node in model.nodes.values():
        if node.kind != "delay" or not expr_deps(node.time) <= consts:
            continue  # a delay time that is not constant is checked by PySD only at init
        env = {k: node_param(model.nodes[k], values, varied) for k in expr_deps(node.time)}
        delay_time = np.asarray(evaluate(node.time, env, model.tables), dtype=float)
        order = (orders or {}).get(node.name, node.order)  # a variable order, resolved at start
        short = np.asarray(order * dt > delay_time)
        if np.any(short):  # members last; one value for all when the delay time is fixed
            per_member = short.reshape(-1, short.shape[-1]).any(axis=0) if short.ndim else short
            mask |= np.broadcast_to(per_member, mask.shape)
            message = message or (
                f"delay in {node.element!r}: order {order} x time step {dt:g} exceeds "
                f"the delay time {float(np.min(delay_time)):g} for some member; PySD would lower "
                f"the order, the ensemble engine does not. Use a smaller time_step (or "
                f"finer_steps= to re-run only those members at a finer step)."
            )
    return mask, message


def _by_member(ds: xr.Dataset, name: str) -> np.ndarray:
    """An output's values as (sample, everything else), without building a DataArray."""
    var = ds.variables[name].transpose("sample", ...)  # a Variable: no coordinates to copy
    return var.data.reshape(var.shape[0], -1)


def nonfinite_members(ds: xr.Dataset) -> np.ndarray:
    """Members (along ``sample``) with a non-finite value in any output of ``ds``."""
    bad = np.zeros(ds.sizes["sample"], dtype=bool)
    for name in ds.data_vars:
        bad |= ~np.isfinite(_by_member(ds, name)).all(axis=1)
    return bad


def warn_nonfinite(ds: xr.Dataset, stacklevel: int = 3) -> None:
    """Warn (RuntimeWarning) naming each output with non-finite values and how many members."""
    counts = []
    for name in ds.data_vars:
        members = int((~np.isfinite(_by_member(ds, name)).all(axis=1)).sum())
        if members:
            counts.append(f"{name} ({members} members)")
    if counts:
        warnings.warn(
            f"non-finite values in outputs: {', '.join(counts)}",
            RuntimeWarning,
            stacklevel=stacklevel,
        )


def refine(model, ds: xr.Dataset, redo: np.ndarray, columns: dict, hub, steps, kwargs) -> None:
    """Re-run the members ``redo`` of ``ds`` at ``steps[0]`` (then finer) and put them in ``ds``.

    Parameters
    ----------
    model : EnsembleModel
        The model that produced ``ds``.
    ds : xarray.Dataset
        The run at the coarse step; its outputs and ``member_time_step`` are updated in place.
    redo : array of bool (sample,)
        Members to re-run.
    columns : dict
        The run's parameters (per-member arrays or scalars) by Python name.
    hub : str or None
        The run's hub.
    steps : tuple of float
        The finer steps still to try, finest last.
    kwargs : dict
        The run's other options (``final_time``, ``saveper``, ``seed`` ...).
    """
    params = {k: (v[redo] if np.ndim(v) else v) for k, v in columns.items()}
    sub = model.run(
        params,
        list(ds.data_vars),
        hub,
        n=int(redo.sum()),
        time_step=steps[0],
        finer_steps=steps[1:],
        **kwargs,
    )
    if sub.sizes["time"] != ds.sizes["time"] or not np.allclose(
        sub["time"].to_numpy(), ds["time"].to_numpy(), rtol=0, atol=1e-9
    ):
        raise EnsembleError(
            f"finer step {steps[0]:g} saves at other times than time step "
            f"{float(ds['member_time_step'].max()):g}: use steps that divide SAVEPER"
        )
    where = np.flatnonzero(redo)
    for name in ds.data_vars:
        var = ds.variables[name]  # (sample, time, ...) as the engine builds it
        var.data[where] = sub.variables[name].transpose(*var.dims).data
    sub_steps = sub.variables.get("member_time_step")  # absent: all at steps[0]
    ds.variables["member_time_step"].data[where] = steps[0] if sub_steps is None else sub_steps.data


def finish(model, ds, short, columns: dict, hub, time_step: float, finer, options) -> xr.Dataset:
    """The end of a run: re-run the members ``time_step`` cannot integrate, warn of the rest.

    With ``finer`` steps, ``ds`` gains the ``member_time_step`` coordinate [time unit] and the
    members with a DELAY too short for the step (``short``) or non-finite outputs are re-run
    (:func:`refine`); a warning names the outputs still non-finite (after the finest step).
    """
    redo = np.zeros(ds.sizes["sample"], dtype=bool)
    if finer:
        ds.coords["member_time_step"] = xr.Variable(
            ("sample",),
            np.full(ds.sizes["sample"], time_step),
            {"units": ds["time"].attrs["units"]},
        )
        redo = short | nonfinite_members(ds)
        if redo.any():
            refine(model, ds, redo, columns, hub, finer, options)
    if not redo.any():  # a re-run warned already for what it could not mend
        warn_nonfinite(ds, stacklevel=4)
    return ds
