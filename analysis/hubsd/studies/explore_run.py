"""The explorer's ensemble runs: continued from 2026 where the warm start allows, in full otherwise.

Every slider of the explorer (:mod:`hubsd.studies.explore`) acts from a year on: the policy
levers from their start years (``STEP(1, start year)``) and the AI futures of the Scenario
sector from the ``scenario start year`` (2026). The history before 2026 is thus the same for
every setting. :class:`EnsembleRuns` simulates it once per hub (a
:func:`hubsd.engine.warmstart.warm_start` at :data:`WARM_FROM`, at the explorer's TIME STEP,
and the saved outputs 2005-2025 of the same members at the same step), then runs each change
from 2026 only (:meth:`hubsd.engine.warmstart.WarmStart.run`) and puts the stored history in
front: the same numbers as the full run from 2005 (``tests/test_explore.py``, to 1e-9), in
about half its steps.

It falls back to the full run from INITIAL TIME (``mode`` says so, and why) when

* the warm start refuses a change that could act before 2026 (a lever's start year before
  2026; the client growth multiplier, whose rule the warm start's conservative check cannot
  prove to act from 2026 only; see :mod:`hubsd.engine.warmstart`); at the second refusal in a
  row the history is simulated again with the current settings (a refused value that stays,
  such as a moved client growth multiplier, then no longer sends every change to the full
  run), or
* a member needs a finer step (a non-finite output at the coarse step, a delay too short for
  it): the full run re-runs those members at the finer steps (``finer_steps`` of
  :meth:`hubsd.engine.ensemble.EnsembleModel.run`), which a continuation at the coarse step
  cannot.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping

import numpy as np

from hubsd.engine.ensemble import EnsembleModel
from hubsd.engine.steps import nonfinite_members
from hubsd.engine.warmstart import WarmStart, WarmStartError, warm_start
from hubsd.plots.fans import TIERS

#: Outputs the explorer runs: the three tiers, total hub jobs and the five city outcomes.
OUTPUTS = [
    *TIERS,
    "total_hub_staff",
    "youth_unemployment_rate",
    "business_first_year_enrolment",
    "local_service_jobs",
    "net_young_migration",
    "cumulative_policy_cost",
]
#: Fan-chart quantiles: 90 % band, 50 % band, median.
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The year the runs continue from [Year]: the scenario start year of the hub model and the
#: earliest default start year of the levers (a slider set before it runs in full).
WARM_FROM = 2026.0
#: Save period of the explorer's outputs [Year].
SAVEPER = 1.0


def fan_quantiles(members: np.ndarray, quantiles=QUANTILES) -> np.ndarray:
    """Quantiles over members (axis 0) as :func:`numpy.quantile` (linear) computes them.

    One :func:`numpy.partition` at the order statistics the quantiles need, then the linear
    interpolation between neighbours: the same numbers, without numpy.quantile's overhead per
    call (the explorer computes them for every output on every change).
    """
    n = members.shape[0]
    pos = np.asarray(quantiles, dtype=float) * (n - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n - 1)
    part = np.partition(members, np.unique(np.concatenate([lo, hi])), axis=0)
    w = (pos - lo)[:, None]
    a, b = part[lo], part[hi]
    return a + (b - a) * w


def _short(reason: str) -> str:
    """The first clause of a refusal (for the status line)."""
    return reason.split(": it ")[0].split("; ")[0]


class EnsembleRuns:
    """The explorer's runs of one ensemble: warm from :data:`WARM_FROM`, or in full.

    Parameters
    ----------
    model : EnsembleModel
        The compiled hub model.
    time_step : float or None
        Integration step [Year] (None: the model's own).
    finer : tuple of float
        Finer steps for the members ``time_step`` cannot integrate (full runs only).
    warm : bool
        Whether to continue from :data:`WARM_FROM` at all (False: always the full run).

    Attributes
    ----------
    time : numpy.ndarray
        Save times of the last run [Year].
    attrs : dict
        Each output's attrs (units, description).
    member_time_step : numpy.ndarray
        Each member's step in the last run [Year] (empty without finer steps).
    mode : str
        How the last run ran: ``"from 2026 (history 2005-2025 kept)"`` or ``"full run from
        2005 (...)"`` with the reason.
    refused : str
        The warm start's last refusal in full ("" if none).
    seconds : float
        Wall time of the last run [s].
    """

    def __init__(
        self, model: EnsembleModel, time_step: float | None, finer: tuple, warm: bool = True
    ) -> None:
        self.model, self.time_step, self.finer, self.warm = model, time_step, finer, warm
        self.start: WarmStart | None = None
        self.history: dict[str, np.ndarray] = {}
        self.history_time = np.array([])
        self.base: dict[str, float] = {}
        self.time = np.array([])
        self.attrs: dict = {}
        self.member_time_step = np.array([])
        self.mode = ""
        self.refused = "" if warm else "warm start off"
        self.refusals = 0  # refusals in a row: at 2, the history is simulated again
        self.seconds = 0.0

    def reset(
        self, hub_values: Mapping[str, float], lhs: Mapping[str, np.ndarray], base: Mapping
    ) -> EnsembleRuns:
        """A new ensemble: the hub's values, the drawn columns, the sliders' initial values.

        Simulates the history to :data:`WARM_FROM` once (the kept state and the saved outputs
        before it); a refusal (a delay too short for the step, non-finite history) leaves every
        later run in full, with the reason in :attr:`refused`.
        """
        self.hub_values, self.lhs = dict(hub_values), dict(lhs)
        self.base = {k: float(v) for k, v in base.items()}
        self.n = len(next(iter(self.lhs.values())))
        self.start, self.history, self.refusals = None, {}, 0
        if not self.warm:
            return self
        params: dict = {**self.hub_values, **self.lhs, **self.base}
        try:
            self.start = warm_start(
                self.model, params, WARM_FROM, OUTPUTS, time_step=self.time_step
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # non-finite: see below
                ds = self.model.run(
                    params,
                    OUTPUTS,
                    None,
                    time_step=self.time_step,
                    final_time=WARM_FROM - SAVEPER,
                    saveper=SAVEPER,
                    workers=1,
                )
        except WarmStartError as err:
            self.start, self.refused = None, str(err)
            return self
        bad = nonfinite_members(ds)
        if bad.any() and not self.finer:
            self.start = None
            self.refused = f"members need a finer step before {WARM_FROM:g}"
            return self
        # members the coarse step cannot integrate before 2026 cannot at any setting: the full
        # run re-runs them at the finer steps every time, and so does every change here
        self.good, self.bad = np.flatnonzero(~bad), np.flatnonzero(bad)
        self.history = {v: ds.variables[v].data[self.good] for v in OUTPUTS}
        self.fine = None  # the bad members' own warm start at the next step, where it runs
        if len(self.bad):
            sub = {**self.hub_values, **{k: v[self.bad] for k, v in self.lhs.items()}}
            sub.update(self.base)
            try:
                fine = warm_start(self.model, sub, WARM_FROM, OUTPUTS, time_step=self.finer[0])
                hist = self.model.run(
                    sub,
                    OUTPUTS,
                    None,
                    n=len(self.bad),
                    time_step=self.finer[0],
                    final_time=WARM_FROM - SAVEPER,
                    saveper=SAVEPER,
                    workers=1,
                )
                if not nonfinite_members(hist).any():
                    self.fine = (fine, {v: hist.variables[v].data for v in OUTPUTS})
            except WarmStartError:
                pass
        self.history_time = ds["time"].to_numpy()
        self.refused = ""
        return self

    def run(
        self, policies: list[Mapping[str, float]], futures: Mapping[str, float]
    ) -> list[dict[str, np.ndarray]]:
        """Every member under each policy with the AI futures; outputs (member, time) each.

        Continued from :data:`WARM_FROM` where the warm start allows it, else the full run
        (:attr:`mode` says which).
        """
        t0 = time.perf_counter()
        out = None
        if self.start is not None:
            try:
                out = self._warm(policies, futures)
            except WarmStartError as err:
                self.refused, self.refusals = str(err), self.refusals + 1
            if out is None and self.refusals >= 2:
                # refused twice running (a value the rule refuses that stays, e.g. the client
                # growth multiplier): simulate the history again with the current settings
                self.reset(self.hub_values, self.lhs, {**policies[-1], **futures})
                try:
                    out = self._warm(policies, futures) if self.start is not None else None
                    self.mode += "; history simulated again for these settings"
                except WarmStartError as err:
                    self.refused, self.refusals = str(err), self.refusals + 1
        if out is None:
            out = self._full(policies, futures)
        self.seconds = time.perf_counter() - t0
        return out

    def _split(self, arrays: dict, k: int) -> list[dict[str, np.ndarray]]:
        n = self.n
        return [{v: a[i * n : (i + 1) * n] for v, a in arrays.items()} for i in range(k)]

    def _warm(self, policies, futures) -> list[dict[str, np.ndarray]] | None:
        n, k, good = self.n, len(policies), self.good
        changes: dict = {}
        for name, value in futures.items():  # only what differs from the history's values
            if float(value) != self.base[name]:
                changes[name] = float(value)
        for name in policies[0]:
            column = np.repeat([float(p[name]) for p in policies], len(good))
            if np.any(column != self.base[name]):
                changes[name] = column if k > 1 else float(column[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # non-finite: the full run mends
            ds = self.start.run(
                changes, np.tile(good, k), saveper=SAVEPER, workers=1, progress=False
            )
        if nonfinite_members(ds).any():
            self.refused = "members need a finer step"
            return None
        self.time = np.concatenate([self.history_time, ds["time"].to_numpy()])
        self.attrs = {v: dict(ds.variables[v].attrs) for v in OUTPUTS}
        rows = (np.arange(k)[:, None] * n + good[None, :]).ravel()
        arrays = {}
        for v in OUTPUTS:
            arrays[v] = np.empty((k * n, len(self.time)))
            arrays[v][rows] = np.concatenate(
                [np.tile(self.history[v], (k, 1)), ds.variables[v].data], axis=1
            )
        steps = np.full(n, self.start.ctrl["time_step"])
        if len(self.bad):  # as the full run re-runs them: at the finer steps
            rows = (np.arange(k)[:, None] * n + self.bad[None, :]).ravel()
            fine = self._fine(policies, futures) if self.fine is not None else None
            if fine is not None:  # continued from 2026 at the next step
                for v in OUTPUTS:
                    arrays[v][rows] = fine[v]
                steps[self.bad] = self.finer[0]
            else:  # in full from 2005, finer still where needed
                sub = self._finer(policies, futures)
                for v in OUTPUTS:
                    arrays[v][rows] = sub.variables[v].data
                if "member_time_step" in sub.coords:
                    steps[self.bad] = sub["member_time_step"].to_numpy()[-len(self.bad) :]
                else:
                    steps[self.bad] = self.finer[0]
        if self.finer:
            self.member_time_step = steps
        t_first = self.history_time[0]
        self.mode = f"from {WARM_FROM:g} (history {t_first:g}-{WARM_FROM - SAVEPER:g} kept)"
        return self._split(arrays, k)

    def _fine(self, policies, futures) -> dict[str, np.ndarray] | None:
        """The members the coarse step cannot integrate, from 2026 at the next step (or None)."""
        start, history = self.fine
        k, m = len(policies), len(self.bad)
        changes = {n: float(v) for n, v in futures.items() if float(v) != self.base[n]}
        for name in policies[0]:
            column = np.repeat([float(p[name]) for p in policies], m)
            if np.any(column != self.base[name]):
                changes[name] = column
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ds = start.run(changes, np.tile(np.arange(m), k), saveper=SAVEPER, workers=1)
        if nonfinite_members(ds).any():  # the full run would go finer still
            return None
        return {
            v: np.concatenate([np.tile(history[v], (k, 1)), ds.variables[v].data], axis=1)
            for v in OUTPUTS
        }

    def _finer(self, policies, futures):
        """The members the coarse step cannot integrate, in full at the finer steps."""
        bad, k = self.bad, len(policies)
        params: dict = dict(self.hub_values)
        params.update({name: np.tile(col[bad], k) for name, col in self.lhs.items()})
        params.update({name: float(v) for name, v in futures.items()})
        for name in policies[0]:
            params[name] = np.repeat([float(p[name]) for p in policies], len(bad))
        return self.model.run(
            params,
            OUTPUTS,
            None,
            n=k * len(bad),
            time_step=self.finer[0],
            finer_steps=self.finer[1:],
            saveper=SAVEPER,
            workers=1,
        )

    def _full(self, policies, futures) -> list[dict[str, np.ndarray]]:
        n, k = self.n, len(policies)
        params: dict = dict(self.hub_values)
        params.update({name: np.tile(col, k) for name, col in self.lhs.items()})
        params.update({name: float(v) for name, v in futures.items()})
        for name in policies[0]:
            column = np.repeat([float(p[name]) for p in policies], n)
            params[name] = column if k > 1 else float(column[0])
        # members the coarse step cannot integrate (non-finite, a delay too short for it) are
        # re-run by the engine at the next finer step
        ds = self.model.run(
            params,
            OUTPUTS,
            None,
            time_step=self.time_step,
            finer_steps=self.finer,
            saveper=SAVEPER,
            workers=1,
        )
        if "member_time_step" in ds.coords:
            self.member_time_step = ds["member_time_step"].to_numpy()[-n:]
        self.time = ds["time"].to_numpy()
        # the Variables (sample, time), not DataArrays: no copies of the parameter coordinates
        self.attrs = {v: dict(ds.variables[v].attrs) for v in OUTPUTS}
        self.mode = f"full run from {self.time[0]:g}" + (
            f" ({_short(self.refused)})" if self.refused else ""
        )
        return self._split({v: ds.variables[v].data for v in OUTPUTS}, k)
