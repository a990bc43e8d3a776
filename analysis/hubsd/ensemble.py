"""Vectorised ensemble runner: N parameter sets of a Vensim model in one simulation.

:func:`compile_model` reads a ``.mdl`` file with PySD's own parser
(``VensimFile(...).parse().get_abstract_model()``) and turns the abstract model into Python
source for one function that evaluates every auxiliary in dependency order on numpy arrays of
shape ``(N,)`` per time step and updates the stocks with Euler exactly as PySD does. The source
is ``exec``'d once per set of requested outputs and cached. :meth:`EnsembleModel.run` returns an
``xarray.Dataset`` with dims ``sample`` and ``time``.

Semantics follow PySD 3.14 (``py_backend/statefuls.py`` and ``functions.py``) operation by
operation, so each member equals a PySD run with the same parameters to round-off:

* Euler: every derivative is taken from the current state, then ``state = state + ddt * dt``;
  auxiliaries and saved outputs are evaluated at the current time; time advances as
  ``t = t + dt`` (PySD's accumulation), and the run ends where PySD's ``in_bounds`` does.
* Initial values are computed at INITIAL TIME in dependency order (stocks, SMOOTH/SMOOTHI,
  DELAY1/DELAY3 (+I), INITIAL), as PySD's ``initialize_order`` does.
* SMOOTH of order k keeps k states, ``ddt = (targets - state) * k / T``; DELAY of order k keeps
  k states of value x delay time, output ``state[-1] / T``, ``ddt = (inflows - outflows) * k``.
  PySD quirk, reproduced: a SMOOTH whose initial value is an integer literal (``SMOOTHI(x, T,
  1)``) is stored in an int array, so the first step's input is truncated to an integer
  (``SMOOTHI(x, T, 1.0)`` is not affected). PySD lowers a DELAY's order when order x TIME STEP
  exceeds the delay time; the engine refuses such runs instead.
* STEP: ``value * (t + dt/2 > tstep)``; RAMP, PULSE, PULSE TRAIN, XIDZ, ZIDZ (``|den| < 1e-6``),
  QUANTUM/MODULO/INTEGER as in PySD; tables are piecewise linear with the end values held
  outside the x range (:func:`numpy.interp`, as :class:`hubsd.model.FastLookups`).

Anything else (subscripts, macros, data, DELAY N, SMOOTH N, DELAY FIXED, TREND, FORECAST,
SAMPLE IF TRUE, ACTIVE INITIAL, random functions, vector functions, ALLOCATE ...) is refused at
compile time with :class:`UnsupportedConstructError`, naming the construct and the variable.

Parameters given per member override constants of the model; everything else is the model's
(or the hub file's, with ``hub=``). Large ensembles run in chunks of members; chunks run in
parallel in worker processes (``workers``) or on a dask.distributed cluster (``scheduler``).
"""

from __future__ import annotations

import difflib
import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .model import DEFAULT_MODEL, file_hash
from .parameters import ParameterError

SMALL_VENSIM = 1e-6  # PySD's (and Vensim's) zero for XIDZ, ZIDZ, RAMP, PULSE, QUANTUM
RPREC = 1e-5  # PySD's relative precision of the final time (components.Time.rprec)
CONTROL = ("initial_time", "final_time", "time_step", "saveper")
DEFAULT_CHUNK_SIZE = 5000


class EnsembleError(ValueError):
    """A model the engine cannot compile, or a run request it cannot honour."""


class UnsupportedConstructError(EnsembleError):
    """A Vensim construct the ensemble engine does not implement."""

    def __init__(self, construct: str, variable: str):
        self.construct = construct
        self.variable = variable
        super().__init__(
            f"{construct} is not supported by the ensemble engine "
            f"(in the equation of {variable!r}); run this model with hubsd.run (PySD) instead"
        )


# --------------------------------------------------------------------------------------------
# Intermediate representation
# --------------------------------------------------------------------------------------------
# Expressions are tuples:
#   ("num", float, is_int) | ("ref", node) | ("time",) | ("bin", op, a, b) | ("neg", a) | ("not", a)
#   ("call", name, (args...)) | ("lookup", table, a)

#: Vensim functions (PySD's reference names) -> number of arguments.
FUNCTIONS = {
    "min": 2,
    "max": 2,
    "exp": 1,
    "ln": 1,
    "log": 2,
    "abs": 1,
    "sqrt": 1,
    "power": 2,
    "sin": 1,
    "cos": 1,
    "tan": 1,
    "arcsin": 1,
    "arccos": 1,
    "arctan": 1,
    "sinh": 1,
    "cosh": 1,
    "tanh": 1,
    "pi": 0,
    "if_then_else": 3,
    "xidz": 3,
    "zidz": 2,
    "step": 2,
    "ramp": 3,
    "pulse": 2,
    "pulse_train": 4,
    "integer": 1,
    "modulo": 2,
    "quantum": 2,
}

#: Functions that read the model time.
_TIME_FUNCTIONS = {"step", "ramp", "pulse", "pulse_train"}

_NUMPY_UNARY = {
    "exp": "np.exp",
    "ln": "np.log",
    "abs": "np.abs",
    "sqrt": "np.sqrt",
    "sin": "np.sin",
    "cos": "np.cos",
    "tan": "np.tan",
    "arcsin": "np.arcsin",
    "arccos": "np.arccos",
    "arctan": "np.arctan",
    "sinh": "np.sinh",
    "cosh": "np.cosh",
    "tanh": "np.tanh",
    "integer": "np.trunc",
}

#: Python precedence of the binary operators as PySD writes them (higher binds tighter).
_BINARY = {
    "^": ("**", 6),
    "*": ("*", 4),
    "/": ("/", 4),
    "+": ("+", 3),
    "-": ("-", 3),
    "=": ("==", 2),
    "<>": ("!=", 2),
    ">=": (">=", 2),
    ">": (">", 2),
    "<=": ("<=", 2),
    "<": ("<", 2),
    ":AND:": ("&", 1),
    ":OR:": ("|", 0),
}

_STRUCTURE_NAMES = {
    "DelayNStructure": "DELAY N",
    "DelayFixedStructure": "DELAY FIXED",
    "SmoothNStructure": "SMOOTH N",
    "TrendStructure": "TREND",
    "ForecastStructure": "FORECAST",
    "SampleIfTrueStructure": "SAMPLE IF TRUE",
    "AllocateAvailableStructure": "ALLOCATE AVAILABLE",
    "AllocateByPriorityStructure": "ALLOCATE BY PRIORITY",
    "GetLookupsStructure": "GET XLS/DIRECT LOOKUPS",
    "GetDataStructure": "GET XLS/DIRECT DATA",
    "GetConstantsStructure": "GET XLS/DIRECT CONSTANTS",
    "DataStructure": "a data variable",
    "SubscriptsReferenceStructure": "subscripts",
}


@dataclass
class Node:
    """One value of the model: a constant, an auxiliary, a stateful object, time or control."""

    name: str  # Python name (PySD's) or hidden name of a stateful inside an equation
    kind: str  # const | aux | integ | smooth | delay | initial | control | time
    element: str = ""  # Vensim name of the element whose equation defines it
    expr: tuple | None = None  # aux: equation; initial: its argument
    init: tuple | None = None  # integ/smooth/delay: initial value
    flow: tuple | None = None  # integ: net flow; smooth/delay: input
    time: tuple | None = None  # smooth/delay: smoothing or delay time
    order: int = 1
    non_negative: bool = False
    int_init: bool = False  # smooth: PySD keeps an integer initial value in an int array
    value: float | None = None  # const and control: the model's value
    units: str = ""
    doc: str = ""
    limits: tuple = (None, None)

    @property
    def stateful(self) -> bool:
        return self.kind in ("integ", "smooth", "delay")


def _walk(expr):
    yield expr
    tag = expr[0]
    if tag == "bin":
        yield from _walk(expr[2])
        yield from _walk(expr[3])
    elif tag in ("neg", "not"):
        yield from _walk(expr[1])
    elif tag == "call":
        for arg in expr[2]:
            yield from _walk(arg)
    elif tag == "lookup":
        yield from _walk(expr[2])


def _deps(expr) -> set[str]:
    if expr is None:
        return set()
    out = set()
    for e in _walk(expr):
        if e[0] == "ref":
            out.add(e[1])
        elif e[0] == "time" or (e[0] == "call" and e[1] in _TIME_FUNCTIONS):
            out.add("time")
    return out


# --------------------------------------------------------------------------------------------
# From PySD's abstract model to the IR
# --------------------------------------------------------------------------------------------


def _pysd_abstract_model(mdl: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pysd.builders.python.namespace import NamespaceManager
        from pysd.translators.structures import abstract_expressions as ae
        from pysd.translators.structures import abstract_model as am
        from pysd.translators.vensim.vensim_file import VensimFile

        vf = VensimFile(str(mdl))
        vf.parse()
        model = vf.get_abstract_model()
    return model, ae, am, NamespaceManager


class _Builder:
    """Translates PySD's AbstractModel into :class:`Node` objects."""

    def __init__(self, mdl: Path):
        model, self.ae, self.am, namespace_cls = _pysd_abstract_model(mdl)
        if len(model.sections) != 1:
            names = [s.name for s in model.sections if s.name != "__main__"]
            raise UnsupportedConstructError(f"macros ({', '.join(names)})", names[0])
        section = model.sections[0]
        if section.subscripts:
            rng = section.subscripts[0].name
            raise UnsupportedConstructError("subscripts", f"subscript range {rng}")
        self.namespace = namespace_cls(section.params)
        elements = list(section.elements)
        for element in elements:  # PySD's SectionBuilder: names in file order
            self.namespace.add_to_namespace(element.name)
        self.py = {e.name: self.namespace.namespace[e.name] for e in elements}
        self.nodes: dict[str, Node] = {"time": Node("time", "time")}
        self.tables: dict[str, tuple[np.ndarray, np.ndarray, str]] = {}
        self.order: list[str] = []  # element py names in file order
        lookups = [
            e for e in elements if any(isinstance(c, self.am.AbstractLookup) for c in e.components)
        ]
        for element in lookups:
            self._table_element(element)
        for element in elements:
            if element in lookups:
                continue
            self._element(element)

    # -- elements ----------------------------------------------------------------------------

    def _one_component(self, element):
        comps = element.components
        if len(comps) != 1 or comps[0].subscripts[0]:
            raise UnsupportedConstructError("subscripts", element.name)
        comp = comps[0]
        if isinstance(comp, self.am.AbstractData):
            raise UnsupportedConstructError("a data variable", element.name)
        return comp

    def _table_element(self, element):
        comp = self._one_component(element)
        if not isinstance(comp.ast, self.ae.LookupsStructure):
            raise UnsupportedConstructError(
                type(comp.ast).__name__.replace("Structure", "") + " tables", element.name
            )
        self.tables[self.py[element.name]] = self._table(comp.ast, element.name)

    def _table(self, lk, where: str):
        if lk.type not in ("interpolate", "hold_backward"):
            raise UnsupportedConstructError(f"table interpolation {lk.type!r}", where)
        xs = np.asarray(lk.x, dtype=float)
        ys = np.asarray(lk.y, dtype=float)
        if len(xs) != len(set(xs)) or len(xs) != len(ys) or len(xs) == 0:
            raise EnsembleError(f"table of {where!r} has repeated or missing x values")
        idx = np.argsort(xs, kind="stable")
        return xs[idx], ys[idx], lk.type

    def _element(self, element):
        comp = self._one_component(element)
        py = self.py[element.name]
        meta = dict(
            element=element.name,
            units=str(element.units or ""),
            doc=str(element.documentation or "").strip(),
            limits=tuple(element.limits or (None, None)),
        )
        ast = comp.ast
        if isinstance(element, self.am.AbstractControlElement):
            if py not in CONTROL:
                raise UnsupportedConstructError(f"control variable {element.name}", element.name)
            if not _is_number(ast):
                raise UnsupportedConstructError(
                    "a control value that is not a number", element.name
                )
            self.nodes[py] = Node(py, "control", value=float(ast), **meta)
            return
        self.order.append(py)
        if _is_number(ast):
            self.nodes[py] = Node(py, "const", value=float(ast), **meta)
            return
        self._current = element.name
        top = (
            self.ae.IntegStructure,
            self.ae.SmoothStructure,
            self.ae.DelayStructure,
            self.ae.InitialStructure,
        )
        if isinstance(ast, top):
            self._stateful(ast, py, meta)
        else:
            self.nodes[py] = Node(py, "aux", expr=self._expr(ast), **meta)

    def _stateful(self, ast, name, meta) -> str:
        ae = self.ae
        if isinstance(ast, ae.IntegStructure):
            node = Node(
                name,
                "integ",
                flow=self._expr(ast.flow),
                init=self._expr(ast.initial),
                non_negative=bool(ast.non_negative),
                **meta,
            )
        elif isinstance(ast, ae.SmoothStructure):
            init = self._expr(ast.initial)
            node = Node(
                name,
                "smooth",
                flow=self._expr(ast.input),
                time=self._expr(ast.smooth_time),
                init=init,
                order=self._order(ast.order, "SMOOTH"),
                int_init=_int_typed(init),
                **meta,
            )
        elif isinstance(ast, ae.DelayStructure):
            node = Node(
                name,
                "delay",
                flow=self._expr(ast.input),
                time=self._expr(ast.delay_time),
                init=self._expr(ast.initial),
                order=self._order(ast.order, "DELAY"),
                **meta,
            )
        else:
            node = Node(name, "initial", expr=self._expr(ast.initial), **meta)
        self.nodes[name] = node
        return name

    def _order(self, order, what) -> int:
        if not _is_number(order) or float(order) != int(order) or int(order) < 1:
            raise UnsupportedConstructError(f"{what} with order {order!r}", self._current)
        return int(order)

    def _hidden(self, ast, prefix) -> tuple:
        element = self._current
        name = self.namespace.make_python_identifier(self.py[element], prefix=prefix)
        meta = dict(element=element, units="", doc=f"{prefix[1:]} inside {element!r}")
        self._stateful(ast, name, meta)
        self._current = element
        return ("ref", name)

    # -- expressions -------------------------------------------------------------------------

    def _ref_name(self, reference: str) -> str:
        clean = self.namespace.cleanspace
        if reference in clean:
            return clean[reference]
        key = reference.lower().replace(" ", "_")
        if key in clean:
            return clean[key]
        raise EnsembleError(f"unknown variable {reference!r} in the equation of {self._current!r}")

    def _expr(self, ast) -> tuple:
        ae = self.ae
        if _is_number(ast):
            return ("num", float(ast), isinstance(ast, (int, np.integer)))
        if isinstance(ast, (ae.ArithmeticStructure, ae.LogicStructure)):
            return self._operation(list(ast.operators), [self._expr(a) for a in ast.arguments])
        if isinstance(ast, ae.ReferenceStructure):
            if ast.subscripts is not None:
                raise UnsupportedConstructError("subscripts", self._current)
            name = self._ref_name(ast.reference)
            if name == "time":
                return ("time",)
            if name in self.tables:
                raise UnsupportedConstructError(f"table {name!r} used as a value", self._current)
            return ("ref", name)
        if isinstance(ast, ae.CallStructure):
            return self._call(ast)
        if isinstance(ast, ae.IntegStructure):
            return self._hidden(ast, "_integ")
        if isinstance(ast, ae.SmoothStructure):
            return self._hidden(ast, "_smooth")
        if isinstance(ast, ae.DelayStructure):
            return self._hidden(ast, "_delay")
        if isinstance(ast, ae.InitialStructure):
            return self._hidden(ast, "_initial")
        if isinstance(ast, ae.GameStructure):
            return self._expr(ast.expression)
        if isinstance(ast, ae.InlineLookupsStructure):
            name = self.namespace.make_python_identifier(
                self.py[self._current], prefix="_hardcodedlookup"
            )
            self.tables[name] = self._table(ast.lookups, self._current)
            return ("lookup", name, self._expr(ast.argument))
        cls = type(ast).__name__
        construct = _STRUCTURE_NAMES.get(cls, cls.replace("Structure", "") or repr(ast))
        raise UnsupportedConstructError(construct, self._current)

    def _operation(self, operators, args) -> tuple:
        if len(args) == 1:
            op = operators[0]
            if op == "negative":
                return ("neg", args[0])
            if op == ":NOT:":
                return ("not", args[0])
            raise UnsupportedConstructError(f"operator {op}", self._current)
        for op in operators:
            if op not in _BINARY:
                raise UnsupportedConstructError(f"operator {op}", self._current)
        # Shunting-yard with Python's precedence: PySD writes the operation as one flat
        # Python expression, so Python's parse is the reference.
        out, ops = [args[0]], []

        def reduce():
            op = ops.pop()
            b, a = out.pop(), out.pop()
            out.append(("bin", op, a, b))

        for op, arg in zip(operators, args[1:], strict=True):
            prec = _BINARY[op][1]
            while ops and (
                _BINARY[ops[-1]][1] > prec or (_BINARY[ops[-1]][1] == prec and op != "^")
            ):
                reduce()
            ops.append(op)
            out.append(arg)
        while ops:
            reduce()
        return out[0]

    def _call(self, ast) -> tuple:
        fname = ast.function.reference
        args = ast.arguments
        clean = self.namespace.cleanspace
        if fname in clean and clean[fname] in self.tables:
            if len(args) != 1:
                raise EnsembleError(
                    f"table {fname!r} called with {len(args)} arguments in {self._current!r}"
                )
            return ("lookup", clean[fname], self._expr(args[0]))
        if fname not in FUNCTIONS:
            if fname in clean:
                raise UnsupportedConstructError(f"calling variable {fname!r}", self._current)
            raise UnsupportedConstructError(fname.upper().replace("_", " "), self._current)
        if len(args) != FUNCTIONS[fname]:
            raise UnsupportedConstructError(
                f"{fname.upper().replace('_', ' ')} with {len(args)} arguments", self._current
            )
        return ("call", fname, tuple(self._expr(a) for a in args))


def _int_typed(e) -> bool:
    """Whether PySD evaluates an expression to a Python int (integer literals and + - *)."""
    if e[0] == "num":
        return e[2]
    if e[0] == "neg":
        return _int_typed(e[1])
    if e[0] == "bin" and e[1] in ("+", "-", "*"):
        return _int_typed(e[2]) and _int_typed(e[3])
    return False


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


# --------------------------------------------------------------------------------------------
# Runtime helpers used by the generated code (PySD semantics, vectorised)
# --------------------------------------------------------------------------------------------


def _isarr(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0


def _ite(cond, a, b):
    if _isarr(cond):
        return np.where(cond, a, b)
    return a if cond else b


def _xidz(num, den, x):
    if _isarr(den):
        q = num / den
        small = np.abs(den) < SMALL_VENSIM
        return np.where(small, x, q) if small.any() else q
    if abs(den) < SMALL_VENSIM:
        return x
    return num / den


def _zidz(num, den):
    if _isarr(den):
        q = num / den
        small = np.abs(den) < SMALL_VENSIM
        return np.where(small, 0, q) if small.any() else q
    if abs(den) < SMALL_VENSIM:
        return 0 * num if _isarr(num) else 0
    return num / den


def _ramp(t, slope, start, finish):
    return (t + SMALL_VENSIM > start) * slope * (np.minimum(finish, t) - start)


def _pulse(t, start, width):
    if _isarr(start) or _isarr(width):
        return np.where((start - SMALL_VENSIM <= t) & (t < start + width), 1, 0)
    return 1 if start - SMALL_VENSIM <= t < start + width else 0


def _pulse_train(t, start, repeat_time, width, end):
    # argument order of PySD's pulse_train call: start, repeat time, width, end
    if not any(_isarr(v) for v in (start, width, repeat_time, end)):
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
    if _isarr(b):
        return np.where(b < SMALL_VENSIM, a, b * np.trunc(a / b))
    if b < SMALL_VENSIM:
        return a
    return b * np.trunc(a / b)


def _interp_hold(x, xs, ys):
    idx = np.clip(np.searchsorted(xs, x, side="right") - 1, 0, len(xs) - 1)
    return ys[idx]


_RUNTIME = {
    "np": np,
    "_ite": _ite,
    "_xidz": _xidz,
    "_zidz": _zidz,
    "_ramp": _ramp,
    "_pulse": _pulse,
    "_pulse_train": _pulse_train,
    "_quantum": _quantum,
    "_interp_hold": _interp_hold,
    "_interp": np.interp,
}


# --------------------------------------------------------------------------------------------
# Code generation
# --------------------------------------------------------------------------------------------


def _var(name: str) -> str:
    return "v_" + name


class _Emitter:
    """Writes expressions as Python source.

    In the time loop (``hoist=True``) it hoists time- and state-free subtrees out of the loop
    (``k<i>``, computed once) and computes a subtree that occurs more than once per step only
    once (``c<i>``, assigned in ``pre`` before the statement that first needs it). Both keep
    every floating-point operation as PySD performs it.
    """

    def __init__(self, static: set[str], tables: dict):
        self.static = static
        self.tables = tables
        self.hoisted: dict[str, str] = {}  # source -> variable
        self.common: set = set()  # dynamic subtrees that occur more than once per step
        self.shared: dict = {}  # subtree -> variable, once assigned
        self.pre: list[str] = []
        self.literals: dict[str, str] = {}  # literal -> array of the chunk's size

    def literal(self, e, src: str) -> str:
        if e[0] != "num":
            return src
        if src not in self.literals:
            self.literals[src] = f"L{len(self.literals)}"
        return self.literals[src]

    def is_static(self, e) -> bool:
        return all(d in self.static for d in _deps(e))

    def count(self, exprs):
        """Find the dynamic subtrees that occur more than once among ``exprs``."""
        seen: dict = {}
        for expr in exprs:
            if expr is None:
                continue
            for e in _walk(expr):
                if e[0] not in ("num", "ref", "time") and not self.is_static(e):
                    seen[e] = seen.get(e, 0) + 1
        self.common = {e for e, k in seen.items() if k > 1}

    def emit(self, e, hoist: bool) -> str:
        if hoist and e[0] not in ("num", "ref") and self.is_static(e):
            src = self.emit(e, False)
            if src not in self.hoisted:
                self.hoisted[src] = f"k{len(self.hoisted)}"
            return self.hoisted[src]
        if hoist and e in self.common:
            if e not in self.shared:
                self.common.discard(e)
                src = self.emit(e, True)
                self.common.add(e)
                self.shared[e] = name = f"c{len(self.shared)}"
                self.pre.append(f"{name} = {src}")
            return self.shared[e]
        tag = e[0]
        if tag == "num":
            return repr(e[1])
        if tag == "ref":
            return _var(e[1])
        if tag == "time":
            return "t"
        if tag == "neg":
            return f"(-{self.emit(e[1], hoist)})"
        if tag == "not":
            return f"np.logical_not({self.emit(e[1], hoist)})"
        if tag == "bin":
            op = _BINARY[e[1]][0]
            a, b = self.emit(e[2], hoist), self.emit(e[3], hoist)
            if op in ("&", "|"):
                fn = "np.logical_and" if op == "&" else "np.logical_or"
                return f"{fn}({a}, {b})"
            return f"({a} {op} {b})"
        if tag == "lookup":
            xs, ys, kind = self.tables[e[1]]
            x = self.emit(e[2], hoist)
            fn = "_interp" if kind == "interpolate" else "_interp_hold"
            return f"{fn}({x}, T_{e[1]}_x, T_{e[1]}_y)"
        if tag == "call":
            name, args = e[1], [self.emit(a, hoist) for a in e[2]]
            if name in _NUMPY_UNARY:
                return f"{_NUMPY_UNARY[name]}({args[0]})"
            if name in ("min", "max") and hoist:
                # numpy's minimum/maximum of an array and a Python scalar is ~2.5x slower
                # than of two arrays: a literal becomes an array of the chunk's size.
                args = [self.literal(a, s) for a, s in zip(e[2], args, strict=True)]
            if name == "min":
                return f"np.minimum({args[0]}, {args[1]})"
            if name == "max":
                return f"np.maximum({args[0]}, {args[1]})"
            if name == "power":
                return f"np.power({args[0]}, {args[1]})"
            if name == "log":
                return f"(np.log({args[0]}) / np.log({args[1]}))"
            if name == "pi":
                return "np.pi"
            if name == "if_then_else":
                return f"_ite({args[0]}, {args[1]}, {args[2]})"
            if name == "xidz":
                return f"_xidz({args[0]}, {args[1]}, {args[2]})"
            if name == "zidz":
                return f"_zidz({args[0]}, {args[1]})"
            if name == "step":
                return f"({args[0]} * (t + half_dt > {args[1]}))"
            if name == "ramp":
                return f"_ramp(t, {args[0]}, {args[1]}, {args[2]})"
            if name == "pulse":
                return f"_pulse(t, {args[0]}, {args[1]})"
            if name == "pulse_train":
                return f"_pulse_train(t, {args[0]}, {args[1]}, {args[2]}, {args[3]})"
            if name == "quantum":
                return f"_quantum({args[0]}, {args[1]})"
            if name == "modulo":
                return f"({args[0]} - _quantum({args[0]}, {args[1]}))"
        raise AssertionError(f"cannot emit {e!r}")  # pragma: no cover


def _toposort(names: Iterable[str], deps: Mapping[str, set[str]], what: str) -> list[str]:
    names = list(names)
    pending = set(names)
    order, done = [], set()
    state: dict[str, int] = {}

    def visit(n, stack):
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            loop = stack[stack.index(n) :]
            raise EnsembleError(
                f"simultaneous equations in the {what} (a loop without a "
                f"stock): {' -> '.join(loop + [n])}"
            )
        state[n] = 1
        stack.append(n)
        for d in sorted(deps.get(n, ())):
            if d in pending:
                visit(d, stack)
        stack.pop()
        state[n] = 2
        done.add(n)
        order.append(n)

    for n in names:
        visit(n, [])
    return order


_ASSIGNED = re.compile(r"^(?:if step == 0: )?(\w+) = ", re.M)
_NAME = re.compile(r"[A-Za-z_]\w*")


def _free_early(stmts: list[str], updates: list[str]) -> list[str]:
    """Insert ``del`` after the last use of each per-step temporary.

    Freed arrays are reused at once by the next allocation, so a step works in a small, hot
    set of buffers instead of touching several hundred arrays (which spills the caches).
    """
    carried = {m.group(1) for u in updates for m in [_ASSIGNED.match(u)] if m}
    local = set()
    for stmt in stmts:
        for m in _ASSIGNED.finditer(stmt):
            if m.group(1) not in carried:
                local.add(m.group(1))
    last: dict[str, int] = {}
    for i, stmt in enumerate(stmts):
        for name in _NAME.findall(stmt):
            if name in local:
                last[name] = i
    for u in updates:  # used by the updates (the derivatives): keep to the end
        for name in _NAME.findall(u):
            if name in local:
                last[name] = len(stmts)
    out = []
    for i, stmt in enumerate(stmts):
        out.append(stmt)
        dead = sorted(n for n, j in last.items() if j == i)
        if dead and not stmt.startswith("if step == steps"):
            out.append("del " + ", ".join(dead))
    return out


@dataclass
class _Program:
    source: str
    func: object
    outputs: tuple
    params: tuple  # constants the function reads from P
    n_hoisted: int = 0


@dataclass
class EnsembleModel:
    """A Vensim model compiled for vectorised ensemble runs. Build it with :func:`compile_model`.

    Attributes
    ----------
    mdl : Path
        The model file. ``sha256`` is the hash of the bytes that were compiled.
    nodes : dict
        Every value of the model by Python name (PySD's names), with hidden statefuls.
    """

    mdl: Path
    sha256: str
    nodes: dict
    tables: dict
    elements: list
    _programs: dict = field(default_factory=dict, repr=False)

    # -- names and parameters ------------------------------------------------------------------

    @property
    def constants(self) -> list[str]:
        """Python names of the model's constants (what per-member parameters may override)."""
        return [n for n in self.elements if self.nodes[n].kind == "const"]

    @property
    def controls(self) -> dict[str, float]:
        """INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER of the model file."""
        return {k: self.nodes[k].value for k in CONTROL}

    def parameter_table(self) -> pd.DataFrame:
        """Constants with default and range ``[low, high]`` (unbounded where the file has none)."""
        rows = []
        for name in self.constants:
            node = self.nodes[name]
            low, high = (list(node.limits) + [None, None])[:2]
            rows.append(
                {
                    "name": name,
                    "model_name": node.element,
                    "default": node.value,
                    "low": -np.inf if low is None else float(low),
                    "high": np.inf if high is None else float(high),
                    "units": node.units,
                    "description": node.doc,
                }
            )
        cols = ["name", "model_name", "default", "low", "high", "units", "description"]
        return pd.DataFrame(rows, columns=cols).set_index("name")

    def resolve_name(self, name: str, what: str = "parameter") -> str:
        """Python name of a variable given either spelling (``a_b`` or Vensim ``A b``)."""
        if not isinstance(name, str):
            raise ParameterError(f"{what} names must be strings, got {name!r}")
        key = re.sub(r"[\s_]+", "_", name.strip().lower())
        pool = self.constants if what == "parameter" else self.outputs_available()
        if key in pool:
            return key
        by_model = {re.sub(r"[\s_]+", "_", self.nodes[n].element.lower()): n for n in pool}
        if key in by_model:
            return by_model[key]
        hint = difflib.get_close_matches(key, pool, n=3, cutoff=0.5)
        raise ParameterError(
            f"unknown {what} {name!r}"
            + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else "")
        )

    def outputs_available(self) -> list[str]:
        """Python names of every variable that can be returned (and the control values)."""
        return list(self.elements) + [c for c in CONTROL if c not in self.elements]

    # -- compilation of a run program -----------------------------------------------------------

    def program(self, outputs: Iterable[str]) -> _Program:
        """The compiled simulation function for a set of outputs (cached)."""
        outputs = tuple(outputs)
        if outputs not in self._programs:
            self._programs[outputs] = _generate(self, outputs)
        return self._programs[outputs]

    def source(self, outputs: Iterable[str]) -> str:
        """The generated Python source for a set of outputs (for reading and debugging)."""
        return self.program(tuple(outputs)).source

    # -- running -------------------------------------------------------------------------------

    def run(
        self,
        params: Mapping[str, Iterable[float]] | pd.DataFrame | None = None,
        outputs: Iterable[str] | str | None = None,
        hub: str | None = None,
        *,
        n: int | None = None,
        time_step: float | None = None,
        final_time: float | None = None,
        saveper: float | None = None,
        chunk_size: int | None = None,
        workers: int | None = None,
        scheduler=None,
    ) -> xr.Dataset:
        """Run every parameter set as one member of a vectorised simulation.

        Parameters
        ----------
        params : dict of name -> array (N,), or DataFrame (one column per parameter)
            Per-member values of constants (Python or Vensim names). Each column is checked:
            a known constant, finite values inside ``[low, high]``. A scalar is the same for
            every member.
        outputs : list of str, ``"all"`` or None
            Variables to keep (at save times only). ``None``: :data:`hubsd.KEY_OUTPUTS` for the
            hub model, every stock for other models.
        hub : str, optional
            Hub file whose values replace the model defaults (hub model only); ``params`` apply
            on top.
        n : int, optional
            Number of members when ``params`` is empty or all scalars.
        time_step, final_time, saveper : float, optional
            Override the model's control values [time unit of the model].
        chunk_size : int, optional
            Members simulated together (memory: about 300 arrays of ``chunk_size`` floats).
        workers : int, optional
            Worker processes for the chunks (default: the CPUs available, 1 for small N).
        scheduler : None, "dask", a scheduler address or a ``dask.distributed.Client``
            Run the chunks on dask.distributed instead (``"dask"``: a LocalCluster).

        Returns
        -------
        xarray.Dataset
            One variable per output with dims ``(sample, time)``, ``units``/``long_name``/
            ``description`` attrs from the model; varied parameters as coordinates along
            ``sample``.
        """
        base, table = self._base_values(hub)
        columns, index = self._columns(params, table, n)
        nsamp = len(index)
        outputs = self._check_outputs(outputs)
        ctrl = self._control(time_step, final_time, saveper)
        steps, stamps, save_steps = _time_grid(ctrl)
        values = dict(base)
        values.update({k: v for k, v in columns.items() if not _isarr(v)})
        varied = {k: v for k, v in columns.items() if _isarr(v)}
        self._check_delays(values, varied, ctrl["time_step"])
        prog = self.program(outputs)
        bounds = _chunks(nsamp, chunk_size, bool(varied))
        job = _Job(self.mdl, self.sha256, outputs, values, ctrl, steps, save_steps)
        if scheduler is not None:
            result = np.empty((len(outputs), len(stamps), nsamp))
            parts = _run_dask(scheduler, job, varied, bounds)
            for (lo, hi), part in zip(bounds, parts, strict=True):
                result[:, :, lo:hi] = part
        else:
            nworkers = _default_workers(nsamp, len(bounds)) if workers is None else int(workers)
            result = _run_local(self, job, varied, bounds, nworkers, prog, nsamp)
        return self._dataset(result, outputs, stamps, index, varied, values, hub, ctrl)

    # -- helpers of run -------------------------------------------------------------------------

    def _is_hub_model(self) -> bool:
        try:
            return self.mdl.resolve() == Path(DEFAULT_MODEL).resolve()
        except OSError:  # pragma: no cover
            return False

    def _base_values(self, hub):
        table = self.parameter_table()
        base = table["default"].to_dict()
        if hub is not None:
            from .run import resolve_parameters

            base.update(resolve_parameters(hub, None, self.mdl))
        return base, table

    def _columns(self, params, table, n):
        if params is None:
            params = {}
        if isinstance(params, pd.DataFrame):
            index = params.index
            items = [(c, params[c].to_numpy()) for c in params.columns]
        elif isinstance(params, Mapping):
            items = list(params.items())
            index = None
        else:
            raise ParameterError("params must be a mapping of name -> values or a DataFrame")
        columns: dict[str, object] = {}
        size = None
        for raw, value in items:
            name = self.resolve_name(raw)
            row = table.loc[name]
            arr = np.asarray(value)
            if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.number)):
                raise ParameterError(
                    f"parameter {name!r} must be numbers [{row.units}], got {arr.dtype} values"
                )
            arr = arr.astype(float)
            if arr.ndim > 1:
                raise ParameterError(
                    f"parameter {name!r} must be one value per member, got shape {arr.shape}"
                )
            bad = ~np.isfinite(arr)
            if bad.any():
                first = int(np.flatnonzero(np.atleast_1d(bad))[0])
                raise ParameterError(
                    f"parameter {name!r} must be finite, got "
                    f"{np.atleast_1d(arr)[first]} (member {first})"
                )
            out = (arr < row.low) | (arr > row.high)
            if out.any():
                first = int(np.flatnonzero(np.atleast_1d(out))[0])
                raise ParameterError(
                    f"parameter {name!r} = {np.atleast_1d(arr)[first]:g} (member {first}) is "
                    f"outside its range [{row.low:g}, {row.high:g}] {row.units}"
                )
            if name in columns:
                raise ParameterError(f"parameter {name!r} is given twice")
            if arr.ndim == 1:
                if size is not None and len(arr) != size:
                    raise ParameterError(
                        f"parameter {name!r} has {len(arr)} values, others have {size}"
                    )
                size = len(arr)
                columns[name] = np.ascontiguousarray(arr)
            else:
                columns[name] = float(arr)
        if size is None:
            size = 1 if n is None else int(n)
        elif n is not None and int(n) != size:
            raise ParameterError(f"n={n} but the parameters have {size} values")
        if size < 1:
            raise ParameterError("an ensemble needs at least one member")
        if index is None:
            index = pd.RangeIndex(size, name="sample")
        return columns, index

    def _check_outputs(self, outputs) -> tuple:
        if outputs is None:
            if self._is_hub_model():
                from .run import KEY_OUTPUTS

                outputs = KEY_OUTPUTS
            else:
                outputs = [n for n in self.elements if self.nodes[n].stateful]
        elif isinstance(outputs, str):
            outputs = self.outputs_available() if outputs == "all" else [outputs]
        out = []
        for name in outputs:
            py = self.resolve_name(name, "output")
            if py not in out:
                out.append(py)
        if not out:
            raise ParameterError("no outputs requested")
        return tuple(out)

    def _control(self, time_step, final_time, saveper) -> dict:
        base = self.controls
        given = {"final_time": final_time, "time_step": time_step, "saveper": saveper}
        ctrl = {k: (base[k] if given.get(k) is None else given[k]) for k in base}
        for key, value in ctrl.items():
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float, np.floating))
                or not np.isfinite(value)
            ):
                raise ParameterError(f"{key} must be a finite number, got {value!r}")
        ctrl = {k: float(v) for k, v in ctrl.items()}
        if ctrl["time_step"] <= 0 or ctrl["saveper"] <= 0:
            raise ParameterError("time_step and saveper must be positive")
        if ctrl["final_time"] <= ctrl["initial_time"]:
            raise ParameterError(
                f"final_time {ctrl['final_time']:g} must be after "
                f"initial_time {ctrl['initial_time']:g}"
            )
        ratio = ctrl["saveper"] / ctrl["time_step"]
        if abs(ratio - round(ratio)) > 1e-9:
            raise ParameterError("saveper must be a whole multiple of time_step")
        return ctrl

    def _check_delays(self, values, varied, dt):
        """PySD lowers a delay's order when order * dt > delay time; refuse instead."""
        for node in self.nodes.values():
            if node.kind != "delay":
                continue
            if not _deps(node.time) <= set(self.constants):
                continue  # a delay time that is not constant is checked by PySD only at init
            env = {**_RUNTIME, "t": 0.0, "half_dt": dt / 2}
            env.update({_var(k): varied.get(k, values[k]) for k in self.constants})
            src = _Emitter(set(), self.tables).emit(node.time, False)
            delay_time = np.min(eval(src, env))  # noqa: S307 - our own generated source
            if node.order * dt > delay_time:
                raise EnsembleError(
                    f"delay in {node.element!r}: order {node.order} x time step {dt:g} exceeds "
                    f"the delay time {delay_time:g} for some member; PySD would lower the "
                    f"order, the ensemble engine does not. Use a smaller time_step."
                )

    def _dataset(self, result, outputs, stamps, index, varied, values, hub, ctrl):
        data_vars = {}
        for j, o in enumerate(outputs):
            node = self.nodes[o]
            data_vars[o] = xr.Variable(
                ("time", "sample"),
                result[j],
                attrs={
                    "units": node.units,
                    "long_name": node.element,
                    "description": node.doc,
                },
            ).transpose("sample", "time")
        coords = {
            "sample": index,
            "time": xr.Variable(
                ("time",),
                stamps,
                attrs={"units": self.nodes["time"].units or self.nodes["initial_time"].units},
            ),
        }
        for name, arr in varied.items():
            if name in data_vars:  # requested as an output: it is there already
                continue
            coords[name] = xr.Variable(
                ("sample",),
                arr,
                attrs={"units": self.nodes[name].units, "long_name": self.nodes[name].element},
            )
        ds = xr.Dataset(data_vars, coords=coords)
        from . import __version__

        fixed = {k: v for k, v in values.items() if k not in varied}
        ds.attrs.update(
            {
                "title": "hubsd ensemble run",
                "hub": hub or "model defaults",
                "varied_parameters": ", ".join(varied),
                "fixed_parameters": json.dumps(fixed, sort_keys=True),
                "time_step": ctrl["time_step"],
                "model_file": self.mdl.name,
                "model_sha256": self.sha256,
                "engine": "hubsd.ensemble (vectorised Euler, PySD semantics)",
                "hubsd_version": __version__,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        bad = [(o, j) for j, o in enumerate(outputs) if not np.all(np.isfinite(result[j]))]
        if bad:
            counts = ", ".join(
                f"{o} ({int((~np.isfinite(result[j])).any(axis=0).sum())} members)" for o, j in bad
            )
            warnings.warn(f"non-finite values in outputs: {counts}", RuntimeWarning, stacklevel=3)
        return ds


def _time_grid(ctrl):
    """Number of Euler steps, save stamps and their step indices, as PySD and hubsd.run do."""
    t0, tf, dt, sp = (ctrl[k] for k in ("initial_time", "final_time", "time_step", "saveper"))
    steps, t = 0, t0
    while t + dt * RPREC < tf:  # PySD's Time.in_bounds, with PySD's accumulation of time
        t = t + dt
        steps += 1
    stamps = np.round(np.arange(t0, tf + sp / 2, sp), 10)  # hubsd.run's return_timestamps
    idx = np.round((stamps - t0) / dt).astype(int)
    keep = idx <= steps
    return steps, stamps[keep], idx[keep]


def _generate(model: EnsembleModel, outputs: tuple) -> _Program:
    nodes = model.nodes

    # nodes needed: outputs and everything they depend on at any time
    def all_deps(node: Node) -> set[str]:
        d = set()
        for e in (node.expr, node.init, node.flow, node.time):
            d |= _deps(e)
        return d

    needed, stack = set(), list(outputs)
    while stack:
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack.extend(all_deps(nodes[n]) - needed)
    needed.discard("time")

    static = {n for n, nd in nodes.items() if nd.kind in ("const", "control", "initial")}
    changed = True
    while changed:  # auxiliaries that depend on constants only are static too
        changed = False
        for n, nd in nodes.items():
            if nd.kind == "aux" and n not in static and _deps(nd.expr) <= static:
                static.add(n)
                changed = True
    em = _Emitter(static, model.tables)

    # initialisation order (PySD's initialize_order, plus every auxiliary at INITIAL TIME)
    def init_deps(n):
        nd = nodes[n]
        if nd.kind in ("integ", "smooth"):
            return _deps(nd.init)
        if nd.kind == "delay":
            return _deps(nd.init) | _deps(nd.time)
        if nd.kind in ("aux", "initial"):
            return _deps(nd.expr)
        return set()

    calc = [n for n in needed if nodes[n].kind not in ("control",)]
    init_order = _toposort(sorted(calc), {n: init_deps(n) for n in calc}, "initialisation")

    # per-step order of the dynamic auxiliaries (and delay outputs)
    def step_deps(n):
        nd = nodes[n]
        if nd.kind == "aux":
            return _deps(nd.expr)
        if nd.kind == "delay":
            return _deps(nd.time)
        return set()

    dyn = [n for n in needed if n not in static and nodes[n].kind in ("aux", "delay")]
    step_order = _toposort(sorted(dyn), {n: step_deps(n) for n in dyn}, "model equations")
    statefuls = [n for n in sorted(needed) if nodes[n].stateful]

    lines = ["def simulate(P, n, t0, tfinal, dt, saveper, steps, save_steps, outs):"]
    ind = "    "
    params = tuple(n for n in sorted(needed) if nodes[n].kind == "const")
    for n in params:
        lines.append(f"{ind}{_var(n)} = P[{n!r}]")
    for n in CONTROL:
        if n in needed:
            src = {
                "initial_time": "t0",
                "final_time": "tfinal",
                "time_step": "dt",
                "saveper": "saveper",
            }[n]
            lines.append(f"{ind}{_var(n)} = {src}")
    lines.append(f"{ind}t = np.float64(t0)  # numpy scalars: x / 0 is inf, as for arrays")
    lines.append(f"{ind}half_dt = dt / 2")
    lines.append(f"{ind}# initial values at INITIAL TIME")
    for n in init_order:
        nd = nodes[n]
        v = _var(n)
        if nd.kind in ("aux", "initial"):
            lines.append(f"{ind}{v} = {em.emit(nd.expr, False)}")
        elif nd.kind == "integ":
            lines.append(f"{ind}{v} = {em.emit(nd.init, False)}")
        elif nd.kind == "smooth":
            lines.append(f"{ind}{v}__0 = {em.emit(nd.init, False)}")
            for i in range(1, nd.order):
                lines.append(f"{ind}{v}__{i} = {v}__0")
            lines.append(f"{ind}{v} = {v}__{nd.order - 1}")
        elif nd.kind == "delay":
            tsrc = em.emit(nd.time, False)
            lines.append(f"{ind}{v}__0 = {em.emit(nd.init, False)} * {tsrc}")
            for i in range(1, nd.order):
                lines.append(f"{ind}{v}__{i} = {v}__0")
            lines.append(f"{ind}{v} = {v}__{nd.order - 1} / {tsrc}")
    # step code first (it fills em.hoisted), then put the hoisted values before the loop
    em.count(
        [nodes[n].expr if nodes[n].kind == "aux" else nodes[n].time for n in step_order]
        + [e for n in statefuls for e in (nodes[n].flow, nodes[n].time)]
    )
    body = []

    def put(dest: list, line_fn):
        em.pre = []
        line = line_fn()
        dest.extend(em.pre)
        dest.append(line)

    for n in step_order:
        nd = nodes[n]
        if nd.kind == "aux":
            put(body, lambda nd=nd, n=n: f"{_var(n)} = {em.emit(nd.expr, True)}")
        else:  # delay output
            put(
                body,
                lambda nd=nd, n=n: (
                    f"{_var(n)} = {_var(n)}__{nd.order - 1} / {em.emit(nd.time, True)}"
                ),
            )
    save = ["if step == next_save:"]
    for j, o in enumerate(outputs):
        save.append(f"    outs[{j}][isave] = {_var(o)}")
    save += [
        "    isave += 1",
        "    next_save = save_steps[isave] if isave < len(save_steps) else -1",
    ]
    ddt, upd = [], []
    for n in statefuls:
        nd = nodes[n]
        v = _var(n)
        if nd.kind == "integ":
            put(ddt, lambda nd=nd, n=n: f"d_{n} = {em.emit(nd.flow, True)}")
            new = f"{v} + d_{n} * dt"
            upd.append(f"{v} = np.maximum({new}, 0)" if nd.non_negative else f"{v} = {new}")
        elif nd.kind == "smooth":
            put(ddt, lambda nd=nd, n=n: f"tau_{n} = {em.emit(nd.time, True)}")
            put(ddt, lambda nd=nd, n=n: f"tgt_{n} = {em.emit(nd.flow, True)}")
            if nd.int_init:
                # PySD quirk: an integer initial value makes the state an int array, and
                # the first step's target (the input) is truncated to an integer.
                ddt.append(f"if step == 0: tgt_{n} = np.trunc(tgt_{n})")
            times = "" if nd.order == 1 else f" * {nd.order}"  # x * 1 is x exactly
            for i in range(nd.order):
                target = f"tgt_{n}" if i == 0 else f"{v}__{i - 1}"
                ddt.append(f"d_{n}__{i} = (({target} - {v}__{i}){times}) / tau_{n}")
            for i in range(nd.order):
                upd.append(f"{v}__{i} = {v}__{i} + d_{n}__{i} * dt")
            upd.append(f"{v} = {v}__{nd.order - 1}")
        elif nd.kind == "delay":
            put(ddt, lambda nd=nd, n=n: f"tau_{n} = {em.emit(nd.time, True)}")
            for i in range(nd.order):
                ddt.append(f"out_{n}__{i} = {v}__{i} / tau_{n}")
            put(ddt, lambda nd=nd, n=n: f"in_{n} = {em.emit(nd.flow, True)}")
            for i in range(nd.order):
                inflow = f"in_{n}" if i == 0 else f"out_{n}__{i - 1}"
                ddt.append(f"d_{n}__{i} = ({inflow} - out_{n}__{i}) * {nd.order}")
            for i in range(nd.order):
                upd.append(f"{v}__{i} = {v}__{i} + d_{n}__{i} * dt")
    lines.append(f"{ind}# time- and state-free parts of the equations, computed once")
    for src, k in em.hoisted.items():
        lines.append(f"{ind}{k} = {src}")
    for src, k in em.literals.items():
        lines.append(f"{ind}{k} = np.full(n, {src})")
    lines.append(f"{ind}isave = 0")
    lines.append(f"{ind}next_save = save_steps[0] if len(save_steps) else -1")
    lines.append(f"{ind}for step in range(steps + 1):")
    ind2 = ind * 2
    stmts = body + ["\n".join(save), "if step == steps:\n    break"] + ddt
    for stmt in _free_early(stmts, upd):
        lines += [ind2 + x for x in stmt.split("\n")]
    lines += [ind2 + x for x in upd]
    lines.append(f"{ind2}t = t + dt")
    source = "\n".join(lines) + "\n"
    env = dict(_RUNTIME)
    for name, (xs, ys, _) in model.tables.items():
        env[f"T_{name}_x"] = xs
        env[f"T_{name}_y"] = ys
    code = compile(source, f"<hubsd.ensemble {model.mdl.name}>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source
    return _Program(source, env["simulate"], outputs, params, len(em.hoisted))


# --------------------------------------------------------------------------------------------
# Running chunks: in this process, in worker processes, or on dask.distributed
# --------------------------------------------------------------------------------------------


@dataclass
class _Job:
    mdl: Path
    sha256: str
    outputs: tuple
    values: dict  # scalar value of every constant
    ctrl: dict
    steps: int
    save_steps: np.ndarray


def _run_chunk(
    model: EnsembleModel, job: _Job, varied: dict, out: np.ndarray | None = None, prog=None
) -> np.ndarray:
    """Simulate one chunk of members; outputs go to ``out`` (outputs, saves, members)."""
    prog = prog or model.program(job.outputs)
    n = len(next(iter(varied.values()))) if varied else 1
    if out is None:
        out = np.empty((len(job.outputs), len(job.save_steps), n))
    P = {k: np.float64(job.values[k]) for k in prog.params}
    P.update({k: v for k, v in varied.items() if k in P})
    c = job.ctrl
    with np.errstate(all="ignore"):
        prog.func(
            P,
            n,
            c["initial_time"],
            c["final_time"],
            c["time_step"],
            c["saveper"],
            job.steps,
            job.save_steps,
            list(out),
        )
    return out


def _chunks(nsamp: int, chunk_size: int | None, varied: bool) -> list[tuple[int, int]]:
    """Member ranges of about ``chunk_size`` members (equal sizes)."""
    if not varied:
        return [(0, nsamp)]
    chunk = DEFAULT_CHUNK_SIZE if chunk_size is None else chunk_size
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ParameterError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    k = -(-nsamp // int(chunk))
    edges = np.linspace(0, nsamp, k + 1).round().astype(int)
    return [(int(lo), int(hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]


def _default_workers(nsamp: int, nchunks: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, nchunks)) if nsamp >= 2000 else 1


def _slice(varied, lo, hi):
    return {k: v[lo:hi] for k, v in varied.items()}


def _run_local(model, job, varied, bounds, nworkers, prog, nsamp) -> np.ndarray:
    shape = (len(job.outputs), len(job.save_steps), nsamp)
    if not varied:  # every member is the same: simulate one, copy
        one = _run_chunk(model, job, {}, prog=prog)
        return np.repeat(one, nsamp, axis=2)
    import multiprocessing as mp

    if nworkers <= 1 or len(bounds) == 1 or "fork" not in mp.get_all_start_methods():
        result = np.empty(shape)
        for lo, hi in bounds:
            _run_chunk(model, job, _slice(varied, lo, hi), result[:, :, lo:hi], prog)
        return result
    import mmap
    from concurrent.futures import ProcessPoolExecutor

    # Forked workers inherit the compiled model, the parameters and a shared output buffer,
    # and write their members' columns straight into it: nothing is pickled but indices.
    nbytes = int(np.prod(shape)) * 8
    buffer = mmap.mmap(-1, max(nbytes, 1), flags=mmap.MAP_SHARED)
    result = np.frombuffer(buffer, dtype=float, count=int(np.prod(shape))).reshape(shape)
    _FORKED.update(model=model, job=job, varied=varied, result=result, prog=prog)
    try:
        with warnings.catch_warnings():
            # Python >= 3.12 warns about fork() in a process with threads (e.g. after a dask
            # client); the workers only run numpy on inherited data and take no locks.
            warnings.simplefilter("ignore", DeprecationWarning)
            pool = ProcessPoolExecutor(max_workers=nworkers, mp_context=mp.get_context("fork"))
            futures = [pool.submit(_forked_chunk, lo, hi) for lo, hi in bounds]
        with pool:
            for future in futures:
                future.result()
    finally:
        _FORKED.clear()
    return result


_FORKED: dict = {}


def _forked_chunk(lo: int, hi: int) -> None:
    f = _FORKED
    _run_chunk(
        f["model"], f["job"], _slice(f["varied"], lo, hi), f["result"][:, :, lo:hi], f["prog"]
    )


_WORKER_MODELS: dict = {}


def _worker(job: _Job, varied: dict) -> np.ndarray:
    """A chunk on a dask worker: compile the model there once, return the outputs."""
    key = (str(job.mdl), job.sha256)
    model = _WORKER_MODELS.get(key)
    if model is None:
        model = compile_model(job.mdl)
        if model.sha256 != job.sha256:
            raise EnsembleError(f"{job.mdl} differs on the worker from the one compiled here")
        _WORKER_MODELS[key] = model
    return _run_chunk(model, job, varied)


def _run_dask(scheduler, job, varied, bounds):
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as err:  # pragma: no cover - optional dependency
        raise EnsembleError(
            "scheduler= needs dask.distributed (pip install 'dask[distributed]')"
        ) from err
    own = None
    if isinstance(scheduler, Client):
        client = scheduler
    elif scheduler == "dask":
        cluster = LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
        client = own = Client(cluster)
    elif isinstance(scheduler, str):
        client = own = Client(scheduler)
    else:
        raise ParameterError(f"scheduler must be 'dask', an address or a Client, got {scheduler!r}")
    try:
        chunks = [_slice(varied, lo, hi) for lo, hi in bounds]
        futures = client.map(_worker, [job] * len(chunks), chunks, pure=False)
        parts = client.gather(futures)
    finally:
        if own is not None:
            cluster = getattr(own, "cluster", None)
            own.close()
            if cluster is not None:
                cluster.close()
    if not varied:
        parts = [np.repeat(p, hi - lo, axis=2) for p, (lo, hi) in zip(parts, bounds, strict=True)]
    return parts


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------

_MODELS: dict[tuple[str, str], EnsembleModel] = {}


def compile_model(mdl: str | os.PathLike = DEFAULT_MODEL) -> EnsembleModel:
    """Compile a Vensim model for ensemble runs (cached by the file's SHA-256).

    Raises
    ------
    UnsupportedConstructError
        For a construct the engine does not implement, naming it and the variable.
    EnsembleError
        For a model that cannot be simulated (unknown names, simultaneous equations).
    """
    mdl = Path(mdl)
    if not mdl.is_file():
        raise FileNotFoundError(f"model file not found: {mdl}")
    sha = file_hash(mdl)
    key = (str(mdl.resolve()), sha)
    if key in _MODELS:
        return _MODELS[key]
    builder = _Builder(mdl)
    missing = [k for k in CONTROL if k not in builder.nodes]
    if missing:
        raise EnsembleError(f"{mdl.name} has no {', '.join(missing)}")
    model = EnsembleModel(
        mdl=mdl, sha256=sha, nodes=builder.nodes, tables=builder.tables, elements=builder.order
    )
    model.program(tuple(n for n in model.elements))  # compile everything once: fail early
    _MODELS[key] = model
    return model


def run_ensemble(params=None, outputs=None, hub=None, mdl=DEFAULT_MODEL, **kwargs) -> xr.Dataset:
    """Shortcut for ``compile_model(mdl).run(params, outputs, hub, **kwargs)``."""
    return compile_model(mdl).run(params, outputs, hub, **kwargs)
