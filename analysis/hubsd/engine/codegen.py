"""Code generation for the ensemble engine: IR to one vectorised numpy step function.

The runtime helpers (:mod:`hubsd.engine.runtime`) reproduce PySD 3.14's functions operation by
operation on arrays of members; :func:`generate` orders the needed nodes, hoists what is
constant over time and emits the source of one function that runs the whole simulation (see
:mod:`hubsd.engine.ensemble`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from hubsd.engine.emitter import Emitter, var_name
from hubsd.engine.nodes import CONTROL, RPREC, EnsembleError, Node, expr_deps
from hubsd.engine.runtime import RUNTIME, is_array  # noqa: F401 - re-exported


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
    """A generated simulation function, its source and the constants it reads."""

    source: str
    func: object
    outputs: tuple
    params: tuple  # constants the function reads from P
    n_hoisted: int = 0
    random: bool = False  # draws random numbers: reads P["__seed__"] and P["__member__"]
    state: tuple = ()  # variables of the generated code that carry the state between steps


def time_grid(ctrl):
    """Number of Euler steps, save stamps and their step indices, as PySD and hubsd.run do.

    A SAVEPER that is a whole multiple of TIME STEP gives hubsd.run's stamps; any other is
    saved as PySD's own ``Time.in_return`` does: at the steps whose time since INITIAL TIME is
    within ``TIME STEP * 1e-5`` of a multiple of SAVEPER, stamped with PySD's rounded time.
    """
    t0, tf, dt, sp = (ctrl[k] for k in ("initial_time", "final_time", "time_step", "saveper"))
    steps, t = 0, t0
    times = [t]
    while t + dt * RPREC < tf:  # PySD's Time.in_bounds, with PySD's accumulation of time
        t = t + dt
        steps += 1
        times.append(t)
    ratio = sp / dt
    if abs(ratio - round(ratio)) <= 1e-9:
        stamps = np.round(np.arange(t0, tf + sp / 2, sp), 10)  # hubsd.run's return_timestamps
        idx = np.round((stamps - t0) / dt).astype(int)
        keep = idx <= steps
        return steps, stamps[keep], idx[keep]
    prec = dt * RPREC
    digits = -int(np.log10(prec))
    idx = [k for k, tk in enumerate(times) if (tk - t0) % sp < prec or -(tk - t0) % sp < prec]
    stamps = np.array([np.round(times[k], digits) for k in idx], dtype=float)
    return steps, stamps, np.array(idx, dtype=int)


#: Kinds computed from their own expression in the initialisation.
_INIT_SELF = ("aux", "initial")
#: Kinds whose value is computed per step from a state (after the auxiliaries they read).
_STEP_OUTPUT = ("delay", "delayfixed", "sampleiftrue", "trend", "forecast", "active")


def _deps(node: Node) -> set[str]:
    if node.kind == "control":
        return set()
    d = set()
    for e in node.exprs():
        d |= expr_deps(e)
    return d


def _init_deps(nd: Node) -> set[str]:
    if nd.kind in ("integ", "smooth"):
        return expr_deps(nd.init)
    if nd.kind in ("delay", "delayfixed"):
        return expr_deps(nd.init) | expr_deps(nd.time)
    if nd.kind in _INIT_SELF:
        return expr_deps(nd.expr)
    if nd.kind == "active":
        return expr_deps(nd.init)
    if nd.kind in ("trend", "forecast"):
        return expr_deps(nd.init) | expr_deps(nd.flow) | expr_deps(nd.time)
    if nd.kind == "sampleiftrue":
        return expr_deps(nd.init) | expr_deps(nd.flow) | expr_deps(nd.extra)
    return set()


def _step_deps(nd: Node) -> set[str]:
    if nd.kind == "aux":
        return expr_deps(nd.expr)
    if nd.kind == "delay":
        return expr_deps(nd.time)
    if nd.kind == "active":
        return expr_deps(nd.expr)
    if nd.kind in ("trend", "forecast"):
        return expr_deps(nd.flow) | expr_deps(nd.time)
    if nd.kind == "sampleiftrue":
        return expr_deps(nd.flow) | expr_deps(nd.extra)
    return set()


def static_names(nodes: dict) -> set[str]:
    """Nodes constant over the run: constants, controls, INITIAL and auxiliaries of those."""
    static = {n for n, nd in nodes.items() if nd.kind in ("const", "control", "initial")}
    changed = True
    while changed:  # auxiliaries that depend on constants only are static too
        changed = False
        for n, nd in nodes.items():
            if nd.kind == "aux" and n not in static and expr_deps(nd.expr) <= static:
                static.add(n)
                changed = True
    return static


@dataclass
class Plan:
    """The statements of a simulation function, before a backend assembles them.

    ``init``: initial values at INITIAL TIME (PySD's initialisation order); ``hoisted``: time-
    and state-free subexpressions (source -> variable); ``literals``: numeric literals the
    numpy code keeps as arrays; ``body``: auxiliaries per step; ``ddt``: derivatives; ``upd``:
    the Euler updates; ``carried``: the state variables; ``dims``: whether any needed node is
    subscripted.
    """

    outputs: tuple
    params: tuple
    controls: list
    init: list
    hoisted: dict
    literals: dict
    body: list
    ddt: list
    upd: list
    carried: tuple
    dims: bool


def plan(model, outputs: tuple, fused: bool = False) -> Plan:
    """The statements of the simulation function for a set of outputs.

    ``model`` is a :class:`hubsd.engine.ensemble.EnsembleModel` (not imported here: the
    ensemble module imports this one). Only the variables the outputs need are kept; initial
    values are computed in PySD's initialisation order, auxiliaries per step in dependency
    order, stocks by Euler. ``fused``: DELAY FIXED written for one member at a time
    (:mod:`hubsd.engine.fused`).
    """
    nodes = model.nodes
    needed, stack = set(), list(outputs)
    while stack:  # nodes needed: outputs and everything they depend on at any time
        n = stack.pop()
        if n in needed:
            continue
        needed.add(n)
        stack.extend(_deps(nodes[n]) - needed)
    needed.discard("time")
    static = static_names(nodes)
    em = Emitter(static, model.tables, fused)

    def full(src: str, nd: Node) -> str:
        return f"_full({src}, {nd.shape!r})" if nd.dims else src

    calc = [n for n in needed if nodes[n].kind not in ("control",)]
    init_order = _toposort(sorted(calc), {n: _init_deps(nodes[n]) for n in calc}, "initialisation")
    dyn = [
        n
        for n in needed
        if n not in static and (nodes[n].kind == "aux" or nodes[n].kind in _STEP_OUTPUT)
    ]
    step_order = _toposort(sorted(dyn), {n: _step_deps(nodes[n]) for n in dyn}, "model equations")
    statefuls = [n for n in sorted(needed) if nodes[n].stateful]
    params = tuple(n for n in sorted(needed) if nodes[n].kind == "const")
    controls = [n for n in CONTROL if n in needed]
    init = []
    for n in init_order:
        init += _init_lines(nodes[n], em, full, fused)
    carried = tuple(v for n in statefuls for v in state_variables(nodes[n]))
    # step code first (it fills em.hoisted), then the hoisted values go before the loop
    em.count(
        [nodes[n].expr if nodes[n].kind in ("aux", "active") else nodes[n].time for n in step_order]
        + [e for n in statefuls for e in (nodes[n].flow, nodes[n].time)]
    )
    body, ddt, upd = [], [], []

    def put(dest: list, line_fn):
        em.pre = []
        line = line_fn()
        dest.extend(em.pre)
        dest.append(line)

    for n in step_order:
        _step_lines(nodes[n], em, full, put, body, fused)
    for n in statefuls:
        _update_lines(nodes[n], em, put, ddt, upd, fused)
    dims = any(nodes[n].dims for n in needed)
    return Plan(
        tuple(outputs), params, controls, init, dict(em.hoisted), dict(em.literals), body,
        ddt, upd, carried, dims,
    )  # fmt: skip


#: The generated code's names of the control values.
CONTROL_SOURCE = {
    "initial_time": "t0",
    "final_time": "tfinal",
    "time_step": "dt",
    "saveper": "saveper",
}


def generate(model, outputs: tuple) -> Program:
    """Write, ``exec`` and return the numpy simulation function for a set of outputs.

    See :func:`plan`; the function evaluates every statement on arrays of the chunk's members.
    """
    nodes = model.nodes
    pl = plan(model, outputs)
    lines = [
        "def simulate(P, n, t0, tfinal, dt, saveper, steps, save_steps, outs, state=None, "
        "first=0, keep=-1):"
    ]
    ind = "    "
    for n in pl.params:
        lines.append(f"{ind}{var_name(n)} = P[{n!r}]")
    for n in pl.controls:
        lines.append(f"{ind}{var_name(n)} = {CONTROL_SOURCE[n]}")
    lines.append(f"{ind}t = np.float64(t0)  # numpy scalars: x / 0 is inf, as for arrays")
    lines.append(f"{ind}half_dt = dt / 2")
    lines.append(f"{ind}# initial values at INITIAL TIME")
    lines += [ind + x for x in pl.init]
    carried = pl.carried
    # warm start (hubsd.engine.warmstart): the state of step ``first`` replaces the initial one
    lines.append(f"{ind}if state is not None:")
    lines += [f"{ind * 2}{v} = state[{v!r}]" for v in ("t",) + carried]
    save = ["if step == next_save:"]
    for j, o in enumerate(outputs):
        if nodes[o].dims:  # rows of the buffer: the elements in C order
            size = int(np.prod(nodes[o].shape))
            save.append(f"    outs[{j}][:, isave] = np.reshape({var_name(o)}, ({size}, -1))")
        else:
            save.append(f"    outs[{j}][isave] = {var_name(o)}")
    save += [
        "    isave += 1",
        "    next_save = save_steps[isave] if isave < len(save_steps) else -1",
    ]
    lines.append(f"{ind}# time- and state-free parts of the equations, computed once")
    for src, k in pl.hoisted.items():
        lines.append(f"{ind}{k} = {src}")
    for src, k in pl.literals.items():
        lines.append(f"{ind}{k} = np.full(n, {src})")
    lines.append(f"{ind}isave = 0")
    lines.append(f"{ind}next_save = save_steps[0] if len(save_steps) else -1")
    lines.append(f"{ind}for step in range(first, steps + 1):")
    ind2 = ind * 2
    kept = ", ".join(f"{v!r}: {v}" for v in ("t",) + carried)
    lines.append(f"{ind2}if step == keep:  # the state at the start of step keep")
    lines.append(f"{ind2}    return {{{kept}}}")
    stmts = pl.body + ["\n".join(save), "if step == steps:\n    break"] + pl.ddt
    for stmt in _free_early(stmts, pl.upd):
        lines += [ind2 + x for x in stmt.split("\n")]
    lines += [ind2 + x for x in pl.upd]
    lines.append(f"{ind2}t = t + dt")
    source = "\n".join(lines) + "\n"
    env = dict(RUNTIME)
    for name, (xs, ys, _) in model.tables.items():
        env[f"T_{name}_x"] = xs
        env[f"T_{name}_y"] = ys
    code = compile(source, f"<hubsd.ensemble {model.mdl.name}>", "exec")
    exec(code, env)  # noqa: S102 - our own generated source
    random = "_random(" in source
    return Program(source, env["simulate"], outputs, pl.params, len(pl.hoisted), random, carried)


def state_variables(nd: Node) -> list[str]:
    """Variables of the generated code that hold a stateful node's state between steps.

    A stock its value; SMOOTH its stages and output; DELAY its stages; DELAY FIXED its pipe
    object (``fd_<name>``); TREND, FORECAST and SAMPLE IF TRUE their held value (``__s``).
    """
    v = var_name(nd.name)
    if nd.kind == "integ":
        return [v]
    if nd.kind == "smooth":
        return [f"{v}__{i}" for i in range(nd.order)] + [v]
    if nd.kind == "delay":
        return [f"{v}__{i}" for i in range(nd.order)]
    if nd.kind == "delayfixed":
        return [f"fd_{nd.name}"]
    if nd.kind in ("trend", "forecast", "sampleiftrue"):
        return [f"{v}__s"]
    return []


def _init_lines(nd: Node, em: Emitter, full, fused: bool = False) -> list[str]:
    """Initial value of a node at INITIAL TIME (PySD's ``initialize`` of its object)."""
    v = var_name(nd.name)
    e = lambda x: em.emit(x, False)  # noqa: E731
    if nd.kind in _INIT_SELF:
        return [f"{v} = {full(em.emit(nd.expr, False), nd)}"]
    if nd.kind == "integ":
        return [f"{v} = {full(e(nd.init), nd)}"]
    if nd.kind == "smooth":
        out = [f"{v}__0 = {full(e(nd.init), nd)}"]
        out += [f"{v}__{i} = {v}__0" for i in range(1, nd.order)]
        return out + [f"{v} = {v}__{nd.order - 1}"]
    if nd.kind == "delay":
        tsrc = e(nd.time)
        out = [f"{v}__0 = {full(f'{e(nd.init)} * {tsrc}', nd)}"]
        out += [f"{v}__{i} = {v}__0" for i in range(1, nd.order)]
        if nd.varying:  # PySD's DelayN.times: the delay time each stage entered with
            out += [f"{v}__t{i} = {full(tsrc, nd)}" for i in range(nd.order)]
            return out + [f"{v} = {v}__{nd.order - 1} / {v}__t0"]
        return out + [f"{v} = {v}__{nd.order - 1} / {tsrc}"]
    if nd.kind == "delayfixed" and fused:  # one member: its order, initial value and pipe
        return [
            f"fdo_{nd.name} = _fixed_order({e(nd.time)}, dt)",
            f"fdi_{nd.name} = {e(nd.init)}",
            f"fdp_{nd.name} = np.empty(fdo_{nd.name})",
            f"fds_{nd.name} = 0",
            f"{v} = fdi_{nd.name}",
        ]
    if nd.kind == "delayfixed":
        return [
            f"fd_{nd.name} = FixedDelay({full(e(nd.init), nd)}, {e(nd.time)}, dt)",
            f"{v} = fd_{nd.name}.value(0)",
        ]
    if nd.kind == "active":
        return [f"{v} = {full(e(nd.init), nd)}"]
    if nd.kind == "sampleiftrue":
        return [
            f"{v}__s = {full(e(nd.init), nd)}",
            f"{v} = {full(f'_ite({e(nd.extra)}, {e(nd.flow)}, {v}__s)', nd)}",
        ]
    if nd.kind in ("trend", "forecast"):
        inp, avg = e(nd.flow), e(nd.time)
        if nd.kind == "trend":
            out = [f"{v}__s = {full(f'{inp} / (1 + {e(nd.init)} * {avg})', nd)}"]
        else:
            out = [f"{v}__s = {full(f'{inp} / (1 + {e(nd.init)})', nd)}"]
        return out + [f"{v} = {full(_trend_output(nd, inp, avg, e), nd)}"]
    return []  # constants: read from P


def _trend_output(nd: Node, inp: str, avg: str, e) -> str:
    v = var_name(nd.name)
    if nd.kind == "trend":  # PySD's Trend.__call__
        return f"_zidz({inp} - {v}__s, {avg} * np.abs({v}__s))"
    return f"{inp} * (1 + _zidz({inp} - {v}__s, {avg} * {v}__s) * {e(nd.extra)})"  # Forecast


def _step_lines(nd: Node, em: Emitter, full, put, body: list, fused: bool = False) -> None:
    """The node's value at the current step (auxiliaries and the outputs of statefuls)."""
    v, n = var_name(nd.name), nd.name
    h = lambda x: em.emit(x, True)  # noqa: E731
    if nd.kind == "aux":
        put(body, lambda: f"{v} = {h(nd.expr)}")
    elif nd.kind == "delay" and nd.varying:  # DelayN.__call__: times[0] of the last update
        body.append(f"{v} = {full(f'{v}__{nd.order - 1} / {v}__t0', nd)}")
    elif nd.kind == "delay":
        put(body, lambda: f"{v} = {full(f'{v}__{nd.order - 1} / {h(nd.time)}', nd)}")
    elif nd.kind == "delayfixed" and fused:  # the input of step - order (a ring of order slots)
        # fds_: the slot of this step, step % order, counted along (no division per step)
        body.append(f"{v} = fdi_{n} if step < fdo_{n} else fdp_{n}[fds_{n}]")
    elif nd.kind == "delayfixed":
        body.append(f"{v} = {full(f'fd_{n}.value(step)', nd)}")
    elif nd.kind == "active":
        put(body, lambda: f"{v} = {full(h(nd.expr), nd)}")
    elif nd.kind == "sampleiftrue":
        put(body, lambda: f"{v} = {full(f'_ite({h(nd.extra)}, {h(nd.flow)}, {v}__s)', nd)}")
    else:  # trend, forecast: the input and average time are kept for the derivative
        put(body, lambda: f"in_{n} = {h(nd.flow)}")
        put(body, lambda: f"tau_{n} = {h(nd.time)}")
        body.append(f"{v} = {full(_trend_output(nd, f'in_{n}', f'tau_{n}', h), nd)}")


def _update_lines(nd: Node, em: Emitter, put, ddt: list, upd: list, fused: bool = False) -> None:
    """Derivatives from the current state (``ddt``), then the Euler updates (``upd``)."""
    v, n = var_name(nd.name), nd.name
    h = lambda x: em.emit(x, True)  # noqa: E731
    if nd.kind == "integ":
        put(ddt, lambda: f"d_{n} = {h(nd.flow)}")
        new = f"{v} + d_{n} * dt"
        upd.append(f"{v} = np.maximum({new}, 0)" if nd.non_negative else f"{v} = {new}")
    elif nd.kind == "smooth":
        put(ddt, lambda: f"tau_{n} = {h(nd.time)}")
        put(ddt, lambda: f"tgt_{n} = {h(nd.flow)}")
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
        put(ddt, lambda: f"tau_{n} = {h(nd.time)}")
        for i in range(nd.order):
            if nd.varying:  # DelayN.ddt: times rolled, the current delay time first
                ddt.append(f"tn_{n}__{i} = " + (f"tau_{n}" if i == 0 else f"{v}__t{i - 1}"))
            ddt.append(
                f"out_{n}__{i} = {v}__{i} / " + (f"tn_{n}__{i}" if nd.varying else f"tau_{n}")
            )
        put(ddt, lambda: f"in_{n} = {h(nd.flow)}")
        for i in range(nd.order):
            inflow = f"in_{n}" if i == 0 else f"out_{n}__{i - 1}"
            ddt.append(f"d_{n}__{i} = ({inflow} - out_{n}__{i}) * {nd.order}")
        for i in range(nd.order):
            upd.append(f"{v}__{i} = {v}__{i} + d_{n}__{i} * dt")
        if nd.varying:
            upd += [f"{v}__t{i} = tn_{n}__{i}" for i in range(nd.order)]
    elif nd.kind == "delayfixed":  # PySD's DelayFixed.update: the input joins the pipe
        put(ddt, lambda: f"in_{n} = {h(nd.flow)}")
        if fused:
            upd.append(f"fdp_{n}[fds_{n}] = in_{n}")
            upd.append(f"fds_{n} = 0 if fds_{n} + 1 == fdo_{n} else fds_{n} + 1")
        else:
            upd.append(f"fd_{n}.push(step, in_{n})")
    elif nd.kind == "sampleiftrue":  # PySD's SampleIfTrue.update
        upd.append(f"{v}__s = {v}__s * 0 + {v}")
    elif nd.kind in ("trend", "forecast"):
        ddt.append(f"d_{n} = (in_{n} - {v}__s) / tau_{n}")
        upd.append(f"{v}__s = {v}__s + d_{n} * dt")
