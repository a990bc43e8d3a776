"""A robust-policy-design folder for one hub: front, recommended mix, PRIM boxes, figures.

:func:`policy_study` runs :func:`hubsd.studies.policy_design.design_policies`, then scenario
discovery (:mod:`hubsd.studies.discovery`) on the ensemble under the recommended mix: the boxes
of uncertain parameters in which its youth unemployment peak is still above the threshold.
:func:`save_policy` writes everything into one folder atomically:

==========================  ==================================================================
``front.nc``                the front (dim ``policy``): decisions, objectives, robustness
``front.csv``               the same as a table, each policy spelled out in ``policy_text``
``recommended.json``        the recommended mix (model parameter -> value) and its metrics
``outcomes.nc``             outcomes per member of every front policy and of no policy
``prim_boxes.csv``          PRIM boxes where the recommended mix fails: coverage, density ...
``prim_limits.csv``         the limits of each box, per parameter, with quasi-p-values
``cart.txt``                the classification tree of the same failures (second view)
``front.png``               the front figure (:func:`hubsd.plots.policy.front_figure`)
``hubsd-policy.json``       manifest: settings, command, wall time, versions
==========================  ==================================================================
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from hubsd.core.atomic import atomic_folder
from hubsd.core.version import __version__
from hubsd.plots.policy import front_figure
from hubsd.studies.discovery import PrimBoxes, cart_rules, find_boxes
from hubsd.studies.policy_design import PolicyResult, design_policies
from hubsd.studies.policy_spec import DEFAULT_OBJECTIVES

#: Manifest of a ``hubsd policy`` folder.
MANIFEST = "hubsd-policy.json"


@dataclass
class PolicyStudy:
    """A robust-policy-design result with its scenario discovery."""

    result: PolicyResult
    boxes: PrimBoxes
    cart: str
    cart_accuracy: float
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """The front table (see :meth:`PolicyResult.table`) with the no-policy metrics in attrs."""
        frame = self.result.table()
        frame.attrs["no_policy"] = self.result.info["no_policy"]
        return frame

    def summary(self) -> str:
        """A few lines: the recommended mix, its robustness, where it fails."""
        r = self.result
        row = self.table().iloc[r.recommended]
        none = r.info["no_policy"]
        lines = [
            f"Hub {r.info['hub']}: {len(r.front['policy'])} policies on the front "
            f"({r.info['members']} members, {r.info['generations']} generations x "
            f"{r.info['population']} candidates).",
            f"Recommended mix: {row['policy_text']}.",
            "  youth unemployment peak, worst tenth: "
            f"{100 * row['youth_unemployment_peak_p90']:.1f} % "
            f"(no policy {100 * none['youth_unemployment_peak_p90']:.1f} %); "
            f"members without failure ({r.info['failure_rule']}): "
            f"{100 * row['satisficing_share']:.1f} % "
            f"(no policy {100 * none['satisficing_share']:.1f} %); "
            f"max regret {100 * row['max_regret']:.2f} pp.",
            f"  mean discounted cost {row['discounted_cost_mean'] / 1e6:,.1f} million EUR "
            f"(worst tenth {row['discounted_cost_p90'] / 1e6:,.1f}).",
        ]
        described = self.boxes.boxes[self.boxes.boxes["restricted"] > 0]
        if len(described):
            b = described.iloc[0]
            lines.append(
                f"  It still fails ({self.boxes.cases} of {self.boxes.members} members) mostly "
                f"where {b['description']} (coverage {b['coverage']:.2f}, density "
                f"{b['density']:.2f})."
            )
        else:
            lines.append(
                f"  It fails in {self.boxes.cases} of {self.boxes.members} members; no box of "
                "uncertain parameters with a significant restriction separates them."
            )
        return "\n".join(lines)


def policy_study(
    hub: str,
    objectives=DEFAULT_OBJECTIVES,
    budget: float | None = None,
    members: int = 1000,
    generations: int = 20,
    population: int = 20,
    seed: int = 0,
    levers=None,
    design_path=None,
) -> PolicyStudy:
    """Robust policy design and scenario discovery for one hub.

    Arguments as :func:`hubsd.studies.policy_design.design_policies`; the PRIM boxes and the
    tree are of the members in which the recommended mix fails (its youth unemployment peak
    above the member's threshold, ``result.outcomes["youth_unemployment_threshold"]``).
    """
    started = time.perf_counter()
    result = design_policies(
        hub, objectives, budget, members, generations, population, seed, levers, design_path
    )
    label = str(result.front["policy"].values[result.recommended])
    yu = result.outcomes["youth_unemployment_peak"].sel(policy=label).to_numpy()
    fails = yu > result.outcomes["youth_unemployment_threshold"].to_numpy()
    boxes = find_boxes(result.members, fails)
    cart, accuracy = cart_rules(result.members, fails, seed=seed)
    return PolicyStudy(result, boxes, cart, accuracy, time.perf_counter() - started)


def _rounded(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.apply(lambda c: c.round(6) if np.issubdtype(c.dtype, np.floating) else c)


def save_policy(study: PolicyStudy, target: str | Path, command: str | None = None) -> Path:
    """Write a study into ``target`` atomically (see the module docstring); returns ``target``."""
    target = Path(target)
    r = study.result
    table = study.table()
    with atomic_folder(target) as tmp:
        r.front.to_netcdf(tmp / "front.nc")
        _rounded(table).to_csv(tmp / "front.csv")
        outcomes = r.outcomes.copy()
        for name, col in r.members.reset_index(drop=True).items():
            outcomes.coords[name] = ("member", col.to_numpy())
        outcomes.attrs = dict(r.front.attrs)
        outcomes.to_netcdf(tmp / "outcomes.nc")
        row = table.iloc[r.recommended]
        rec = {
            "hub": r.info["hub"],
            "policy": str(table.index[r.recommended]),
            "policy_text": row["policy_text"],
            "parameters": r.recommended_policy(),
            "metrics": {
                k: float(row[k])
                for k in table.columns
                if k.endswith(("_p90", "_p10", "_mean", "_share", "_regret"))
            },
            "no_policy": r.info["no_policy"],
        }
        (tmp / "recommended.json").write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
        _rounded(study.boxes.boxes).to_csv(tmp / "prim_boxes.csv", index=False)
        _rounded(study.boxes.limits).to_csv(tmp / "prim_limits.csv", index=False)
        (tmp / "cart.txt").write_text(
            f"# classification tree of the members where the recommended mix fails "
            f"(accuracy on them {study.cart_accuracy:.3f})\n{study.cart}"
        )
        relative = r.info["youth_unemployment_threshold_kind"] == "relative"
        label = "threshold (median member)" if relative else "threshold"
        fig = front_figure(table, r.info["hub"], r.info["youth_unemployment_threshold"], label)
        fig.savefig(tmp / "front.png", dpi=110)
        manifest = {
            "command": command,
            "hubsd_version": __version__,
            "seconds": round(study.seconds, 1),
            "summary": study.summary(),
            **{k: v for k, v in r.info.items() if k != "no_policy"},
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    return target
