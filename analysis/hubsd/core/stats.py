"""Fit statistics for behaviour reproduction (Sterman 1984; Sterman 2000, ch. 21).

All functions take simulated and actual values at the same points (NaN pairs are dropped) and
return plain floats. Theil's inequality statistics split the mean squared error into bias
(``U_M``), unequal variation (``U_S``) and unequal covariation (``U_C``); they sum to one, and a
good fit of a noisy series has most of its error in ``U_C``.
"""

from __future__ import annotations

import numpy as np


def _pairs(simulated, actual) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(simulated, dtype=float).ravel()
    a = np.asarray(actual, dtype=float).ravel()
    if s.shape != a.shape:
        raise ValueError(f"simulated and actual differ in length: {s.size} vs {a.size}")
    keep = np.isfinite(s) & np.isfinite(a)
    if not keep.any():
        raise ValueError("no finite pairs of simulated and actual values")
    return s[keep], a[keep]


def rmse(simulated, actual) -> float:
    """Root mean squared error, in the data's units."""
    s, a = _pairs(simulated, actual)
    return float(np.sqrt(np.mean((s - a) ** 2)))


def mape(simulated, actual) -> float:
    """Mean absolute percentage error, as a fraction (NaN if any actual value is 0)."""
    s, a = _pairs(simulated, actual)
    if np.any(a == 0):
        return float("nan")
    return float(np.mean(np.abs((s - a) / a)))


def r_squared(simulated, actual) -> float:
    """Squared correlation of simulated and actual (NaN with fewer than 3 points or no spread)."""
    s, a = _pairs(simulated, actual)
    if s.size < 3 or np.std(s) == 0 or np.std(a) == 0:
        return float("nan")
    return float(np.corrcoef(s, a)[0, 1] ** 2)


def theil(simulated, actual) -> dict[str, float]:
    """Theil's inequality proportions ``U_M``, ``U_S``, ``U_C`` (they sum to 1) and the MSE.

    With population moments: MSE = (mean S - mean A)^2 + (s_S - s_A)^2 + 2 (1 - r) s_S s_A.
    """
    s, a = _pairs(simulated, actual)
    mse = float(np.mean((s - a) ** 2))
    if mse == 0:
        return {"mse": 0.0, "U_M": 0.0, "U_S": 0.0, "U_C": 0.0}
    ss, sa = np.std(s), np.std(a)
    r = np.corrcoef(s, a)[0, 1] if ss > 0 and sa > 0 else 0.0
    bias = (s.mean() - a.mean()) ** 2
    var = (ss - sa) ** 2
    cov = 2 * (1 - r) * ss * sa
    return {"mse": mse, "U_M": float(bias / mse), "U_S": float(var / mse), "U_C": float(cov / mse)}


def fit_statistics(simulated, actual) -> dict[str, float]:
    """RMSE, MAPE, R² and Theil's U_M, U_S, U_C of one series, plus the number of points."""
    s, a = _pairs(simulated, actual)
    return {
        "n": int(s.size),
        "rmse": rmse(s, a),
        "mape": mape(s, a),
        "r2": r_squared(s, a),
        **{k: v for k, v in theil(s, a).items() if k != "mse"},
    }
