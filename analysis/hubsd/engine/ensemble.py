"""Vectorised ensemble runner: N parameter sets of a Vensim model in one simulation.

:func:`compile_model` reads a ``.mdl`` file with PySD's own parser
(``VensimFile(...).parse().get_abstract_model()``) and turns the abstract model into Python
source for one function that evaluates every auxiliary in dependency order on numpy arrays of
shape ``(N,)`` per time step and updates the stocks with Euler exactly as PySD does. The source
is ``exec``'d once per set of requested outputs and cached. :meth:`EnsembleModel.run` returns an
``xarray.Dataset`` with dims ``sample`` and ``time``.

Semantics follow PySD 3.14 (``py_backend/statefuls.py`` and ``functions.py``) operation by
operation, so each member equals a PySD run with the same parameters to round-off:

* Euler: every derivative is taken from the current state, then ``state = state + ddt * dt``;
  auxiliaries and saved outputs are evaluated at the current time; time advances as
  ``t = t + dt`` (PySD's accumulation), and the run ends where PySD's ``in_bounds`` does.
* Initial values are computed at INITIAL TIME in dependency order (stocks, SMOOTH/SMOOTHI,
  DELAY1/DELAY3 (+I), INITIAL), as PySD's ``initialize_order`` does.
* SMOOTH of order k keeps k states, ``ddt = (targets - state) * k / T``; DELAY of order k keeps
  k states of value x delay time, output ``state[-1] / T``, ``ddt = (inflows - outflows) * k``.
  PySD quirk, reproduced: a SMOOTH whose initial value is an integer literal (``SMOOTHI(x, T,
  1)``) is stored in an int array, so the first step's input is truncated to an integer
  (``SMOOTHI(x, T, 1.0)`` is not affected). PySD lowers a DELAY's order when order x TIME STEP
  exceeds the delay time; the engine refuses such runs instead (or, given ``finer_steps``,
  re-runs those members at a finer step: :mod:`hubsd.engine.steps`).
* STEP: ``value * (t + dt/2 > tstep)``; RAMP, PULSE, PULSE TRAIN, XIDZ, ZIDZ (``|den| < 1e-6``),
  QUANTUM/MODULO/INTEGER as in PySD; tables are piecewise linear with the end values held
  outside the x range (:func:`numpy.interp`, as :class:`hubsd.model.pysd_model.FastLookups`).
* SMOOTH N, DELAY N, DELAY FIXED, TREND, FORECAST, SAMPLE IF TRUE and ACTIVE INITIAL follow
  :mod:`hubsd.engine.statefuls`; subscripts (an array axis per range, members last) follow
  :mod:`hubsd.engine.subscripts`; control values may be expressions of constants, and a SAVEPER
  that is not a multiple of TIME STEP is saved as PySD saves it (:func:`time_grid`).

Subscript mappings, subscripted tables and the VECTOR functions follow
:mod:`hubsd.engine.subscripts`; GET XLS/DIRECT CONSTANTS and LOOKUPS :mod:`hubsd.engine.external`;
data variables (GET XLS/DIRECT DATA, and series from ``data_files``) :mod:`hubsd.engine.external`;
macros :mod:`hubsd.engine.macros` (inlined per call); ALLOCATE BY PRIORITY / AVAILABLE
:mod:`hubsd.engine.allocation` (PySD's own algorithms per member); orders of DELAY N / SMOOTH N
given by variables :mod:`hubsd.engine.orders`;
RANDOM functions :mod:`hubsd.engine.randoms` (per-member streams, ``seed=``). Anything else
(see the README's known limits) is refused at compile time with
:class:`UnsupportedConstructError`, naming the construct and the variable.

Parameters given per member override constants of the model (one per element of a subscripted
constant, ``"growth[Krakow]"``; results keep the subscript dims); everything else is the model's
(or the hub file's, with ``hub=``). Large ensembles run in chunks of members; chunks run in
parallel in worker processes (``workers``) or on a dask.distributed cluster (``scheduler``).
With numba installed, runs of 1,000 members or more go to the fused backend
(:mod:`hubsd.engine.fused`: one compiled loop per member, chunks on threads, the same results
bit for bit) when the model allows it; ``backend="numpy"`` or ``"fused"`` chooses, and
``"vector"`` asks for :mod:`hubsd.engine.vector` (SIMD lanes, equal to PySD to round-off).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.core.progress import progress_bar
from hubsd.engine import fused, vector
from hubsd.engine.codegen import Program, generate, static_names, time_grid
from hubsd.engine.ir import (
    CONTROL,
    DEFAULT_CHUNK_SIZE,
    Builder,
    EnsembleError,
)
from hubsd.engine.members import (
    cells,
    check_controls,
    check_workers,
    control_values,
    dataset_columns,
    node_param,
    normalise,
    output_rows,
    output_views,
)
from hubsd.engine.orders import check_order_inputs, resolve_orders
from hubsd.engine.pysd_runner import KEY_OUTPUTS, resolve_parameters
from hubsd.engine.results import to_dataset
from hubsd.engine.runtime import is_array, take_state
from hubsd.engine.steps import check_finer_steps, delays_too_short, finish
from hubsd.inputs.hubs import DEFAULT_HUB
from hubsd.model.parameters import ParameterError
from hubsd.model.pysd_model import file_hash


@dataclass
class EnsembleModel:
    """A Vensim model compiled for vectorised ensemble runs. Build it with :func:`compile_model`.

    Attributes
    ----------
    mdl : Path
        The model file. ``sha256`` is the hash of the bytes that were compiled.
    nodes : dict
        Every value of the model by Python name (PySD's names), with hidden statefuls.
    """

    mdl: Path
    sha256: str
    nodes: dict
    tables: dict
    elements: list
    data_files: tuple = ()  # files of the data variables without equations (absolute paths)
    _programs: dict = field(default_factory=dict, repr=False)
    _table: pd.DataFrame | None = field(default=None, repr=False)
    _lookup: dict = field(default_factory=dict, repr=False)  # names and bounds, built once

    # -- names and parameters ------------------------------------------------------------------

    @property
    def constants(self) -> list[str]:
        """Names of the model's parameters (what per-member parameters may override).

        A constant's Python name, or one name per element of a subscripted constant
        (``"growth[Krakow]"``).
        """
        return [
            c[0]
            for n in self.elements
            if self.nodes[n].kind == "const"
            for c in cells(self.nodes[n])
        ]

    @property
    def controls(self) -> dict[str, float]:
        """INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER of the model file."""
        values = self.parameter_table()["default"].to_dict()
        return {
            k: float(v) for k, v in control_values(self.nodes, self.tables, values, {}, {}).items()
        }

    def parameter_table(self) -> pd.DataFrame:
        """Constants with default and range ``[low, high]`` (unbounded where the file has none)."""
        if self._table is None:
            self._table = self._parameter_table()
        return self._table.copy()

    def _parameter_table(self) -> pd.DataFrame:
        rows = []
        for node, (name, model_name, idx) in (
            (self.nodes[n], c)
            for n in self.elements
            if self.nodes[n].kind == "const"
            for c in cells(self.nodes[n])
        ):
            low, high = (list(node.limits) + [None, None])[:2]
            rows.append(
                {
                    "name": name,
                    "model_name": model_name,
                    "default": float(node.value[idx]) if node.dims else node.value,
                    "low": -np.inf if low is None else float(low),
                    "high": np.inf if high is None else float(high),
                    "units": node.units,
                    "description": node.doc,
                }
            )
        cols = ["name", "model_name", "default", "low", "high", "units", "description"]
        return pd.DataFrame(rows, columns=cols).set_index("name")

    def resolve_name(self, name: str, what: str = "parameter") -> str:
        """Python name of a variable given either spelling (``a_b`` or Vensim ``A b``)."""
        if not isinstance(name, str):
            raise ParameterError(f"{what} names must be strings, got {name!r}")
        key = normalise(name)
        if what == "parameter" and key in self._bounds():
            return key
        pool = self.constants if what == "parameter" else self.outputs_available()
        if key in pool:
            return key
        if what == "parameter":
            table = self.parameter_table()["model_name"]
            by_model = {normalise(m): k for k, m in table.items()}
            by_model.update({normalise(k): k for k in pool})
        else:
            by_model = {normalise(self.nodes[n].element): n for n in pool}
        if key in by_model:
            return by_model[key]
        raise ParameterError(f"unknown {what} {name!r}{did_you_mean(key, pool, n=3)}")

    def _bounds(self) -> dict[str, tuple[float, float, str]]:
        """Every constant's (low, high, units) by Python name (built once: runs check them)."""
        if "bounds" not in self._lookup:
            tab = self.parameter_table()
            self._lookup["bounds"] = {
                k: (float(r.low), float(r.high), r.units) for k, r in tab.iterrows()
            }
        return self._lookup["bounds"]

    def outputs_available(self) -> list[str]:
        """Python names of every variable that can be returned (and the control values)."""
        return list(self.elements) + [c for c in CONTROL if c not in self.elements]

    # -- compilation of a run program -----------------------------------------------------------

    def program(self, outputs: Iterable[str], orders: dict | None = None) -> Program:
        """The compiled simulation function for a set of outputs (cached).

        ``orders``: the orders of DELAY N / SMOOTH N given by variables (hidden node name ->
        order, :func:`hubsd.engine.orders.resolve_orders`); None: at the model's defaults.
        """
        outputs = tuple(outputs)
        if orders is None and any(nd.order_expr is not None for nd in self.nodes.values()):
            values = self.parameter_table()["default"].to_dict()
            ctrl = control_values(self.nodes, self.tables, values, {}, {})
            orders = resolve_orders(self.nodes, self.tables, values, {}, ctrl)
        key = (outputs, tuple(sorted(orders.items()))) if orders else outputs
        for name, order in (orders or {}).items():  # every run: kernels compiled next read them
            self.nodes[name].order = order
        if key not in self._programs:
            self._programs[key] = generate(self, outputs)
        return self._programs[key]

    def source(self, outputs: Iterable[str]) -> str:
        """The generated Python source for a set of outputs (for reading and debugging)."""
        return self.program(tuple(outputs)).source

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        params: Mapping[str, Iterable[float]] | pd.DataFrame | None = None,
        outputs: Iterable[str] | str | None = None,
        hub: str | None = None,
        *,
        n: int | None = None,
        time_step: float | None = None,
        final_time: float | None = None,
        saveper: float | None = None,
        chunk_size: int | None = None,
        workers: int | None = None,
        scheduler=None,
        seed: int = 0,
        progress: bool | None = None,
        finer_steps: Iterable[float] | None = None,
        backend: str | None = None,
    ) -> xr.Dataset:
        """Run every parameter set as one member of a vectorised simulation.

        Parameters
        ----------
        params : dict of name -> array (N,), DataFrame (one column per parameter) or Dataset
            Per-member values of constants (Python or Vensim names; ``"growth[Krakow]"`` for
            an element). Each column is checked: a known constant, finite values inside
            ``[low, high]``. A scalar is the same for every member. A Dataset has a ``sample``
            dim, and a subscripted constant its subscript dims too (one column per element).
        outputs : list of str, ``"all"`` or None
            Variables to keep (at save times only). ``None``: :data:`hubsd.KEY_OUTPUTS` for the
            hub model, every stock for other models.
        hub : str, optional
            Hub file whose values replace the model defaults (hub model only); ``params`` apply
            on top.
        n : int, optional
            Number of members when ``params`` is empty or all scalars.
        time_step, final_time, saveper : float, optional
            Override the model's control values [time unit of the model].
        chunk_size : int, optional
            Members simulated together (memory: about 300 arrays of ``chunk_size`` floats).
        workers : int, optional
            Worker processes for the chunks (default: the CPUs available, 1 for small N).
        scheduler : None, "dask", a scheduler address or a ``dask.distributed.Client``
            Run the chunks on dask.distributed instead (``"dask"``: a LocalCluster).
        seed : int
            Seed of the RANDOM functions' streams (one per member, see
            :mod:`hubsd.engine.randoms`): the same seed gives the same run.
        progress : bool, optional
            A progress bar over the chunks (when there are several) on standard error; by
            default only in a terminal (``HUBSD_PROGRESS=1``/``0`` forces it on or off).
        finer_steps : sequence of float, optional
            Steps, each finer than the one before (and than ``time_step``), for the members
            ``time_step`` cannot integrate: those with non-finite outputs or a DELAY too short
            for the step are re-run at the next finer step, and only they
            (:mod:`hubsd.engine.steps`); each member's step is in the ``member_time_step``
            coordinate. Without it such a DELAY is refused and non-finite values warn.
        backend : {"auto", "numpy", "fused", "vector"}, optional
            ``"fused"``: each member's whole run in one numba loop, on threads
            (:mod:`hubsd.engine.fused`, needs numba); ``"auto"`` (None) uses it from
            1,000 members when numba is installed and the model allows it; equal results.
            ``"vector"``: blocks of members in SIMD lanes (:mod:`hubsd.engine.vector`), equal
            to PySD to round-off but not bit for bit (its own ``exp``/``log``/``**``).

        Returns
        -------
        xarray.Dataset
            One variable per output with dims ``(sample, time)``, ``time`` in the model's time
            unit (Year for the hub model), each variable in the model's units (Person,
            Person/Year, Dmnl ...) with ``units``/``long_name``/``description`` attrs; varied
            parameters as coordinates along ``sample`` (with their units); the fixed values,
            hub and model hash in the Dataset's attrs.

        Raises
        ------
        ParameterError
            Before anything runs: an unknown parameter or output, a value that is not a
            finite number or lies outside its range, columns of different lengths, a bad
            ``n``, ``chunk_size``, ``workers``, ``scheduler`` or control value.
        HubError
            An unknown hub or a malformed hub file.
        EnsembleError
            A DELAY whose order x TIME STEP exceeds its delay time (PySD would lower the
            order; the engine refuses), or a model that differs on a dask worker.

        Warns
        -----
        RuntimeWarning
            When an output has non-finite values (with how many members).

        Examples
        --------
        >>> model = compile_model()
        >>> ds = model.run({"automatable_junior_share": [0.3, 0.5, 0.8]}, ["junior_staff"],
        ...                "krakow")
        >>> ds["junior_staff"].sel(time=2035)       # Person, one value per member
        """
        base, table = self._base_values(hub)
        columns, index = self._columns(params, table, n)
        nsamp = len(index)
        outputs = self._check_outputs(outputs)
        check_workers(workers)
        values = dict(base)
        values.update({k: v for k, v in columns.items() if not is_array(v)})
        varied = {k: v for k, v in columns.items() if is_array(v)}
        ctrl = self._control(time_step, final_time, saveper, values, varied)
        steps, stamps, save_steps = time_grid(ctrl)
        orders = resolve_orders(self.nodes, self.tables, values, varied, ctrl)
        finer = check_finer_steps(finer_steps, ctrl["time_step"])
        short, message = delays_too_short(self, values, varied, ctrl["time_step"], nsamp, orders)
        if short.any() and not finer:
            raise EnsembleError(message)
        prog = self.program(outputs, orders)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ParameterError(f"seed must be a whole number >= 0, got {seed!r}")
        values["__seed__"] = int(seed)
        members = dict(varied, __member__=np.arange(nsamp)) if prog.random else varied
        key = tuple(sorted((orders or {}).items()))
        fprog = vector.choose_backend(self, key, backend, nsamp, scheduler)
        nworkers = _default_workers(nsamp, nsamp) if workers is None else int(workers)
        if fprog is not None and chunk_size is None:
            chunk_size = fused.chunk_size(nsamp, nworkers, DEFAULT_CHUNK_SIZE)
        bounds = _chunks(nsamp, chunk_size, bool(members))
        job = _Job(
            self.mdl, self.sha256, outputs, values, ctrl, steps, save_steps, self.data_files, orders
        )
        many = len(bounds) > 1 and bool(members)
        bar = progress_bar(
            len(bounds), f"ensemble of {nsamp}", "chunk", progress if many else False
        )
        with bar:
            if scheduler is not None:
                result = np.empty((output_rows(self.nodes, outputs)[-1][1], len(stamps), nsamp))
                parts = _run_dask(scheduler, job, members, bounds, bar)
                for (lo, hi), part in zip(bounds, parts, strict=True):
                    result[:, :, lo:hi] = part
            elif fprog is not None:
                result = vector.run_any(fprog, job, members, bounds, nworkers, bar)
            else:
                nworkers = min(nworkers, len(bounds)) if workers is None else nworkers
                result = _run_local(self, job, members, bounds, nworkers, prog, nsamp, bar)
        ds = to_dataset(self, result, outputs, stamps, index, varied, values, hub, ctrl)
        options = dict(final_time=final_time, saveper=saveper, chunk_size=chunk_size)
        options.update(workers=workers, scheduler=scheduler, seed=seed, progress=progress)
        return finish(self, ds, short, columns, hub, ctrl["time_step"], finer, options)

    # -- helpers of run -------------------------------------------------------------------------

    def _is_hub_model(self) -> bool:
        """Whether the model has the hub model's key outputs (the hub model or a copy of it)."""
        return set(KEY_OUTPUTS) <= set(self.elements)

    def _base_values(self, hub):
        table = self.parameter_table()
        base = table["default"].to_dict()
        if hub is not None:
            base.update(resolve_parameters(hub, None, self.mdl))
        return base, table

    def _columns(self, params, table, n):
        if params is None:
            params = {}
        if isinstance(params, xr.Dataset):  # dims sample (and the constant's subscripts)
            params = dataset_columns(params, self.nodes)
        if isinstance(params, pd.DataFrame):
            index = params.index
            items = [(c, params[c].to_numpy()) for c in params.columns]
        elif isinstance(params, Mapping):
            items = list(params.items())
            index = None
        else:
            raise ParameterError("params must be a mapping of name -> values or a DataFrame")
        columns: dict[str, object] = {}
        size = None
        for raw, value in items:
            name = self.resolve_name(raw)
            low, high, units = self._bounds()[name]
            arr = np.asarray(value)
            if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
                raise ParameterError(
                    f"parameter {name!r} must be numbers [{units}], got {arr.dtype} values"
                )
            arr = arr.astype(float)
            if arr.ndim > 1:
                raise ParameterError(
                    f"parameter {name!r} must be one value per member, got shape {arr.shape}"
                )
            bad = ~np.isfinite(arr)
            if bad.any():
                first = int(np.flatnonzero(np.atleast_1d(bad))[0])
                raise ParameterError(
                    f"parameter {name!r} must be finite, got "
                    f"{np.atleast_1d(arr)[first]} (member {first})"
                )
            out = (arr < low) | (arr > high)
            if out.any():
                first = int(np.flatnonzero(np.atleast_1d(out))[0])
                raise ParameterError(
                    f"parameter {name!r} = {np.atleast_1d(arr)[first]:g} (member {first}) is "
                    f"outside its range [{low:g}, {high:g}] {units}"
                )
            if name in columns:
                raise ParameterError(f"parameter {name!r} is given twice")
            if arr.ndim == 1:
                if size is not None and len(arr) != size:
                    raise ParameterError(
                        f"parameter {name!r} has {len(arr)} values, others have {size}"
                    )
                size = len(arr)
                columns[name] = np.ascontiguousarray(arr)
            else:
                columns[name] = float(arr)
        if size is None:
            size = 1 if n is None else int(n)
        elif n is not None and int(n) != size:
            raise ParameterError(f"n={n} but the parameters have {size} values")
        if size < 1:
            raise ParameterError("an ensemble needs at least one member")
        if index is None:
            index = pd.RangeIndex(size, name="sample")
        return columns, index

    def _check_outputs(self, outputs) -> tuple:
        if outputs is None:
            if self._is_hub_model():
                outputs = KEY_OUTPUTS
            else:
                outputs = [n for n in self.elements if self.nodes[n].stateful]
        elif isinstance(outputs, str):
            outputs = self.outputs_available() if outputs == "all" else [outputs]
        out = []
        for name in outputs:
            py = self.resolve_name(name, "output")
            if py not in out:
                out.append(py)
        if not out:
            raise ParameterError("no outputs requested")
        return tuple(out)

    def _control(self, time_step, final_time, saveper, values, varied) -> dict:
        given = {"final_time": final_time, "time_step": time_step, "saveper": saveper}
        for key, value in given.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float, np.floating))
            ):
                raise ParameterError(f"{key} must be a finite number, got {value!r}")
        ctrl = control_values(self.nodes, self.tables, values, varied, given)
        for key, value in ctrl.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.floating))
                or not np.isfinite(value)
            ):
                raise ParameterError(f"{key} must be a finite number, got {value!r}")
        ctrl = {k: float(v) for k, v in ctrl.items()}
        if ctrl["time_step"] <= 0 or ctrl["saveper"] <= 0:
            raise ParameterError("time_step and saveper must be positive")
        if ctrl["final_time"] <= ctrl["initial_time"]:
            raise ParameterError(
                f"final_time {ctrl['final_time']:g} must be after "
                f"initial_time {ctrl['initial_time']:g}"
            )
        return ctrl


# --------------------------------------------------------------------------------------------
# Running chunks: in this process, in worker processes, or on dask.distributed
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    mdl: Path
    sha256: str
    outputs: tuple
    values: dict  # scalar value of every constant
    ctrl: dict
    steps: int
    save_steps: np.ndarray
    data_files: tuple = ()
    orders: dict | None = None
    state: dict | None = None  # warm start: the state per member at step ``first``
    first: int = 0
    keep: int = -1  # return the state at the start of this step


def _run_chunk(
    model: EnsembleModel, job: _Job, varied: dict, out: np.ndarray | None = None, prog=None
):
    """One chunk into ``out`` (outputs, saves, members); warm start: :mod:`~.warmstart`."""
    prog = prog or model.program(job.outputs, job.orders)
    n = len(next(iter(varied.values()))) if varied else 1
    if out is None:
        out = np.empty((output_rows(model.nodes, job.outputs)[-1][1], len(job.save_steps), n))
    nodes = model.nodes
    P = {k: np.float64(job.values[k]) for k in prog.params if not nodes[k].dims}
    P.update({k: v for k, v in varied.items() if k in P})
    P.update({k: node_param(nodes[k], job.values, varied) for k in prog.params if nodes[k].dims})
    P.update(__seed__=job.values["__seed__"], __member__=varied.get("__member__", np.zeros(1)))
    c = job.ctrl
    state = None if job.state is None else take_state(job.state, varied["__row_member__"])
    with np.errstate(all="ignore"):
        kept = prog.func(
            P,
            n,
            c["initial_time"],
            c["final_time"],
            c["time_step"],
            c["saveper"],
            job.steps,
            job.save_steps,
            output_views(nodes, job.outputs, out),
            state,
            job.first,
            job.keep,
        )
    return out if job.keep < 0 else kept


def _chunks(nsamp: int, chunk_size: int | None, varied: bool) -> list[tuple[int, int]]:
    """Member ranges of about ``chunk_size`` members (equal sizes)."""
    if not varied:
        return [(0, nsamp)]
    chunk = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ParameterError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    k = -(-nsamp // int(chunk))
    edges = np.linspace(0, nsamp, k + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _default_workers(nsamp: int, nchunks: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, nchunks)) if nsamp >= 2000 else 1


def _slice(varied, lo, hi):
    return {k: v[lo:hi] for k, v in varied.items()}


def _run_local(model, job, varied, bounds, nworkers, prog, nsamp, bar) -> np.ndarray:
    shape = (output_rows(model.nodes, job.outputs)[-1][1], len(job.save_steps), nsamp)
    if not varied:  # every member is the same: simulate one, copy
        one = _run_chunk(model, job, {}, prog=prog)
        return np.repeat(one, nsamp, axis=2)
    import multiprocessing as mp

    if nworkers <= 1 or len(bounds) == 1 or "fork" not in mp.get_all_start_methods():
        result = np.empty(shape)
        for lo, hi in bounds:
            _run_chunk(model, job, _slice(varied, lo, hi), result[:, :, lo:hi], prog)
            bar.update(1)
        return result
    import mmap
    from concurrent.futures import ProcessPoolExecutor

    # Forked workers inherit the compiled model, the parameters and a shared output buffer,
    # and write their members' columns straight into it: nothing is pickled but indices.
    nbytes = int(np.prod(shape)) * 8
    buffer = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_SHARED)
    result = np.frombuffer(buffer, dtype=float, count=int(np.prod(shape))).reshape(shape)
    _FORKED.update(model=model, job=job, varied=varied, result=result, prog=prog)
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() in a process with threads (e.g. after a dask
            # client); the workers only run numpy on inherited data and take no locks.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = ProcessPoolExecutor(max_workers=nworkers, mp_context=mp.get_context("fork"))
            futures = [pool.submit(_forked_chunk, lo, hi) for lo, hi in bounds]
        with pool:
            try:
                for future in futures:
                    future.result()
                    bar.update(1)
            except BaseException:
                # an interrupt (e.g. a Jupyter kernel's, which reaches this process only) or a
                # failed chunk: the chunks not yet started are dropped instead of run first
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    finally:
        _FORKED.clear()
    return result


_FORKED: dict = {}


def _forked_chunk(lo: int, hi: int) -> None:
    f = _FORKED
    _run_chunk(
        f["model"], f["job"], _slice(f["varied"], lo, hi), f["result"][:, :, lo:hi], f["prog"]
    )


_WORKER_MODELS: dict = {}


def _worker(job: _Job, varied: dict) -> np.ndarray:
    """A chunk on a dask worker: compile the model there once, return the outputs."""
    key = (str(job.mdl), job.sha256, job.data_files)
    model = _WORKER_MODELS.get(key)
    if model is None:
        model = compile_model(job.mdl, job.data_files)
        if model.sha256 != job.sha256:
            raise EnsembleError(f"{job.mdl} differs on the worker from the one compiled here")
        _WORKER_MODELS[key] = model
    return _run_chunk(model, job, varied)


def _run_dask(scheduler, job, varied, bounds, bar):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - optional dependency
        raise EnsembleError(
            "scheduler= needs dask.distributed (pip install 'dask[distributed]')"
        ) from err
    own = None
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler == "dask":
        cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
        client = own = Client(cluster)
    elif isinstance(scheduler, str):
        client = own = Client(scheduler)
    else:
        raise ParameterError(f"scheduler must be 'dask', an address or a Client, got {scheduler!r}")
    try:
        chunks = [_slice(varied, lo, hi) for lo, hi in bounds]
        futures = client.map(_worker, [job] * len(chunks), chunks, pure=False)
        for future in futures:
            future.add_done_callback(lambda _: bar.update(1))
        parts = client.gather(futures)
    finally:
        if own is not None:
            cluster = getattr(own, "cluster", None)
            own.close()
            if cluster is not None:
                cluster.close()
    if not varied:
        parts = [np.repeat(p, hi - lo, axis=2) for p, (lo, hi) in zip(parts, bounds, strict=True)]
    return parts


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_MODELS: dict[tuple[str, str], EnsembleModel] = {}


def compile_model(
    mdl: str | os.PathLike = DEFAULT_MODEL, data_files: Iterable | str | os.PathLike | None = None
) -> EnsembleModel:
    """Compile a Vensim model for ensemble runs (cached by the file's SHA-256).

    The model is parsed with PySD's own parser and turned into one vectorised Python function
    (see the module docstring); every variable is compiled once here, so an unsupported
    construct fails now rather than at the first run.

    Parameters
    ----------
    mdl : str or path
        The Vensim ``.mdl`` file (default ``models/hub.mdl``).
    data_files : path or list of paths, optional
        CSV or tab files (PySD's format: a ``Time`` column, one column per variable,
        ``name[element]`` per element) with the series of the model's data variables that
        have no equation (``x :INTERPOLATE:``), as ``pysd.read_vensim(mdl, data_files=...)``;
        relative paths are taken from the working folder, as PySD does. Read once, here.

    Returns
    -------
    EnsembleModel
        The compiled model: :meth:`EnsembleModel.run` runs it; ``parameter_table()`` gives
        its constants with default, range and units; ``controls`` its INITIAL TIME,
        FINAL TIME, TIME STEP and SAVEPER (in the model's time unit, Year for the hub model).

    Raises
    ------
    FileNotFoundError
        When ``mdl`` is not a file.
    UnsupportedConstructError
        For a construct the engine does not implement, naming it and the variable.
    EnsembleError
        For a model that cannot be simulated (no control values, unknown names,
        simultaneous equations).

    Examples
    --------
    >>> model = compile_model("models/hub.mdl")
    >>> model.controls["time_step"]              # Year
    >>> model.parameter_table().loc["automatable_junior_share", ["low", "high", "units"]]
    """
    mdl = Path(mdl)
    if not mdl.is_file():
        raise FileNotFoundError(f"model file not found: {mdl}")
    sha = file_hash(mdl)
    if data_files is None:
        data_files = ()
    elif isinstance(data_files, (str, os.PathLike)):
        data_files = (data_files,)
    files = tuple(str(Path(f).resolve()) for f in data_files)
    missing = [f for f in files if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"data file not found: {missing[0]}")
    key = (str(mdl.resolve()), sha, tuple((f, file_hash(Path(f))) for f in files))
    if key in _MODELS:
        return _MODELS[key]
    builder = Builder(mdl, files)
    missing = [k for k in CONTROL if k not in builder.nodes]
    if missing:
        raise EnsembleError(f"{mdl.name} has no {', '.join(missing)}")
    check_controls(builder.nodes)
    builder.check_statefuls(static_names(builder.nodes))
    check_order_inputs(builder.nodes)
    model = EnsembleModel(
        mdl=mdl,
        sha256=sha,
        nodes=builder.nodes,
        tables=builder.tables,
        elements=builder.order,
        data_files=files,
    )
    model.program(tuple(n for n in model.elements))  # compile everything once: fail early
    _MODELS[key] = model
    return model


def run_ensemble(
    hub: str | None = DEFAULT_HUB, params=None, outputs=None, mdl=DEFAULT_MODEL, **kwargs
) -> xr.Dataset:
    """Run N parameter sets of the model side by side on the ensemble engine.

    Parameters
    ----------
    hub : str or None
        Hub whose values the members start from (``krakow``, ``krakow@v1``); ``None``: the
        model's own values.
    params : pandas.DataFrame or mapping, optional
        One column per parameter, one row per member (or a mapping of scalars).
    outputs : sequence of str, optional
        Variables to return (default: the key outputs; ``"all"``: every variable).
    mdl : path
        The Vensim model (default ``models/hub.mdl``).
    **kwargs
        Passed to :meth:`EnsembleModel.run` (``final_time``, ``workers``, ``scheduler`` ...).

    Returns
    -------
    xarray.Dataset
        Dims ``sample`` and ``time`` [Year]; each variable in the model's units (Person,
        Person/Year, Dmnl, EUR ...) with its ``units`` attr; the varied parameters as
        coordinates along ``sample``. Each member equals a :func:`hubsd.run` with the same
        parameters to round-off.

    Raises
    ------
    ParameterError, HubError
        An unknown parameter, output or hub, or a value outside its range, before anything runs.
    EnsembleError
        A model the engine cannot run (see :func:`compile_model`), or a DELAY too short for
        the time step.

    Examples
    --------
    >>> import pandas as pd
    >>> ens = run_ensemble("krakow", pd.DataFrame({"automatable_junior_share": [0.3, 0.8]}),
    ...                    ["junior_staff"])
    """
    return compile_model(mdl).run(params, outputs, hub, **kwargs)
