"""Scenario discovery with PRIM: the region of parameter space in which a claim holds.

The Patient Rule Induction Method (Friedman and Fisher 1999; as used for scenario discovery by
Bryant and Lempert 2010) starts from the box that holds every sampled member and *peels* it:
at each step it removes the ``alpha`` share of the members still inside from the low or the
high end of one parameter, whichever choice leaves the highest share of members of interest
inside (the *density*). Peeling stops when the box would hold less than ``min_support`` of all
members. Along this trajectory coverage falls and density rises; :func:`prim` picks the box
with the largest product of coverage and density (or, given a ``threshold``, the first box
whose density reaches it), and then drops every restriction that does not matter: one whose
removal lowers the density by at most ``prune_tolerance``, or whose gain in density is not
significant (a binomial quasi-p-value above ``significance``), keeping at most ``max_dims``.
Peeling is then repeated from the whole box on the parameters that survived (up to
:data:`REPEELS` times), so that a box is not cut short by the noise restrictions it was pruned
of. With a few hundred members and some seventy parameters, peeling alone fits noise; the
pruning keeps only restrictions the sample supports.

* **coverage**: members of interest inside the box / all members of interest;
* **density**: members of interest inside the box / all members inside it;
* **support**: members inside the box / all members.

>>> box = prim(samples, holds).box
>>> box.describe()
'automatable_junior_share >= 0.62 and client_demand_growth_rate <= 0.031'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

#: Share of the members inside the box removed by one peel.
ALPHA = 0.05
#: Peeling stops before the box holds less than this share of all members.
MIN_SUPPORT = 0.05
#: A restriction is dropped if the density without it is at most this much lower ...
PRUNE_TOLERANCE = 0.02
#: ... or if its quasi-p-value (see :func:`_prune`) is above this.
SIGNIFICANCE = 0.05
#: At most this many parameters are restricted (the most significant kept).
MAX_DIMS = 4
#: Times the peeling is repeated on the parameters that survived pruning.
REPEELS = 2


@dataclass
class Box:
    """A box in parameter space: limits, and the members of interest it catches."""

    low: pd.Series  # lower limit per parameter (the sample's minimum where unrestricted)
    high: pd.Series  # upper limit per parameter (the sample's maximum where unrestricted)
    lower_bound: pd.Series  # the sample's minimum per parameter
    upper_bound: pd.Series  # the sample's maximum per parameter
    coverage: float
    density: float
    support: float
    members: int

    def restricted(self) -> pd.DataFrame:
        """Restricted parameters with ``low`` and ``high`` (NaN on an unrestricted side).

        Sorted by the share of the sampled range the box cuts away, largest first.
        """
        lo = self.low.where(self.low > self.lower_bound)
        hi = self.high.where(self.high < self.upper_bound)
        span = (self.upper_bound - self.lower_bound).replace(0, np.nan)
        cut = ((self.low - self.lower_bound) + (self.upper_bound - self.high)) / span
        frame = pd.DataFrame({"low": lo, "high": hi, "cut": cut})
        frame = frame[frame.low.notna() | frame.high.notna()]
        return frame.sort_values("cut", ascending=False, kind="stable").drop(columns="cut")

    def describe(self, digits: int = 3) -> str:
        """The box as words: ``"a >= 0.62 and 0.1 <= b <= 0.3"``; ``""`` if unrestricted."""
        parts = []
        for name, row in self.restricted().iterrows():
            lo, hi = row["low"], row["high"]
            if pd.notna(lo) and pd.notna(hi):
                parts.append(f"{lo:.{digits}g} <= {name} <= {hi:.{digits}g}")
            elif pd.notna(lo):
                parts.append(f"{name} >= {lo:.{digits}g}")
            else:
                parts.append(f"{name} <= {hi:.{digits}g}")
        return " and ".join(parts)


@dataclass
class PrimResult:
    """The peeling trajectory and the box picked from it (``None`` if no member holds)."""

    box: Box | None
    trajectory: pd.DataFrame
    base_rate: float


def _stats(inside: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    n_in = int(inside.sum())
    hits = int((inside & y).sum())
    coverage = hits / max(int(y.sum()), 1)
    density = hits / n_in if n_in else float("nan")
    return coverage, density, n_in / len(y)


def _inside(X: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    return np.all((X >= low) & (X <= high), axis=1)


def _peel(X, y, inside, alpha, min_n):
    """The best single peel from the box ``inside``: (j, side, limit, new inside) or None.

    Every parameter's low and high peel at once: the densest remaining box wins, ties go to
    the gentler peel (more members kept), then to the first parameter, low side first.
    """
    idx = np.flatnonzero(inside)
    sub, yin = X[idx], y[idx]
    limits = np.quantile(sub, [alpha, 1 - alpha], axis=0)  # (2, p)
    keep = np.stack([sub >= limits[0], sub <= limits[1]], axis=2)  # (n, p, 2)
    n_keep = keep.sum(axis=0)
    hits = (keep & yin[:, None, None]).sum(axis=0)
    ok = (n_keep < len(idx)) & (n_keep >= min_n)
    if not ok.any():
        return None
    density = np.where(ok, hits / np.maximum(n_keep, 1), -1.0).ravel()  # j-major, low first
    kept = np.where(ok, n_keep, -1).ravel()
    order = np.lexsort((np.arange(density.size), -kept, -density))
    best = int(order[0])
    j, side = divmod(best, 2)
    new = np.zeros_like(inside)
    new[idx[keep[:, j, side]]] = True
    return j, ("low", "high")[side], float(limits[side, j]), new


def _prune(X, y, low, high, lo0, hi0, tolerance, significance, max_dims):
    """Drop restrictions that do not matter: the weakest first, one at a time.

    A restriction is weak when the box without it is at most ``tolerance`` less dense, or when
    its gain is not significant: the binomial probability of at least the box's hits among its
    members at the density of the box without the restriction (a quasi-p-value, as in the EMA
    workbench) exceeds ``significance``. More than ``max_dims`` restrictions are cut to the
    ``max_dims`` most significant.
    """
    low, high = low.copy(), high.copy()
    while True:
        inside = _inside(X, low, high)
        n_in, hits = int(inside.sum()), int((inside & y).sum())
        density = hits / n_in if n_in else 0.0
        options = []
        for j in range(X.shape[1]):
            for side, arr, orig in (("low", low, lo0), ("high", high, hi0)):
                if arr[j] == orig[j]:
                    continue
                trial_low, trial_high = low.copy(), high.copy()
                (trial_low if side == "low" else trial_high)[j] = orig[j]
                _, d, _ = _stats(_inside(X, trial_low, trial_high), y)
                pval = float(binom.sf(hits - 1, n_in, min(max(d, 0.0), 1.0)))
                options.append((pval, d, -j, side, trial_low, trial_high))
        if not options:
            return low, high
        options.sort(key=lambda o: (o[0], o[1], o[2], o[3]), reverse=True)
        pval, d, _, _, trial_low, trial_high = options[0]
        dims = len({-o[2] for o in options})
        if d >= density - tolerance or pval > significance or dims > max_dims:
            low, high = trial_low, trial_high
        else:
            return low, high


def _pick(rows: pd.DataFrame, threshold: float | None) -> int:
    """The box of a trajectory to keep (see :func:`prim`)."""
    if threshold is not None:
        reach = rows[rows.density >= threshold]
        return int(reach.index[0]) if len(reach) else int(rows.density.idxmax())
    score = rows.coverage * rows.density
    return int(score.idxmax())


def _trajectory(X, y, dims, lo0, hi0, alpha, min_n):
    """Peel from the whole box over the parameters ``dims``: the boxes and their statistics."""
    low, high = lo0.copy(), hi0.copy()
    inside = np.ones(len(y), bool)
    steps = [(low.copy(), high.copy())]
    while y.any():
        peel = _peel(X[:, dims], y, inside, alpha, min_n)
        if peel is None:
            break
        j, side, limit, inside = peel
        if side == "low":
            low[dims[j]] = limit
        else:
            high[dims[j]] = limit
        steps.append((low.copy(), high.copy()))
    rows = []
    for k, (lo, hi) in enumerate(steps):
        cov, dens, sup = _stats(_inside(X, lo, hi), y)
        restricted = int(((lo > lo0) | (hi < hi0)).sum())
        rows.append(
            {"step": k, "coverage": cov, "density": dens, "support": sup, "restricted": restricted}
        )
    return steps, pd.DataFrame(rows)


def prim(
    X: pd.DataFrame,
    y,
    alpha: float = ALPHA,
    min_support: float = MIN_SUPPORT,
    threshold: float | None = None,
    prune_tolerance: float = PRUNE_TOLERANCE,
    significance: float = SIGNIFICANCE,
    max_dims: int = MAX_DIMS,
) -> PrimResult:
    """Find the box of parameter space in which ``y`` holds (see the module docstring).

    Parameters
    ----------
    X : pandas.DataFrame
        Sampled parameters, one row per member, one column per parameter.
    y : array-like of bool
        Whether the claim holds in each member (NaN rows, if float, are dropped).
    alpha : float
        Share of the members inside removed by one peel (0 < alpha < 0.5).
    min_support : float
        Smallest share of all members a box may hold.
    threshold : float, optional
        Pick the first box on the trajectory whose density reaches this (the densest if none
        does) instead of the one with the largest coverage x density.
    prune_tolerance : float
        Largest loss of density accepted when a restriction is dropped.
    significance : float
        Largest quasi-p-value of a restriction that is kept (see :func:`_prune`).
    max_dims : int
        Most parameters the box may restrict.

    Returns
    -------
    PrimResult
        ``box`` (:class:`Box` with limits, coverage, density, support; ``None`` when ``y``
        never holds), the first ``trajectory`` over every parameter (coverage, density,
        support, restricted dims per step) and the ``base_rate`` (share of members where
        ``y`` holds).

    Raises
    ------
    ValueError
        For lengths that differ, no rows, or ``alpha``/``min_support`` outside (0, 0.5)/(0, 1).

    Examples
    --------
    >>> res = prim(pd.DataFrame({"a": a, "b": b}), (a > 0.6) & (b < 0.5))
    >>> res.box.describe()
    'a >= 0.6 and b <= 0.5'
    """
    if not 0 < alpha < 0.5 or not 0 < min_support < 1:
        raise ValueError(f"alpha {alpha} must be in (0, 0.5), min_support in (0, 1)")
    yv = np.asarray(y, dtype=float)
    if len(yv) != len(X):
        raise ValueError(f"y has {len(yv)} values, X has {len(X)} rows")
    keep = np.isfinite(yv) & np.all(np.isfinite(X.to_numpy(float)), axis=1)
    Xv, yb = X.to_numpy(float)[keep], yv[keep] > 0.5
    if len(yb) == 0:
        raise ValueError("no members with a finite outcome")
    lo0, hi0 = Xv.min(axis=0), Xv.max(axis=0)
    base = float(yb.mean())
    min_n = max(int(np.ceil(min_support * len(yb))), 1)
    dims = np.arange(Xv.shape[1])
    traj = None
    low, high = lo0.copy(), hi0.copy()
    for _ in range(REPEELS + 1):
        steps, rows = _trajectory(Xv, yb, dims, lo0, hi0, alpha, min_n)
        traj = rows if traj is None else traj  # the trajectory over every parameter
        if not yb.any():
            return PrimResult(None, traj, base)
        pick = _pick(rows, threshold)
        low, high = _prune(Xv, yb, *steps[pick], lo0, hi0, prune_tolerance, significance, max_dims)
        kept = np.flatnonzero((low > lo0) | (high < hi0))
        if len(kept) == 0 or np.array_equal(kept, dims):
            break
        dims = kept  # peel again on the parameters that matter, from the whole box
    inside = _inside(Xv, low, high)
    cov, dens, sup = _stats(inside, yb)
    cols = list(X.columns)
    box = Box(
        low=pd.Series(low, index=cols),
        high=pd.Series(high, index=cols),
        lower_bound=pd.Series(lo0, index=cols),
        upper_bound=pd.Series(hi0, index=cols),
        coverage=cov,
        density=dens,
        support=sup,
        members=int(inside.sum()),
    )
    return PrimResult(box, traj, base)
