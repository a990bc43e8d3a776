"""Code generation for the ensemble engine: IR to one vectorised numpy step function.

The runtime helpers reproduce PySD 3.14's functions operation by operation on arrays of
members; :func:`generate` orders the needed nodes, hoists what is constant over time and
emits the source of one function that runs the whole simulation (see :mod:`hubsd.engine.ensemble`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hubsd.engine.ir import (
    BINARY,
    CONTROL,
    NUMPY_UNARY,
    RPREC,
    SMALL_VENSIM,
    EnsembleError,
    Node,
    expr_deps,
    walk,
)

if TYPE_CHECKING:
    from hubsd.engine.ensemble import EnsembleModel


# --------------------------------------------------------------------------------------------
# Runtime helpers used by the generated code (PySD semantics, vectorised)
# --------------------------------------------------------------------------------------------


def is_array(x) -> bool:
    return isinstance(x, np.ndarray) and x.ndim > 0


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


RUNTIME = {
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


def var_name(name: str) -> str:
    return "v_" + name


class Emitter:
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
            return var_name(e[1])
        if tag == "time":
            return "t"
        if tag == "neg":
            return f"(-{self.emit(e[1], hoist)})"
        if tag == "not":
            return f"np.logical_not({self.emit(e[1], hoist)})"
        if tag == "bin":
            op = BINARY[e[1]][0]
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
class Program:
    source: str
    func: object
    outputs: tuple
    params: tuple  # constants the function reads from P
    n_hoisted: int = 0


def time_grid(ctrl):
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


def generate(model: EnsembleModel, outputs: tuple) -> Program:
    nodes = model.nodes

    # nodes needed: outputs and everything they depend on at any time
    def all_deps(node: Node) -> set[str]:
        d = set()
        for e in (node.expr, node.init, node.flow, node.time):
            d |= expr_deps(e)
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
            if nd.kind == "aux" and n not in static and expr_deps(nd.expr) <= static:
                static.add(n)
                changed = True
    em = Emitter(static, model.tables)

    # initialisation order (PySD's initialize_order, plus every auxiliary at INITIAL TIME)
    def init_deps(n):
        nd = nodes[n]
        if nd.kind in ("integ", "smooth"):
            return expr_deps(nd.init)
        if nd.kind == "delay":
            return expr_deps(nd.init) | expr_deps(nd.time)
        if nd.kind in ("aux", "initial"):
            return expr_deps(nd.expr)
        return set()

    calc = [n for n in needed if nodes[n].kind not in ("control",)]
    init_order = _toposort(sorted(calc), {n: init_deps(n) for n in calc}, "initialisation")

    # per-step order of the dynamic auxiliaries (and delay outputs)
    def step_deps(n):
        nd = nodes[n]
        if nd.kind == "aux":
            return expr_deps(nd.expr)
        if nd.kind == "delay":
            return expr_deps(nd.time)
        return set()

    dyn = [n for n in needed if n not in static and nodes[n].kind in ("aux", "delay")]
    step_order = _toposort(sorted(dyn), {n: step_deps(n) for n in dyn}, "model equations")
    statefuls = [n for n in sorted(needed) if nodes[n].stateful]

    lines = ["def simulate(P, n, t0, tfinal, dt, saveper, steps, save_steps, outs):"]
    ind = "    "
    params = tuple(n for n in sorted(needed) if nodes[n].kind == "const")
    for n in params:
        lines.append(f"{ind}{var_name(n)} = P[{n!r}]")
    for n in CONTROL:
        if n in needed:
            src = {
                "initial_time": "t0",
                "final_time": "tfinal",
                "time_step": "dt",
                "saveper": "saveper",
            }[n]
            lines.append(f"{ind}{var_name(n)} = {src}")
    lines.append(f"{ind}t = np.float64(t0)  # numpy scalars: x / 0 is inf, as for arrays")
    lines.append(f"{ind}half_dt = dt / 2")
    lines.append(f"{ind}# initial values at INITIAL TIME")
    for n in init_order:
        nd = nodes[n]
        v = var_name(n)
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
            put(body, lambda nd=nd, n=n: f"{var_name(n)} = {em.emit(nd.expr, True)}")
        else:  # delay output
            put(
                body,
                lambda nd=nd, n=n: (
                    f"{var_name(n)} = {var_name(n)}__{nd.order - 1} / {em.emit(nd.time, True)}"
                ),
            )
    save = ["if step == next_save:"]
    for j, o in enumerate(outputs):
        save.append(f"    outs[{j}][isave] = {var_name(o)}")
    save += [
        "    isave += 1",
        "    next_save = save_steps[isave] if isave < len(save_steps) else -1",
    ]
    ddt, upd = [], []
    for n in statefuls:
        nd = nodes[n]
        v = var_name(n)
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
    env = dict(RUNTIME)
    for name, (xs, ys, _) in model.tables.items():
        env[f"T_{name}_x"] = xs
        env[f"T_{name}_y"] = ys
    code = compile(source, f"<hubsd.ensemble {model.mdl.name}>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source
    return Program(source, env["simulate"], outputs, params, len(em.hoisted))
