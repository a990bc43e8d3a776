"""Stateful functions for the ensemble engine's IR, as PySD 3.14's ``py_backend/statefuls.py``.

:class:`StatefulBuilder` is the part of :class:`hubsd.engine.ir.Builder` that turns INTEG,
SMOOTH (1, 3, I, N), DELAY (1, 3, I, N), DELAY FIXED, TREND, FORECAST, SAMPLE IF TRUE, INITIAL
and ACTIVE INITIAL into nodes. What is reproduced of PySD (see :mod:`hubsd.engine.codegen`):

* SMOOTH N is PySD's ``Smooth`` with the given order; DELAY N is its ``DelayN``, which equals
  ``Delay`` while the delay time is constant. When the delay time changes during the run, each
  stage keeps the delay time it entered with (``DelayN.times``: rolled, the current delay time
  first, at each update) and the output is the last stage over ``times[0]``, which PySD sets
  when it updates the object. The output therefore depends on whether PySD first reads it in a
  step before or after that update: before when it is saved (the outputs are read before the
  update) or first read by the update of an object whose name sorts before the delay's
  (``dir(components)`` order); the engine reproduces that case (the delay time of the step
  before), and refuses a DELAY N whose output is first read by its own update or by a later
  object's (PySD's value then depends on its cache: on SAVEPER and the columns it returns).
* DELAY FIXED keeps a pipe of ``round(max(delay time / TIME STEP, 1))`` values (the delay time
  taken at INITIAL TIME): the output is the input that many steps back, the initial value
  before. TREND and FORECAST are first-order smooths of the input with PySD's output formulas
  (ZIDZ); SAMPLE IF TRUE holds the input from the last step its condition was true.
* DELAY FIXED and SAMPLE IF TRUE read their input when PySD updates the objects, after the
  objects whose names sort before theirs are updated; where that input depends on such an
  object, PySD's value depends on its cache, and the construct is refused.
"""

from __future__ import annotations

import numpy as np

from hubsd.engine.nodes import STATEFUL_KINDS, Node, UnsupportedConstructError, expr_deps
from hubsd.engine.subscripts import align, dims_of, union

#: PySD's prefix of each kind's object name (``_integ_x``).
PREFIX = {
    "integ": "_integ",
    "smooth": "_smooth",
    "delay": "_delay",
    "delayn": "_delayn",
    "delayfixed": "_delayfixed",
    "trend": "_trend",
    "forecast": "_forecast",
    "sampleiftrue": "_sampleiftrue",
    "initial": "_initial",
    "active": "_active_initial",
}


def int_typed(e) -> bool:
    """Whether PySD evaluates an expression to a Python int (integer literals and + - *)."""
    if e[0] == "num":
        return e[2]
    if e[0] == "neg":
        return int_typed(e[1])
    if e[0] == "bin" and e[1] in ("+", "-", "*"):
        return int_typed(e[2]) and int_typed(e[3])
    return False


class StatefulBuilder:
    """Builds stateful nodes; mixed into :class:`hubsd.engine.ir.Builder`."""

    def stateful_types(self) -> tuple:
        """PySD's abstract structures of the stateful functions the engine implements."""
        ae = self.ae
        return (
            ae.IntegStructure,
            ae.SmoothStructure,
            ae.SmoothNStructure,
            ae.DelayStructure,
            ae.DelayNStructure,
            ae.DelayFixedStructure,
            ae.TrendStructure,
            ae.ForecastStructure,
            ae.SampleIfTrueStructure,
            ae.InitialStructure,
        )

    def _prefix(self, ast) -> str:
        ae = self.ae
        for cls, kind in (
            (ae.IntegStructure, "integ"),
            ((ae.SmoothStructure, ae.SmoothNStructure), "smooth"),
            (ae.DelayNStructure, "delayn"),
            (ae.DelayStructure, "delay"),
            (ae.DelayFixedStructure, "delayfixed"),
            (ae.TrendStructure, "trend"),
            (ae.ForecastStructure, "forecast"),
            (ae.SampleIfTrueStructure, "sampleiftrue"),
        ):
            if isinstance(ast, cls):
                return PREFIX[kind]
        return PREFIX["initial"]

    def _stateful(self, ast, name, meta, dims=None, obj=None) -> Node:
        """A node for a stateful structure; ``dims``: the element's (None: its arguments')."""
        ae = self.ae
        x = self._expr
        fields: dict = {}
        if isinstance(ast, ae.IntegStructure):
            kind = "integ"
            fields = dict(flow=x(ast.flow), init=x(ast.initial))
            fields["non_negative"] = bool(ast.non_negative)
        elif isinstance(ast, (ae.SmoothStructure, ae.SmoothNStructure)):
            kind = "smooth"
            fields = dict(flow=x(ast.input), time=x(ast.smooth_time), init=x(ast.initial))
            fields["order"], fields["order_expr"] = self._order(ast.order, "SMOOTH")
            fields["int_init"] = int_typed(fields["init"])
        elif isinstance(ast, (ae.DelayStructure, ae.DelayNStructure)):
            kind = "delay"
            fields = dict(flow=x(ast.input), time=x(ast.delay_time), init=x(ast.initial))
            fields["order"], fields["order_expr"] = self._order(ast.order, "DELAY")
            if isinstance(ast, ae.DelayNStructure):
                self.delay_n.append(name)
        elif isinstance(ast, ae.DelayFixedStructure):
            kind = "delayfixed"
            fields = dict(flow=x(ast.input), time=x(ast.delay_time), init=x(ast.initial))
        elif isinstance(ast, ae.TrendStructure):
            kind = "trend"
            fields = dict(flow=x(ast.input), time=x(ast.average_time), init=x(ast.initial_trend))
        elif isinstance(ast, ae.ForecastStructure):
            kind = "forecast"
            fields = dict(flow=x(ast.input), time=x(ast.average_time), init=x(ast.initial_trend))
            fields["extra"] = x(ast.horizon)
        elif isinstance(ast, ae.SampleIfTrueStructure):
            kind = "sampleiftrue"
            fields = dict(flow=x(ast.input), init=x(ast.initial), extra=x(ast.condition))
        else:
            kind = "initial"
            fields = dict(expr=x(ast.initial))
        if obj is None:  # PySD names the object after building its arguments
            obj = self.namespace.make_python_identifier(
                self.py[self._current], prefix=self._prefix(ast)
            )
        return self._dimensioned(Node(name, kind, obj=obj, **fields, **meta), dims)

    def _dimensioned(self, node: Node, dims) -> Node:
        """Align the node's expressions to its dims (the element's, or their union)."""
        keys = ("expr", "init", "flow", "time", "extra")
        exprs = {k: getattr(node, k) for k in keys if getattr(node, k) is not None}
        if dims is None:
            dims = union([dims_of(e) for e in exprs.values()])
        for key, e in exprs.items():
            extra = [d for d in dims_of(e) if d not in dims]
            if extra:
                raise UnsupportedConstructError(
                    f"subscript {extra[0]} not on the left-hand side", self._current
                )
            setattr(node, key, align(e, dims))
        if any(d.endswith("!") for d in dims):
            raise UnsupportedConstructError(
                "a dim marked with ! outside an array function", self._current
            )
        node.dims = tuple(dims)
        node.coords = {d: list(self.subs.ranges[d]) for d in dims}
        self.nodes[node.name] = node
        return node

    def _order(self, order, what) -> tuple:
        """``(order, None)`` for a number; ``(1, expression)`` for an order given by a variable.

        An order given by a variable is evaluated at INITIAL TIME before each run, as PySD
        evaluates it once when it initialises the object (see :mod:`hubsd.engine.orders`).
        """
        if not _is_number(order):
            expr = self._expr(order)
            if dims_of(expr):
                raise UnsupportedConstructError(f"{what} N with a subscripted order", self._current)
            return 1, expr
        if float(order) != int(order) or int(order) < 1:
            raise UnsupportedConstructError(
                f"{what} with order {order!r} (not a whole number)", self._current
            )
        return int(order), None

    def _hidden(self, ast) -> tuple:
        """A stateful inside an equation: a node of its own, referenced by the equation."""
        element = self._current
        prefix = self._prefix(ast)
        name = self.namespace.make_python_identifier(self.py[element], prefix=prefix)
        meta = dict(element=element, units="", doc=f"{prefix[1:]} inside {element!r}")
        node = self._stateful(ast, name, meta, obj=name)
        self._current = element
        return ("sub", name, "", node.dims) if node.dims else ("ref", name)

    def _active_initial(self, args) -> tuple:
        element = self._current
        name = self.namespace.make_python_identifier(self.py[element], prefix="_active_initial")
        meta = dict(element=element, units="", doc=f"ACTIVE INITIAL inside {element!r}")
        node = Node(name, "active", expr=self._expr(args[0]), init=self._expr(args[1]), **meta)
        node = self._dimensioned(node, None)
        return ("sub", name, "", node.dims) if node.dims else ("ref", name)

    # -- checks after every node is built ------------------------------------------------------

    def check_statefuls(self, static: set) -> None:
        """Refuse what would differ from PySD: see the module's docstring."""
        for name in self.delay_n:
            node = self.nodes[name]
            if expr_deps(node.time) <= static:
                continue
            # PySD runs every update's derivative (ddt) in the order of the objects' names, then
            # DELAY FIXED and SAMPLE IF TRUE read their input in the state update, after all
            readers = [
                nd
                for nd in self.nodes.values()
                if nd.kind in STATEFUL_KINDS and node.obj in self._update_reads(nd)
            ]
            order = sorted((nd.kind in ("delayfixed", "sampleiftrue"), nd.obj) for nd in readers)
            if order and (order[0][0] or order[0][1] >= node.obj):
                raise UnsupportedConstructError(
                    "DELAY N with a delay time that changes during the run, whose output is "
                    f"first read by the update of {order[0][1]} (not before {node.obj}'s own: "
                    "PySD's value then depends on its cache)",
                    node.element,
                )
            node.varying = True
        for node in self.nodes.values():
            if node.kind not in ("delayfixed", "sampleiftrue"):
                continue
            early = sorted(o for o in self._objects_read(node) if o < node.obj)
            if early:
                what = "DELAY FIXED" if node.kind == "delayfixed" else "SAMPLE IF TRUE"
                raise UnsupportedConstructError(
                    f"{what} whose input reads {early[0]}, updated before it by PySD", node.element
                )

    def _update_reads(self, node: Node) -> set:
        """PySD names of the stateful objects (itself included) its update reads."""
        return self._reads(
            node, expr_deps(node.flow) | expr_deps(node.time) | expr_deps(node.extra)
        )

    def _objects_read(self, node: Node) -> set:
        """PySD names of the stateful objects an update-time input reads through auxiliaries."""
        return self._reads(node, expr_deps(node.flow) | expr_deps(node.extra)) - {node.obj}

    def _reads(self, node: Node, start: set) -> set:
        """PySD names of the stateful objects reached from ``start``.

        The walk goes through auxiliaries and through the inputs of the objects PySD evaluates
        at update time (TREND, FORECAST, SAMPLE IF TRUE, DELAY).
        """
        seen, out = set(), set()
        stack = list(start)
        while stack:
            n = stack.pop()
            if n in seen or n not in self.nodes:
                continue
            seen.add(n)
            nd = self.nodes[n]
            if nd.kind in STATEFUL_KINDS:
                out.add(nd.obj)
                if nd.kind in ("trend", "forecast", "sampleiftrue", "delay"):
                    stack.extend(expr_deps(nd.flow) | expr_deps(nd.time) | expr_deps(nd.extra))
            elif nd.kind in ("aux", "active"):
                stack.extend(expr_deps(nd.expr))
        return out


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)
