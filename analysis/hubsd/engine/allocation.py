"""ALLOCATE BY PRIORITY and ALLOCATE AVAILABLE in the ensemble engine: PySD's own algorithms.

PySD 3.14 implements both in ``pysd/py_backend/allocation.py``: ``allocate_by_priority`` splits
the supply among the elements of the request's last subscript by walking down the priorities
(``_allocate_by_priority_1d``), and ``allocate_available`` solves for the priority at which the
priority profiles (``ptype``, ``ppriority``, ``pwidth``, ``pextra``) add up to the supply with
``scipy.optimize.least_squares`` (``_allocate_available_1d``). Both are sequential algorithms per
one-dimensional problem with no vectorised form; the engine calls PySD's own 1-D functions for
every member and every combination of the other subscripts, so the result equals PySD's to the
last bit, at about PySD's speed per member for that one equation (the rest of the model stays
vectorised). Members whose inputs PySD refuses (a negative request or supply, a width that is
not positive: PySD stops the run with a ValueError) get NaN in that equation, and the run warns
of non-finite outputs naming them.
"""

from __future__ import annotations

import itertools

import numpy as np

from hubsd.engine.nodes import Node, UnsupportedConstructError
from hubsd.engine.subscripts import align, dims_of, union


def _members(*arrays) -> int:
    return max(a.shape[-1] for a in arrays)


def _at(a, comb, m):
    """Cell ``comb`` of member ``m`` (a member axis of length 1 is shared)."""
    return a[comb + (Ellipsis, m if a.shape[-1] > 1 else 0)]


def as_cells(a, shape):
    """``a`` as an array ``shape + (members,)`` (a value without dims is broadcast)."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        a = a[None]
    if a.ndim == 1:
        return np.broadcast_to(a, shape + a.shape)
    return np.broadcast_to(a, shape + (a.shape[-1],))


def allocate_by_priority(request, priority, width, supply, shape):
    """PySD's ``allocate_by_priority`` for every member.

    ``shape``: the request's dims (the allocation along the last).
    """
    from pysd.py_backend.allocation import _allocate_by_priority_1d

    lead = shape[:-1]
    req, pri = as_cells(request, shape), as_cells(priority, shape)
    wid, sup = as_cells(width, lead), as_cells(supply, lead)
    n = _members(req, pri, wid, sup)
    out = np.empty(shape + (n,))
    for m in range(n):
        for comb in itertools.product(*[range(k) for k in lead]):
            r, w, s = _at(req, comb, m), float(_at(wid, comb, m)), float(_at(sup, comb, m))
            if np.any(r < 0) or w <= 0 or s < 0 or np.isnan(s):
                out[comb + (Ellipsis, m)] = np.nan
                continue
            out[comb + (Ellipsis, m)] = _allocate_by_priority_1d(
                np.array(r), np.array(_at(pri, comb, m)), w, s
            )
    return out


def allocate_available(request, pp, avail, shape):
    """PySD's ``allocate_available`` for every member.

    ``shape``: the request's dims, then the priority profile's.
    """
    from pysd.py_backend.allocation import _allocate_available_1d

    lead = shape[:-2]
    req, prof = as_cells(request, shape[:-1]), as_cells(pp, shape)
    av = as_cells(avail, lead)
    n = _members(req, prof, av)
    out = np.empty(shape[:-1] + (n,))
    for m in range(n):
        for comb in itertools.product(*[range(k) for k in lead]):
            r, a = _at(req, comb, m), float(_at(av, comb, m))
            if np.any(r < 0) or a < 0 or np.isnan(a):
                out[comb + (Ellipsis, m)] = np.nan
                continue
            out[comb + (Ellipsis, m)] = _allocate_available_1d(
                np.array(r), np.array(_at(prof, comb, m)), a
            )
    return out


class AllocationBuilder:
    """Builds the two ALLOCATE functions; mixed into :class:`hubsd.engine.ir.Builder`."""

    def allocation(self, ast) -> tuple:
        """``("vector", "allocate_...", args, (shape,), dims)`` as PySD's builders arrange it.

        The allocation runs along the request's last subscript; the other subscripts of every
        argument are the dims the allocation is repeated over (before it, in order of first
        appearance). ALLOCATE AVAILABLE's profiles keep their own last range after them.
        """
        where = self._current
        available = isinstance(ast, self.ae.AllocateAvailableStructure)
        what = "ALLOCATE AVAILABLE" if available else "ALLOCATE BY PRIORITY"
        request = self._expr(ast.request)
        if available:
            priority = self._profiles(ast.pp, where)
            rest = [self._expr(ast.avail)]
        else:
            priority = self._expr(ast.priority)
            rest = [self._expr(ast.width), self._expr(ast.supply)]
        if not dims_of(request):
            raise UnsupportedConstructError(f"{what} of a request without subscripts", where)
        last = dims_of(request)[-1]
        profile = (dims_of(priority)[-1],) if available else ()
        dims = union([dims_of(e) for e in [request, priority, *rest]])
        if any(d.endswith("!") for d in dims):
            raise UnsupportedConstructError(f"{what} with a dim marked with !", where)
        if any(last in dims_of(e) for e in rest):
            raise UnsupportedConstructError(
                f"{what} whose width, supply or availability has the request's subscript", where
            )
        lead = tuple(d for d in dims if d != last and d not in profile)
        final = lead + (last,)
        args = [align(request, final), align(priority, final + profile)]
        args += [align(e, lead) for e in rest]
        shape = tuple(len(self.subs.ranges[d]) for d in final + profile)
        fn = "allocate_available" if available else "allocate_by_priority"
        return ("vector", fn, tuple(args), (shape,), final)

    def _profiles(self, pp, where):
        """The priority profiles: PySD takes the whole last range of ``pp`` (ptype ... pextra)."""
        name = self._ref_name(pp.reference)
        dims, coords = self.dims.get(name, ((), {}))
        tokens = list(getattr(pp.subscripts, "subscripts", None) or [])
        if len(dims) < 2 or len(tokens) != len(dims):
            raise UnsupportedConstructError(
                "ALLOCATE AVAILABLE with priority profiles of fewer than two subscripts", where
            )
        holder = Node(name, "ref", element=name, dims=dims, coords=coords)
        return self.subs.reference(holder, tokens[:-1] + [dims[-1]], where, self._lhs + [dims[-1]])
