"""The ensemble engine's intermediate representation: nodes, expression trees, errors.

Expressions are small tuple trees (see the comment below); :mod:`hubsd.engine.ir` builds them
from PySD's abstract model and :mod:`hubsd.engine.codegen` writes them as numpy source.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
# and, for subscripts (a value with dims (A, B) is an array (|A|, |B|, members)):
#   ("sub", node, index, dims)        node's value indexed (index: source text), giving dims
#   ("arr", values, dims, shape)      a subscript used as a value (its positions, from 1)
#   ("sublookup", table, index, a, dims)  a subscripted table's cells (indexed) at a, per cell
#   ("align", a, perm, index, dims)   a's axes transposed by perm and expanded to dims
#   ("reduce", fn, a, axes, shape, dims)  SUM/PROD/VMIN/VMAX of a over axes, giving dims
#   ("vector", fn, (args...), meta, dims)  VECTOR SELECT/SORT ORDER/RANK/REORDER
#   ("random", fn, site, (args...), dims, shape)  a RANDOM function (see engine.randoms)
#   ("full", a, shape)                a broadcast to the shape of its node
#   ("assemble", shape, parts)        a value defined by parts (``x[a] = ..., x[b] = ...``)
#   ("data", table, dims)             a data variable's series at the current time

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
    "active_initial": 2,
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

#: Array functions over the dims marked with ``!``: Vensim name -> numpy reduction (PySD uses
#: xarray's, which skip NaN).
REDUCTIONS = {"sum": "np.nansum", "prod": "np.nanprod", "vmin": "np.nanmin", "vmax": "np.nanmax"}

#: VECTOR functions (PySD's names) -> number of arguments.
VECTORS = {"vector_select": 5, "vector_sort_order": 2, "vector_rank": 2, "vector_reorder": 2}

#: Stateful kinds: updated by the Euler step (and PySD's DynamicStateful objects).
STATEFUL_KINDS = ("integ", "smooth", "delay", "delayfixed", "sampleiftrue", "trend", "forecast")

STRUCTURE_NAMES = {
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
    kind: str  # const | aux | control | time | initial | active | one of STATEFUL_KINDS
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
    dims: tuple = ()  # subscript ranges of the value (PySD's final subscripts)
    coords: dict = field(default_factory=dict)  # dim -> elements
    obj: str = ""  # PySD's name of the stateful object (``_integ_x``): its update order
    extra: tuple | None = None  # forecast: horizon; sampleiftrue: condition
    order_expr: tuple | None = None  # DELAY N / SMOOTH N: an order given by a variable
    varying: bool = False  # DELAY N: its delay time changes during the run (PySD's ``times``)

    @property
    def stateful(self) -> bool:
        """Whether the node keeps state updated by the Euler step (PySD's DynamicStateful)."""
        return self.kind in STATEFUL_KINDS

    @property
    def shape(self) -> tuple:
        """Sizes of the subscript dims (the member axis comes last, after them)."""
        return tuple(len(self.coords[d]) for d in self.dims)

    def exprs(self) -> tuple:
        """Every expression of the node."""
        return (self.expr, self.init, self.flow, self.time, self.extra)


def walk(expr):
    """Every subexpression of an expression tree, the expression itself first."""
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
    elif tag == "sublookup":
        yield from walk(expr[3])
    elif tag == "vector":
        for arg in expr[2]:
            yield from walk(arg)
    elif tag == "random":
        for arg in expr[3]:
            yield from walk(arg)
    elif tag in ("align", "full"):
        yield from walk(expr[1])
    elif tag == "reduce":
        yield from walk(expr[2])
    elif tag == "assemble":
        for part in expr[2]:
            yield from walk(part[-1])


def expr_deps(expr) -> set[str]:
    """Names an expression reads (``"time"`` for time and time functions); empty for None."""
    if expr is None:
        return set()
    out = set()
    for e in walk(expr):
        if e[0] in ("ref", "sub"):
            out.add(e[1])
        elif e[0] in ("time", "random", "data") or (e[0] == "call" and e[1] in _TIME_FUNCTIONS):
            out.add("time")
    return out
