"""Scenario discovery for a chosen policy: where in the uncertainty it still fails.

PRIM comes from the EMA Workbench (``ema_workbench.analysis.prim``, Kwakkel 2017), the
maintained implementation of Friedman and Fisher's (1999) Patient Rule Induction Method as used
for scenario discovery by Bryant and Lempert (2010); :func:`find_boxes` runs it and returns the
boxes as tidy tables with coverage, density and support. :func:`cart_rules` gives a second view:
a shallow classification tree (scikit-learn) and its rules as text.

* **coverage**: members of interest inside the box / all members of interest;
* **density**: members of interest inside the box / all members inside it;
* **support** (EMA's *mass*): members inside the box / all members.

The hand-written :mod:`hubsd.studies.prim` of the claims ledger is left as it is (its numbers
are quoted in the claims ledger); new work uses this wrapper.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hubsd.core.errors import HubsdError

#: A box on the peeling trajectory is chosen as the one with the highest coverage among those
#: with at least this density (or, if none reaches it, the highest coverage x density).
DENSITY_THRESHOLD = 0.8
#: Restrictions with a larger quasi-p-value are dropped from a box (noise with few members).
SIGNIFICANCE = 0.05
#: Boxes found in turn (each later one on the members outside the earlier ones).
MAX_BOXES = 2


class DiscoveryError(HubsdError):
    """Bad input to scenario discovery (no members, a non-binary target, misaligned data)."""


@dataclass
class PrimBoxes:
    """The boxes PRIM found: ``boxes`` (one row per box) and ``limits`` (per restriction)."""

    boxes: pd.DataFrame  # box, coverage, density, support, members, restricted, description
    limits: pd.DataFrame  # box, parameter, low, high, sample_low, sample_high, qp_value
    cases: int  # members of interest
    members: int

    def describe(self, box: int = 0) -> str:
        """A box in words, e.g. ``"automatable_junior_share >= 0.62 and ..."``."""
        if box >= len(self.boxes):
            return ""
        return str(self.boxes.loc[box, "description"])


def _import_prim():
    logging.getLogger("EMA").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ema_workbench.analysis import prim as ema_prim
    return ema_prim


def _check(x: pd.DataFrame, y) -> tuple[pd.DataFrame, np.ndarray]:
    if not isinstance(x, pd.DataFrame) or x.empty:
        raise DiscoveryError("x must be a non-empty DataFrame of uncertain parameters")
    y = np.asarray(y)
    if y.shape != (len(x),):
        raise DiscoveryError(f"y must have one value per member ({len(x)}), got {y.shape}")
    if y.dtype != bool:
        if not np.isin(y, (0, 1)).all():
            raise DiscoveryError("y must be true/false per member (the members of interest)")
        y = y.astype(bool)
    x = x.reset_index(drop=True).astype(float)
    const = [c for c in x.columns if x[c].nunique() < 2]
    return x.drop(columns=const), y


def _pick(trajectory: pd.DataFrame, threshold: float) -> int:
    dense = trajectory[trajectory["density"] >= threshold]
    if len(dense):
        return int(dense["coverage"].idxmax())
    return int((trajectory["coverage"] * trajectory["density"]).idxmax())


def _quasi_p(box, i: int) -> dict[str, float]:
    """EMA's quasi-p-value of each restriction of box ``i`` (the smaller of its two sides)."""
    try:
        _stats, table = box.inspect(i, style="data")[0]
    except Exception:  # noqa: BLE001 - a diagnostic only; a box without it is still a box
        return {}
    qp = table.loc[:, [c for c in table.columns if "qp" in str(c[-1])]]
    return {str(k): float(np.nanmin(v.to_numpy(dtype=float))) for k, v in qp.iterrows()}


def _box_row(k: int, rows: list[dict], x: pd.DataFrame, y: np.ndarray) -> dict:
    """Coverage, density and support of the box given by its significant restrictions."""
    inside = np.ones(len(x), dtype=bool)
    words = []
    for r in rows:
        lo, hi, name = r["low"], r["high"], r["parameter"]
        if not np.isnan(lo):
            inside &= x[name].to_numpy() >= lo
        if not np.isnan(hi):
            inside &= x[name].to_numpy() <= hi
        if not np.isnan(lo) and not np.isnan(hi):
            words.append(f"{_fmt(lo)} <= {name} <= {_fmt(hi)}")
        elif not np.isnan(lo):
            words.append(f"{name} >= {_fmt(lo)}")
        else:
            words.append(f"{name} <= {_fmt(hi)}")
    n_in, hits = int(inside.sum()), int((inside & y).sum())
    return {
        "box": k,
        "coverage": hits / max(int(y.sum()), 1),
        "density": hits / n_in if n_in else np.nan,
        "support": n_in / len(y),
        "members": n_in,
        "restricted": len(rows),
        "description": " and ".join(words),
    }


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def find_boxes(
    x: pd.DataFrame,
    y,
    threshold: float = DENSITY_THRESHOLD,
    max_boxes: int = MAX_BOXES,
    peel_alpha: float = 0.05,
    mass_min: float = 0.05,
    significance: float = SIGNIFICANCE,
) -> PrimBoxes:
    """PRIM boxes of the members where ``y`` is true (e.g. the policy fails).

    Parameters
    ----------
    x : DataFrame
        Uncertain parameters, one row per member (constant columns are dropped).
    y : array of bool
        Members of interest.
    threshold : float
        Density the chosen box of each trajectory should reach (see :data:`DENSITY_THRESHOLD`).
    max_boxes : int
        Boxes to find in turn.
    peel_alpha, mass_min : float
        PRIM's peeling share and minimum support.
    significance : float
        A restriction whose quasi-p-value (EMA's one-sided binomial test of the density gain
        it brings) is above this is dropped; coverage and density are those of the pruned box.

    Returns
    -------
    PrimBoxes
        Empty tables if no member is of interest.
    """
    x, y = _check(x, y)
    limits_rows, box_rows = [], []
    if y.any():
        ema_prim = _import_prim()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            alg = ema_prim.Prim(x, y, threshold=threshold, peel_alpha=peel_alpha, mass_min=mass_min)
            init = alg.box_init
            for k in range(int(max_boxes)):
                try:
                    box = alg.find_box()
                except Exception:  # noqa: BLE001 - EMA raises plain errors when nothing is left
                    break
                if box is None or len(box.peeling_trajectory) < 2:
                    break
                i = _pick(box.peeling_trajectory, threshold)
                box.select(i)
                lims = box.box_lims[i]
                qp = _quasi_p(box, i)
                rows = []
                for name in x.columns:
                    lo, hi = float(lims.loc[0, name]), float(lims.loc[1, name])
                    s_lo, s_hi = float(init.loc[0, name]), float(init.loc[1, name])
                    p = qp.get(name, np.nan)
                    if (lo > s_lo or hi < s_hi) and not (p > significance):
                        rows.append(
                            {
                                "box": k,
                                "parameter": name,
                                "low": lo if lo > s_lo else np.nan,
                                "high": hi if hi < s_hi else np.nan,
                                "sample_low": s_lo,
                                "sample_high": s_hi,
                                "qp_value": p,
                            }
                        )
                limits_rows.extend(rows)
                box_rows.append(_box_row(k, rows, x, y))

    boxes = pd.DataFrame(
        box_rows,
        columns=["box", "coverage", "density", "support", "members", "restricted", "description"],
    )
    limits = pd.DataFrame(
        limits_rows,
        columns=["box", "parameter", "low", "high", "sample_low", "sample_high", "qp_value"],
    )
    return PrimBoxes(boxes, limits, int(y.sum()), len(y))


def cart_rules(x: pd.DataFrame, y, max_depth: int = 3, seed: int = 0) -> tuple[str, float]:
    """A shallow classification tree of ``y`` on ``x``: its rules as text and its accuracy.

    Leaves hold at least 5 % of the members (scikit-learn ``DecisionTreeClassifier``,
    ``class_weight="balanced"``); the accuracy is on the members it was fitted to.
    """
    x, y = _check(x, y)
    if y.all() or not y.any():
        return "(every member in one class: no tree)", 1.0
    from sklearn.tree import DecisionTreeClassifier, export_text

    tree = DecisionTreeClassifier(
        max_depth=max_depth,
        min_samples_leaf=max(1, int(0.05 * len(y))),
        class_weight="balanced",
        random_state=seed,
    ).fit(x.to_numpy(), y)
    text = export_text(tree, feature_names=list(x.columns), decimals=4)
    return text, float(tree.score(x.to_numpy(), y))
