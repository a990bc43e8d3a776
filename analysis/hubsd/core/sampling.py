"""The one Latin-hypercube sampler every study, sweep, calibration screen and battery uses."""

from __future__ import annotations

import numpy as np
from scipy.stats import qmc


def lhs_unit(dims: int, samples: int, seed: int) -> np.ndarray:
    """A seeded Latin hypercube in the unit cube, shape ``(samples, dims)``.

    Parameters
    ----------
    dims, samples : int
        Number of dimensions and of points.
    seed : int
        Seed of SciPy's :class:`~scipy.stats.qmc.LatinHypercube`; the same seed gives the
        same points on every machine.

    Returns
    -------
    numpy.ndarray
        Points in ``[0, 1)``.
    """
    return qmc.LatinHypercube(d=int(dims), seed=seed).random(int(samples))


def lhs(low, high, samples: int, seed: int) -> np.ndarray:
    """A seeded Latin hypercube scaled to ``[low, high]`` per dimension.

    Parameters
    ----------
    low, high : array-like
        Bounds per dimension (same length).
    samples : int
        Number of points.
    seed : int
        Seed (see :func:`lhs_unit`).

    Returns
    -------
    numpy.ndarray
        Shape ``(samples, len(low))``: ``low + u * (high - low)`` for unit points ``u``.

    Examples
    --------
    >>> lhs([0.0, 10.0], [1.0, 20.0], samples=4, seed=0).shape
    (4, 2)
    """
    low = np.asarray(low, dtype=float)
    high = np.asarray(high, dtype=float)
    return low + lhs_unit(len(low), samples, seed) * (high - low)
