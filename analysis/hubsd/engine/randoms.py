"""RANDOM functions for the ensemble engine: per-member streams, reproducible by seed.

Vensim's RANDOM 0 1, RANDOM UNIFORM, RANDOM NORMAL and RANDOM EXPONENTIAL (the ones PySD 3.14
implements) draw a new value at every time step, one per element of the equation's left-hand
side. PySD draws them from numpy's global generator, so its runs are not reproducible; the
engine's draws are, and equal PySD's only in distribution (the conformance tests compare the
distributions).

How the streams are drawn: every draw is a counter-based hash (SplitMix64's finaliser, applied
in turn) of the run's ``seed``, the call site (a CRC-32 of the element's name and the call's
position in its equation), the call's own seed argument, the member's index in the whole
ensemble, the time (its float64 bits) and the element's position. The 53 high bits give a
uniform number in (0, 1); the distributions are its inverse CDF, truncated as PySD truncates
them (scipy's ``truncnorm`` and ``truncexpon`` with PySD's arguments). So a member's values
depend on the seed and the member's index only: not on how the ensemble is split in chunks or
workers, nor on the other members; the same seed gives the same run; a value at a given time
is the same wherever it is evaluated (initial values included).
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy import special

from hubsd.engine.nodes import SMALL_VENSIM

#: PySD's name -> number of arguments (the seed is the last, where there is one).
RANDOM = {"random_0_1": 0, "random_uniform": 3, "random_normal": 5, "random_exponential": 5}

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def site_id(element: str, k: int) -> int:
    """A stable number for the ``k``-th random call in the equation of ``element``."""
    return zlib.crc32(f"{element}|{k}".encode())


def _mix(z):
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _bits(x) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(x, dtype=np.float64)).view(np.uint64)


def uniform(seed, site, call_seed, member, t, shape) -> np.ndarray:
    """Uniform numbers in (0, 1), shape ``shape + (members,)``."""
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF) ^ _mix(np.uint64(site)))
        key = _mix(key ^ _bits(call_seed))
        key = _mix(key ^ _bits(t))
        h = _mix(key ^ np.asarray(member, dtype=np.uint64))  # (members,)
        if shape:
            cells = np.arange(int(np.prod(shape)), dtype=np.uint64).reshape(shape + (1,))
            h = _mix(h ^ _mix(cells))
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _xidz(num, den, x):
    num, den = np.broadcast_arrays(np.asarray(num, float), np.asarray(den, float))
    with np.errstate(all="ignore"):
        return np.where(np.abs(den) < SMALL_VENSIM, x, num / den)


def draw(kind: str, P: dict, site: int, t, shape: tuple, *args):
    """One random call: the value per element and member (PySD's distribution)."""
    call_seed = args[-1] if args and kind != "random_0_1" else 0.0
    u = uniform(P["__seed__"], site, call_seed, P["__member__"], t, shape)
    if kind == "random_0_1":
        return u
    if kind == "random_uniform":  # np.random.uniform(min, max)
        lo, hi = args[0], args[1]
        return lo + (hi - lo) * u
    if kind == "random_normal":  # truncnorm((min-mean)/sd, (max-mean)/sd, mean, sd)
        lo, hi, mean, sd = args[:4]
        a = _xidz(lo - np.asarray(mean), sd, -np.inf)
        b = _xidz(hi - np.asarray(mean), sd, np.inf)
        pa, pb = special.ndtr(a), special.ndtr(b)
        return mean + sd * special.ndtri(pa + u * (pb - pa))
    # random_exponential: truncexpon(b, loc=max(min, shift), scale=stretch)
    lo, hi, shift, stretch = args[:4]
    loc = np.maximum(lo, shift)
    b = _xidz(hi - loc, stretch, np.inf)
    return loc - stretch * np.log1p(-u * -np.expm1(-b))
