"""Runtime helpers of the ensemble engine's generated code (PySD 3.14 semantics, vectorised).

Each helper reproduces a PySD function operation by operation on arrays of members (the last
axis); the subscript helpers (``_expand``, ``_full``, ``_assemble``, ``_reduce``) move and fill
the subscript axes in front of it (see :mod:`hubsd.engine.subscripts`).
"""

from __future__ import annotations

import warnings

import numpy as np

from hubsd.engine.allocation import allocate_available, allocate_by_priority, as_cells
from hubsd.engine.external import data_value
from hubsd.engine.nodes import SMALL_VENSIM, EnsembleError
from hubsd.engine.randoms import draw


def is_array(x) -> bool:
    """Whether ``x`` holds one value per member (a numpy array of at least one dim)."""
    return isinstance(x, np.ndarray) and x.ndim > 0


def _pow(a, b):
    """``a ** b`` element by element with the C library's ``pow``, as PySD's scalars compute it.

    numpy's power takes shortcuts when the exponent is one value for the whole array (``x * x``
    for 2, ``sqrt`` for 0.5, ``1 / x`` for -1 ...), which differ from ``pow`` in the last bit at
    times; so the exponent is always given element by element (the fused backend's ``pow``
    is the same C function, so both backends agree bit for bit whichever values are varied).
    """
    if np.ndim(a) == 0 and np.ndim(b) == 0:
        return np.float64(a) ** np.float64(b)  # numpy's scalar power: the C library's pow
    b = np.asarray(b, dtype=float)
    shape = np.broadcast_shapes(np.shape(a), b.shape)
    if b.shape != shape or 0 in b.strides:
        b = np.array(np.broadcast_to(b, shape))  # no axis of stride 0: no shortcut
    return np.power(a, b)


def _ite(cond, a, b):
    if is_array(cond):
        return np.where(cond, a, b)
    return a if cond else b


def _xidz(num, den, x):
    if is_array(den):
        q = num / den
        small = np.abs(den) < SMALL_VENSIM
        return np.where(small, x, q) if small.any() else q
    if abs(den) < SMALL_VENSIM:
        return x
    return num / den


def _zidz(num, den):
    if is_array(den):
        q = num / den
        small = np.abs(den) < SMALL_VENSIM
        return np.where(small, 0, q) if small.any() else q
    if abs(den) < SMALL_VENSIM:
        return 0 * num if is_array(num) else 0
    return num / den


def _ramp(t, slope, start, finish):
    return (t + SMALL_VENSIM > start) * slope * (np.minimum(finish, t) - start)


def _pulse(t, start, width):
    if is_array(start) or is_array(width):
        return np.where((start - SMALL_VENSIM <= t) & (t < start + width), 1, 0)
    return 1 if start - SMALL_VENSIM <= t < start + width else 0


def _pulse_train(t, start, repeat_time, width, end):
    # argument order of PySD's pulse_train call: start, repeat time, width, end
    if not any(is_array(v) for v in (start, width, repeat_time, end)):
        if repeat_time == 0:
            return _pulse(t, start, width)
        if start <= t and t < end:
            return 1 if (t - start + SMALL_VENSIM) % repeat_time < width else 0
        return 0
    single = _pulse(t, start, width)
    with np.errstate(all="ignore"):
        train = np.where(
            (start <= t) & (t < end) & (np.mod(t - start + SMALL_VENSIM, repeat_time) < width), 1, 0
        )
    return np.where(np.asarray(repeat_time) == 0, single, train)


def _quantum(a, b):
    if is_array(b):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))
    if b < SMALL_VENSIM:
        return a
    return b * np.trunc(a / b)


def _interp_hold(x, xs, ys):
    idx = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 1)
    return ys[idx]


def _interp_cells(x, xs, ys, hold):
    """A subscripted table: cell ``i`` of ``ys`` (dims, table) interpolated at ``x[i]``."""
    shape = ys.shape[:-1]
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        x = x[None]
    x = np.broadcast_to(x, shape + (x.shape[-1],))
    out = np.empty(x.shape)
    for idx in np.ndindex(*shape):
        out[idx] = _interp_hold(x[idx], xs, ys[idx]) if hold else np.interp(x[idx], xs, ys[idx])
    return out


def _expand(a, perm, index):
    """``a`` (dims and members) with its dims transposed by ``perm`` and new axes inserted."""
    if np.ndim(a) <= 1:  # the same for every element: broadcasts as it is
        return a
    if perm is not None:
        a = a.transpose(perm)
    return a[index]


def _full(a, shape):
    """``a`` broadcast to the node's dims (a read-only view; members stay as they are)."""
    a = np.asarray(a)
    if a.ndim == 0:
        a = a[None]
    if a.shape[:-1] == shape:
        return a
    return np.broadcast_to(a, shape + (a.shape[-1],))


def _assemble(shape, parts):
    """A value defined by parts: ``(target indices, mask, singles, ndims, value)`` each."""
    m = max((np.shape(p[-1])[-1] for p in parts if np.ndim(p[-1]) >= 1), default=1)
    out = np.full(shape + (m,), np.nan)
    for target, mask, singles, ndims, value in parts:
        v = np.asarray(value, dtype=float)
        if v.ndim == ndims + 1 and singles:
            v = np.expand_dims(v, singles)
        ix = np.ix_(*target)
        if mask is None:
            out[ix] = v
        else:
            block = out[ix]
            keep = np.asarray(mask)
            block[keep] = np.broadcast_to(v, block.shape)[keep]
            out[ix] = block
    return out


def _reduce(fn, a, axes, shape):
    """SUM/PROD/VMIN/VMAX over the ``!`` dims (xarray's: NaN skipped)."""
    a = np.asarray(a)
    if a.ndim <= 1:
        a = np.broadcast_to(a if a.ndim else a[None], shape + (a.shape[-1] if a.ndim else 1,))
    return fn(a, axis=axes)


def _vector_select(sel, expr, missing, action, error, axes, shape):
    """PySD's ``vector_select``: a weighted reduction over the ``!`` dims.

    ``action`` and ``error`` may differ per member (one pass per distinct value); a value
    outside 0-10 (0-3) is refused as PySD refuses it.
    """
    m = max(np.shape(x)[-1] if np.ndim(x) else 1 for x in (sel, expr, missing, action, error))
    sel = np.broadcast_to(as_cells(sel, shape), shape + (m,))
    expr = np.broadcast_to(as_cells(expr, shape), shape + (m,))
    zero = sel == 0
    zeros = zero.all(axis=axes)
    err, acts = np.asarray(error, dtype=float), np.asarray(action, dtype=float)
    if err.ndim == 0 and err not in (1, 2, 3):
        pass  # the usual case: no check
    else:
        err = np.broadcast_to(err, (m,))
        if (np.isin(err, (1, 3)) & zeros.reshape(-1, m).any(axis=0)).any():
            raise EnsembleError("VECTOR SELECT: all the values of the selection array are 0")
        many = ((~zero).sum(axis=axes) > 1).reshape(-1, m).any(axis=0)
        if (np.isin(err, (2, 3)) & many).any():
            raise EnsembleError(
                "VECTOR SELECT: more than one non-zero value in the selection array"
            )
    out = None
    for act in np.unique(acts) if acts.ndim else [float(acts)]:
        if act not in range(11):
            raise EnsembleError(f"VECTOR SELECT: numerical action must be 0-10, got {act:g}")
        part = _select_action(sel, expr, zero, int(act), axes)
        out = part if out is None else np.where(acts == act, part, out)
    return np.where(zeros, missing, out)


def _select_action(sel, expr, zero, action, axes):
    if action < 5:
        arr = np.where(zero, np.nan, sel * expr)
    elif action == 5:
        arr = np.where(zero, np.nan, expr**sel)
    else:
        arr = np.where(zero, np.nan, expr)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: replaced by missing
        fn = {0: np.nansum, 6: np.nansum, 2: np.nanmin, 8: np.nanmin, 3: np.nanmax}
        fn.update({9: np.nanmax, 4: np.nanmean, 10: np.nanmean})
        return fn.get(action, np.nanprod)(arr, axis=axes)


def _sort_order(v, direction, shape):
    """PySD's ``vector_sort_order`` with members first: indices along the last subscript."""
    v = np.moveaxis(as_cells(v, shape), -1, 0)
    order = np.argsort(v, axis=-1)
    d = np.asarray(direction)
    flip = (d <= 0).reshape((-1,) + (1,) * len(shape)) if d.ndim else bool(d <= 0)
    return np.where(flip, np.flip(order, axis=-1), order)


def _vector_sort_order(v, direction, shape):
    return np.moveaxis(_sort_order(v, direction, shape), 0, -1).astype(float)


def _vector_rank(v, direction, shape):
    rank = np.argsort(_sort_order(v, direction, shape), axis=-1) + 1
    return np.moveaxis(rank, 0, -1).astype(float)


def _vector_reorder(v, order, shape):
    m = max(np.shape(x)[-1] if np.ndim(x) else 1 for x in (v, order))
    v = np.moveaxis(np.broadcast_to(as_cells(v, shape), shape + (m,)), -1, 0)
    idx = np.moveaxis(np.broadcast_to(as_cells(order, shape), shape + (m,)), -1, 0).astype(int)
    return np.moveaxis(np.take_along_axis(v, idx, axis=-1), 0, -1)


class FixedDelay:
    """PySD's DelayFixed for every member: a pipe of ``order`` values per member.

    The order is ``round(max(delay time / dt, 1) + 1e-6)``, taken at INITIAL TIME; the output
    at step ``k`` is the input of step ``k - order`` (the initial value before).
    """

    def __init__(self, init, delay_time, dt):
        order = np.round(np.maximum(np.asarray(delay_time, dtype=float) / dt, 1) + SMALL_VENSIM)
        self.order = order.astype(int)
        self.size = int(np.max(self.order))
        self.init = np.asarray(init, dtype=float)
        self.pipe = None
        self.uniform = self.order.ndim == 0 or bool(np.all(self.order == self.order.flat[0]))
        self._cols = self._order_b = None  # column indices of the pipe (per-member orders)

    def value(self, step):
        """The output at step ``step`` (before that step's input is pushed)."""
        if self.pipe is None:
            return self.init
        if self.uniform:
            o = int(self.order.flat[0])
            return self.init if step < o else self.pipe[(step - o) % self.size]
        # orders that differ between members: one flat gather from the pipe (each member's
        # slot (step - order) % size in its own column), the initial value until its order
        shape = self.pipe.shape[1:]
        if self._cols is None or self._cols.shape != shape:
            self._order_b = np.broadcast_to(self.order, shape)
            self._cols = np.arange(int(np.prod(shape))).reshape(shape)
        past = np.take(self.pipe, (step - self._order_b) % self.size * self._cols.size + self._cols)
        if step >= self.size:  # every member's order has passed
            return past
        return np.where(step < self._order_b, np.broadcast_to(self.init, shape), past)

    def push(self, step, value):
        """The input at step ``step``."""
        value = np.asarray(value, dtype=float)
        if self.pipe is None:
            shape = np.broadcast_shapes(value.shape, self.init.shape, self.order.shape)
            self.pipe = np.empty((self.size,) + shape)
        elif np.broadcast_shapes(value.shape, self.pipe.shape[1:]) != self.pipe.shape[1:]:
            # an input equal across members so far now differs between them: widen the pipe
            shape = np.broadcast_shapes(value.shape, self.pipe.shape[1:])
            old = self.pipe.shape[1:]
            pipe = self.pipe.reshape((self.size,) + (1,) * (len(shape) - len(old)) + old)
            self.pipe = np.broadcast_to(pipe, (self.size,) + shape).copy()
        self.pipe[step % self.size] = value

    def take(self, rows: np.ndarray, members: int) -> FixedDelay:
        """A copy whose member ``i`` is member ``rows[i]`` of this one (warm start)."""
        new = object.__new__(FixedDelay)
        new.order = _take(self.order, rows, members)
        new.size = self.size
        new.init = _take(self.init, rows, members)
        new.pipe = None if self.pipe is None else _take(self.pipe, rows, members)
        new.uniform = self.uniform
        new._cols = new._order_b = None  # recomputed for the new members at the first value
        return new


def _take(a, rows: np.ndarray, members: int):
    """Rows ``rows`` of the member axis (the last) of ``a``; a value without it as it is."""
    if isinstance(a, np.ndarray) and a.ndim > 0 and a.shape[-1] == members and members > 1:
        return a[..., rows]
    if isinstance(a, np.ndarray) and a.ndim > 0 and a.shape[-1] == 1 and members == 1:
        return a[..., np.zeros(len(rows), dtype=int)]
    return a.copy() if isinstance(a, np.ndarray) else a


def take_state(state: dict, rows: np.ndarray) -> dict:
    """The state of a warm start (:mod:`hubsd.engine.warmstart`) for the rows of a chunk.

    ``state`` holds the generated code's state variables for every member (``"__members__"``
    of them, on the last axis of each array; a value equal for every member has no such axis
    or an axis of 1) and the time; row ``i`` of the result is member ``rows[i]``'s state.
    """
    members = state["__members__"]
    rows = np.asarray(rows, dtype=int)
    out = {}
    for k, v in state.items():
        if isinstance(v, FixedDelay):
            out[k] = v.take(rows, members)
        else:
            out[k] = _take(v, rows, members)
    return out


RUNTIME = {
    "np": np,
    "_ite": _ite,
    "_pow": _pow,
    "_xidz": _xidz,
    "_zidz": _zidz,
    "_ramp": _ramp,
    "_pulse": _pulse,
    "_pulse_train": _pulse_train,
    "_quantum": _quantum,
    "_interp_hold": _interp_hold,
    "_interp": np.interp,
    "_interp_cells": _interp_cells,
    "_expand": _expand,
    "_full": _full,
    "_assemble": _assemble,
    "_reduce": _reduce,
    "FixedDelay": FixedDelay,
    "_random": draw,
    "_data": data_value,
    "_vector_allocate_by_priority": allocate_by_priority,
    "_vector_allocate_available": allocate_available,
    "_vector_select": _vector_select,
    "_vector_sort_order": _vector_sort_order,
    "_vector_rank": _vector_rank,
    "_vector_reorder": _vector_reorder,
}
