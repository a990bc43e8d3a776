"""The claims ledger: every claim of the public debate, tested against the data and the model.

>>> ledger = claims_ledger(members=500, seed=20261129)
>>> print(ledger.format_table())
>>> ledger.write("outputs/claims")            # claims.csv, claims.nc, claims_boxes.csv

For each claim of ``data/claims.yaml`` (:mod:`hubsd.studies.claims_spec`) and each hub it maps
to, one row with four parts:

(a) **data check** (:mod:`hubsd.studies.claims_data`): what the observed series say;
(b) **model** (:mod:`hubsd.studies.claims_model`): the distribution of the claim's quantity
    over a calibrated ensemble of the hub and the share of members in which the claim holds,
    with no new policy; a claim conditional on a policy (``"no active reskilling"``) gets a
    further row under that policy's scenario;
(c) **what would have to be true** (:mod:`hubsd.studies.prim`): the PRIM box of sampled
    parameters in which the claim holds, with its coverage and density;
(d) **verdict**, in plain words:

    ``contradicted by data``
        the data check contradicts it (directly, or every proxy by a clear margin);
    ``not testable with this model``
        the claim maps to nothing the model computes, its region has no hub, or a level in
        persons would have to be carried from one region to another (the reason is given;
        ``consistent with data; not testable with this model`` when the data support it);
    ``consistent with data and model``
        the data do not contradict it and it holds in at least :data:`CONSISTENT_P` of the
        members;
    ``possible only if <box>``
        it holds in fewer members, mostly inside the PRIM box;
    ``not reproduced by the model``
        it holds in no member.

A general claim (region ``World``, or a city without a hub file such as Tallinn) is tested on
every hub with that assumption stated; a claim about a region is tested on the hub that stands
in for it (:data:`hubsd.studies.claims_data.REGION_MAP`). Nothing is dropped: a claim that
cannot be run is a row that says why.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.atomic import atomic_folder
from hubsd.core.version import __version__
from hubsd.engine.ensemble import compile_model
from hubsd.inputs.hubs import HubError, available
from hubsd.inputs.observations import load_observations
from hubsd.studies.claims_data import (
    HUB_REGION,
    REGION_MAP,
    DataCheck,
    data_check,
    reference_level,
)
from hubsd.studies.claims_model import (
    PERSONS,
    QUANTITY_OUTPUTS,
    Context,
    HubRuns,
    answer,
    resolve_hub_set,
)
from hubsd.studies.claims_spec import CLAIMS_FILE, Claim, file_sha256, load_claims
from hubsd.studies.prim import prim

#: Default seed of the members' Latin hypercube.
SEED = 20261129
#: Default members per hub (the notebook uses fewer).
MEMBERS = 500
#: A claim that holds in at least this share of members is consistent with the model.
CONSISTENT_P = 0.5
#: A PRIM box names what would have to be true only if at least this share of it holds.
BOX_MIN_DENSITY = 0.5
#: Fewer members than this (after the claim's condition) get no PRIM box.
MIN_PRIM_MEMBERS = 20
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: The kinds of verdict, as they start.
CATEGORIES = (
    "consistent with data and model",
    "consistent with data; not testable with this model",
    "possible only if",
    "possible only in",
    "contradicted by data",
    "not testable with this model",
    "not reproduced by the model",
    "not evaluated here",
)
#: Files a ledger folder holds.
FILES = ("claims.csv", "claims.nc", "claims_boxes.csv")
#: The manifest that marks a ledger folder (``hubsd claims`` replaces only such a folder).
MANIFEST = "hubsd-claims.json"


@dataclass
class Row:
    """One row of the ledger: a claim on one hub, in one scenario."""

    claim: Claim
    hub: str  # the hub's base name ("" when none)
    run_key: str = "baseline"
    scenario: str = "baseline"
    role: str = "claim"  # or "policy variant"
    status: str = "run"  # run, not testable, skipped
    assumption: str = ""
    reason: str = ""
    hub_set: str = ""

    @property
    def key(self) -> str:
        """Unique label: ``<claim>@<hub>`` plus ``/<scenario>`` for a policy variant."""
        key = f"{self.claim.id}@{self.hub or '-'}"
        return key if self.role == "claim" else f"{key}/{self.run_key}"


def _condition(claim: Claim) -> str | None:
    """How a claim's ``conditional_on`` is modelled (None when unconditional)."""
    text = (claim.conditional_on or "").lower()
    if not text:
        return None
    if "reskilling" in text:
        return "no_reskilling"
    if "restructuring" in text or "attraction" in text:
        return "attraction"
    if "job" in text or "employment falls" in text:
        return "hub_loss"
    return "unmodelled"


def plan_rows(
    claims: Sequence[Claim], hubs: Sequence[str], known: Sequence[str], outputs: Sequence[str]
) -> list[Row]:
    """Every row of the ledger, before anything runs (see the module docstring).

    ``hubs`` are the selected base hub names, ``known`` every hub with a file, ``outputs``
    the model's outputs.
    """
    rows = []
    outputs = set(outputs)
    for claim in claims:
        region = REGION_MAP[claim.region]
        targets = list(region.hubs) if region.hubs is not None else list(hubs)
        assumption = region.assumption
        first = targets[0] if len(targets) == 1 else ""
        q = claim.quantity
        if not claim.testable or q.name is None:
            rows.append(
                Row(
                    claim,
                    first,
                    status="not testable",
                    assumption=assumption,
                    reason=claim.testable_reason,
                )
            )
            continue
        missing = [o for o in QUANTITY_OUTPUTS[q.name] if o not in outputs]
        if missing:
            rows.append(
                Row(
                    claim,
                    first,
                    status="not testable",
                    assumption=assumption,
                    reason=f"the model has no output {', '.join(missing)}",
                )
            )
            continue
        if not [h for h in targets if h in known]:
            rows.append(
                Row(
                    claim,
                    first,
                    status="not testable",
                    assumption=assumption,
                    reason=f"no hub file for {', '.join(targets)}",
                )
            )
            continue
        cond = _condition(claim)
        if cond == "unmodelled":
            assumption += (
                f"; the condition {claim.conditional_on!r} is not modelled, "
                "the claim is tested without it"
            )
        for hub in targets:
            if hub not in hubs:
                rows.append(
                    Row(
                        claim,
                        hub,
                        status="skipped",
                        assumption=assumption,
                        reason=f"maps to hub {hub}, which this ledger does not run",
                    )
                )
                continue
            if q.name == "diversified_city_loses_less":
                rows.append(
                    Row(claim, hub, "baseline", "attraction vs none", assumption=assumption)
                )
                rows.append(
                    Row(
                        claim,
                        hub,
                        "attraction_late",
                        "attraction vs late attraction",
                        "policy variant",
                        assumption=assumption,
                    )
                )
                continue
            rows.append(Row(claim, hub, assumption=assumption))
            if cond == "no_reskilling":
                rows.append(
                    Row(
                        claim,
                        hub,
                        "reskilling",
                        "reskilling",
                        "policy variant",
                        assumption=assumption,
                    )
                )
    return rows


class _NotTestable(Exception):
    pass


def _threshold(claim: Claim, hub: str, obs) -> tuple[float, float | None, bool, str]:
    """The claim's figure as the model's quantity compares with it, and how it was carried."""
    q = claim.quantity
    share_mode = q.tiers is not None and "fraction" in q.unit
    persons = q.name in PERSONS or (q.name == "jobs_automated" and not share_mode)
    if not persons or HUB_REGION.get(hub) == claim.region or q.value == 0:
        return q.value, q.tolerance, False, ""
    if q.name == "hub_employment":
        raise _NotTestable(
            f"a level in persons of {claim.region} cannot be set against the {hub} hub"
        )
    ref, how = reference_level(obs, claim.region, q.window[0])
    if not math.isfinite(ref) or ref <= 0:
        raise _NotTestable(f"persons of {claim.region} cannot be carried to a share: {how}")
    tol = None if q.tolerance is None else q.tolerance / ref
    note = (
        f"{q.value:,.0f} persons as a share of {claim.region}'s sector ({how}): "
        f"{q.value / ref:.3g}; the model's value over its hub staff in {q.window[0]}"
    )
    return q.value / ref, tol, True, note


def fmt_number(x: float) -> str:
    """A figure for people: thousands separated from 1,000 on, else three digits."""
    if not math.isfinite(x):
        return "nan"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"


@dataclass
class Ledger:
    """The ledger: one table row per claim row, per-member values, PRIM boxes, provenance."""

    table: pd.DataFrame
    values: np.ndarray  # (rows, members)
    holds: np.ndarray
    conditions: np.ndarray
    boxes: pd.DataFrame
    info: dict = field(default_factory=dict)

    def to_dataset(self) -> xr.Dataset:
        """The ledger as an ``xarray.Dataset`` with dims ``claim`` (rows) and ``member``."""
        keys = self.table.index.to_numpy()
        ds = xr.Dataset(coords={"claim": keys, "member": np.arange(self.values.shape[1])})
        ds["value"] = (
            ("claim", "member"),
            self.values,
            {
                "units": "per row: the variable 'unit'",
                "long_name": "the claim's quantity in each member",
            },
        )
        ds["holds"] = (
            ("claim", "member"),
            self.holds,
            {
                "units": "1",
                "long_name": "1 if the claim holds in the member, 0 if "
                "not, NaN if the member is outside the claim's condition or undefined",
            },
        )
        ds["in_condition"] = (
            ("claim", "member"),
            self.conditions.astype(np.int8),
            {"units": "1", "long_name": "member meets the claim's condition"},
        )
        for col in self.table.columns:
            data = self.table[col]
            if data.dtype == object or data.dtype == bool:
                ds[col] = ("claim", data.astype(str).to_numpy(dtype=object))
            else:
                ds[col] = ("claim", data.to_numpy(dtype=float))
        for col in ("p_holds", "prim_coverage", "prim_density", "prim_support"):
            ds[col].attrs["units"] = "1"
        for col in ("threshold", "tolerance", "mean", *[f"q{int(q * 100):02d}" for q in QUANTILES]):
            ds[col].attrs["units"] = "per row: the variable 'unit'"
        if len(self.boxes):
            box = self.boxes.pivot(index="row", columns="parameter", values=["low", "high"])
            params = sorted(self.boxes.parameter.unique())
            for side in ("low", "high"):
                frame = box[side].reindex(index=keys, columns=params)
                ds[f"box_{side}"] = (
                    ("claim", "parameter"),
                    frame.to_numpy(float),
                    {
                        "units": "the parameter's (parameter table)",
                        "long_name": f"PRIM box {side} limit (NaN: unrestricted)",
                    },
                )
        ds.attrs.update(
            {
                k: (json.dumps(v) if not isinstance(v, (str, int, float)) else v)
                for k, v in self.info.items()
            }
        )
        ds.attrs["title"] = "hubsd claims ledger"
        return ds

    def format_table(self, width: int = 60) -> str:
        """The printed table: claim, hub, scenario, P(holds), median, data, verdict."""
        t = self.table
        frame = pd.DataFrame(
            {
                "hub": t.hub.to_numpy(),
                "scenario": t.scenario.to_numpy(),
                "P(holds)": ["" if not math.isfinite(p) else f"{p:.0%}" for p in t.p_holds],
                "median": ["" if not math.isfinite(v) else fmt_number(v) for v in t.q50],
                "data": t.data_status.to_numpy(),
                "verdict": [v if len(v) <= width else v[: width - 3] + "..." for v in t.verdict],
            },
            index=t.claim_id.to_numpy(),
        )
        frame.index.name = "claim"
        with pd.option_context(
            "display.width", 250, "display.max_colwidth", width + 5, "display.max_rows", 500
        ):
            return frame.to_string()

    def write(self, folder: str | Path) -> list[Path]:
        """Write ``claims.csv``, ``claims.nc`` and ``claims_boxes.csv`` into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = [folder / name for name in FILES]
        self.table.to_csv(paths[0], float_format="%.6g")
        self.to_dataset().to_netcdf(paths[1])
        self.boxes.to_csv(paths[2], index=False, float_format="%.6g")
        return paths


def category(verdict: str) -> str:
    """The kind of a verdict: the verdict without its box or share (for counting)."""
    for kind in CATEGORIES:
        if verdict.startswith(kind):
            return kind
    return verdict


def _verdict(row: Row, data: DataCheck, stats: dict) -> tuple[str, str]:
    """The verdict in plain words and why (see the module docstring)."""
    why = []
    proxy = "" if data.direct else " (proxy series)"
    if row.status == "skipped":
        return f"not evaluated here: {row.reason}", f"Data: {data.text}."
    if data.status == "contradicts":
        verdict = "contradicted by data"
        why.append(f"Data{proxy}: {data.text}.")
    elif row.status == "not testable":
        verdict = "not testable with this model"
        if data.status == "supports":
            verdict = "consistent with data; not testable with this model"
        why.append(f"{row.reason.rstrip('.')}.")
    elif stats["n_valid"] == 0:
        verdict = "not testable with this model"
        why.append("No member meets the claim's condition.")
    else:
        p, box = stats["p_holds"], stats["prim_box"]
        dense = box and stats["prim_density"] >= BOX_MIN_DENSITY
        if p >= CONSISTENT_P:
            verdict = "consistent with data and model"
        elif p > 0 and dense:
            verdict = f"possible only if {box}"
        elif p > 0:
            verdict = f"possible only in {p:.0%} of members (no parameter box isolates them)"
        else:
            verdict = "not reproduced by the model"
    if row.status == "run" and stats["n_valid"]:
        q05, q50, q95 = (fmt_number(stats[k]) for k in ("q05", "q50", "q95"))
        why.append(
            f"Model: holds in {stats['p_holds']:.0%} of {stats['n_valid']} members; median "
            f"{q50} (90 % range {q05} to {q95}) against {row.claim.quantity.operator} "
            f"{fmt_number(stats['threshold'])}."
        )
        if stats["prim_box"]:
            why.append(
                f"Box {stats['prim_box']}: density {stats['prim_density']:.0%}, "
                f"coverage {stats['prim_coverage']:.0%}."
            )
    if data.status != "contradicts":
        why.append(f"Data {data.status}: {data.text}.")
    if not row.claim.source_found:
        why.append("Primary source not found.")
    return verdict, " ".join(why)


def _evaluate(
    row: Row, runs: HubRuns, obs
) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, list[dict]]:
    claim, q = row.claim, row.claim.quantity
    n = runs.members
    stats = {"threshold": q.value, "tolerance": q.tolerance or math.nan}
    try:
        thr, tol, relative, note = _threshold(claim, row.hub, obs)
    except _NotTestable as exc:
        row.status, row.reason = "not testable", str(exc)
        return stats, np.full(n, np.nan), np.full(n, np.nan), np.zeros(n, bool), []
    if note:
        row.assumption = f"{row.assumption}; {note}" if row.assumption else note
    stats.update(threshold=thr, tolerance=math.nan if tol is None else tol)
    if relative:
        stats["unit"] = f"fraction (persons over the hub's staff in {q.window[0]})"
    ctx = Context(claim, runs, row.run_key, thr, tol, relative)
    ans = answer(ctx)
    cond = ans.cond.copy()
    if _condition(claim) == "hub_loss":
        cond &= ctx.gap("total_hub_staff", q.window[1]) < 0
    valid = cond & np.isfinite(ans.value)
    holds = np.where(valid, ans.holds, np.nan)
    v = ans.value[valid]
    stats.update(
        n_condition=int(cond.sum()),
        n_valid=int(valid.sum()),
        statement=ans.statement,
        extra=ans.extra,
    )
    if v.size:
        qs = np.quantile(v, QUANTILES)
        stats.update({f"q{int(k * 100):02d}": float(x) for k, x in zip(QUANTILES, qs, strict=True)})
        stats.update(mean=float(v.mean()), p_holds=float(np.mean(holds[valid])))
    boxes = []
    if v.size >= MIN_PRIM_MEMBERS and np.nansum(holds) > 0:
        res = prim(runs.params[valid], holds[valid])
        box = res.box
        stats.update(
            prim_box=box.describe(),
            prim_coverage=box.coverage,
            prim_density=box.density,
            prim_support=box.support,
            prim_dims=len(box.restricted()),
        )
        for name, lim in box.restricted().iterrows():
            boxes.append(
                {
                    "row": row.key,
                    "parameter": name,
                    "low": lim["low"],
                    "high": lim["high"],
                    "sampled_low": box.lower_bound[name],
                    "sampled_high": box.upper_bound[name],
                }
            )
    return stats, ans.value, holds, cond, boxes


def claims_ledger(
    hubs: Sequence[str] | None = None,
    members: int = MEMBERS,
    seed: int = SEED,
    claims: Sequence[Claim] | None = None,
    path: str | Path = CLAIMS_FILE,
    obs: pd.DataFrame | None = None,
) -> Ledger:
    """Test every claim against the data and a calibrated ensemble of each hub.

    Parameters
    ----------
    hubs : list of str, optional
        Hubs to run (``"krakow"``, or ``"krakow@v2"`` for a given calibrated set; default:
        every hub with a file, each on its newest calibrated set that loads). Claims about
        regions whose hub is not selected are listed as not evaluated.
    members : int
        Ensemble members per hub (a Latin hypercube over the hub's uncertain parameters).
    seed : int
        Seed of the Latin hypercube.
    claims : list of Claim, optional
        Claims to test (default: those of ``path``).
    path : path
        The claims file (default ``data/claims.yaml``).
    obs : pandas.DataFrame, optional
        Observations (default: every ``data/observed/*.csv``).

    Returns
    -------
    Ledger
        ``table`` (one row per claim, hub and scenario: the data check, the quantity's
        quantiles, the share of members where it holds, the PRIM box, the verdict and why),
        per-member ``values``/``holds``/``conditions``, the ``boxes`` (limits per parameter)
        and ``info`` (hubs, sets, seed, members, wall time); :meth:`Ledger.to_dataset`,
        :meth:`Ledger.write`, :meth:`Ledger.format_table`.

    Raises
    ------
    ClaimsError
        A malformed claims file (file and line).
    HubError
        An unknown hub.

    Examples
    --------
    >>> ledger = claims_ledger(["krakow"], members=100)
    >>> ledger.table.loc["krakow_hub_employment_2024@krakow", "verdict"]
    """
    started = time.perf_counter()
    if not isinstance(members, (int, np.integer)) or isinstance(members, bool) or members < 2:
        raise HubError(f"members must be a whole number of at least 2, got {members!r}")
    known = available()
    selected = {}
    for hub in hubs or known:
        base = str(hub).strip().lower().split("@")[0]
        if base not in known:
            raise HubError(f"unknown hub {hub!r}; known hubs: {', '.join(known)}")
        selected[base] = str(hub).strip()
    model = compile_model()  # once: every run of the ledger uses the same model
    given = claims
    claims = list(claims) if claims is not None else load_claims(path, model.outputs_available())
    obs = load_observations() if obs is None else obs
    rows = plan_rows(claims, list(selected), known, model.outputs_available())
    final = float(max(r.claim.quantity.window[1] for r in rows)) + 1.0
    final = min(final, model.controls["final_time"])
    runs: dict[str, HubRuns] = {}
    records, values, holds, conds, boxes = [], [], [], [], []
    primary: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for row in rows:
        stats: dict = {}
        n = members
        v = h = np.full(n, np.nan)
        c = np.zeros(n, bool)
        if row.status == "run":
            if row.hub not in runs:
                name, note = resolve_hub_set(selected[row.hub])
                outs = sorted(
                    {
                        o
                        for r in rows
                        if r.hub == row.hub and r.status == "run"
                        for o in QUANTITY_OUTPUTS[r.claim.quantity.name]
                    }
                )
                runs[row.hub] = HubRuns(name, members, seed, tuple(outs), final, note, model)
            hr = runs[row.hub]
            row.hub_set = hr.hub
            if hr.note:
                row.assumption = f"{row.assumption}; {hr.note}" if row.assumption else hr.note
            stats, v, h, c, b = _evaluate(row, hr, obs)
            boxes += b
            if row.role == "claim":
                primary[(row.claim.id, row.hub)] = (v, c)
            elif row.run_key != "attraction_late" and (row.claim.id, row.hub) in primary:
                v0, c0 = primary[(row.claim.id, row.hub)]
                both = c & c0 & np.isfinite(v) & np.isfinite(v0)
                if both.any():
                    diff = float(np.median(v[both] - v0[both]))
                    stats["extra"] = (
                        stats.get("extra", "") + f"; median change against "
                        f"the no-policy row: {fmt_number(diff)}"
                    ).lstrip("; ")
        data = data_check(row.claim, obs)
        defaults = {
            "n_condition": 0,
            "n_valid": 0,
            "p_holds": math.nan,
            "mean": math.nan,
            "prim_box": "",
            "prim_coverage": math.nan,
            "prim_density": math.nan,
            "prim_support": math.nan,
            "prim_dims": 0,
            "statement": "",
            "extra": "",
            "threshold": row.claim.quantity.value,
            "tolerance": row.claim.quantity.tolerance or math.nan,
            **{f"q{int(k * 100):02d}": math.nan for k in QUANTILES},
        }
        stats = {**defaults, **stats}
        verdict, why = _verdict(row, data, stats)
        q = row.claim.quantity
        records.append(
            {
                "row": row.key,
                "claim_id": row.claim.id,
                "hub": row.hub,
                "hub_set": row.hub_set,
                "scenario": row.scenario,
                "role": row.role,
                "region": row.claim.region,
                "kind": row.claim.kind,
                "quantity": q.name or "",
                "statement": stats["statement"]
                or f"{q.name or q.unit} {q.operator} {fmt_number(stats['threshold'])}",
                "operator": q.operator,
                "threshold": stats["threshold"],
                "tolerance": stats["tolerance"],
                "unit": stats.get("unit", q.unit),
                "window_start": q.window[0],
                "window_end": q.window[1],
                "testable": row.status == "run",
                "status": row.status,
                "source_found": row.claim.source_found,
                "data_status": data.status,
                "data_direct": data.direct,
                "data_value": data.value,
                "data_text": data.text,
                "members": members if row.status == "run" else 0,
                "n_condition": stats["n_condition"],
                "n_valid": stats["n_valid"],
                "p_holds": stats["p_holds"],
                "mean": stats["mean"],
                **{f"q{int(k * 100):02d}": stats[f"q{int(k * 100):02d}"] for k in QUANTILES},
                "prim_box": stats["prim_box"],
                "prim_coverage": stats["prim_coverage"],
                "prim_density": stats["prim_density"],
                "prim_support": stats["prim_support"],
                "prim_dims": stats["prim_dims"],
                "verdict_kind": category(verdict),
                "verdict": verdict,
                "why": why,
                "assumption": row.assumption,
                "extra": stats["extra"],
            }
        )
        values.append(v)
        holds.append(h)
        conds.append(c)
    table = pd.DataFrame.from_records(records).set_index("row")
    box_cols = ["row", "parameter", "low", "high", "sampled_low", "sampled_high"]
    info = {
        "claims_file": str(path) if given is None else "(claims given in memory)",
        "claims_sha256": file_sha256(path) if given is None else "",
        "hubs": list(selected.values()),
        "hub_sets": {h: r.hub for h, r in runs.items()},
        "hub_set_notes": {h: r.note for h, r in runs.items() if r.note},
        "members": int(members),
        "seed": int(seed),
        "model_sha256": model.sha256,
        "hubsd_version": __version__,
        "wall_time_s": round(time.perf_counter() - started, 2),
    }
    return Ledger(
        table,
        np.vstack(values),
        np.vstack(holds),
        np.vstack(conds),
        pd.DataFrame(boxes, columns=box_cols),
        info,
    )


def save_ledger(ledger: Ledger, target: str | Path, command: str | None = None) -> Path:
    """Write a ledger folder atomically: the files of :meth:`Ledger.write` and a manifest.

    Parameters
    ----------
    ledger : Ledger
        The result of :func:`claims_ledger`.
    target : path
        The folder; it is built beside the target and renamed into place when complete
        (:func:`hubsd.core.atomic.atomic_folder`), replacing an earlier one.
    command : str, optional
        The command that made it, for the manifest.

    Returns
    -------
    Path
        ``target``.

    Examples
    --------
    >>> save_ledger(claims_ledger(), "outputs/claims")
    PosixPath('outputs/claims')
    """
    target = Path(target)
    with atomic_folder(target) as tmp:
        files = ledger.write(tmp)
        counts = ledger.table.verdict_kind.value_counts().to_dict()
        manifest = {
            "command": command,
            **ledger.info,
            "rows": len(ledger.table),
            "verdicts": {k: int(v) for k, v in sorted(counts.items())},
            "files": [p.name for p in files],
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return target
