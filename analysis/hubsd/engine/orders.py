"""Orders of DELAY N and SMOOTH N, and the delays PySD would shorten, decided before a run.

PySD 3.14 evaluates the order of a DELAY N or SMOOTH N once, when it initialises the object at
INITIAL TIME (``DelayN.initialize``: ``order = self.order_func()``, cast to ``int`` with a warning
when it is not whole, then lowered while order x TIME STEP exceeds the delay time;
``Smooth.initialize``: ``self.order = self.order_func()``, which must be a whole number since it
sizes the state with ``[value] * order``). An order given by a variable therefore takes that
variable's value at INITIAL TIME and keeps it for the whole run, even if the variable changes
later. The engine does the same: the order's expression is evaluated at INITIAL TIME from the
run's constants before the run, and the program is generated for that order. It must be the same
for every member of a run (the number of states is part of the generated code); members that
would need different orders are refused, naming the variable.
"""

from __future__ import annotations

import numpy as np

from hubsd.engine.emitter import Emitter, var_name
from hubsd.engine.members import node_param
from hubsd.engine.nodes import (
    STATEFUL_KINDS,
    EnsembleError,
    UnsupportedConstructError,
    expr_deps,
    walk,
)
from hubsd.engine.runtime import RUNTIME
from hubsd.model.parameters import ParameterError


def _what(node) -> str:
    return "DELAY N" if node.kind == "delay" else "SMOOTH N"


def check_order_inputs(nodes: dict) -> None:
    """Refuse an order that reads a stock or another stateful function (at compile time)."""
    for node in nodes.values():
        if node.order_expr is None:
            continue
        stack, seen = list(expr_deps(node.order_expr)), set()
        while stack:
            n = stack.pop()
            if n in seen or n == "time":
                continue
            seen.add(n)
            nd = nodes[n]
            if nd.kind in STATEFUL_KINDS or nd.kind == "active":
                raise UnsupportedConstructError(
                    f"{_what(node)} whose order depends on {nd.element or n} (a stock or "
                    "stateful function)",
                    node.element,
                )
            if nd.kind in ("aux", "initial"):
                if any(e[0] == "random" for e in walk(nd.expr)):
                    raise UnsupportedConstructError(
                        f"{_what(node)} whose order is random", node.element
                    )
                stack.extend(expr_deps(nd.expr))


def _at_start(expr, nodes, tables, values, varied, ctrl):
    """Value of an expression of constants, control values and time at INITIAL TIME."""
    env = {**RUNTIME, "t": np.float64(ctrl["initial_time"]), "half_dt": ctrl["time_step"] / 2}
    for name, (xs, ys, _) in tables.items():
        env[f"T_{name}_x"], env[f"T_{name}_y"] = xs, ys
    for dep in expr_deps(expr):
        if dep == "time":
            continue
        nd = nodes[dep]
        if nd.kind == "const":
            value = node_param(nd, values, varied)
        elif nd.kind == "control":
            value = ctrl[dep]
        else:  # aux or INITIAL of constants and time (check_order_inputs)
            value = _at_start(nd.expr, nodes, tables, values, varied, ctrl)
        env[var_name(dep)] = value
    src = Emitter(set(), tables).emit(expr, False)
    with np.errstate(all="ignore"):
        return eval(src, env)  # noqa: S307 - our own generated source


def resolve_orders(nodes: dict, tables: dict, values: dict, varied: dict, ctrl: dict) -> dict:
    """The order of each DELAY N / SMOOTH N given by a variable, for one run (PySD's rules).

    Parameters
    ----------
    nodes, tables : dict
        The compiled model's nodes and tables.
    values : dict
        Scalar value of every constant.
    varied : dict
        Per-member values (name -> array).
    ctrl : dict
        The run's control values.

    Returns
    -------
    dict
        Hidden node name -> order (a whole number >= 1); empty when every order is a number.

    Raises
    ------
    ParameterError
        When the members of the run would have different orders.
    EnsembleError
        When an order is below 1, or a SMOOTH N order is not a whole number (PySD fails).
    """
    out = {}
    for node in nodes.values():
        if node.order_expr is None:
            continue
        found = np.unique(np.ravel(_at_start(node.order_expr, nodes, tables, values, varied, ctrl)))
        if len(found) != 1:
            raise ParameterError(
                f"the order of {_what(node)} in {node.element!r} differs between members "
                f"({', '.join(f'{v:g}' for v in found[:4])}); the ensemble engine runs one order "
                "per run: vary what sets it in separate runs"
            )
        value = float(found[0])
        order = int(value) if node.kind == "delay" else round(value)  # DelayN: int(order)
        if node.kind == "smooth" and order != value:
            raise EnsembleError(
                f"SMOOTH N in {node.element!r}: order {value:g} is not a whole number (PySD "
                "cannot run it either: it sizes the smooth's state with the order)"
            )
        if order < 1:
            raise EnsembleError(f"{_what(node)} in {node.element!r}: order {value:g} is below 1")
        out[node.name] = order
    return out
