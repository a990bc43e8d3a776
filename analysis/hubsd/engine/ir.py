"""From PySD's abstract model to the ensemble engine's intermediate representation.

PySD parses the Vensim file (``VensimFile(...).parse().get_abstract_model()``); :class:`Builder`
turns each element into a :class:`Node` whose expression is a small tuple tree (see the
IR comment below). Constructs the engine does not implement are refused here with
:class:`UnsupportedConstructError`, naming the construct and the variable.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubsd.core.errors import HubsdError

SMALL_VENSIM = 1e-6  # PySD's (and Vensim's) zero for XIDZ, ZIDZ, RAMP, PULSE, QUANTUM
RPREC = 1e-5  # PySD's relative precision of the final time (components.Time.rprec)
CONTROL = ("initial_time", "final_time", "time_step", "saveper")
DEFAULT_CHUNK_SIZE = 5000


class EnsembleError(HubsdError):
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

NUMPY_UNARY = {
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
BINARY = {
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


def walk(expr):
    yield expr
    tag = expr[0]
    if tag == "bin":
        yield from walk(expr[2])
        yield from walk(expr[3])
    elif tag in ("neg", "not"):
        yield from walk(expr[1])
    elif tag == "call":
        for arg in expr[2]:
            yield from walk(arg)
    elif tag == "lookup":
        yield from walk(expr[2])


def expr_deps(expr) -> set[str]:
    if expr is None:
        return set()
    out = set()
    for e in walk(expr):
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


class Builder:
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
            if op not in BINARY:
                raise UnsupportedConstructError(f"operator {op}", self._current)
        # Shunting-yard with Python's precedence: PySD writes the operation as one flat
        # Python expression, so Python's parse is the reference.
        out, ops = [args[0]], []

        def reduce():
            op = ops.pop()
            b, a = out.pop(), out.pop()
            out.append(("bin", op, a, b))

        for op, arg in zip(operators, args[1:], strict=True):
            prec = BINARY[op][1]
            while ops and (BINARY[ops[-1]][1] > prec or (BINARY[ops[-1]][1] == prec and op != "^")):
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
