"""The declared inputs of robust policy design: decision variables, objectives, settings.

:func:`load_design` reads ``data/policy_design.yaml``: the decision variables (name, model
parameter, ``low``, ``high``, ``kind`` int/float), checked against the parameter table of the
model before anything runs, and the settings (discount rate, base year, horizon, youth
unemployment threshold: absolute, or relative to each member's own base-year rate). Entries
under ``adaptive:`` (the trigger thresholds) are used only once their parameter exists and are
otherwise listed as pending.

:data:`OBJECTIVES` names every objective :mod:`hubsd.studies.policy_design` can minimise: an
outcome per member (:data:`OUTCOMES`) and a statistic over the ensemble.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DATA_DIR
from hubsd.inputs.hubs import check_mapping, load_hub, read_yaml
from hubsd.inputs.scenarios import smart_mix
from hubsd.model.parameters import ParameterError
from hubsd.model.parameters import table as parameter_table

#: The decision table of ``hubsd policy``.
DESIGN_FILE = DATA_DIR / "policy_design.yaml"

#: Outcomes per member: name -> (units, sense, description). ``sense`` is +1 if more is better.
OUTCOMES: dict[str, tuple[str, int, str]] = {
    "youth_unemployment_peak": ("Dmnl", -1, "highest youth unemployment rate, base year-horizon"),
    "youth_unemployment_2035": ("Dmnl", -1, "youth unemployment rate in 2035"),
    "displaced_person_years": ("Person*Year", -1, "displaced hub workers summed over the window"),
    "hub_jobs_2030": ("Person", 1, "hub jobs (total hub staff) in 2030"),
    "hub_jobs_2035": ("Person", 1, "hub jobs (total hub staff) in 2035"),
    "net_young_migration": ("Person", 1, "net young migration summed over the window"),
    "local_service_jobs_2035": ("Person", 1, "local service jobs in 2035"),
    "new_industry_jobs_2035": ("Person", 1, "new-industry jobs in 2035"),
    "policy_cost": ("EUR", -1, "programme cost, base year-horizon, undiscounted"),
    "discounted_cost": ("EUR", -1, "programme cost discounted to the base year"),
    "job_years_kept": (
        "Person*Year",
        1,
        "hub plus new-industry job-years over the window, against no policy in the same member",
    ),
}


@dataclass(frozen=True)
class Objective:
    """One objective: a statistic of one outcome over the ensemble, to be minimised.

    ``statistic`` is ``"p90"`` (the 90th percentile of a bad-if-high outcome, the 10th of a
    good-if-high one: the outcome in the worst tenth of futures), ``"mean"`` or
    ``"fail_share"`` (share of members whose youth unemployment peak is above the threshold).
    A good-if-high outcome enters negated, so every objective is minimised.
    """

    name: str
    outcome: str
    statistic: str
    sense: int = -1  # +1 if more of the outcome is better (the objective is its negative)
    units: str = ""


def _objectives() -> dict[str, Objective]:
    out = {}
    for outcome, (_u, sense, _d) in OUTCOMES.items():
        units = OUTCOMES[outcome][0]
        tail = "p90" if sense < 0 else "p10"
        out[f"{outcome}_{tail}"] = Objective(f"{outcome}_{tail}", outcome, "p90", sense, units)
        out[f"{outcome}_mean"] = Objective(f"{outcome}_mean", outcome, "mean", sense, units)
    out["fail_share"] = Objective("fail_share", "youth_unemployment_peak", "fail_share", -1, "Dmnl")
    return out


#: Every objective by name (``youth_unemployment_peak_p90``, ``net_young_migration_p10``,
#: ``discounted_cost_mean``, ``fail_share`` ...).
OBJECTIVES: dict[str, Objective] = _objectives()
#: Default objectives of ``hubsd policy``: the youth unemployment peak in the worst tenth of
#: futures, net young migration in the worst tenth, and the mean discounted cost.
DEFAULT_OBJECTIVES = (
    "youth_unemployment_peak_p90",
    "net_young_migration_p10",
    "discounted_cost_mean",
)


class PolicyDesignError(ParameterError):
    """A malformed decision table, an unknown objective or a bad setting of policy design."""


@dataclass(frozen=True)
class Decision:
    """A decision variable: one model constant searched over ``[low, high]``."""

    name: str
    parameter: str
    low: float
    high: float
    kind: str  # "int" or "float"
    units: str = ""


@dataclass
class Design:
    """The loaded decision table and settings (see ``data/policy_design.yaml``)."""

    decisions: list[Decision]
    discount_rate: float
    base_year: float
    horizon: float
    youth_unemployment_threshold: float
    pending: list[str] = field(default_factory=list)
    path: str = ""
    threshold_kind: str = "absolute"  # or "relative": points above the member's base-year rate

    def thresholds(self, reference=None):
        """The youth unemployment threshold of each member [Dmnl].

        ``absolute``: ``youth_unemployment_threshold`` for every member; ``relative``: each
        member's own youth unemployment rate at the base year without policy (``reference``,
        one per member) plus ``youth_unemployment_threshold`` (a rise in rate points).
        """
        if self.threshold_kind == "absolute":
            if reference is None:
                return self.youth_unemployment_threshold
            return np.full(len(reference), self.youth_unemployment_threshold)
        if reference is None:
            raise PolicyDesignError(
                "a relative youth unemployment threshold needs each member's base-year youth "
                "unemployment rate (the outcome function gives none); use kind: absolute"
            )
        return np.asarray(reference, dtype=float) + self.youth_unemployment_threshold

    def threshold_text(self) -> str:
        """The failure rule in words."""
        v = self.youth_unemployment_threshold
        if self.threshold_kind == "absolute":
            return f"youth unemployment peak above {100 * v:g} %"
        return (
            f"youth unemployment peak more than {100 * v:g} points above the member's own rate "
            f"at the base year {self.base_year:g} without policy"
        )

    @property
    def names(self) -> list[str]:
        """Names of the decision variables, in order."""
        return [d.name for d in self.decisions]

    def frame(self) -> pd.DataFrame:
        """The decision table as a DataFrame (one row per decision)."""
        return pd.DataFrame([d.__dict__ for d in self.decisions]).set_index("name")

    def select(self, names: Sequence[str] | None) -> Design:
        """A copy with only the decisions ``names`` (in the table's order); ``None``: all."""
        if names is None:
            return self
        known = self.names
        for n in names:
            if n not in known:
                raise PolicyDesignError(
                    f"unknown lever {n!r}{did_you_mean(n, known)}; valid levers: {', '.join(known)}"
                )
        keep = [d for d in self.decisions if d.name in set(names)]
        return Design(
            keep,
            self.discount_rate,
            self.base_year,
            self.horizon,
            self.youth_unemployment_threshold,
            list(self.pending),
            self.path,
            self.threshold_kind,
        )


def check_objectives(names: Sequence[str]) -> list[Objective]:
    """The :class:`Objective` of each name; an unknown name raises with the valid ones."""
    if isinstance(names, str):
        names = [names]
    if not names:
        raise PolicyDesignError("give at least one objective; valid: " + ", ".join(OBJECTIVES))
    out = []
    for n in names:
        if n not in OBJECTIVES:
            raise PolicyDesignError(
                f"unknown objective {n!r}{did_you_mean(n, list(OBJECTIVES))}; valid objectives: "
                + ", ".join(OBJECTIVES)
            )
        out.append(OBJECTIVES[n])
    if len({o.name for o in out}) != len(out):
        raise PolicyDesignError(f"objectives {list(names)} name one objective twice")
    return out


def check_budget(budget) -> float | None:
    """``None`` (no cap) or a finite, non-negative budget [EUR]; anything else raises."""
    if budget is None:
        return None
    if isinstance(budget, bool):
        raise PolicyDesignError(f"budget must be a number of EUR >= 0, got {budget!r}")
    try:
        value = float(budget)
    except (TypeError, ValueError):
        raise PolicyDesignError(f"budget must be a number of EUR >= 0, got {budget!r}") from None
    if not math.isfinite(value) or value < 0:
        raise PolicyDesignError(f"budget must be a finite number of EUR >= 0, got {budget!r}")
    return value


def _number(doc: Mapping, key: str, where: str, low: float, high: float) -> float:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyDesignError(f"{where}: {key!r} must be a number, got {value!r}")
    if not (low <= float(value) <= high):
        raise PolicyDesignError(f"{where}: {key!r} = {value!r} must lie in [{low:g}, {high:g}]")
    return float(value)


def _hub_factor(hub: str | None, parameter: str) -> float:
    """The hub file's resizing of a lever: its smart_mix value over the default smart_mix's."""
    if hub is None:
        return 1.0
    default = smart_mix().get(parameter)
    hub_mix = (load_hub(hub).get("scenarios") or {}).get("smart_mix") or {}
    if not default or parameter not in hub_mix:
        return 1.0
    return float(hub_mix[parameter]) / float(default)


def _decision(entry: object, where: str, tab: pd.DataFrame, hub: str | None) -> Decision:
    entry = check_mapping(entry, where)
    allowed = {"name", "parameter", "low", "high", "kind", "scale_with_hub"}
    extra = set(entry) - allowed
    if extra:
        raise PolicyDesignError(f"{where}: unknown keys {sorted(extra)}; valid: {sorted(allowed)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise PolicyDesignError(f"{where}: 'name' must be an identifier, got {name!r}")
    param = entry.get("parameter")
    if param not in tab.index:
        policy = sorted(tab.index[tab["sector"] == "Policy"])
        raise PolicyDesignError(
            f"{where} ({name}): parameter {param!r} is not in the model"
            f"{did_you_mean(str(param), list(tab.index))}; valid policy parameters: "
            + ", ".join(policy)
        )
    kind = entry.get("kind", "float")
    if kind not in ("int", "float"):
        raise PolicyDesignError(f"{where} ({name}): kind must be 'int' or 'float', got {kind!r}")
    row = tab.loc[param]
    low = _number(entry, "low", f"{where} ({name})", -math.inf, math.inf)
    high = _number(entry, "high", f"{where} ({name})", -math.inf, math.inf)
    if entry.get("scale_with_hub", False):
        factor = _hub_factor(hub, param)
        low, high = low * factor, high * factor
    if not (float(row.low) <= low < high <= float(row.high)):
        raise PolicyDesignError(
            f"{where} ({name}): range [{low:g}, {high:g}] must be increasing and inside "
            f"{param}'s range [{row.low:g}, {row.high:g}] {row.units}"
        )
    return Decision(name, str(param), low, high, kind, str(row.units))


def load_design(path: str | Path = DESIGN_FILE, hub: str | None = None, model_table=None) -> Design:
    """Read and check a decision table (default ``data/policy_design.yaml``).

    Parameters
    ----------
    path : str or Path
        The YAML file.
    hub : str, optional
        Hub whose lever resizing applies to entries with ``scale_with_hub: true``.
    model_table : DataFrame, optional
        Parameter table to check against (default :func:`hubsd.parameter_table`; a tiny test
        model's own table, from :meth:`EnsembleModel.parameter_table`, also works).

    Returns
    -------
    Design
        Decisions in file order; ``pending`` names the ``adaptive:`` entries whose parameter
        the model does not have yet.

    Raises
    ------
    PolicyDesignError
        A malformed file, a decision whose parameter the model does not have (with the valid
        policy parameters), a range outside the parameter's, a duplicate name, a bad setting.
    """
    path = Path(path)
    doc = check_mapping(read_yaml(path), str(path))
    allowed = {
        "decisions",
        "adaptive",
        "discount_rate",
        "base_year",
        "horizon",
        "youth_unemployment_threshold",
    }
    extra = set(doc) - allowed
    if extra:
        raise PolicyDesignError(f"{path}: unknown keys {sorted(extra)}; valid: {sorted(allowed)}")
    tab = parameter_table() if model_table is None else model_table
    if "sector" not in tab.columns:
        tab = tab.assign(sector="Policy")
    entries = doc.get("decisions")
    if not isinstance(entries, list) or not entries:
        raise PolicyDesignError(f"{path}: 'decisions' must be a non-empty list")
    decisions = [_decision(e, f"{path}: decisions[{i}]", tab, hub) for i, e in enumerate(entries)]
    pending = []
    for i, entry in enumerate(doc.get("adaptive") or []):
        entry = check_mapping(entry, f"{path}: adaptive[{i}]")
        if entry.get("parameter") in tab.index:
            decisions.append(_decision(entry, f"{path}: adaptive[{i}]", tab, hub))
        else:
            pending.append(str(entry.get("name")))
    names = [d.name for d in decisions]
    params = [d.parameter for d in decisions]
    for label, items in (("name", names), ("parameter", params)):
        dup = sorted({x for x in items if items.count(x) > 1})
        if dup:
            raise PolicyDesignError(f"{path}: decision {label} {dup[0]!r} appears twice")
    base = _number(doc, "base_year", str(path), -math.inf, math.inf)
    horizon = _number(doc, "horizon", str(path), base, math.inf)
    kind, value = _threshold(doc, str(path))
    return Design(
        decisions,
        _number(doc, "discount_rate", str(path), 0.0, 1.0),
        base,
        horizon,
        value,
        pending,
        str(path),
        kind,
    )


def _threshold(doc: Mapping, where: str) -> tuple[str, float]:
    """``youth_unemployment_threshold``: a number (absolute) or ``{kind:, value:}``."""
    key = "youth_unemployment_threshold"
    entry = doc.get(key)
    if not isinstance(entry, Mapping):
        return "absolute", _number(doc, key, where, 0.0, 1.0)
    extra = set(entry) - {"kind", "value"}
    if extra:
        raise PolicyDesignError(
            f"{where}: {key}: unknown keys {sorted(extra)}; valid: ['kind', 'value']"
        )
    kind = entry.get("kind")
    if kind not in ("absolute", "relative"):
        raise PolicyDesignError(
            f"{where}: {key}: kind must be 'absolute' or 'relative', got {kind!r}"
        )
    return kind, _number(entry, "value", f"{where}: {key}", 0.0, 1.0)
