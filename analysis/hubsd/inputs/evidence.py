"""Per-tier AI exposure of an outsourcing hub from Eloundou et al. (2023) occupation ratings.

Reads the evidence tables in ``data/evidence/``:

* ``exposure_occupations.csv`` - function x tier -> O*NET-SOC occupations with weights
  (a modelling choice of this project, not data);
* ``exposure_scores.csv``      - the Eloundou et al. (2023) ``occ_level.csv`` rows of those
  occupations (GPT-4 ``dv_rating_*`` and human ``human_rating_*``, alpha/beta/gamma);
* ``hub_function_mix.csv``     - each hub's employment shares by function (rows whose function
  starts with ``context:`` are supporting figures and are ignored here).

What the ratings mean (Eloundou, Manning, Mishkin and Rock 2023, "GPTs are GPTs")
--------------------------------------------------------------------------------
Each O*NET task of an occupation is labelled E0 (no exposure), E1 (direct exposure: an LLM
alone cuts the time to do the task by at least half at equal quality) or E2 (exposed only with
complementary software built on an LLM).  Per occupation, the file gives three shares of tasks,
rated by human annotators and by GPT-4:

    alpha = E1,   beta = E1 + 0.5 * E2,   gamma = E1 + E2         (checked: beta = (alpha+gamma)/2)

so per rater r in {human, gpt4}:  E1_r = alpha_r  and  E2_r = gamma_r - alpha_r.

From exposure to the model's two parameters (a modelling choice, stated here)
-----------------------------------------------------------------------------
*automatable* (``automatable_junior_share``, ``automatable_mid_share``: share of a tier's task
content AI can take over) counts the directly exposed tasks (E1):

    low     = 0.5 * min_r E1_r      E1 only means the task time is at least halved, so only half of
                                    it is taken over; the more conservative rater
    central = mean_r E1_r           every E1 task taken over; raters averaged
    high    = max_r beta_r          E1 plus half of the E2 tasks once complementary software
                                    exists (the paper's own "beta" measure); the more generous rater

*augmentable* (work AI changes but does not take over) counts the tasks exposed only through
complementary tools, where a person stays in the loop (E2):

    low     = min_r E2_r
    central = mean_r E2_r
    high    = max_r (E2_r + 0.5 * E1_r)   E2 plus the half of E1 time that stays with the worker
                                          in the low-automation reading

so central automatable + central augmentable = mean_r gamma_r, the total exposed share.  Low and
high are an envelope over (i) human vs GPT-4 raters and (ii) the alpha/beta/gamma readings;
they are not statistical confidence intervals.  All scores are US (O*NET) task content; they
are exposure (technical potential), not adoption or job loss.

Aggregation to hub tiers
------------------------
For hub h, tier t:  score(h, t) = sum_f mix_h(f) * sum_o w(f, t, o) * score(o) / sum_f mix_h(f),
the sum over functions f that the mapping defines for tier t.  The function mix is the hub's
employment mix over all tiers and is applied unchanged to every tier (an assumption: e.g. a
contact centre has more juniors per senior than an IT centre; ``hub_tier_mix.csv`` is not used).

Policy lever costs
------------------
:func:`policy_costs` reads ``policy_costs.yaml``: per hub, sourced values with a low-high range
for the Policy sector's unit costs (``cost_per_trainee``, ``cost_per_attracted_job``), the
reskilling success fraction and programme length, and lever sizes, in the model's units, each
with its sources (title, address, quote).  Entries outside the range ``models/hub.mdl``
declares carry ``outside_model_range: true``; the file is evidence, not wired into the model.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import EVIDENCE_DIR
from hubsd.core.yamlio import read_yaml
from hubsd.model.parameters import table as parameter_table


class EvidenceError(HubsdError):
    """A malformed evidence table or a hub the tables do not cover."""


TIERS = ("junior", "mid", "senior")
RATERS = ("human", "dv")  # dv = GPT-4 ("dv" is the paper's column prefix)
COLUMNS = [
    f"{kind}_{band}"
    for kind in ("automatable", "augmentable")
    for band in ("low", "central", "high")
]


def occupation_shares(scores: pd.DataFrame) -> pd.DataFrame:
    """Automatable/augmentable low/central/high for each occupation, indexed by O*NET-SOC code."""
    s = scores.set_index("onet_soc_code")
    e1 = np.column_stack([s[f"{r}_rating_alpha"] for r in RATERS])
    gamma = np.column_stack([s[f"{r}_rating_gamma"] for r in RATERS])
    beta = np.column_stack([s[f"{r}_rating_beta"] for r in RATERS])
    e2 = gamma - e1
    out = pd.DataFrame(
        {
            "automatable_low": 0.5 * e1.min(axis=1),
            "automatable_central": e1.mean(axis=1),
            "automatable_high": beta.max(axis=1),
            "augmentable_low": e2.min(axis=1),
            "augmentable_central": e2.mean(axis=1),
            "augmentable_high": (e2 + 0.5 * e1).max(axis=1),
        },
        index=s.index,
    )
    return out.clip(0.0, 1.0)


def _read_mapping(evidence_dir: Path, mapping) -> pd.DataFrame:
    if mapping is None:
        mapping = evidence_dir / "exposure_occupations.csv"
    if not isinstance(mapping, pd.DataFrame):
        mapping = pd.read_csv(mapping, dtype={"onet_soc_code": str})
    missing = {"function", "tier", "onet_soc_code", "weight"} - set(mapping.columns)
    if missing:
        raise EvidenceError(f"mapping lacks columns {sorted(missing)}")
    sums = mapping.groupby(["function", "tier"])["weight"].sum()
    bad = sums[(sums - 1.0).abs() > 1e-6]
    if len(bad):
        raise EvidenceError(f"weights must sum to 1 in each function x tier cell: {bad.to_dict()}")
    return mapping


def tier_exposure(hub: str, mapping=None, evidence_dir=EVIDENCE_DIR) -> pd.DataFrame:
    """Per-tier automatable/augmentable shares (low/central/high) for one hub.

    Parameters
    ----------
    hub : str
        A hub of ``hub_function_mix.csv`` (krakow, manila, telangana, bangalore); a calibrated
        name such as ``krakow@v2`` is read as its base hub.
    mapping : None, path or pandas.DataFrame
        The occupation mapping (default ``exposure_occupations.csv``): columns function, tier,
        onet_soc_code, weight. Change it to see the parameters move.
    evidence_dir : path
        Folder with the evidence CSVs (default ``data/evidence``).

    Returns
    -------
    pandas.DataFrame
        Indexed by tier (junior, mid, senior), columns automatable_low/central/high and
        augmentable_low/central/high: shares of the tier's task content [Dmnl] in [0, 1].

    Raises
    ------
    EvidenceError
        A hub without a function mix, weights that do not sum to 1, occupations without scores.

    Examples
    --------
    >>> tier_exposure("krakow").loc["junior", "automatable_central"]  # doctest: +SKIP
    0.39
    """
    evidence_dir = Path(evidence_dir)
    hub = str(hub).split("@")[0].strip().lower()
    mapping = _read_mapping(evidence_dir, mapping)
    scores = pd.read_csv(evidence_dir / "exposure_scores.csv", dtype={"onet_soc_code": str})
    occ = occupation_shares(scores)

    mix = pd.read_csv(evidence_dir / "hub_function_mix.csv")
    mix = mix[(mix["hub"] == hub) & ~mix["function"].str.startswith("context:")]
    if mix.empty:
        raise EvidenceError(f"no function mix for hub {hub!r} in hub_function_mix.csv")
    unknown = set(mix["function"]) - set(mapping["function"])
    if unknown:
        raise EvidenceError(f"functions of {hub} not in the mapping: {sorted(unknown)}")
    if abs(mix["share"].sum() - 1.0) > 1e-3:
        raise EvidenceError(f"{hub}: function shares sum to {mix['share'].sum():.4f}, not 1")
    absent = set(mapping["onet_soc_code"]) - set(occ.index)
    if absent:
        raise EvidenceError(f"occupations without scores: {sorted(absent)}")

    # score of each function x tier cell: weighted mean of its occupations
    m = mapping.join(occ, on="onet_soc_code")
    cells = m[COLUMNS].mul(m["weight"], axis=0).groupby([m["function"], m["tier"]]).sum()

    rows = {}
    for tier in TIERS:
        share = mix.set_index("function")["share"]
        have = [f for f in share.index if (f, tier) in cells.index]
        if not have:
            raise EvidenceError(f"{hub}: no function has occupations for tier {tier!r}")
        w = share[have] / share[have].sum()
        rows[tier] = cells.loc[[(f, tier) for f in have]].to_numpy().T @ w.to_numpy()
    return pd.DataFrame.from_dict(rows, orient="index", columns=COLUMNS).rename_axis("tier")


#: Model parameters derived from the exposure tables: parameter -> (tier, column prefix).
PARAMETERS = {
    "automatable_junior_share": ("junior", "automatable"),
    "automatable_mid_share": ("mid", "automatable"),
}


def ai_parameters(hub: str, mapping=None, evidence_dir=EVIDENCE_DIR, digits: int = 3) -> dict:
    """The AI-exposure parameters of a hub, derived from the evidence: value and range.

    Parameters
    ----------
    hub : str
        Hub name (see :func:`tier_exposure`).
    mapping, evidence_dir
        As for :func:`tier_exposure`.
    digits : int
        Rounding of the values, as written in the hub files.

    Returns
    -------
    dict
        ``{parameter: {"value": central, "range": [low, high]}}`` for the parameters of
        :data:`PARAMETERS` (shares of task content, Dmnl).

    Examples
    --------
    >>> ai_parameters("krakow")["automatable_junior_share"]["value"]  # doctest: +SKIP
    0.39
    """
    tab = tier_exposure(hub, mapping, evidence_dir)
    out = {}
    for name, (tier, kind) in PARAMETERS.items():
        row = tab.loc[tier]
        out[name] = {
            "value": round(float(row[f"{kind}_central"]), digits),
            "range": [
                round(float(row[f"{kind}_low"]), digits),
                round(float(row[f"{kind}_high"]), digits),
            ],
        }
    return out


# --------------------------------------------------------------------------------------------
# Policy lever costs (data/evidence/policy_costs.yaml; what was found: README_policy_costs.md)
# --------------------------------------------------------------------------------------------

#: Hubs the policy cost evidence may name (the hub files of ``data/hubs``).
POLICY_HUBS = ("krakow", "vilnius", "telangana", "bangalore", "manila")
#: Kinds of entry: read in a source, arithmetic on figures read, an approximation (another
#: region or programme), or an assumption whose range the sources bound.
POLICY_KINDS = ("observed", "computed", "approximate", "assumption")
_ENTRY_KEYS = ("hubs", "value", "low", "high", "kind", "value_basis", "range_basis", "sources")
_SOURCE_KEYS = ("title", "address", "says")


class PolicyCost(NamedTuple):
    """One sourced policy figure for a hub, in the model's units of the parameter."""

    value: float
    low: float
    high: float
    units: str
    kind: str
    sources: tuple
    outside_model_range: bool


def _check_sources(sources, where: str) -> None:
    if not isinstance(sources, list) or not sources:
        raise EvidenceError(f"{where}: 'sources' must be a non-empty list")
    for i, src in enumerate(sources):
        if not isinstance(src, dict):
            raise EvidenceError(f"{where}: source {i} is not a mapping")
        for key in _SOURCE_KEYS:
            if not str(src.get(key) or "").strip():
                raise EvidenceError(f"{where}: source {i} lacks {key!r} (needs {_SOURCE_KEYS})")
        if not re.match(r"https?://", str(src["address"])):
            raise EvidenceError(f"{where}: source {i} address is not a web address")


def _check_entry(name: str, i: int, entry, units: str, table: pd.DataFrame) -> None:
    where = f"policy_costs.yaml: {name} entry {i}"
    if not isinstance(entry, dict):
        raise EvidenceError(f"{where} is not a mapping")
    missing = [k for k in _ENTRY_KEYS if k not in entry]
    if missing:
        raise EvidenceError(f"{where} lacks {missing}")
    bad = sorted(set(entry["hubs"]) - set(POLICY_HUBS))
    if bad:
        raise EvidenceError(f"{where}: unknown hubs {bad}; valid hubs: {list(POLICY_HUBS)}")
    if entry["kind"] not in POLICY_KINDS:
        raise EvidenceError(f"{where}: kind {entry['kind']!r} is not one of {list(POLICY_KINDS)}")
    low, value, high = (entry[k] for k in ("low", "value", "high"))
    if not all(isinstance(x, int | float) and not isinstance(x, bool) for x in (low, value, high)):
        raise EvidenceError(f"{where}: value, low and high must be numbers")
    if not low <= value <= high:
        raise EvidenceError(f"{where}: needs low <= value <= high, got {low}, {value}, {high}")
    _check_sources(entry["sources"], where)
    row = table.loc[name]
    outside = bool(low < row["low"] or high > row["high"])
    if bool(entry.get("outside_model_range", False)) != outside:
        raise EvidenceError(
            f"{where}: outside_model_range must be {outside}: [{low}, {high}] against the "
            f"model's range [{row['low']}, {row['high']}] {units}"
        )


def load_policy_costs(path=None) -> dict:
    """Read and check the policy cost evidence file.

    Parameters
    ----------
    path : path, optional
        The file (default ``data/evidence/policy_costs.yaml``).

    Returns
    -------
    dict
        The parsed document: ``exchange_rates``, ``parameters`` (parameter -> ``units`` and
        ``entries``) and ``context``.

    Raises
    ------
    EvidenceError
        A parameter the model does not have, units that differ from the model's, an unknown
        hub or kind, an entry without a source address and quote, ``low <= value <= high``
        violated, or an ``outside_model_range`` flag that does not match the model's range.

    Examples
    --------
    >>> doc = load_policy_costs()
    >>> sorted(doc["parameters"])  # doctest: +SKIP
    ['cost_per_attracted_job', 'cost_per_trainee', ...]
    """
    path = Path(path) if path is not None else EVIDENCE_DIR / "policy_costs.yaml"
    doc = read_yaml(path, error=EvidenceError)
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise EvidenceError(f"{path.name}: needs a mapping 'parameters'")
    rates = doc.get("exchange_rates") or {}
    if not isinstance(rates.get("per_eur"), dict) or not rates.get("source"):
        raise EvidenceError(f"{path.name}: 'exchange_rates' needs 'per_eur' and a 'source'")
    _check_sources([rates["source"]], f"{path.name}: exchange_rates")
    table = parameter_table()
    for name, spec in doc["parameters"].items():
        if name not in table.index:
            raise EvidenceError(
                f"{path.name}: {name!r} is not a parameter of the model"
                f"{did_you_mean(name, table.index)}"
            )
        if not isinstance(spec, dict) or spec.get("units") != table.loc[name, "units"]:
            raise EvidenceError(
                f"{path.name}: {name} units must be the model's "
                f"{table.loc[name, 'units']!r}, got {(spec or {}).get('units')!r}"
            )
        for i, entry in enumerate(spec.get("entries") or []):
            _check_entry(name, i, entry, spec["units"], table)
        hubs = [h for e in spec.get("entries") or [] for h in e["hubs"]]
        twice = sorted({h for h in hubs if hubs.count(h) > 1})
        if twice:
            raise EvidenceError(f"{path.name}: {name} has more than one entry for {twice}")
    for i, item in enumerate(doc.get("context") or []):
        _check_sources(item.get("sources"), f"{path.name}: context {i}")
    return doc


def policy_costs(hub: str, path=None) -> dict[str, PolicyCost]:
    """The sourced policy lever values for one hub: parameter -> value, range and sources.

    Parameters
    ----------
    hub : str
        A hub of :data:`POLICY_HUBS`; a calibrated name such as ``krakow@v2`` is read as its
        base hub.
    path : path, optional
        The evidence file (default ``data/evidence/policy_costs.yaml``).

    Returns
    -------
    dict
        ``{parameter: PolicyCost(value, low, high, units, kind, sources, outside_model_range)}``
        in the model's units (EUR/Person, Dmnl, Year, Person/Year). Only the parameters with
        evidence for the hub; the others stay the model's assumptions (see
        ``data/evidence/README_policy_costs.md``).

    Raises
    ------
    EvidenceError
        An unknown hub (the message lists the valid ones) or a malformed evidence file.

    Examples
    --------
    >>> policy_costs("krakow")["cost_per_attracted_job"].value  # doctest: +SKIP
    2807
    """
    base = str(hub).split("@")[0].strip().lower()
    if base not in POLICY_HUBS:
        raise EvidenceError(
            f"no policy cost evidence for hub {hub!r}{did_you_mean(base, POLICY_HUBS)} "
            f"(valid hubs: {list(POLICY_HUBS)})"
        )
    doc = load_policy_costs(path)
    out = {}
    for name, spec in doc["parameters"].items():
        for entry in spec["entries"]:
            if base in entry["hubs"]:
                out[name] = PolicyCost(
                    value=float(entry["value"]),
                    low=float(entry["low"]),
                    high=float(entry["high"]),
                    units=spec["units"],
                    kind=entry["kind"],
                    sources=tuple(
                        {k: str(s[k]) for k in (*_SOURCE_KEYS, "read_at") if k in s}
                        for s in entry["sources"]
                    ),
                    outside_model_range=bool(entry.get("outside_model_range", False)),
                )
    return out


def policy_cost_table(path=None) -> pd.DataFrame:
    """Every hub x parameter of the policy cost evidence, with the model's default and range.

    Parameters
    ----------
    path : path, optional
        The evidence file (default ``data/evidence/policy_costs.yaml``).

    Returns
    -------
    pandas.DataFrame
        One row per hub and parameter: ``hub, parameter, value, low, high, units, kind,
        model_default, model_low, model_high, outside_model_range, source`` (the first
        source's address).

    Examples
    --------
    >>> policy_cost_table().query("outside_model_range")  # doctest: +SKIP
    """
    table = parameter_table()
    rows = []
    for hub in POLICY_HUBS:
        for name, cost in policy_costs(hub, path).items():
            rows.append(
                {
                    "hub": hub,
                    "parameter": name,
                    "value": cost.value,
                    "low": cost.low,
                    "high": cost.high,
                    "units": cost.units,
                    "kind": cost.kind,
                    "model_default": float(table.loc[name, "default"]),
                    "model_low": float(table.loc[name, "low"]),
                    "model_high": float(table.loc[name, "high"]),
                    "outside_model_range": cost.outside_model_range,
                    "source": cost.sources[0]["address"],
                }
            )
    return pd.DataFrame(rows)


def prior_ranges(path=None) -> dict[str, tuple[float, float]]:
    """The evidence ranges of the model's priors (``data/evidence/ai_priors.csv``).

    One entry per parameter with both a ``range_low`` and a ``range_high`` row: the range the
    cited studies give, which may be narrower than the parameter table's admissible range (that
    one also holds the extreme conditions, e.g. a human-centred AI share of 0 or 1). Studies
    sample a parameter over this range rather than the admissible one
    (:func:`hubsd.studies.policies.uncertain_ranges`).

    Parameters
    ----------
    path : path, optional
        The evidence file (default: the bundled ``data/evidence/ai_priors.csv``).

    Returns
    -------
    dict
        ``{parameter: (low, high)}`` in the parameter's own units.

    Raises
    ------
    EvidenceError
        For a file that cannot be read, an unknown parameter, more than one row of an end, or
        an end outside the parameter table's range or in the wrong order.

    Examples
    --------
    >>> prior_ranges()["baseline_human_centred_ai_share"]
    (0.12, 0.57)
    """
    path = Path(path) if path is not None else EVIDENCE_DIR / "ai_priors.csv"
    try:
        rows = pd.read_csv(path, dtype={"parameter": str, "role": str})
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"cannot read {path}: {exc}") from None
    missing = {"parameter", "value", "role"} - set(rows.columns)
    if missing:
        raise EvidenceError(f"{path}: missing column(s) {sorted(missing)}")
    tab = parameter_table()
    out = {}
    for name, grp in rows[rows.role.isin(["range_low", "range_high"])].groupby("parameter"):
        if name not in tab.index:
            raise EvidenceError(
                f"{path}: unknown parameter {name!r}{did_you_mean(name, tab.index)}"
            )
        ends = {}
        for role in ("range_low", "range_high"):
            vals = pd.to_numeric(grp.loc[grp.role == role, "value"], errors="coerce")
            if len(vals) > 1:
                raise EvidenceError(f"{path}: {name}: more than one {role} row")
            if len(vals) == 1:
                if not np.isfinite(vals.iloc[0]):
                    raise EvidenceError(f"{path}: {name}: {role} is not a number")
                ends[role] = float(vals.iloc[0])
        if len(ends) < 2:
            continue  # one end only: the parameter table's range stays
        low, high = ends["range_low"], ends["range_high"]
        if not float(tab.loc[name, "low"]) <= low <= high <= float(tab.loc[name, "high"]):
            raise EvidenceError(
                f"{path}: {name}: evidence range [{low:g}, {high:g}] is not an ordered range "
                f"inside the parameter's [{tab.loc[name, 'low']:g}, {tab.loc[name, 'high']:g}]"
            )
        out[name] = (low, high)
    return out
