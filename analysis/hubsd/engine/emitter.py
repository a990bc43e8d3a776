"""Python source of the ensemble engine's expressions (see :mod:`hubsd.engine.codegen`)."""

from __future__ import annotations

import math

from hubsd.engine.nodes import BINARY, NUMPY_UNARY, REDUCTIONS, expr_deps, walk


def var_name(name: str) -> str:
    """The generated code's variable for a model variable (``v_<python name>``)."""
    return "v_" + name


class Emitter:
    """Writes expressions as Python source.

    In the time loop (``hoist=True``) it hoists time- and state-free subtrees out of the loop
    (``k<i>``, computed once) and computes a subtree that occurs more than once per step only
    once (``c<i>``, assigned in ``pre`` before the statement that first needs it). Both keep
    every floating-point operation as PySD performs it.
    """

    def __init__(self, static: set[str], tables: dict, fused: bool = False):
        self.static = static
        self.tables = tables
        self.fused = fused  # for the fused backend (numba): powers of numbers are named apart
        self.hoisted: dict[str, str] = {}  # source -> variable
        self.common: set = set()  # dynamic subtrees that occur more than once per step
        self.shared: dict = {}  # subtree -> variable, once assigned
        self.pre: list[str] = []
        self.literals: dict[str, str] = {}  # literal -> array of the chunk's size

    def literal(self, e, src: str) -> str:
        """A numeric literal as a named array of the chunk's size; other sources unchanged."""
        if e[0] != "num":
            return src
        if src not in self.literals:
            self.literals[src] = f"L{len(self.literals)}"
        return self.literals[src]

    def is_static(self, e) -> bool:
        """Whether an expression depends on static values only (no time, no state)."""
        return all(d in self.static for d in expr_deps(e))

    def count(self, exprs):
        """Find the dynamic subtrees that occur more than once among ``exprs``."""
        seen: dict = {}
        for expr in exprs:
            if expr is None:
                continue
            for e in walk(expr):
                if e[0] not in ("num", "ref", "time") and not self.is_static(e):
                    seen[e] = seen.get(e, 0) + 1
        self.common = {e for e, k in seen.items() if k > 1}

    def power(self, base, expo, a: str, b: str) -> str:
        """``base ^ expo`` with the C library's pow (``_pow``, see :mod:`hubsd.engine.runtime`).

        For the fused backend a number as base or exponent is ``_pow_literal``, which it
        refuses: LLVM would fold ``x ^ 2`` into ``x * x`` and ``2 ^ x`` into ``exp2(x)``.
        """
        if self.fused and not (expr_deps(base) and expr_deps(expo)):
            return f"_pow_literal({a}, {b})"
        return f"_pow({a}, {b})"

    def emit(self, e, hoist: bool) -> str:
        """Python source of expression ``e``; with ``hoist``, static and repeated parts named."""
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
            if math.isfinite(e[1]):
                return repr(e[1])
            return "np.nan" if math.isnan(e[1]) else ("np.inf" if e[1] > 0 else "(-np.inf)")
        if tag == "ref":
            return var_name(e[1])
        if tag == "sub":
            return var_name(e[1]) + e[2]
        if tag == "arr":  # a subscript's positions: dims, then one member
            return f"np.reshape({list(e[1])!r}, {e[3] + (1,)!r})"
        if tag == "align":
            return f"_expand({self.emit(e[1], hoist)}, {e[2]}, {e[3]})"
        if tag == "full":
            return f"_full({self.emit(e[1], hoist)}, {e[2]!r})"
        if tag == "reduce":
            fn = REDUCTIONS[e[1]]
            return f"_reduce({fn}, {self.emit(e[2], hoist)}, {e[3]!r}, {e[4]!r})"
        if tag == "assemble":
            parts = ", ".join(
                f"({index}, {mask}, {singles!r}, {ndims}, {self.emit(value, hoist)})"
                for index, mask, singles, ndims, value in e[2]
            )
            return f"_assemble({e[1]!r}, [{parts}])"
        if tag == "time":
            return "t"
        if tag == "neg":
            return f"(-{self.emit(e[1], hoist)})"
        if tag == "not":
            return f"np.logical_not({self.emit(e[1], hoist)})"
        if tag == "bin":
            op = BINARY[e[1]][0]
            a, b = self.emit(e[2], hoist), self.emit(e[3], hoist)
            if op == "**":
                return self.power(e[2], e[3], a, b)
            if op in ("&", "|"):
                fn = "np.logical_and" if op == "&" else "np.logical_or"
                return f"{fn}({a}, {b})"
            return f"({a} {op} {b})"
        if tag == "lookup":
            xs, ys, kind = self.tables[e[1]]
            x = self.emit(e[2], hoist)
            fn = "_interp" if kind == "interpolate" else "_interp_hold"
            return f"{fn}({x}, T_{e[1]}_x, T_{e[1]}_y)"
        if tag == "data":
            mode = self.tables[e[1]][2]
            return f"_data(t, T_{e[1]}_x, T_{e[1]}_y, {mode!r})"
        if tag == "random":
            args = "".join(", " + self.emit(a, hoist) for a in e[3])
            return f"_random({e[1]!r}, P, {e[2]}, t, {e[5]!r}{args})"
        if tag == "vector":
            args = ", ".join(self.emit(a, hoist) for a in e[2])
            return f"_vector_{e[1]}({args}, *{e[3]!r})"
        if tag == "sublookup":
            hold = self.tables[e[1]][2] != "interpolate"
            x = self.emit(e[3], hoist)
            return f"_interp_cells({x}, T_{e[1]}_x, T_{e[1]}_y{e[2]}, {hold})"
        if tag == "call":
            name, args = e[1], [self.emit(a, hoist) for a in e[2]]
            if name in NUMPY_UNARY:
                return f"{NUMPY_UNARY[name]}({args[0]})"
            if name in ("min", "max") and hoist:
                # numpy's minimum/maximum of an array and a Python scalar is ~2.5x slower
                # than of two arrays: a literal becomes an array of the chunk's size.
                args = [self.literal(a, s) for a, s in zip(e[2], args, strict=True)]
            if name == "min":
                return f"np.minimum({args[0]}, {args[1]})"
            if name == "max":
                return f"np.maximum({args[0]}, {args[1]})"
            if name == "power":
                return self.power(e[2][0], e[2][1], args[0], args[1])
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
