"""Robust policy design: which lever mix holds up across everything we do not know.

* :func:`policy_ensemble` builds the uncertainty ensemble of a hub (default 10,000 members):
  every uncertain parameter over its range (calibrated ones over their profile intervals, see
  :func:`hubsd.studies.policies.uncertain_ranges`) plus the deep-uncertainty groups of AI
  capability (:data:`AI_CAPABILITY`) over the parameter table's whole range.
* :class:`Evaluator` runs many candidate policies over the same members in one batch on the
  ensemble engine and returns the outcomes per policy and member (:data:`OUTCOMES`).
* :func:`optimise` searches the decision variables of ``data/policy_design.yaml`` with pymoo's
  NSGA-II, each candidate scored by statistics over the whole ensemble (90th percentile, mean,
  share of members that fail), under a budget cap on the 90th-percentile discounted cost.
* :func:`robustness` scores the Pareto front: per outcome the 90th-percentile and mean value,
  the satisficing share and the minimax regret against the best policy per member.

The result (:class:`PolicyResult`) holds the front as an ``xarray.Dataset`` (dim ``policy``),
the front table with each point's policy spelled out, the recommended mix, and the outcomes per
member of every front point (dims ``policy``, ``member``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.problem import Problem
from pymoo.core.repair import Repair
from pymoo.optimize import minimize

from hubsd.engine.ensemble import EnsembleModel, compile_model
from hubsd.engine.members import check_workers
from hubsd.engine.warmstart import WarmStart, WarmStartError, warm_start
from hubsd.inputs.hubs import load_hub
from hubsd.model.parameters import table as parameter_table
from hubsd.studies.policies import draw_ensemble, lhs_parameters, uncertain_ranges
from hubsd.studies.policy_spec import (
    DEFAULT_OBJECTIVES,
    OUTCOMES,
    Design,
    Objective,
    PolicyDesignError,
    check_budget,
    check_objectives,
    load_design,
)

#: Deep uncertainty about AI capability: named groups of the model's ``Scenario`` sector
#: (changes from the scenario start year, 2026), each varied over the parameter table's whole
#: range, since no data up to 2025 narrow them; as futures they leave the fitted history as it
#: is (issue 17), unlike varying the fitted parameters themselves.
AI_CAPABILITY: dict[str, tuple[str, ...]] = {
    "adoption_speed": ("ai_adoption_speed_multiplier",),
    "automatable_shares": ("change_in_automatable_junior_share", "change_in_automatable_mid_share"),
    "augmentation_share": (
        "change_in_baseline_human_centred_ai_share",
        "augmentation_productivity_gain",
    ),
}
#: Default ensemble size of :func:`policy_ensemble`.
MEMBERS = 10_000
#: Engine outputs the hub outcomes are computed from.
HUB_OUTPUTS = (
    "youth_unemployment_rate",
    "displaced_hub_workers",
    "total_hub_staff",
    "net_young_migration",
    "local_service_jobs",
    "new_industry_jobs",
    "cumulative_policy_cost",
)
#: Model rows (policy x member) simulated in one engine call (one generation of 50 candidates
#: x 1,000 members: one call, one pool of workers forked for it, one Dataset; the rows are cut
#: into chunks of about the engine's 5,000, a multiple of the workers' count).
BATCH_ROWS = 50_000
#: Outcome of :func:`hub_outcomes` kept apart: each member's youth unemployment rate at the
#: base year without policy, the reference of a relative threshold (``Design.thresholds``).
REFERENCE = "youth_unemployment_base_year"


def policy_ensemble(
    hub: str,
    members: int = MEMBERS,
    seed: int = 0,
    ai_capability: Sequence[str] = tuple(AI_CAPABILITY),
) -> pd.DataFrame:
    """The uncertainty ensemble of a hub: one row per member, one column per parameter.

    Parameters
    ----------
    hub : str
        Hub or calibrated set (``"krakow"``, ``"krakow@v2"``, ``"krakow@calibrated"``).
    members : int
        Ensemble size (at least 2).
    seed : int
        Seed of the draw.
    ai_capability : sequence of str
        Groups of :data:`AI_CAPABILITY` varied over the table's whole range (deep uncertainty);
        the others keep the hub's ranges.

    Returns
    -------
    pandas.DataFrame
        Index ``member``; the AI-capability groups in ``attrs["ai_capability"]``.
    """
    if isinstance(members, bool) or not isinstance(members, (int, np.integer)) or members < 2:
        raise PolicyDesignError(f"members must be a whole number >= 2, got {members!r}")
    unknown = [g for g in ai_capability if g not in AI_CAPABILITY]
    if unknown:
        raise PolicyDesignError(
            f"unknown AI-capability group {unknown[0]!r}; valid: {', '.join(AI_CAPABILITY)}"
        )
    ranges = uncertain_ranges(hub)
    tab = parameter_table()
    for group in ai_capability:
        for name in AI_CAPABILITY[group]:
            ranges[name] = (float(tab.loc[name, "low"]), float(tab.loc[name, "high"]))
    deep = [n for group in ai_capability for n in AI_CAPABILITY[group]]
    frame = _draw(hub, int(members), int(seed), ranges, deep)
    frame.index.name = "member"
    frame.attrs["ai_capability"] = list(ai_capability)
    return frame


def _draw(hub: str, members: int, seed: int, ranges: dict, deep: Sequence[str]) -> pd.DataFrame:
    """The one call site of the draw: joint posterior for a calibrated hub, plus the futures.

    A calibrated hub's members come from :func:`hubsd.studies.draw_ensemble` (calibrated
    parameters jointly from the fit's likelihood, the other priors by Latin hypercube unless the
    history speaks to them); the deep-uncertainty ``deep`` parameters are drawn by a Latin
    hypercube of their own (seed + 1) over ``ranges``. A hub file without a fit: one Latin
    hypercube over ``ranges``.
    """
    if "@" not in str(hub):
        return lhs_parameters(members, seed, list(ranges), hub=hub, ranges=ranges)
    frame = draw_ensemble(hub, members, seed)
    extra = {n: ranges[n] for n in deep}
    if extra:
        futures = lhs_parameters(members, seed + 1, list(extra), ranges=extra)
        for name in futures.columns:
            frame[name] = futures[name].to_numpy()
    return frame


# --------------------------------------------------------------------------------------------
# outcomes


def _window(ds: xr.Dataset, design: Design) -> xr.Dataset:
    # a slice (a view of the sorted save times), not a boolean mask (a copy): same values
    return ds.sel(time=slice(design.base_year - 1e-9, design.horizon + 1e-9))


def _at(da: xr.DataArray, year: float) -> np.ndarray:
    return da.sel(time=year, method="nearest").to_numpy()


def _integral(da: xr.DataArray) -> np.ndarray:
    """Trapezoid integral over ``time`` [units x Year]."""
    return da.integrate("time").to_numpy()


def discounted(cumulative: xr.DataArray, rate: float, base_year: float) -> np.ndarray:
    """Present value at ``base_year`` of the spending behind a cumulative cost path.

    Each saved interval's spending (the rise of ``cumulative``) is discounted continuously at
    ``rate`` [1/Year] from the interval's midpoint: ``sum dC_i exp(-rate (t_mid,i - base))``.
    """
    spend = cumulative.diff("time")
    t = cumulative["time"].to_numpy()
    mid = xr.DataArray((t[1:] + t[:-1]) / 2, dims="time", coords={"time": spend["time"]})
    return (spend * np.exp(-rate * (mid - base_year))).sum("time").to_numpy()


def hub_outcomes(ds: xr.Dataset, design: Design) -> dict[str, np.ndarray]:
    """The outcomes of :data:`OUTCOMES` per row of an engine run of the hub model.

    ``job_years`` (hub plus new-industry job-years over the window) is returned as a level;
    :class:`Evaluator` turns it into ``job_years_kept`` against the no-policy run.
    """
    w = _window(ds, design)
    cost = w["cumulative_policy_cost"]
    out = {
        "youth_unemployment_peak": w["youth_unemployment_rate"].max("time").to_numpy(),
        "youth_unemployment_2035": _at(ds["youth_unemployment_rate"], 2035.0),
        "displaced_person_years": _integral(w["displaced_hub_workers"]),
        "hub_jobs_2030": _at(ds["total_hub_staff"], 2030.0),
        "hub_jobs_2035": _at(ds["total_hub_staff"], 2035.0),
        "net_young_migration": _integral(w["net_young_migration"]),
        "local_service_jobs_2035": _at(ds["local_service_jobs"], 2035.0),
        "new_industry_jobs_2035": _at(ds["new_industry_jobs"], 2035.0),
        "policy_cost": (cost.isel(time=-1) - cost.isel(time=0)).to_numpy(),
        "discounted_cost": discounted(cost, design.discount_rate, design.base_year),
        "job_years": _integral(w["total_hub_staff"] + w["new_industry_jobs"]),
        REFERENCE: _at(ds["youth_unemployment_rate"], float(design.base_year)),
    }
    return out


# --------------------------------------------------------------------------------------------
# evaluation


@dataclass
class Evaluator:
    """Candidate policies over one ensemble, run in batches on the ensemble engine.

    Parameters
    ----------
    model : EnsembleModel
        The compiled model (:func:`hubsd.engine.ensemble.compile_model`).
    members : DataFrame
        Uncertain parameters, one row per member.
    design : Design
        Decision variables and settings.
    outcome_fn : callable
        ``(Dataset, Design) -> {name: array per row}`` (:func:`hub_outcomes` for the hub model).
    outputs : sequence of str
        Engine outputs ``outcome_fn`` needs.
    hub : str, optional
        Hub whose values the engine applies under ``members``.
    saveper : float
        Save interval of the runs [Year] (outcomes are read at these times).
    warm : bool
        Simulate each member's history to the base year once and continue every candidate
        from it (:mod:`hubsd.engine.warmstart`; equal to the full runs). Where the engine
        refuses (a decision acting before the base year, a base year at INITIAL TIME), the
        runs are full ones and ``warm_refused`` says why.
    workers : int, optional
        Worker processes of each batch (the engine's ``workers``): the batch's rows are cut
        into chunks of members, run in that many processes forked for the batch (default: the
        CPUs available; 1: every chunk in this process). The outcomes do not depend on it,
        bit for bit (``tests/test_policy_design.py``).
    backend : {"auto", "numpy", "fused"}, optional
        The engine's backend for the runs and the warm continuations (``"auto"``: the fused
        one from 1,000 rows when numba is installed); the outcomes do not depend on it.
    """

    model: EnsembleModel
    members: pd.DataFrame
    design: Design
    outcome_fn: Callable[[xr.Dataset, Design], dict]
    outputs: Sequence[str]
    hub: str | None = None
    saveper: float = 1.0
    batch_rows: int = BATCH_ROWS
    warm: bool = True
    workers: int | None = None
    backend: str | None = None
    baseline: dict = field(default_factory=dict)
    runs: int = 0
    warm_refused: str = ""
    reference: np.ndarray | None = None
    _start: WarmStart | None = field(default=None, repr=False)

    def __post_init__(self):
        known = set(self.model.parameter_table().index)
        missing = [d.parameter for d in self.design.decisions if d.parameter not in known]
        if missing:
            raise PolicyDesignError(
                f"decision parameter {missing[0]!r} is not in the model {self.model.mdl.name}"
            )
        clash = [d.parameter for d in self.design.decisions if d.parameter in self.members]
        if clash:
            raise PolicyDesignError(f"{clash[0]!r} is both a decision and an uncertainty")
        check_workers(self.workers, PolicyDesignError)
        frame = self.members.reset_index(drop=True)
        if self.warm:
            try:
                self._start = warm_start(
                    self.model, frame, float(self.design.base_year), list(self.outputs), self.hub
                )
            except WarmStartError as err:
                self.warm_refused = str(err)
        self.baseline = self._run_rows(frame.iloc[:, :0], np.arange(len(frame)))
        self.reference = self.baseline.pop(REFERENCE, None)

    @property
    def thresholds(self):
        """Each member's youth unemployment threshold (``Design.thresholds``) [Dmnl]."""
        return self.design.thresholds(self.reference)

    @property
    def warm_from(self) -> float | None:
        """The year candidates are continued from, or None if they run in full."""
        return None if self._start is None or self.warm_refused else self._start.until

    def _run_rows(self, changes: pd.DataFrame, member: np.ndarray) -> dict[str, np.ndarray]:
        """Outcomes of rows: member ``member[i]`` with the decisions ``changes.iloc[i]``."""
        parts: dict[str, list] = {}
        for lo in range(0, len(member), self.batch_rows):
            ds = self._simulate(
                changes.iloc[lo : lo + self.batch_rows], member[lo : lo + self.batch_rows]
            )
            self.runs += ds.sizes["sample"]
            for k, v in self.outcome_fn(ds, self.design).items():
                parts.setdefault(k, []).append(np.asarray(v, dtype=float))
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _simulate(self, changes: pd.DataFrame, member: np.ndarray) -> xr.Dataset:
        horizon = float(self.design.horizon)
        if self.warm_from is not None:
            try:
                return self._start.run(
                    changes,
                    member,
                    final_time=horizon,
                    saveper=self.saveper,
                    workers=self.workers,
                    backend=self.backend,
                )
            except WarmStartError as err:  # e.g. a start year before the base year
                self.warm_refused = str(err)
        rows = self.members.iloc[member].reset_index(drop=True)
        for name in changes.columns:
            rows[name] = changes[name].to_numpy()
        return self.model.run(
            rows,
            list(self.outputs),
            self.hub,
            final_time=horizon,
            saveper=self.saveper,
            workers=self.workers,
            backend=self.backend,
        )

    def snap(self, x: np.ndarray) -> np.ndarray:
        """Decision values clipped to their ranges, ``int`` decisions rounded."""
        x = np.array(x, dtype=float, ndmin=2)
        for j, d in enumerate(self.design.decisions):
            col = np.clip(x[:, j], d.low, d.high)
            x[:, j] = np.round(col) if d.kind == "int" else col
        return x

    def evaluate(self, x: np.ndarray) -> xr.Dataset:
        """Outcomes of the policies ``x`` (rows; columns the decisions) in every member.

        Returns a Dataset with dims ``(policy, member)``, one variable per outcome (units in
        attrs), and the decision values as coordinates along ``policy``.
        """
        x = self.snap(x)
        npol, nmem = len(x), len(self.members)
        changes = pd.DataFrame(
            {d.parameter: np.repeat(x[:, j], nmem) for j, d in enumerate(self.design.decisions)}
        )
        raw = self._run_rows(changes, np.tile(np.arange(nmem), npol))
        raw.pop(REFERENCE, None)
        return self._dataset(raw, x)

    def baseline_dataset(self) -> xr.Dataset:
        """Outcomes of no policy (the model's lever defaults), dims ``(policy, member)``."""
        return self._dataset(self.baseline, None)

    def _dataset(self, raw: dict, x: np.ndarray | None) -> xr.Dataset:
        nmem = len(self.members)
        npol = 1 if x is None else len(x)
        data = {}
        for k, v in raw.items():
            arr = np.asarray(v).reshape(npol, nmem)
            if k == "job_years" and self.baseline:
                k, arr = "job_years_kept", arr - self.baseline["job_years"][None, :]
            units, _sense, desc = OUTCOMES.get(k, ("", -1, k))
            data[k] = (("policy", "member"), arr, {"units": units, "long_name": desc})
        coords = {"member": np.arange(nmem)}
        for j, d in enumerate(self.design.decisions):
            values = np.full(npol, np.nan) if x is None else x[:, j].astype(float)
            coords[d.name] = ("policy", values, {"units": d.units, "parameter": d.parameter})
        return xr.Dataset(data, coords=coords)


def statistic(values: np.ndarray, objective: Objective, threshold) -> np.ndarray:
    """The objective's value per policy from outcomes of shape ``(policy, member)``.

    Minimised: ``p90`` is the 90th percentile of a bad-if-high outcome, minus the 10th
    percentile of a good-if-high one; ``mean`` likewise signed; ``fail_share`` the share of
    members above ``threshold`` (a number, or one per member: ``Evaluator.thresholds``).
    """
    values = np.asarray(values, dtype=float)
    if objective.statistic == "fail_share":
        return (values > threshold).mean(axis=1)
    sign = -1.0 if objective.sense > 0 else 1.0
    if objective.statistic == "mean":
        return sign * values.mean(axis=1)
    q = 0.1 if objective.sense > 0 else 0.9
    return sign * np.quantile(values, q, axis=1)


def objective_values(
    outcomes: xr.Dataset, objectives: Sequence[Objective], threshold
) -> np.ndarray:
    """Objective values, shape ``(policy, objective)``, each to be minimised."""
    return np.column_stack(
        [statistic(outcomes[o.outcome].to_numpy(), o, threshold) for o in objectives]
    )


class _RoundInts(Repair):
    """Rounds the integer decisions of every offspring (pymoo repair)."""

    def __init__(self, evaluator: Evaluator):
        super().__init__()
        self.evaluator = evaluator

    def _do(self, problem, X, **kwargs):
        return self.evaluator.snap(X)


class _Problem(Problem):
    def __init__(self, evaluator, objectives, threshold, budget, cost_objective):
        d = evaluator.design.decisions
        super().__init__(
            n_var=len(d),
            n_obj=len(objectives),
            n_ieq_constr=0 if budget is None else 1,
            xl=np.array([x.low for x in d], dtype=float),
            xu=np.array([x.high for x in d], dtype=float),
        )
        self.evaluator = evaluator
        self.objectives = objectives
        self.threshold = threshold
        self.budget = budget
        self.cost_objective = cost_objective

    def _evaluate(self, X, out, *args, **kwargs):
        oc = self.evaluator.evaluate(X)
        out["F"] = objective_values(oc, self.objectives, self.threshold)
        if self.budget is not None:
            cost = statistic(oc[self.cost_objective.outcome].to_numpy(), self.cost_objective, 0)
            out["G"] = ((cost - self.budget) / max(self.budget, 1.0))[:, None]


@dataclass
class PolicyResult:
    """A robust optimisation: the front, its robustness, the recommended mix.

    Attributes
    ----------
    front : xarray.Dataset
        Dim ``policy``: the decision values (coords), the objectives and the robustness
        metrics (:func:`robustness`), units in attrs; settings in the Dataset's attrs.
    outcomes : xarray.Dataset
        Outcomes per front policy and member (dims ``policy``, ``member``), plus the no-policy
        run as policy ``"none"``.
    members : DataFrame
        The uncertain parameters of each member.
    recommended : int
        Position in ``front`` of the recommended mix (minimax regret on the youth
        unemployment peak; ties: the lower mean discounted cost).
    """

    front: xr.Dataset
    outcomes: xr.Dataset
    members: pd.DataFrame
    recommended: int
    info: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The front as a table: one row per policy, its decisions spelled out, then metrics."""
        frame = self.front.to_dataframe()
        frame.insert(0, "policy_text", [describe(self.front, i) for i in range(len(frame))])
        frame["recommended"] = np.arange(len(frame)) == self.recommended
        return frame

    def recommended_policy(self) -> dict[str, float]:
        """The recommended mix: model parameter -> value."""
        row = self.front.isel(policy=self.recommended)
        return {str(row[n].attrs["parameter"]): float(row[n]) for n in self.info["decisions"]}


def describe(front: xr.Dataset, i: int) -> str:
    """A front point's policy in words, e.g. ``"reskilling_capacity=2,400; ..."``."""
    parts = []
    for name in json.loads(front.attrs["decisions"]):
        value = float(front[name].isel(policy=i))
        if front[name].attrs.get("kind") == "int":
            parts.append(f"{name}={value:.0f}")
        elif abs(value) >= 10:
            parts.append(f"{name}={value:,.0f}")
        else:
            parts.append(f"{name}={value:.3g}")
    return "; ".join(parts)


def robustness(
    outcomes: xr.Dataset, threshold, regret_outcome: str = "youth_unemployment_peak"
) -> pd.DataFrame:
    """Robustness metrics of each policy of ``outcomes`` (dims ``policy``, ``member``).

    Columns: per outcome the worst-tenth value (``<outcome>_p90`` of a bad-if-high outcome,
    ``_p10`` of a good-if-high one) and the mean; ``satisficing_share`` (members whose youth
    unemployment peak stays at or below ``threshold``, a number or one per member);
    ``max_regret`` and ``p90_regret`` of
    ``regret_outcome``: per member, how much worse the policy is than the best of all the
    policies given (the no-policy run included, if present) in that member.
    """
    cols = {}
    for name in outcomes.data_vars:
        sense = OUTCOMES.get(name, ("", -1, ""))[1]
        v = outcomes[name].to_numpy()
        tail = "p10" if sense > 0 else "p90"
        cols[f"{name}_{tail}"] = np.quantile(v, 0.1 if sense > 0 else 0.9, axis=1)
        cols[f"{name}_mean"] = v.mean(axis=1)
    yu = outcomes["youth_unemployment_peak"].to_numpy()
    cols["satisficing_share"] = (yu <= threshold).mean(axis=1)
    r = outcomes[regret_outcome].to_numpy()
    sense = OUTCOMES.get(regret_outcome, ("", -1, ""))[1]
    regret = (r - r.min(axis=0)) if sense < 0 else (r.max(axis=0) - r)
    cols["max_regret"] = regret.max(axis=1)
    cols["p90_regret"] = np.quantile(regret, 0.9, axis=1)
    return pd.DataFrame(cols, index=pd.Index(outcomes["policy"].to_numpy(), name="policy"))


def optimise(
    evaluator: Evaluator,
    objectives: Sequence[Objective],
    budget: float | None = None,
    generations: int = 20,
    population: int = 20,
    seed: int = 0,
    cost_outcome: str = "discounted_cost",
) -> tuple[np.ndarray, np.ndarray]:
    """NSGA-II (pymoo) over the decision variables; returns the front ``(X, F)``.

    Every candidate of a generation is evaluated over the whole ensemble in one batch. With a
    ``budget`` [EUR], the 90th-percentile ``cost_outcome`` over the members must not exceed it.
    ``X`` (decisions) and ``F`` (objectives) are sorted by the objectives, duplicates removed.
    """
    for label, v in (("generations", generations), ("population", population)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise PolicyDesignError(f"{label} must be a whole number >= 1, got {v!r}")
    if population < 2:
        raise PolicyDesignError(f"population must be at least 2, got {population}")
    budget = check_budget(budget)
    cost_obj = Objective(f"{cost_outcome}_p90", cost_outcome, "p90", -1, "EUR")
    problem = _Problem(evaluator, list(objectives), evaluator.thresholds, budget, cost_obj)
    algorithm = NSGA2(
        pop_size=int(population), repair=_RoundInts(evaluator), eliminate_duplicates=True
    )
    res = minimize(problem, algorithm, ("n_gen", int(generations)), seed=int(seed), verbose=False)
    if res.X is None:
        raise PolicyDesignError(
            f"no candidate policy kept the 90th-percentile {cost_outcome} within the budget "
            f"{budget:,.0f} EUR; raise the budget or let a lever's range start at 0"
        )
    X = evaluator.snap(np.atleast_2d(res.X))
    F = np.atleast_2d(res.F)
    _, keep = np.unique(X, axis=0, return_index=True)
    X, F = X[np.sort(keep)], F[np.sort(keep)]
    order = np.lexsort(tuple(F[:, j] for j in reversed(range(F.shape[1]))))
    return X[order], F[order]


def design_policies(
    hub: str,
    objectives: Sequence[str] = DEFAULT_OBJECTIVES,
    budget: float | None = None,
    members: int = 1000,
    generations: int = 20,
    population: int = 20,
    seed: int = 0,
    levers: Sequence[str] | None = None,
    design_path=None,
    model: EnsembleModel | None = None,
    workers: int | None = None,
) -> PolicyResult:
    """Robust policy design for one hub: ensemble, NSGA-II front, robustness, recommendation.

    Parameters
    ----------
    hub : str
        Hub or calibrated set (``"krakow@calibrated"``).
    objectives : sequence of str
        Names in :data:`hubsd.studies.policy_spec.OBJECTIVES`, all minimised.
    budget : float, optional
        Cap on the 90th-percentile discounted programme cost [EUR].
    members : int
        Ensemble size (:func:`policy_ensemble`).
    generations, population : int
        NSGA-II settings (``population`` candidates per generation).
    seed : int
        Seed of the ensemble and of the optimiser (same seed: bit-identical front).
    levers : sequence of str, optional
        Decision names to search (default: every decision of the table).
    design_path : path, optional
        Decision table (default ``data/policy_design.yaml``).
    model : EnsembleModel, optional
        The compiled hub model (default :func:`hubsd.engine.ensemble.compile_model`).
    workers : int, optional
        Worker processes per generation (:class:`Evaluator`; default: the CPUs available). The
        front and outcomes do not depend on it.

    Returns
    -------
    PolicyResult

    Raises
    ------
    PolicyDesignError
        Before anything runs: an unknown objective or lever, a bad budget, members < 2, bad
        generations/population/workers, a malformed decision table.
    HubError
        An unknown hub.
    """
    objs = check_objectives(objectives)
    budget = check_budget(budget)
    check_workers(workers, PolicyDesignError)
    load_hub(hub)
    design = load_design(*([design_path] if design_path else []), hub=hub).select(levers)
    ensemble = policy_ensemble(hub, members, seed)
    model = model or compile_model()
    ev = Evaluator(model, ensemble, design, hub_outcomes, HUB_OUTPUTS, hub, workers=workers)
    X, F = optimise(ev, objs, budget, generations, population, seed)
    oc = ev.evaluate(X)
    both = xr.concat([oc, ev.baseline_dataset()], dim="policy")
    labels = [f"p{i:02d}" for i in range(len(X))] + ["none"]
    threshold = np.broadcast_to(ev.thresholds, (len(ensemble),)).astype(float)
    both = both.assign_coords(
        policy=labels,
        youth_unemployment_threshold=(
            "member",
            threshold,
            {"units": "Dmnl", "long_name": f"failure: {design.threshold_text()}"},
        ),
    )
    metrics = robustness(both, threshold)
    front = xr.Dataset(coords={"policy": labels[:-1]})
    for j, d in enumerate(design.decisions):
        front[d.name] = (
            "policy",
            X[:, j],
            {
                "units": d.units,
                "parameter": d.parameter,
                "low": d.low,
                "high": d.high,
                "kind": d.kind,
            },
        )
    for j, o in enumerate(objs):
        front[f"objective_{o.name}"] = (
            "policy",
            F[:, j],
            {"units": o.units, "long_name": f"{o.name} (minimised; negated if more is better)"},
        )
    for col in metrics.columns:
        base = col.rsplit("_", 1)[0]
        units = OUTCOMES.get(base, (("Dmnl" if "share" in col else ""),))[0]
        if col.endswith("regret"):
            units = OUTCOMES["youth_unemployment_peak"][0]
        front[col] = ("policy", metrics[col].to_numpy()[:-1], {"units": units})
    none = metrics.loc["none"]
    rank = np.lexsort((front["discounted_cost_mean"].to_numpy(), front["max_regret"].to_numpy()))
    recommended = int(rank[0])
    info = {
        "hub": hub,
        "objectives": [o.name for o in objs],
        "budget_eur": budget,
        "members": int(members),
        "generations": int(generations),
        "population": int(population),
        "seed": int(seed),
        "decisions": design.names,
        "decisions_pending": design.pending,
        "discount_rate_per_year": design.discount_rate,
        "base_year": design.base_year,
        "horizon": design.horizon,
        "youth_unemployment_threshold": float(np.median(threshold)),
        "youth_unemployment_threshold_kind": design.threshold_kind,
        "youth_unemployment_threshold_value": design.youth_unemployment_threshold,
        "failure_rule": design.threshold_text(),
        "ai_capability": ensemble.attrs["ai_capability"],
        "engine_runs": ev.runs,
        "warm_start_from": ev.warm_from,
        "no_policy": {k: float(v) for k, v in none.items()},
    }
    front.attrs.update(
        {
            k: json.dumps(v) if not isinstance(v, (int, float, str)) else v
            for k, v in info.items()
            if v is not None
        }
    )
    front.attrs["decisions"] = json.dumps(design.names)
    return PolicyResult(front, both, ensemble, recommended, info)


def outcome_frame(result: PolicyResult, policy: str) -> pd.DataFrame:
    """Members' uncertain parameters with the outcomes of one policy (``"p03"``, ``"none"``)."""
    oc = result.outcomes.sel(policy=policy).to_dataframe().drop(columns="policy", errors="ignore")
    oc = oc[[c for c in oc.columns if c in result.outcomes.data_vars]]
    return pd.concat([result.members.reset_index(drop=True), oc.reset_index(drop=True)], axis=1)


def as_mapping(front: xr.Dataset, i: int) -> Mapping[str, float]:
    """Decision name -> value of front point ``i``."""
    return {n: float(front[n].isel(policy=i)) for n in json.loads(front.attrs["decisions"])}
