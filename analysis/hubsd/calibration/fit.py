"""The objective and the multi-start least-squares fit (intervals: :mod:`.profiles`).

Residuals are relative errors divided by the figure's assumed relative error (by kind). Members
of every solver's requests run side by side through the ensemble engine (:class:`BatchBroker`),
on its fused kernel where numba is installed (:func:`run_backend`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr
from scipy import optimize

from hubsd.calibration.spec import (
    FAILED_RESIDUAL,
    PLAUSIBLE_FACTOR,
    CalibrationError,
    ImplausibleFigure,
    Point,
    Spec,
)
from hubsd.core import sampling
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.core.progress import progress_bar, wanted
from hubsd.engine import fused
from hubsd.engine.ensemble import compile_model
from hubsd.engine.pysd_runner import resolve_parameters
from hubsd.inputs.hubs import load_hub

# -- the objective --------------------------------------------------------------------------------


def run_backend(engine) -> str:
    """The engine backend the calibration runs ``engine`` on: ``"fused"`` or ``"numpy"``.

    :func:`hubsd.engine.fused.small_runs_backend`: the calibration's runs are small (the
    difference stencils of a few solvers) and many (one per iteration).
    """
    return fused.small_runs_backend(engine)


class BatchBroker:
    """Gather the evaluation requests of several solver threads into one vectorised call.

    Each thread calls :meth:`evaluate` with a ``(k, p)`` array; when every live thread is
    waiting, the broker stacks the requests, calls ``batch_fn`` once, and hands each thread its
    rows. A thread calls :meth:`leave` when its solver is done.
    """

    def __init__(self, batch_fn, threads: int):
        self.batch_fn = batch_fn
        self.active = threads
        self.pending: dict[int, np.ndarray] = {}
        self.results: dict[int, object] = {}
        self.cond = threading.Condition()
        self.calls = 0
        self.members = 0
        self.members_of: dict[int, int] = {}  # members requested by each solver key

    def _flush(self):
        ids = sorted(self.pending)  # by solver key, not arrival: the same batch every time
        sizes = [len(self.pending[i]) for i in ids]
        try:
            out = self.batch_fn(np.vstack([self.pending[i] for i in ids]))
            self.calls += 1
            self.members += sum(sizes)
            for i, n in zip(ids, sizes, strict=True):
                self.members_of[i] = self.members_of.get(i, 0) + n
            start = 0
            for i, n in zip(ids, sizes, strict=True):
                self.results[i] = out[start : start + n]
                start += n
        except BaseException as exc:  # hand the failure to every waiting solver
            for i in ids:
                self.results[i] = exc
        self.pending.clear()
        self.cond.notify_all()

    def evaluate(self, x: np.ndarray, key: int | None = None) -> np.ndarray:
        """Rows of ``batch_fn`` for ``x``, computed with every other waiting thread's rows.

        ``key`` (the solver's number) orders the batch, so that a run is reproducible whatever
        order the threads arrive in.
        """
        me = threading.get_ident() if key is None else key
        with self.cond:
            self.pending[me] = np.atleast_2d(x)
            if len(self.pending) >= self.active:
                self._flush()
            while me not in self.results:
                self.cond.wait()
            out = self.results.pop(me)
        if isinstance(out, BaseException):
            raise out
        return out

    def leave(self):
        """Withdraw a finished solver; run the batch if the others are all waiting."""
        with self.cond:
            self.active -= 1
            if self.pending and len(self.pending) >= self.active:
                self._flush()


class Objective:
    """Weighted relative residuals of a spec's figures, for many parameter vectors at once."""

    def __init__(self, spec: Spec, points: list[Point] | None = None, mdl=None):
        self.spec = spec
        self.engine = compile_model(spec.mdl if mdl is None else mdl)
        self.points = spec.points if points is None else points
        self.free = spec.free
        self.outputs = sorted({p.output for p in spec.points})
        self.final_time = spec.final_time
        self.evaluations = 0
        self._model_idx = [i for i, f in enumerate(self.free) if not f.share]
        self._share_idx = {f.name: i for i, f in enumerate(self.free) if f.share}
        self.obs = np.array([p.value for p in self.points])
        self.sigma = np.array([p.sigma * abs(p.value) for p in self.points])
        self.bound = np.array([p.bound for p in self.points])
        self._hub_values: dict | None = None  # the hub file's values, read once (simulate)
        self._at: tuple | None = None  # (time axis, index of each figure's year on it)

    def _hub(self) -> dict:
        """The hub file's parameter values (read once; the engine would read it every run)."""
        if self._hub_values is None:
            self._hub_values = dict(load_hub(self.spec.hub, mdl=self.engine.mdl)["parameters"])
        return self._hub_values

    # parameter vectors in the optimiser's unit cube <-> natural values
    def to_natural(self, u: np.ndarray) -> np.ndarray:
        """Natural values ``(k, p)`` of parameter vectors in the unit cube ``(k, p)``."""
        u = np.atleast_2d(u)
        return np.column_stack([f.from_unit(u[:, j]) for j, f in enumerate(self.free)])

    def simulate(
        self, u: np.ndarray, outputs=None, saveper: float = 1.0, final_time: float | None = None
    ) -> xr.Dataset:
        """Ensemble run of the model at the parameter vectors ``u`` (rows, unit cube)."""
        x = self.to_natural(u)
        varied = {self.free[j].name: x[:, j] for j in self._model_idx}
        self.evaluations += len(x)
        # the hub's values as fixed parameters, as the engine's hub= would lay them over the
        # model's defaults, without reading the hub file again for every run
        fixed = {k: v for k, v in self._hub().items() if k not in varied}
        kwargs = dict(
            params=pd.DataFrame(varied) if not fixed else {**fixed, **varied},
            outputs=outputs or self.outputs,
            hub=None,
            final_time=final_time or self.final_time,
            saveper=saveper,
            workers=1,
            progress=False,  # the calibration draws its own bars (fused runs are in chunks)
        )
        return self.engine.run(**kwargs, backend=run_backend(self.engine))

    def predictions(self, u: np.ndarray, ds: xr.Dataset | None = None) -> np.ndarray:
        """Model values at each figure's year (divided by the series' share): ``(k, m)``."""
        u = np.atleast_2d(u)
        ds = self.simulate(u) if ds is None else ds
        x = self.to_natural(u)
        pred = np.empty((len(u), len(self.points)))
        time = ds["time"].to_numpy()
        if self._at is None or not np.array_equal(self._at[0], time):
            # each figure's year on the time axis, nearest as xarray's sel(method="nearest")
            at = pd.Index(time).get_indexer([p.year for p in self.points], method="nearest")
            self._at = (time, at)
        for i, p in enumerate(self.points):
            val = ds[p.output].to_numpy()[:, self._at[1][i]]
            if p.share is not None:
                val = val / x[:, self._share_idx[p.share]]
            pred[:, i] = val
        return pred

    def residuals_from(self, pred: np.ndarray) -> np.ndarray:
        """Weighted residuals ``(k, m)`` of predictions; bounds count only when broken."""
        r = (pred - self.obs) / self.sigma
        r = np.where(self.bound == "lower", np.minimum(r, 0.0), r)
        r = np.where(self.bound == "upper", np.maximum(r, 0.0), r)
        return np.where(np.isfinite(r), r, FAILED_RESIDUAL)

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """Weighted residuals ``(k, m)`` at parameter vectors ``u`` (rows, unit cube)."""
        return self.residuals_from(self.predictions(u))


# -- optimisation ---------------------------------------------------------------------------------

FD_STEP = 1e-4  # forward-difference step in the unit cube


def _stencil(u: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points for a forward-difference Jacobian at ``u`` (backward at the upper bound)."""
    steps = np.where(u + FD_STEP <= 1.0, FD_STEP, -FD_STEP)
    pts = [u]
    for j in np.flatnonzero(~fixed):
        v = u.copy()
        v[j] += steps[j]
        pts.append(v)
    return np.array(pts), steps


def _solve(
    broker: BatchBroker,
    u0: np.ndarray,
    fixed: np.ndarray,
    max_nfev: int,
    solver: int | None = None,
    residuals_of=None,
    speculate: bool = True,
):
    """One SciPy least_squares run in the unit cube, free coordinates only, via the broker.

    ``residuals_of`` turns the broker's rows into this solver's residuals (default: the rows
    are the residuals). With ``speculate``, every new point is evaluated with its
    forward-difference stencil in the same ensemble run, so the Jacobian SciPy asks for after
    an accepted step is already there: one vectorised run per iteration instead of two, with
    the same numbers (a member's trajectory does not depend on the other members of a run).
    """
    cache: dict[bytes, np.ndarray] = {}
    jacobians: dict[bytes, np.ndarray] = {}
    free = np.flatnonzero(~fixed)
    take = residuals_of or (lambda rows: rows)

    def full(v):
        u = u0.copy()
        u[free] = v
        return u

    def stencil(u):
        pts, steps = _stencil(u, fixed)
        res = take(broker.evaluate(pts, solver))
        cache[u.tobytes()] = res[0]
        return ((res[1:] - res[0]) / steps[free][:, None]).T

    def fun(v):
        u = full(v)
        key = u.tobytes()
        if key not in cache:
            if speculate:
                jacobians[key] = stencil(u)
            else:
                cache[key] = take(broker.evaluate(u[None, :], solver))[0]
        return cache[key]

    def jac(v):
        u = full(v)
        key = u.tobytes()
        return jacobians[key] if key in jacobians else stencil(u)

    if free.size == 0:
        return None
    return optimize.least_squares(
        fun,
        np.clip(u0[free], 0, 1),
        jac=jac,
        bounds=(0.0, 1.0),
        method="trf",
        x_scale=1.0,
        max_nfev=max_nfev,
        ftol=1e-10,
        xtol=1e-10,
        gtol=1e-10,
    )


def _parallel_solves(
    objective: Objective,
    starts: list[tuple],
    max_nfev: int = 60,
    desc: str = "least squares",
    progress: bool | None = None,
    batch_fn=None,
    speculate: bool = True,
) -> tuple[list, BatchBroker]:
    """Run least_squares from each start side by side; returns the results in order.

    A start is ``(u0, fixed)`` or ``(u0, fixed, residuals_of)``: the last turns the rows of
    ``batch_fn`` (default: ``objective.residuals``) into that solver's residuals, so that fits
    to different sets of figures share one ensemble run per step. ``speculate`` is passed to
    :func:`_solve`. A progress bar (:func:`hubsd.core.progress.progress_bar`, labelled
    ``desc``) counts the finished solvers.
    """
    broker = BatchBroker(objective.residuals if batch_fn is None else batch_fn, len(starts))
    results: list = [None] * len(starts)
    bar = progress_bar(len(starts), desc, "solve", progress)

    def work(i, start):
        u0, fixed, *rest = start
        try:
            results[i] = _solve(
                broker, u0, fixed, max_nfev, i, rest[0] if rest else None, speculate
            )
        except BaseException as exc:  # reported with the start below
            results[i] = exc
        finally:
            broker.leave()
            bar.update(1)

    threads = [
        threading.Thread(target=work, args=(i, start), daemon=True)
        for i, start in enumerate(starts)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bar.close()
    return results, broker


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _two_process_solves(
    objective: Objective, starts: list[tuple], max_nfev: int, desc: str, progress: bool | None
) -> list:
    """:func:`_parallel_solves` with every other start in a forked second process.

    For the profiles, whose ensemble runs are large enough (about a thousand members) that
    simulating half of them in each of two processes halves the arithmetic. Each process
    batches its own solvers; a solver's result does not depend on which members share its
    runs, so the results are those of one process. One process only where ``fork`` is not
    available, on a single core, or when the child fails (its starts are then solved here).
    """
    if _cores() < 2 or "fork" not in multiprocessing.get_all_start_methods() or len(starts) < 2:
        return _parallel_solves(objective, starts, max_nfev, desc, progress)[0]
    theirs = list(range(1, len(starts), 2))
    mine = list(range(0, len(starts), 2))
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child():
        try:
            res, _ = _parallel_solves(objective, [starts[i] for i in theirs], max_nfev, desc, False)
            send.send(
                [r if not isinstance(r, BaseException) else RuntimeError(repr(r)) for r in res]
            )
        finally:
            send.close()

    with warnings.catch_warnings():
        # Python >= 3.12 warns about fork() in a process with threads (pytest-xdist, tqdm);
        # the child only runs numpy and SciPy on inherited data and sends its results back
        warnings.simplefilter("ignore", DeprecationWarning)
        proc = ctx.Process(target=child, daemon=True)
        proc.start()
    send.close()
    results: list = [None] * len(starts)
    own, _ = _parallel_solves(objective, [starts[i] for i in mine], max_nfev, desc, progress)
    for i, r in zip(mine, own, strict=True):
        results[i] = r
    try:
        other = receive.recv()
    except (EOFError, OSError):  # the child died: solve its starts here
        other = _parallel_solves(objective, [starts[i] for i in theirs], max_nfev, desc, False)[0]
    finally:
        receive.close()
        proc.join()
    for i, r in zip(theirs, other, strict=True):
        results[i] = r
    return results


@dataclass
class Fit:
    """The best of a multi-start fit, with the table of every local fit (:func:`fit`)."""

    spec: Spec
    objective: Objective
    u: np.ndarray  # best point in the unit cube
    cost: float  # 0.5 * sum of squared residuals
    starts: pd.DataFrame  # one row per local fit: start, end, cost, status
    screened: int
    evaluations: int
    calls: int
    converged: bool = True  # False: the best start ran out of evaluations (SciPy status 0)

    @property
    def estimates(self) -> dict[str, float]:
        """Estimate of every free parameter by name, in its natural units."""
        x = self.objective.to_natural(self.u)[0]
        return {f.name: float(v) for f, v in zip(self.spec.free, x, strict=True)}


def fit(
    spec: Spec,
    points: list[Point] | None = None,
    starts: int | None = None,
    mdl=DEFAULT_MODEL,
    max_nfev: int = 150,
    progress: bool | None = None,
    desc: str = "fit",
) -> Fit:
    """Multi-start least-squares fit of a spec's free parameters to its figures.

    ``progress`` forces the bar over the starts (labelled ``desc``) on or off (default: on in
    a terminal, :func:`hubsd.core.progress.wanted`). :func:`fits` with one set of figures.
    """
    return fits(spec, [points], starts, mdl, max_nfev, progress, desc)[0]


def _columns(union: list[Point], points: list[Point]) -> np.ndarray:
    """Where each of ``points`` is in ``union`` (the same object, else an equal figure)."""
    ids = {id(p): i for i, p in enumerate(union)}
    return np.array([ids[id(p)] if id(p) in ids else union.index(p) for p in points], dtype=int)


def fits(
    spec: Spec,
    point_sets: list[list[Point] | None],
    starts: int | None = None,
    mdl=DEFAULT_MODEL,
    max_nfev: int = 150,
    progress: bool | None = None,
    desc: str = "fit",
) -> list[Fit]:
    """Multi-start fits of one spec to several sets of its figures, all starts side by side.

    Each set (None: every figure of the spec) gets its own Latin-hypercube ranking, starts and
    best fit, exactly as :func:`fit` alone would give it; the sets share the screen and one
    ensemble run per step (the model is simulated for the union of their figures, and each
    solver takes its own figures' residuals). The calibration fits the whole data and the
    holdout's earlier years this way, in the wall time of the longer of the two.

    Parameters
    ----------
    spec : Spec
        The calibration spec (free parameters, bounds, starts, screen, seed).
    point_sets : list of (list of Point or None)
        The figures of each fit.
    starts : int, optional
        Local fits per set (default: the spec's ``starts``).
    mdl : path
        The Vensim model.
    max_nfev : int
        Evaluation budget of each local fit.
    progress : bool, optional
        A progress bar over all the local fits (labelled ``desc``); default: in a terminal.
    desc : str
        The bar's label.

    Returns
    -------
    list of Fit
        One per set, in order; ``calls`` counts the shared ensemble runs, ``evaluations`` the
        screen and the members that set's solvers asked for.

    Raises
    ------
    ImplausibleFigure
        For a figure the model cannot come near anywhere inside the bounds (after the screen).
    CalibrationError
        When no local fit of a set converged.
    """
    progress = wanted(progress)  # a bad HUBSD_PROGRESS is refused before anything runs
    sets = [spec.points if pts is None else list(pts) for pts in point_sets]
    union = list(sets[0])
    for pts in sets[1:]:
        union += [p for p in pts if p not in union]
    shared = Objective(spec, union, mdl)
    objs = [Objective(spec, pts, mdl) for pts in sets]
    cols = [_columns(union, pts) for pts in sets]
    p = len(spec.free)
    nstart = spec.starts if starts is None else starts
    screen = sampling.lhs_unit(p, spec.screen, spec.seed)
    # the hub's own values (clipped into the bounds) are always one start
    hub_values = resolve_parameters(spec.hub, None, mdl)
    own = np.array(
        [[np.clip(f.to_unit(hub_values[f.name]) if not f.share else 0.5, 0, 1) for f in spec.free]]
    )
    cand = np.vstack([own, screen])
    pred = shared.predictions(cand)
    _check_plausible(shared, pred)
    fixed = np.zeros(p, dtype=bool)
    plan, costs = [], []  # (set, candidate) of every local fit; screened costs per set
    all_starts = []
    for k, (obj, col) in enumerate(zip(objs, cols, strict=True)):
        res = obj.residuals_from(pred[:, col])
        costs.append(0.5 * np.sum(res**2, axis=1))
        order = [0] + [int(i) for i in np.argsort(costs[k][1:]) + 1][: max(nstart - 1, 0)]

        def residuals_of(rows, k=k):
            return rows.sets[k]

        for i in order:
            plan.append((k, i))
            all_starts.append(
                (cand[i], fixed) if len(sets) == 1 else (cand[i], fixed, residuals_of)
            )

    def batch(u):
        pred = shared.predictions(u)
        # C order, as Objective.predictions gives it (a column selection is not), so that each
        # solver's residual rows have the memory layout of a fit alone
        return _PerSet(
            [
                obj.residuals_from(np.ascontiguousarray(pred[:, col]))
                for obj, col in zip(objs, cols, strict=True)
            ]
        )

    # one set: the residuals of the whole run, as a fit alone has always been computed
    batch_fn = objs[0].residuals if len(sets) == 1 else batch
    results, broker = _parallel_solves(
        shared, all_starts, max_nfev, f"{spec.hub}: {desc}", progress, batch_fn
    )
    out = []
    for k, obj in enumerate(objs):
        mine = [
            (n, i, r) for n, ((kk, i), r) in enumerate(zip(plan, results, strict=True)) if kk == k
        ]
        members = len(cand) + sum(broker.members_of.get(n, 0) for n, _, _ in mine)
        out.append(
            _best(spec, obj, [(i, r) for _, i, r in mine], costs[k], members, broker.calls + 1)
        )
    return out


class _PerSet:
    """The residuals of every set of figures for one ensemble run; rows are sliced together.

    Each set's residuals are computed for the whole run and each solver gets a view of its
    rows, as a fit alone computes them: SciPy's sums over a solver's residuals then see the
    same memory layout, so a fit's result does not depend on the other sets sharing its runs
    (a freshly allocated copy can change the last bit of a BLAS sum, and an optimiser on a flat
    ridge turns that bit into a different path).
    """

    def __init__(self, sets: list[np.ndarray]):
        self.sets = sets

    def __len__(self) -> int:
        return len(self.sets[0])

    def __getitem__(self, rows: slice) -> _PerSet:
        return _PerSet([r[rows] for r in self.sets])


def _best(spec, obj, results, costs, evaluations, calls) -> Fit:
    """The best of a set's local fits (``results``: (candidate, SciPy result or error))."""
    rows, best = [], None
    for k, (i, r) in enumerate(results):
        if isinstance(r, BaseException):
            rows.append(
                {
                    "start": k,
                    "from": "hub values" if i == 0 else "screen",
                    "start_cost": costs[i],
                    "cost": np.nan,
                    "status": -99,
                    "message": f"{type(r).__name__}: {r}",
                    "nfev": 0,
                }
            )
            continue
        rows.append(
            {
                "start": k,
                "from": "hub values" if i == 0 else "screen",
                "start_cost": costs[i],
                "cost": r.cost,
                "status": r.status,
                "message": r.message,
                "nfev": r.nfev,
            }
        )
        # a start that ran out of evaluations (status 0) still counts; flagged if it is the best
        if r.status >= 0 and np.isfinite(r.cost) and (best is None or r.cost < best[1]):
            best = (r.x, r.cost, r.status > 0)
    table = pd.DataFrame(rows)
    if best is None:
        raise CalibrationError(
            f"calibration of {spec.hub!r} failed: no local fit converged ("
            + "; ".join(f"start {r['start']}: {r['message']}" for r in rows)
            + ")"
        )
    return Fit(
        spec,
        obj,
        best[0],
        float(best[1]),
        table,
        spec.screen,
        evaluations,
        calls,
        converged=bool(best[2]),
    )


def _check_plausible(obj: Objective, pred: np.ndarray) -> None:
    """Refuse a figure far outside what the model produces anywhere in the bounds."""
    for i, p in enumerate(obj.points):
        col = pred[:, i][np.isfinite(pred[:, i])]
        if col.size == 0:
            continue
        lo, hi = float(col.min()), float(col.max())
        too_low = p.bound != "lower" and p.value < lo / PLAUSIBLE_FACTOR
        too_high = p.bound != "upper" and p.value > hi * PLAUSIBLE_FACTOR
        if too_low or too_high:
            raise ImplausibleFigure(
                f"{p.role} {p.label} {p.year:g} = {p.value:g} is outside what the model gives "
                f"for {p.output}{' / ' + p.share if p.share else ''} anywhere inside the free "
                f"parameters' bounds ({lo:.4g} to {hi:.4g}, screened at {len(col)} points); "
                "check the figure, its unit and the output it is matched to, or widen the bounds"
            )
