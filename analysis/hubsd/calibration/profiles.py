"""Profile-likelihood 95 % intervals of a fit's free parameters, with refined ends.

For each free parameter the fit is repeated with that parameter fixed on a grid over its bounds
and the others re-optimised, all grid points side by side (the solvers of
:mod:`hubsd.calibration.fit`, split over two processes); the interval is where twice the cost
rises less than chi-square(1) 95 % (3.84) above its minimum, and an end found inside the bounds
is refined by one more profile fit at the end interpolated from the grid (:func:`profile`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hubsd.calibration.fit import Fit, _stencil, _two_process_solves
from hubsd.calibration.spec import CHI2_95

# -- intervals ------------------------------------------------------------------------------------


@dataclass
class Profiles:
    """Profile-likelihood intervals of every free parameter (:func:`profile`)."""

    # (p, G + 3) unit-cube values of the profiled parameter, in increasing order: the G grid
    # points, the optimum and the two refined ends (NaN, last, where none; G + 1 unrefined)
    grid: np.ndarray
    cost: np.ndarray  # (p, G + 3) re-optimised cost (NaN where not computed)
    table: pd.DataFrame  # estimate, interval, flag per parameter
    correlation: pd.DataFrame
    better: float | None  # lowest profile cost if it beat the fit by more than 1e-6 relative


def _crossing(grid, excess, side):
    """Where ``excess`` (2 * cost rise - chi2) crosses zero going away from the minimum."""
    k = int(np.argmin(excess))
    rng = range(k - 1, -1, -1) if side == "low" else range(k + 1, len(grid))
    prev = k
    for i in rng:
        if excess[i] > 0:
            a, b = excess[prev], excess[i]
            w = -a / (b - a) if b != a else 0.0
            return grid[prev] + w * (grid[i] - grid[prev]), True
        prev = i
    return (grid[0] if side == "low" else grid[-1]), False


def _ends(grid: np.ndarray, cost: np.ndarray, best: float) -> tuple[tuple, tuple]:
    """``((low, inside), (high, inside))``: a profile's 95 % ends in the unit cube.

    ``grid``, ``cost``: the profile's points in increasing order (NaN: not computed);
    ``best``: the fit's cost. An end not crossed inside the bounds is the bound.
    """
    ok = np.isfinite(cost) & np.isfinite(grid)
    gj, cj = grid[ok], cost[ok]
    excess = 2 * (cj - min(cj.min(), best)) - CHI2_95
    return _crossing(gj, excess, "low"), _crossing(gj, excess, "high")


def _fixed_fits(fit_: Fit, at: list[tuple[int, float]], max_nfev, desc, progress) -> np.ndarray:
    """The re-optimised cost with parameter ``j`` held at ``value`` for each ``(j, value)``.

    Every fit starts from the optimum (the held parameter moved) and all run side by side
    (:func:`hubsd.calibration.fit._two_process_solves`); NaN where a fit failed.
    """
    obj, p = fit_.objective, len(fit_.u)
    starts = []
    for j, value in at:
        u0 = fit_.u.copy()
        u0[j] = value
        fixed = np.zeros(p, dtype=bool)
        fixed[j] = True
        starts.append((u0, fixed))
    results = _two_process_solves(obj, starts, max_nfev, desc, progress) if starts else []
    cost = np.full(len(at), np.nan)
    for n, r in enumerate(results):
        if isinstance(r, BaseException):
            continue
        if r is None:  # one free parameter only: the profile is the cost itself
            cost[n] = 0.5 * float(np.sum(obj.residuals(starts[n][0]) ** 2))
        else:
            cost[n] = r.cost
    return cost


def _refined(fit_: Fit, grid, cost, max_nfev, progress) -> tuple[np.ndarray, np.ndarray]:
    """The profiles with one more point at each interpolated end inside the bounds.

    The end interpolated linearly between two grid points is where the profile would cross
    the threshold if it were straight there; a profile fit at that value (started, as the grid
    points are, from the optimum) gives the profile's own value, and the end is then
    interpolated again between it and the grid point on the other side of the threshold (one
    step of regula falsi): for a curved profile the end moves towards the true crossing. The
    fits of every end run side by side. Returns ``grid`` and ``cost`` with two more columns
    (the low and high end of each parameter; NaN where the end is at a bound or on a grid
    point).
    """
    p = len(fit_.u)
    order = np.argsort(grid, axis=1, kind="stable")
    gs, cs = np.take_along_axis(grid, order, axis=1), np.take_along_axis(cost, order, axis=1)
    at, where = [], []
    for j in range(p):
        for side, (u_end, inside) in enumerate(_ends(gs[j], cs[j], fit_.cost)):
            if inside and not np.any(np.abs(gs[j] - u_end) < 1e-9):
                at.append((j, u_end))
                where.append((j, side))
    costs = _fixed_fits(fit_, at, max_nfev, f"{fit_.spec.hub}: interval ends", progress)
    extra_g, extra_c = np.full((p, 2), np.nan), np.full((p, 2), np.nan)
    for (j, side), (_, u_end), c in zip(where, at, costs, strict=True):
        if np.isfinite(c):
            extra_g[j, side], extra_c[j, side] = u_end, c
    return np.column_stack([grid, extra_g]), np.column_stack([cost, extra_c])


def profile(
    fit_: Fit,
    points: int | None = None,
    max_nfev: int = 30,
    progress: bool | None = None,
    refine: bool = True,
) -> Profiles:
    """Profile-likelihood 95 % intervals of every free parameter (all grids side by side).

    Each parameter's profile is fitted at ``points`` values evenly spaced over its bounds
    (default: the spec's ``profile_points``) and at the optimum; with ``refine``, at each end
    found inside the bounds once more (:func:`_refined`), so the grid has two more columns
    (NaN where an end is at a bound).

    ``progress`` forces the bar over the grid points on or off (default: on in a terminal).
    """
    spec = fit_.spec
    p = len(spec.free)
    g = spec.profile_points if points is None else points
    grid1 = np.linspace(0.0, 1.0, g)
    at = [(j, v) for j in range(p) for v in grid1]
    desc = f"{spec.hub}: profiles"
    cost = _fixed_fits(fit_, at, max_nfev, desc, progress).reshape(p, g)
    grid = np.tile(grid1, (p, 1))
    # the optimum itself belongs to every profile
    grid = np.column_stack([grid, fit_.u])
    cost = np.column_stack([cost, np.full(p, fit_.cost)])
    if refine:
        grid, cost = _refined(fit_, grid, cost, max_nfev, progress)
    order = np.argsort(grid, axis=1, kind="stable")  # a NaN (no refinement) goes last
    grid = np.take_along_axis(grid, order, axis=1)
    cost = np.take_along_axis(cost, order, axis=1)
    lowest = float(np.nanmin(cost))
    better = lowest if lowest < fit_.cost * (1 - 1e-6) - 1e-9 else None
    rows = []
    for j, f in enumerate(spec.free):
        (lo_u, lo_in), (hi_u, hi_in) = _ends(grid[j], cost[j], fit_.cost)
        flag = (
            "identified"
            if lo_in and hi_in
            else "not identified"
            if not lo_in and not hi_in
            else "one-sided"
        )
        lo, hi = float(f.from_unit(lo_u)), float(f.from_unit(hi_u))
        rows.append(
            {
                "parameter": f.name,
                "estimate": fit_.estimates[f.name],
                "low95": lo,
                "high95": hi,
                "bound_low": f.low,
                "bound_high": f.high,
                "interval_share_of_range": float(hi_u - lo_u),
                "flag": flag,
                "kind": "share" if f.share else "model",
                "units": f.units,
            }
        )
    table = pd.DataFrame(rows).set_index("parameter")
    return Profiles(grid, cost, table, correlation(fit_), better)


def correlation(fit_: Fit) -> pd.DataFrame:
    """Correlation of the estimates from the Gauss-Newton covariance at the optimum."""
    obj = fit_.objective
    pts, steps = _stencil(fit_.u, np.zeros(len(fit_.u), dtype=bool))
    res = obj.residuals(pts)
    jac = ((res[1:] - res[0]) / steps[:, None]).T
    cov = np.linalg.pinv(jac.T @ jac)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    names = [f.name for f in fit_.spec.free]
    return pd.DataFrame(corr, index=names, columns=names)
