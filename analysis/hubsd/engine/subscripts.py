"""Subscripts for the ensemble engine: an array axis per subscript range, beside the members.

A value with dims ``(A, B)`` is a numpy array of shape ``(|A|, |B|, members)`` (the member axis
last, so a value without dims, shape ``(members,)`` or a scalar, broadcasts against it). A value
whose array has at most one axis is the same for every element and broadcasts as it is.

:class:`Subscripts` resolves what PySD's builder resolves: the dims of an element after merging
its parts (PySD's ``SubscriptManager.make_merge_list``), the dims of a subscripted reference
(``pop[Region]``, ``pop[Krakow]``, ``pop[Big]`` for a subrange, ``pop[Region!]`` for an array
function), mappings between ranges (``Origin: a, b -> Region``; a copied range ``B <-> A``),
subscripts used as values (``Region`` is 1, 2, ... in an equation) and the alignment of
operands with different dims. A reference whose dims are not on the left-hand side (and map to
none of its ranges) is refused.
"""

from __future__ import annotations

import numpy as np

from hubsd.engine.nodes import EnsembleError, Node, UnsupportedConstructError


def dims_of(e) -> tuple:
    """The subscript dims of an expression (``()`` for a value without subscripts)."""
    tag = e[0]
    if tag in ("num", "ref", "time"):
        return ()
    if tag == "arr":
        return e[2]
    if tag == "sub":
        return e[3]
    if tag == "random":
        return e[4]
    if tag == "data":
        return e[2]
    if tag in ("align", "reduce", "vector"):
        return e[-1]
    if tag in ("neg", "not"):
        return dims_of(e[1])
    if tag == "bin":
        return dims_of(e[2]) or dims_of(e[3])
    if tag == "lookup":
        return dims_of(e[2])
    if tag == "sublookup":
        return e[4]
    if tag == "call":
        for arg in e[2]:
            d = dims_of(arg)
            if d:
                return d
        return ()
    raise AssertionError(f"dims of {e!r}")  # pragma: no cover


def align(e, dst: tuple):
    """``e`` with its axes put in the order of ``dst`` (a superset of its dims)."""
    src = dims_of(e)
    if src == dst or not src:
        return e
    perm = tuple(src.index(d) for d in dst if d in src)
    index = ", ".join("slice(None)" if d in src else "None" for d in dst)
    perm_src = "None" if perm == tuple(range(len(src))) else repr(perm + (len(src),))
    return ("align", e, perm_src, f"({index}, Ellipsis)", dst)


def union(dims: list[tuple]) -> tuple:
    """The dims of several values in order of first appearance."""
    out: list = []
    for d in dims:
        for name in d:
            if name not in out:
                out.append(name)
    return tuple(out)


def aligned_args(args: list) -> list:
    """Operands aligned to the union of their dims (elementwise operations)."""
    u = union([dims_of(a) for a in args])
    return [align(a, u) for a in args]


class Subscripts:
    """The subscript ranges of a model (PySD's ``SubscriptManager``) and their uses."""

    def __init__(self, section, mdl_dir):
        from pysd.builders.python.subscripts import SubscriptManager

        self.manager = None
        self.ranges: dict = {}
        self.mapping: dict = {}
        if section.subscripts:
            self.manager = SubscriptManager(section.subscripts, mdl_dir)
            # copied ranges (``B <-> A``) and ranges defined by subranges are resolved here
            self.ranges = {k: list(v) for k, v in self.manager.subscripts.items() if len(v)}
            self.mapping = {k: list(v or []) for k, v in self.manager.mapping.items()}
        self.by_lower = {k.lower(): k for k in self.ranges}
        self.elements = {e for v in self.ranges.values() for e in v}

    def lhs_dims(self, tokens) -> list:
        """The dims of a left-hand side as PySD names them (``make_coord_dict``)."""
        if not tokens or self.manager is None:
            return []
        return list(self.manager.make_coord_dict(list(tokens)))

    def value(self, reference: str):
        """A subscript used as a value (``Region``, ``Krakow``): its positions, from 1.

        Returns None when ``reference`` is not a subscript; else ``("arr", values, dims)`` as
        PySD's ``subscript2num`` gives it (positions in the main range).
        """
        if self.manager is None or reference not in self.manager.subscript2num:
            return None
        src, coords = self.manager.subscript2num[reference]
        values = eval(src, {"np": np, "_subscript_dict": self.manager.subscripts})  # noqa: S307
        values = np.asarray(values, dtype=float)
        if not coords:
            return ("num", float(values), True)
        shape = tuple(len(v) for v in coords.values())
        return ("arr", tuple(values.ravel().tolist()), tuple(coords), shape)

    def range_name(self, name: str) -> str | None:
        """The range a (PySD-lowercased) name refers to, if any."""
        return self.by_lower.get(name.lower().replace("_", " ")) or self.by_lower.get(name.lower())

    # -- elements ------------------------------------------------------------------------------

    def element_dims(self, element) -> tuple[tuple, dict]:
        """Final dims of an element and their coordinates, as PySD merges its parts."""
        subs = [c.subscripts[0] for c in element.components]
        if not subs[0]:
            return (), {}
        unknown = [t for t in subs[0] if t not in self.ranges and t not in self.elements]
        if self.manager is None or unknown:
            raise EnsembleError(f"unknown subscript range {subs[0][0]!r} in {element.name!r}")
        dims = tuple(self.manager.make_merge_list(subs, element.name))
        return dims, {d: list(self.ranges[d]) for d in dims}

    def part(self, component, dims: tuple, coords: dict, where: str):
        """Where a part of an element goes: its iteration dims and target indices.

        Returns ``(iter_dims, target, mask, singles)``: the dims the part's equation runs over
        (a range or subrange of the left-hand side), the indices of the element's dims it
        fills (one list per dim), the mask of cells kept after ``:EXCEPT:`` (or None) and the
        positions fixed to one element.
        """
        lhs, excepts = component.subscripts
        iter_dims, target, singles, lengths = [], [], [], []
        for pos, token in enumerate(lhs):
            final = coords[dims[pos]]
            if token in self.ranges:
                elems = self.ranges[token]
                iter_dims.append(token)
            elif token in self.elements:
                elems = [token]
                singles.append(pos)
            else:
                raise EnsembleError(f"unknown subscript {token!r} in {where!r}")
            missing = [e for e in elems if e not in final]
            if missing:
                raise UnsupportedConstructError(f"subscript {token} outside {dims[pos]}", where)
            target.append([final.index(e) for e in elems])
            lengths.append(len(elems))
        mask = None
        if excepts:
            mask = np.ones(lengths, dtype=bool)
            for exc in excepts:
                sel = []
                for pos, token in enumerate(exc):
                    elems = self.ranges.get(token, [token])
                    own = [coords[dims[pos]][i] for i in target[pos]]
                    sel.append([own.index(e) for e in elems if e in own])
                mask[np.ix_(*sel)] = False
        if len(set(iter_dims)) != len(iter_dims):
            raise UnsupportedConstructError("a subscript range used twice", where)
        return tuple(iter_dims), tuple(target), mask, tuple(singles)

    # -- references ----------------------------------------------------------------------------

    def reference(self, node: Node, tokens: list, where: str, lhs=()):
        """``node[tokens]`` as an expression with its dims.

        ``lhs``: the dims of the equation's left-hand side. A range that is not among them is
        read through a subscript mapping (``Origin: ... -> Region``) to a range that is, as
        PySD's ``ReferenceBuilder``: the values keep their order and take the mapped range's
        elements.
        """
        if len(tokens) != len(node.dims):
            raise UnsupportedConstructError(
                f"{node.element} with {len(tokens)} subscripts (it has {len(node.dims)})", where
            )
        basic, fancy, out = [], [], []
        for token, dim in zip(tokens, node.dims, strict=True):
            own = node.coords[dim]
            bang = token.endswith("!")
            name = token[:-1] if bang else token
            if name in self.ranges:
                elems = self.ranges[name]
                if any(e not in own for e in elems):
                    raise UnsupportedConstructError(
                        f"subscript {name} of {node.element} (elements outside {dim})", where
                    )
                idx = [own.index(e) for e in elems]
                if idx == list(range(len(own))):
                    basic.append(":")
                elif idx == list(range(idx[0], idx[-1] + 1)):
                    basic.append(f"{idx[0]}:{idx[-1] + 1}")
                else:
                    basic.append(":")
                    fancy.append((len(out), idx))
                out.append(token if bang or name in lhs else self._mapped(name, lhs, tokens, where))
            elif name in own:
                basic.append(str(own.index(name)))
            else:
                raise EnsembleError(f"unknown subscript {token!r} of {node.element!r} in {where!r}")
        if len(set(out)) != len(out):
            raise UnsupportedConstructError("a subscript range used twice in a reference", where)
        index = f"[{', '.join(basic)}]" if any(b != ":" for b in basic) else ""
        for axis, idx in fancy:
            index += f"[{', '.join([':'] * axis + [repr(idx)])}]"
        if not index and not out:  # pragma: no cover - no dims at all
            return ("ref", node.name)
        return ("sub", node.name, index, tuple(out))

    def _mapped(self, name: str, lhs, tokens, where: str) -> str:
        """The left-hand side range that range ``name`` maps to (itself if none)."""
        for mapped in self.mapping.get(name, []):
            if mapped in lhs and mapped not in tokens:
                if len(self.ranges[mapped]) != len(self.ranges[name]):
                    raise EnsembleError(
                        f"subscript mapping {name} -> {mapped} joins ranges of different "
                        f"sizes, in {where!r}"
                    )
                return mapped
        return name

    def reduce(self, fn: str, arg, where: str):
        """SUM/PROD/VMIN/VMAX over the dims marked with ``!``."""
        src = dims_of(arg)
        axes = tuple(i for i, d in enumerate(src) if d.endswith("!"))
        if not axes:
            raise UnsupportedConstructError(f"{fn.upper()} without a dim marked with !", where)
        shape = tuple(len(self.ranges[d.rstrip("!")]) for d in src)
        out = tuple(d for d in src if not d.endswith("!"))
        return ("reduce", fn, arg, axes, shape, out)

    def vector(self, fn: str, args: list, where: str):
        """VECTOR SELECT, SORT ORDER, RANK and REORDER (PySD's ``functions.vector_*``).

        SELECT reduces over the dims marked with ``!`` (``("vector", "select", (sel, expr,
        missing, action, error), (axes, shape), dims)``; the actions may change with time, as
        PySD allows); the others act along the vector's last subscript and keep its dims.
        """
        if fn == "vector_select":
            sel, expr, missing, action, error = args
            for what, arg in (("numerical action", action), ("error action", error)):
                if dims_of(arg):
                    raise UnsupportedConstructError(
                        f"VECTOR SELECT with a subscripted {what}", where
                    )
            for what, arg, top in (("numerical", action, 10), ("error", error, 3)):
                if arg[0] == "num" and arg[1] not in range(top + 1):
                    raise EnsembleError(
                        f"VECTOR SELECT in {where!r}: {what} action must be 0-{top}, got {arg[1]:g}"
                    )
            sel, expr = aligned_args([sel, expr])
            src = union([dims_of(sel), dims_of(expr)])
            axes = tuple(i for i, d in enumerate(src) if d.endswith("!"))
            if not axes or dims_of(missing):
                raise UnsupportedConstructError(
                    "VECTOR SELECT without a dim marked with ! (or a subscripted missing value)",
                    where,
                )
            shape = tuple(len(self.ranges[d.rstrip("!")]) for d in src)
            out = tuple(d for d in src if not d.endswith("!"))
            return ("vector", "select", (sel, expr, missing, action, error), (axes, shape), out)
        vec, other = args
        dims = dims_of(vec)
        if not dims or any(d.endswith("!") for d in dims):
            raise UnsupportedConstructError(
                f"{fn.upper().replace('_', ' ')} of a value without subscripts (or with !)", where
            )
        if fn == "vector_reorder":
            if set(dims_of(other)) != set(dims):
                raise UnsupportedConstructError(
                    "VECTOR REORDER of two vectors with different subscripts", where
                )
            other = align(other, dims)
        elif dims_of(other):
            raise UnsupportedConstructError(f"{fn.upper()} with a subscripted direction", where)
        shape = tuple(len(self.ranges[d]) for d in dims)
        return ("vector", fn[len("vector_") :], (vec, other), (shape,), dims)

    def check_iteration(self, e, iter_dims: tuple, where: str):
        """The part's equation aligned to its iteration dims (refused if it has others)."""
        d = dims_of(e)
        extra = [x for x in d if x not in iter_dims]
        if extra:
            raise UnsupportedConstructError(
                f"subscript {extra[0]} not on the left-hand side (or not reduced)", where
            )
        return align(e, iter_dims)
