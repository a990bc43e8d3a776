"""Warm start: simulate each member's history once, continue it under many parameter sets.

Many studies run the same members under many policies that only differ from a year ``T`` on
(robust policy design: 50 candidates a generation, each over the same 1,000 members, every
lever switching on in or after the policy base year). :func:`warm_start` simulates every member
once from INITIAL TIME to ``T`` and keeps its whole state at the start of the step at ``T``:
the stocks, the stages of SMOOTH and DELAY, the pipes of DELAY FIXED, the held values of TREND,
FORECAST and SAMPLE IF TRUE (so the latches of the policy triggers, which are stocks, and the
reporting delays, which are DELAY FIXED pipes, are kept) and the time itself.
:meth:`WarmStart.run` then continues any number of (member, parameter set) pairs from that state
to a final time of their own. Each row equals the full run from INITIAL TIME with the same
parameters (bit for bit where numpy's operations are, see ``tests/test_warmstart.py``) because
the generated code of the engine continues the very loop of the full run: the same equations,
the same accumulated time, the same order of operations.

**The rule for what may change.** A continuation may change a constant only if the change
cannot alter anything the history computed, i.e. the value of any state before ``T`` or any
initial value. The engine checks this before anything runs, on the model's equations and the
values at hand, and refuses otherwise with :class:`WarmStartError` naming the parameter and the
stateful value it reaches:

* A changed constant *taints* every expression that reads it; taint flows through auxiliaries
  and through stocks (a stock is tainted by its flow, initial value and, for delays and smooths,
  their times) to a fixed point. INITIAL, ACTIVE INITIAL and the initial value of every stock
  count as state: a constant that enters one of them (e.g. a stock's initial value or a
  DELAY FIXED's delay time, which fixes its pipe's length at INITIAL TIME) is refused.
* The one exception is a product that is provably exactly 0 at every step before ``T``:
  ``STEP(h, s)`` with ``s`` (an expression of constants) such that the last step before ``T``
  has ``t + TIME STEP/2 <= s`` for every member of the history and every row of the
  continuation, products with such a factor, sums, quotients, negations and IF THEN ELSE of
  such terms, MIN and MAX of such terms only, auxiliaries and stocks (with initial value 0)
  equal to such terms. Taint does not
  pass through them. This is how the Policy sector's levers and triggers are switched on
  (``STEP(1, start year) * ...``) and the Scenario sector's futures (``scenario switch``), so
  their parameters may change from ``T`` = their start year; a start year before ``T`` in any
  row is refused.
* Everything else is refused, even where a closer reading would allow it (e.g. a constant under
  ``MAX(0, Time - s)``): the rule is conservative, never permissive.

A continuation also refuses a different TIME STEP or INITIAL TIME and models with RANDOM
functions (their streams are not part of the kept state).

From 1,000 rows a continuation runs on the fused backend when numba is installed
(:mod:`hubsd.engine.fused`, ``backend=`` chooses as in :meth:`EnsembleModel.run`): the history
stays on numpy, the kept state is packed once for the kernel, and the values equal the numpy
continuation's bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.progress import progress_bar
from hubsd.engine import fused
from hubsd.engine.codegen import time_grid
from hubsd.engine.ensemble import (
    EnsembleModel,
    _chunks,
    _default_workers,
    _Job,
    _run_chunk,
    _run_local,
)
from hubsd.engine.ir import DEFAULT_CHUNK_SIZE
from hubsd.engine.members import cells, check_workers, evaluate, node_param
from hubsd.engine.nodes import STATEFUL_KINDS, EnsembleError, expr_deps
from hubsd.engine.results import to_dataset
from hubsd.engine.steps import delays_too_short, warn_nonfinite

#: Node kinds whose value carries over from before ``T``: what a change must not reach.
KEPT_KINDS = STATEFUL_KINDS + ("initial", "active")


class WarmStartError(EnsembleError):
    """A warm start that would differ from the full run.

    A parameter acting before ``T``, another time step, a ``T`` off the time grid, a RANDOM
    function.
    """


def _time_after(t0: float, dt: float, k: int) -> float:
    """The time after ``k`` Euler steps, accumulated as the generated code does."""
    t = np.float64(t0)
    for _ in range(k):
        t = t + dt
    return float(t)


@dataclass
class WarmStart:
    """Every member's state at ``until``; :meth:`run` continues it. Build with :func:`warm_start`.

    Attributes
    ----------
    until : float
        The year ``T`` the state is kept at [time unit of the model].
    step : int
        Its Euler step from INITIAL TIME.
    index : pandas.Index
        The members.
    """

    model: EnsembleModel
    hub: str | None
    outputs: tuple
    until: float
    step: int
    values: dict
    varied: dict
    index: pd.Index
    ctrl: dict
    state: dict = field(repr=False)
    packed: tuple | None = field(default=None, repr=False)  # the state for the fused kernel

    @property
    def members(self) -> int:
        """Number of members."""
        return len(self.index)

    # -- the rule ------------------------------------------------------------------------------

    def check(self, changes: Mapping[str, object], values: dict, varied: dict) -> None:
        """Refuse a change that could alter the history (see the module docstring).

        Parameters
        ----------
        changes : mapping
            Changed constants (Python names or elements ``"x[A]"``) -> values.
        values, varied : dict
            The continuation's scalar values and per-row arrays of every constant.

        Raises
        ------
        WarmStartError
            Naming the first parameter that reaches a state, initial value or control value.
        """
        nodes = self.model.nodes
        owner = {
            key: n
            for n in self.model.elements
            if nodes[n].kind == "const"
            for key, _, _ in cells(nodes[n])
        }
        changed: dict[str, str] = {}
        for key in changes:
            changed.setdefault(owner[key], key)
        for nd in nodes.values():
            if nd.kind == "control":
                hit = expr_deps(nd.expr) & set(changed) if nd.expr is not None else set()
                if hit:
                    p = sorted(hit)[0]
                    raise WarmStartError(
                        f"parameter {changed[p]!r} cannot change in a warm start: it enters the "
                        f"control value {nd.element!r}"
                    )
        envs = [(self.values, self.varied), (values, varied)]
        gate = _Gates(self.model, envs, self._t_last(), self.ctrl["time_step"] / 2)
        taint = _taint(nodes, set(changed), gate)
        for n in sorted(nodes):
            nd = nodes[n]
            if nd.kind not in KEPT_KINDS or not taint[n]:
                continue
            p = sorted(taint[n])[0]
            what = "the state or initial value" if nd.kind in STATEFUL_KINDS else "the value"
            raise WarmStartError(
                f"parameter {changed[p]!r} cannot change in a warm start from {self.until:g}: it "
                f"can change {what} of {nd.element!r} ({nd.kind}) before {self.until:g}; continue "
                f"only with parameters that act from {self.until:g} on (a STEP from a start year "
                f">= {self.until:g}), or run the full simulation"
            )

    def _fused(self, backend, nrows: int):
        """The fused kernel that continues ``nrows`` rows, or None for the numpy backend."""
        backend = fused.check_backend(backend)
        if backend == "vector":
            raise WarmStartError(
                "backend='vector' runs whole simulations only: continue a warm start with "
                "backend='fused', 'numpy' or 'auto'"
            )
        if any(nd.order_expr is not None for nd in self.model.nodes.values()):
            if backend == "fused":
                raise WarmStartError(
                    "backend='fused' does not continue a model whose DELAY N / SMOOTH N orders "
                    "are given by variables: use backend='numpy' or 'auto'"
                )
            return None
        return fused.choose(self.model, (), backend, nrows, None)

    def _packed(self, prog) -> tuple:
        """The kept state as the fused kernel reads it (packed once per warm start)."""
        if self.packed is None or self.packed[0] is not prog:
            self.packed = (prog,) + fused.pack_state(prog, self.state, self.step)
        return self.packed[1:]

    def _t_last(self) -> float:
        return _time_after(self.ctrl["initial_time"], self.ctrl["time_step"], self.step - 1)

    # -- continuing ----------------------------------------------------------------------------

    def run(
        self,
        changes: Mapping[str, object] | pd.DataFrame | None = None,
        member=None,
        *,
        final_time: float | None = None,
        saveper: float | None = None,
        chunk_size: int | None = None,
        workers: int | None = None,
        progress: bool | None = None,
        backend: str | None = None,
    ) -> xr.Dataset:
        """Continue members from ``until`` with changed parameters, one row per continuation.

        Parameters
        ----------
        changes : DataFrame or mapping of name -> values, optional
            The constants that differ from the history, one value per row (or a scalar for
            every row); checked as :meth:`EnsembleModel.run` checks them, then by the rule of
            the module docstring.
        member : array of int, optional
            Position of the member each row continues (default: every member once, in order).
        final_time, saveper : float, optional
            Where to stop and how often to save [time unit of the model].
        chunk_size, workers, progress
            As :meth:`hubsd.engine.ensemble.EnsembleModel.run`; without ``chunk_size``, the
            rows are split into a multiple of ``workers`` equal chunks.
        backend : {"auto", "numpy", "fused"}, optional
            As :meth:`hubsd.engine.ensemble.EnsembleModel.run`: ``"auto"`` (None) continues
            on the fused backend (:mod:`hubsd.engine.fused`, worker threads) from 1,000 rows
            when numba is installed and the model allows it, else on numpy; the same values
            bit for bit.

        Returns
        -------
        xarray.Dataset
            As :meth:`EnsembleModel.run` (dims ``sample``, ``time``), with the save times from
            ``until`` on only, the member of each row as coordinate ``member`` and the attr
            ``warm_start_from``.

        Raises
        ------
        WarmStartError
            A change that acts before ``until``, another TIME STEP, a final time before
            ``until``, member positions out of range.
        ParameterError
            An unknown parameter or a value outside its range, a bad ``workers``.
        """
        check_workers(workers)
        model = self.model
        member = np.arange(self.members) if member is None else np.asarray(member)
        if member.ndim != 1 or not np.issubdtype(member.dtype, np.integer):
            raise WarmStartError("member must be a 1-d array of member positions (integers)")
        if len(member) and (member.min() < 0 or member.max() >= self.members):
            raise WarmStartError(f"member positions must be in 0..{self.members - 1}")
        columns, index = model._columns(changes, model.parameter_table(), len(member))
        values = dict(self.values)
        values.update({k: v for k, v in columns.items() if not isinstance(v, np.ndarray)})
        varied = {k: v[member] for k, v in self.varied.items()}
        varied.update({k: v for k, v in columns.items() if isinstance(v, np.ndarray)})
        for k in columns:  # a scalar change overrides a per-member history value
            if not isinstance(columns[k], np.ndarray):
                varied.pop(k, None)
        self.check(columns, values, varied)
        # the warm start's TIME STEP (an override given to warm_start too)
        ctrl = model._control(self.ctrl["time_step"], final_time, saveper, values, varied)
        for key in ("initial_time", "time_step"):
            if ctrl[key] != self.ctrl[key]:
                raise WarmStartError(
                    f"{key} {ctrl[key]:g} differs from the warm start's {self.ctrl[key]:g}"
                )
        if ctrl["final_time"] < self.until:
            raise WarmStartError(
                f"final_time {ctrl['final_time']:g} is before the warm start's {self.until:g}"
            )
        steps, stamps, save_steps = time_grid(ctrl)
        after = save_steps >= self.step
        stamps, save_steps = stamps[after], save_steps[after]
        short, message = delays_too_short(model, values, varied, ctrl["time_step"], len(member))
        if short.any():
            raise WarmStartError(message)
        prog = model.program(self.outputs)
        values["__seed__"] = 0
        job = _Job(
            model.mdl,
            model.sha256,
            self.outputs,
            values,
            ctrl,
            steps,
            save_steps,
            model.data_files,
            state=self.state,
            first=self.step,
        )
        nrows = len(member)
        rows = dict(varied, __row_member__=member)
        fprog = self._fused(backend, nrows)
        if fprog is not None:
            nworkers = _default_workers(nrows, nrows) if workers is None else int(workers)
            if chunk_size is None:
                chunk_size = fused.chunk_size(nrows, nworkers, DEFAULT_CHUNK_SIZE)
        bounds = _chunks(nrows, chunk_size, True)
        if fprog is None:
            nworkers = _default_workers(nrows, len(bounds)) if workers is None else int(workers)
        if fprog is None and chunk_size is None and nworkers > 1 and len(bounds) % nworkers:
            # as many chunks per worker for each: no worker idles while another runs a last one
            k = -(-len(bounds) // nworkers) * nworkers
            bounds = _chunks(nrows, -(-nrows // k), True)
        many = len(bounds) > 1
        bar = progress_bar(
            len(bounds), f"{nrows} continuations", "chunk", progress if many else False
        )
        with bar:
            if fprog is not None:
                S, FD = self._packed(fprog)
                warm = (S, FD, member if S.shape[1] > 1 else np.zeros_like(member))
                result = fused.run_chunks(fprog, job, varied, bounds, nworkers, bar, warm)
            else:
                result = _run_local(model, job, rows, bounds, nworkers, prog, nrows, bar)
        ds = to_dataset(model, result, self.outputs, stamps, index, varied, values, self.hub, ctrl)
        warn_nonfinite(ds)
        ds = ds.assign_coords(member=("sample", member))
        ds.attrs["warm_start_from"] = self.until
        return ds


def warm_start(
    model: EnsembleModel,
    params: Mapping[str, object] | pd.DataFrame | None,
    until: float,
    outputs=None,
    hub: str | None = None,
    *,
    n: int | None = None,
    time_step: float | None = None,
) -> WarmStart:
    """Simulate every member from INITIAL TIME to ``until`` once and keep its state.

    Parameters
    ----------
    model : EnsembleModel
        The compiled model (:func:`hubsd.engine.ensemble.compile_model`).
    params : DataFrame or mapping of name -> values
        The members' parameters (as :meth:`EnsembleModel.run`).
    until : float
        The year ``T`` to keep the state at: a step of the time grid after INITIAL TIME and not
        after FINAL TIME [time unit of the model].
    outputs : list of str, optional
        What the continuations return (fixed here: the kept state is that of the variables
        these outputs need). Default as :meth:`EnsembleModel.run`.
    hub : str, optional
        Hub file whose values replace the model defaults.
    n : int, optional
        Number of members when ``params`` is empty or all scalars.
    time_step : float, optional
        Override of TIME STEP (the continuations use the same).

    Returns
    -------
    WarmStart

    Raises
    ------
    WarmStartError
        ``until`` not on the time grid or outside the run; a model with RANDOM functions.
    ParameterError, HubError
        As :meth:`EnsembleModel.run`.
    """
    base, table = model._base_values(hub)
    columns, index = model._columns(params, table, n)
    outputs = model._check_outputs(outputs)
    values = dict(base)
    values.update({k: v for k, v in columns.items() if not isinstance(v, np.ndarray)})
    varied = {k: v for k, v in columns.items() if isinstance(v, np.ndarray)}
    ctrl = model._control(time_step, None, None, values, varied)
    t0, dt = ctrl["initial_time"], ctrl["time_step"]
    if isinstance(until, bool) or not isinstance(until, (int, float, np.number)):
        raise WarmStartError(f"until must be a year, got {until!r}")
    k = int(round((float(until) - t0) / dt))
    if k < 1 or abs(_time_after(t0, dt, k) - float(until)) > dt * 1e-6:
        raise WarmStartError(
            f"until={until!r} must be a step of the time grid after INITIAL TIME {t0:g} "
            f"(a multiple of TIME STEP {dt:g} after it)"
        )
    steps, _, _ = time_grid(ctrl)
    if k > steps:
        raise WarmStartError(f"until={until!r} is after FINAL TIME {ctrl['final_time']:g}")
    nsamp = np.shape(next(iter(varied.values())))[-1] if varied else 1
    short, message = delays_too_short(model, values, varied, dt, nsamp)
    if short.any():
        raise WarmStartError(message)
    prog = model.program(outputs)
    if prog.random:
        raise WarmStartError(
            "the model draws RANDOM numbers: their streams are not part of the kept state"
        )
    values["__seed__"] = 0
    job = _Job(
        model.mdl,
        model.sha256,
        outputs,
        values,
        ctrl,
        k,
        np.zeros(0, int),
        model.data_files,
        keep=k,
    )
    state = _run_chunk(model, job, varied, prog=prog)
    state["__members__"] = len(index) if varied else 1
    values.pop("__seed__")
    return WarmStart(model, hub, outputs, float(until), k, values, varied, index, ctrl, state)


# --------------------------------------------------------------------------------------------
# the rule: which changes cannot reach the history


class _Gates:
    """Which expressions are exactly 0 at every step before ``T`` (see the module docstring)."""

    def __init__(self, model: EnsembleModel, envs: list, t_last: float, half_dt: float):
        self.model = model
        self.envs = envs
        self.t_last = t_last
        self.half_dt = half_dt
        self.memo: dict[str, bool] = {}

    def off_before(self, start) -> bool:
        """Whether ``STEP(h, start)`` is 0 at every step before ``T`` in every environment."""
        nodes = self.model.nodes
        deps = expr_deps(start)
        if not all(nodes[d].kind == "const" for d in deps):
            return False
        for values, varied in self.envs:
            env = {d: node_param(nodes[d], values, varied) for d in deps}
            s = evaluate(start, env, self.model.tables)
            if np.any(np.float64(self.t_last) + self.half_dt > s):
                return False
        return True

    def zero(self, e) -> bool:
        """Whether expression ``e`` is exactly 0 at every step before ``T``."""
        tag = e[0]
        if tag == "num":
            return e[1] == 0
        if tag == "ref":
            return self.node(e[1])
        if tag == "neg":
            return self.zero(e[1])
        if tag == "bin":
            if e[1] == "*":
                return self.zero(e[2]) or self.zero(e[3])
            if e[1] == "/":
                return self.zero(e[2])
            if e[1] in ("+", "-"):
                return self.zero(e[2]) and self.zero(e[3])
            return False
        if tag == "call":
            if e[1] == "step":
                return self.off_before(e[2][1])
            if e[1] == "if_then_else":
                return self.zero(e[2][1]) and self.zero(e[2][2])
            if e[1] in ("min", "max"):
                return all(self.zero(a) for a in e[2])
        return False

    def node(self, name: str) -> bool:
        if name not in self.memo:
            self.memo[name] = False  # while being decided (a loop): not known to be 0
            nd = self.model.nodes[name]
            if nd.kind == "aux":
                self.memo[name] = self.zero(nd.expr)
            elif nd.kind == "integ":
                self.memo[name] = self.zero(nd.init) and self.zero(nd.flow)
        return self.memo[name]


def _taint(nodes: dict, changed: set[str], gate: _Gates) -> dict[str, set[str]]:
    """Changed constants that can alter each node's value before ``T`` (a fixed point)."""
    taint: dict[str, set[str]] = {n: ({n} if n in changed else set()) for n in nodes}

    def of(e) -> set[str]:
        if e is None or gate.zero(e):
            return set()
        tag = e[0]
        if tag in ("ref", "sub"):
            return taint.get(e[1], set())
        if tag in ("neg", "not"):
            return of(e[1])
        if tag == "bin":
            return of(e[2]) | of(e[3])
        if tag == "call":
            out: set[str] = set()
            for a in e[2]:
                out |= of(a)
            return out
        out = set()
        for d in expr_deps(e):
            out |= taint.get(d, set())
        return out

    moving = [n for n, nd in nodes.items() if nd.kind not in ("const", "control", "time")]
    grew = True
    while grew:
        grew = False
        for n in moving:
            new = set().union(*(of(e) for e in nodes[n].exprs()))
            if not new <= taint[n]:
                taint[n] |= new
                grew = True
    return taint
