"""Dimensional consistency of a Vensim model, from the units written in it.

PySD parses Vensim and XMILE models and throws their units away; Vensim checks them. This
module walks PySD's abstract model (``VensimFile(...).parse().get_abstract_model()``) and checks
every equation against the units of the variables it names, with a small exact algebra of base
units and integer exponents (``EUR/(Person*Year)`` is ``EUR^1 Person^-1 Year^-1``).

Rules (Vensim's, made explicit):

* ``Dmnl``, ``1`` and an empty product are dimensionless; ``Time``, ``INITIAL TIME``,
  ``FINAL TIME``, ``TIME STEP`` and ``SAVEPER`` are in the model's time unit (``Year``).
* **Numeric literals** take whatever units their context needs in a sum, difference, comparison,
  MIN/MAX or IF THEN ELSE branch (``MAX(0, x)``, ``1 - share``), and are dimensionless in a
  product, quotient or exponent (``0.5 * x``). A variable whose equation is a number (a
  constant) has its declared units.
* ``+``, ``-``, comparisons, MIN/MAX and the branches of IF THEN ELSE need equal units.
* ``x ^ y``: ``y`` dimensionless; a literal ``y`` raises ``x``'s units to that power (a whole
  number), otherwise ``x`` must be dimensionless.
* EXP, LN, LOG take and give dimensionless values. ``XIDZ(a, b, x)``: ``x`` in the units of
  ``a / b``; ``ZIDZ(a, b)`` gives ``a / b``. ``STEP(height, t)``: ``t`` in time, result in
  ``height``'s units; ``PULSE`` is dimensionless; ``RAMP(slope, start, end)`` gives
  ``slope x time``.
* ``INTEG(flow, init)``: ``flow`` in stock per time, ``init`` in the stock's units.
  SMOOTH/SMOOTHI/SMOOTH3/DELAY1/DELAY3 (and ``I`` forms): delay in time, input and initial value
  in the variable's units. ``INITIAL(x)``: ``x`` in the variable's units.
* **Table functions**: the result has the units declared on the table; the argument is not
  checked (Vensim models rarely declare a table's x units; ours are all dimensionless indices).

Every mismatch is a :class:`UnitIssue` naming the variable, the (sub)expression and the two
units. A construct the checker does not know is reported as such, never passed silently.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hubsd.core.errors import HubsdError
from hubsd.core.paths import DEFAULT_MODEL

TIME_NAMES = {"time", "initial_time", "final_time", "time_step", "saveper"}


class UnitsError(HubsdError):
    """A units string that cannot be parsed, or a model that cannot be read."""


# ---- unit algebra -------------------------------------------------------------------------------


class Unit:
    """Base units with integer exponents. ``Unit.wild()`` stands for a numeric literal."""

    __slots__ = ("dims", "wild_")

    def __init__(self, dims: dict | None = None, wild: bool = False):
        self.dims = {k: v for k, v in (dims or {}).items() if v}
        self.wild_ = wild

    @classmethod
    def wild(cls):
        """The unit of a numeric literal: equal to any unit."""
        return cls(wild=True)

    def concrete(self) -> Unit:
        """The unit itself, or Dmnl for a wild one (for arithmetic)."""
        return Unit(self.dims) if not self.wild_ else Unit()

    def __mul__(self, other):
        d = dict(self.concrete().dims)
        for k, v in other.concrete().dims.items():
            d[k] = d.get(k, 0) + v
        return Unit(d)

    def __truediv__(self, other):
        return self * other.power(-1)

    def power(self, n: int):
        """The unit raised to the integer power ``n``."""
        return Unit({k: v * n for k, v in self.concrete().dims.items()})

    def __eq__(self, other):
        return isinstance(other, Unit) and (self.wild_ or other.wild_ or self.dims == other.dims)

    def __hash__(self):  # pragma: no cover - units are not used as keys
        return hash(tuple(sorted(self.dims.items())))

    @property
    def dimensionless(self) -> bool:
        """Whether the unit is Dmnl (or wild)."""
        return self.wild_ or not self.dims

    def __str__(self):
        if self.wild_:
            return "(number)"
        if not self.dims:
            return "Dmnl"
        num = [k if v == 1 else f"{k}^{v}" for k, v in sorted(self.dims.items()) if v > 0]
        den = [k if v == -1 else f"{k}^{-v}" for k, v in sorted(self.dims.items()) if v < 0]
        top = "*".join(num) or "1"
        if not den:
            return top
        return f"{top}/{den[0]}" if len(den) == 1 else f"{top}/({'*'.join(den)})"

    __repr__ = __str__


_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_$][\w$ ]*?)(?=\s*[*/()^]|\s*$)"
    r"|(?P<op>[*/()^]))"
)


def parse_units(text: str) -> Unit:
    """Parse a Vensim units string: ``Person/Year``, ``EUR/(Person*Year)``, ``Dmnl``, ``1/Year``."""
    src = str(text).strip()
    if not src:
        raise UnitsError("empty units")
    tokens, pos = [], 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise UnitsError(f"cannot parse units {text!r} at {src[pos:]!r}")
        tokens.append((m.lastgroup, m.group(m.lastgroup).strip()))
        pos = m.end()
    tokens.append(("end", ""))
    i = 0

    def peek():
        return tokens[i]

    def take():
        nonlocal i
        tok = tokens[i]
        i += 1
        return tok

    def factor():
        kind, val = take()
        if kind == "op" and val == "(":
            u = product()
            if take() != ("op", ")"):
                raise UnitsError(f"unbalanced parentheses in units {text!r}")
        elif kind == "num":
            if float(val) != 1:
                raise UnitsError(f"units {text!r}: only 1 may stand as a number")
            u = Unit()
        elif kind == "name":
            u = Unit() if val.lower() in ("dmnl", "dimensionless") else Unit({val: 1})
        else:
            raise UnitsError(f"cannot parse units {text!r}")
        if peek() == ("op", "^"):
            take()
            kind, val = take()
            neg = False
            if kind == "op" and val == "(":
                raise UnitsError(f"units {text!r}: write exponents as whole numbers")
            if kind != "num" or float(val) != int(float(val)):
                raise UnitsError(f"units {text!r}: exponent must be a whole number")
            u = u.power(-int(float(val)) if neg else int(float(val)))
        return u

    def product():
        u = factor()
        while peek()[0] == "op" and peek()[1] in "*/":
            op = take()[1]
            rhs = factor()
            u = u * rhs if op == "*" else u / rhs
        return u

    result = product()
    if peek()[0] != "end":
        raise UnitsError(f"cannot parse units {text!r}")
    return result


# ---- the checker --------------------------------------------------------------------------------


@dataclass
class UnitIssue:
    """One inconsistency: the variable, the expression, and what was expected and found."""

    variable: str
    expression: str
    expected: str
    found: str
    message: str

    def __str__(self):
        return (
            f"{self.variable}: {self.message}: `{self.expression}` is {self.found}, "
            f"expected {self.expected}"
        )


def _text(node) -> str:
    """A readable rendering of an abstract-syntax node."""
    name = type(node).__name__
    if isinstance(node, (int, float)):
        return f"{node:g}"
    if name == "ReferenceStructure":
        return node.reference
    if name in ("ArithmeticStructure", "LogicStructure"):
        args = [_text(a) for a in node.arguments]
        if node.operators == ["negative"]:
            return f"-{args[0]}"
        out = args[0]
        for op, a in zip(node.operators, args[1:], strict=False):
            out += f" {op} {a}"
        return f"({out})"
    if name == "CallStructure":
        return f"{node.function.reference.upper()}({', '.join(_text(a) for a in node.arguments)})"
    return name.replace("Structure", "").upper()


class _Checker:
    def __init__(self, mdl: Path):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pysd.translators.vensim.vensim_file import VensimFile

            try:
                vf = VensimFile(str(mdl))
                vf.parse()
                self.model = vf.get_abstract_model()
            except Exception as exc:  # PySD raises bare exceptions with line info
                raise UnitsError(f"{mdl}: the model does not translate: {exc}") from None
        from pysd.builders.python.namespace import NamespaceManager

        ns = NamespaceManager()
        self.units: dict[str, Unit | None] = {}
        self.real: dict[str, str] = {}
        self.tables: set[str] = set()
        self.issues: list[UnitIssue] = []
        self.elements = []
        for section in self.model.sections:
            for el in section.elements:
                ns.add_to_namespace(el.name)
                py = ns.namespace[el.name]
                self.real[py] = el.name
                self.elements.append((py, el))
                try:
                    self.units[py] = parse_units(el.units) if el.units else None
                except UnitsError as exc:
                    self.units[py] = None
                    self.issues.append(
                        UnitIssue(el.name, el.units, "parsable units", el.units, str(exc))
                    )
                if any(c.type == "Lookup" for c in el.components):
                    self.tables.add(py)
        names = [r.name for sec in self.model.sections for r in sec.subscripts]
        self.ranges = set(names) | {re.sub(r"[\s_]+", "_", n.strip().lower()) for n in names}
        self.time_unit = self.units.get("time_step") or Unit({"Year": 1})

    # every visit returns the Unit of the node
    def visit(self, node, var: str) -> Unit:
        if isinstance(node, (int, float, np.ndarray)):  # numbers, a row of numbers per element
            return Unit.wild()
        name = type(node).__name__
        method = getattr(self, "_" + name, None)
        if method is None:
            self.issue(var, node, "a supported construct", name, "construct not checked")
            return Unit.wild()
        return method(node, var)

    def issue(self, var, node, expected, found, message):
        self.issues.append(
            UnitIssue(
                self.real.get(var, var),
                _text(node) if not isinstance(node, str) else node,
                str(expected),
                str(found),
                message,
            )
        )

    def expect(self, var, node, unit: Unit, expected: Unit, message: str):
        if not unit == expected:
            self.issue(var, node, expected, unit, message)

    def _ReferenceStructure(self, node, var):
        ref = node.reference
        if ref in TIME_NAMES:
            return self.time_unit
        if ref in self.ranges:  # a subscript used as a value: its position, a number
            return Unit()
        u = self.units.get(ref)
        if ref not in self.units:
            self.issue(var, node, "a model variable", "unknown name", "unknown reference")
            return Unit.wild()
        if u is None:
            return Unit.wild()  # reported once where it is defined
        return u

    def _same(self, var, node, units, message):
        concrete = [u for u in units if not u.wild_]
        for u in concrete[1:]:
            if not u == concrete[0]:
                self.issue(var, node, concrete[0], u, message)
                return concrete[0]
        return concrete[0] if concrete else Unit.wild()

    def _ArithmeticStructure(self, node, var):
        ops, args = node.operators, node.arguments
        if ops == ["negative"]:
            return self.visit(args[0], var)
        units = [self.visit(a, var) for a in args]
        if all(op in "+-" for op in ops):
            return self._same(var, node, units, "terms of a sum have different units")
        if all(op in ("*", "/") for op in ops):
            out = units[0].concrete()
            for op, u in zip(ops, units[1:], strict=True):
                out = out * u if op == "*" else out / u
            return out
        if ops == ["^"]:
            base, expo = units
            if not expo.dimensionless:
                self.issue(var, node, "Dmnl", expo, "exponent is not dimensionless")
            lit = args[1]
            if isinstance(lit, (int, float)):
                if float(lit) == int(lit):
                    return base.power(int(lit))
                if not base.dimensionless:
                    self.issue(var, node, "Dmnl", base, "fractional power of a dimensioned value")
                return Unit()
            if not base.dimensionless:
                self.issue(var, node, "Dmnl", base, "variable power of a dimensioned value")
            return Unit()
        if all(op in ("<", ">", "<=", ">=", "=", "<>") for op in ops):
            self._same(var, node, units, "compared values have different units")
            return Unit()
        self.issue(var, node, "a supported operator", ops, "operator not checked")
        return Unit.wild()

    def _LogicStructure(self, node, var):
        for a in node.arguments:
            self.visit(a, var)
        return Unit()

    def _CallStructure(self, node, var):
        fn = node.function.reference.lower()
        args = node.arguments
        if fn in self.tables:
            for a in args:
                self.visit(a, var)
            return self.units.get(fn) or Unit.wild()
        u = [self.visit(a, var) for a in args]
        if fn in ("min", "max"):
            return self._same(var, node, u, f"{fn.upper()} of different units")
        if fn == "if_then_else":
            return self._same(var, node, u[1:], "IF THEN ELSE branches have different units")
        if fn == "xidz":
            ratio = u[0] / u[1]
            self.expect(var, node, u[2], ratio, "XIDZ fallback not in the units of a/b")
            return ratio
        if fn == "zidz":
            return u[0] / u[1]
        if fn in ("exp", "ln", "log", "sin", "cos", "tan"):
            for a, ua in zip(args, u, strict=True):
                if not ua.dimensionless:
                    self.issue(var, a, "Dmnl", ua, f"{fn.upper()} of a dimensioned value")
            return Unit()
        if fn == "step":
            self.expect(var, args[1], u[1], self.time_unit, "STEP time not in time units")
            return u[0].concrete()
        if fn == "pulse":
            for a, ua in zip(args, u, strict=True):
                self.expect(var, a, ua, self.time_unit, "PULSE times not in time units")
            return Unit()
        if fn == "ramp":
            for a, ua in zip(args[1:], u[1:], strict=True):
                self.expect(var, a, ua, self.time_unit, "RAMP times not in time units")
            return u[0] * self.time_unit
        if fn in ("abs", "integer"):
            return u[0]
        if fn in ("sum", "vmin", "vmax"):  # over a subscript range: the units of the elements
            return u[0]
        if fn == "prod":
            if not u[0].dimensionless:
                self.issue(var, node, "Dmnl", u[0], "PROD of a dimensioned value")
            return Unit()
        if fn == "elmcount":
            return Unit()
        self.issue(var, node, "a supported function", fn.upper(), "function not checked")
        return Unit.wild()

    def _stateful(self, node, var, own, value_fields, time_fields):
        for f in value_fields:
            sub = getattr(node, f)
            self.expect(
                var,
                sub,
                self.visit(sub, var),
                own,
                f"{f.replace('_', ' ')} not in the variable's units",
            )
        for f in time_fields:
            sub = getattr(node, f)
            self.expect(
                var,
                sub,
                self.visit(sub, var),
                self.time_unit,
                f"{f.replace('_', ' ')} not in time units",
            )
        return own

    def _IntegStructure(self, node, var):
        own = self.units[var] or Unit.wild()
        flow = self.visit(node.flow, var)
        self.expect(
            var,
            node.flow,
            flow,
            own / self.time_unit if not own.wild_ else own,
            "net flow not in stock units per time",
        )
        init = self.visit(node.initial, var)
        self.expect(var, node.initial, init, own, "initial value not in the stock's units")
        return own

    def _SmoothStructure(self, node, var):
        own = self.units[var] or Unit.wild()
        return self._stateful(node, var, own, ("input", "initial"), ("smooth_time",))

    def _DelayStructure(self, node, var):
        own = self.units[var] or Unit.wild()
        return self._stateful(node, var, own, ("input", "initial"), ("delay_time",))

    def _DelayFixedStructure(self, node, var):
        own = self.units[var] or Unit.wild()
        return self._stateful(node, var, own, ("input", "initial"), ("delay_time",))

    def _InitialStructure(self, node, var):
        return self.visit(node.initial, var)

    def check(self) -> list[UnitIssue]:
        for py, el in self.elements:
            if py in TIME_NAMES or py in self.tables:
                continue
            own = self.units.get(py)
            if own is None and not el.units:
                self.issues.append(UnitIssue(el.name, "", "units", "none", "missing units"))
                own = None
            for comp in el.components:
                if comp.type == "Lookup":
                    continue
                found = self.visit(comp.ast, py)
                if own is not None and not found == own:
                    self.issue(
                        py, comp.ast, own, found, "equation not in the variable's declared units"
                    )
        return self.issues


def check_units(mdl: str | Path = DEFAULT_MODEL) -> list[UnitIssue]:
    """Check every equation of a Vensim model for dimensional consistency.

    Returns
    -------
    list of UnitIssue
        Empty when the model is consistent.

    Raises
    ------
    UnitsError
        When the model does not translate (the message says where PySD stopped).
    """
    mdl = Path(mdl)
    if not mdl.is_file():
        raise UnitsError(f"model file not found: {mdl}")
    return _Checker(mdl).check()
