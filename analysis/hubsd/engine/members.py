"""Per-member inputs and named outputs of the ensemble engine.

Parameters are the model's constants, one per element of a subscripted constant: the key of
``growth[Region]``'s Krakow element is ``"growth[Krakow]"`` (``"m[Krakow,young]"`` in two
dims), as PySD names its flattened columns. A subscripted constant is handed to the generated
code as an array ``(|A|, ..., 1)``, or ``(|A|, ..., members)`` when an element varies.

Control values may be expressions of constants (``SAVEPER = TIME STEP``, ``FINAL TIME = start
+ horizon``); they are evaluated per run, as PySD does, and may not vary per member.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd

from hubsd.core.hints import did_you_mean
from hubsd.engine.emitter import Emitter, var_name
from hubsd.engine.nodes import CONTROL, EnsembleError, Node, expr_deps
from hubsd.engine.runtime import RUNTIME
from hubsd.model.parameters import ParameterError


def cells(node: Node) -> list[tuple[str, str, tuple]]:
    """(key, Vensim name, index) of every element of a constant (one, unsubscripted)."""
    if not node.dims:
        return [(node.name, node.element, ())]
    out = []
    ranges = [range(len(node.coords[d])) for d in node.dims]
    for idx in itertools.product(*ranges):
        elems = ",".join(node.coords[d][i] for d, i in zip(node.dims, idx, strict=True))
        out.append((f"{node.name}[{elems}]", f"{node.element}[{elems}]", idx))
    return out


def normalise(name: str) -> str:
    """Lower case, spaces and underscores as one ``_``; no spaces around subscripts."""
    key = re.sub(r"[\s_]+", "_", name.strip().lower())
    return re.sub(r"_?([\[\],])_?", r"\1", key)


def node_param(node: Node, values: dict, varied: dict):
    """The value of a constant for the generated code: a scalar, or an array with dims."""
    if not node.dims:
        return varied.get(node.name, np.float64(values[node.name]))
    keys = cells(node)
    n = max((len(varied[k]) for k, _, _ in keys if k in varied), default=1)
    out = np.empty(node.shape + (n,))
    for key, _, idx in keys:
        out[idx] = varied[key] if key in varied else values[key]
    return out


def evaluate(expr, env_values: dict, tables: dict):
    """Value of an expression of constants (no time, no state)."""
    env = {**RUNTIME, "t": 0.0, "half_dt": 0.0}
    env.update({var_name(k): v for k, v in env_values.items()})
    src = Emitter(set(), tables).emit(expr, False)
    return eval(src, env)  # noqa: S307 - our own generated source


def control_values(nodes: dict, tables: dict, values: dict, varied: dict, given: dict) -> dict:
    """INITIAL TIME, FINAL TIME, TIME STEP and SAVEPER of a run (PySD's ``_control_vars``)."""
    ctrl: dict = {}

    def value(k, stack=()):
        if k in ctrl:
            return ctrl[k]
        node = nodes[k]
        if given.get(k) is not None:
            ctrl[k] = given[k]
        elif node.expr is None:
            ctrl[k] = node.value
        else:
            if k in stack:
                raise EnsembleError(f"control values defined in a loop: {' -> '.join(stack)}")
            env = {}
            for dep in expr_deps(node.expr):
                if dep in CONTROL:
                    env[dep] = value(dep, stack + (k,))
                    continue
                keys = [c for c, _, _ in cells(nodes[dep])]
                moving = [c for c in keys if c in varied]
                if moving:
                    raise ParameterError(
                        f"parameter {moving[0]!r} sets {node.element} and cannot vary per member"
                    )
                env[dep] = node_param(nodes[dep], values, {})
            ctrl[k] = evaluate(node.expr, env, tables)
        return ctrl[k]

    for k in CONTROL:
        value(k)
    return ctrl


def check_controls(nodes: dict) -> None:
    """Control values may read constants and other control values only."""
    for k in CONTROL:
        node = nodes[k]
        for dep in expr_deps(node.expr):
            if dep not in CONTROL and nodes[dep].kind != "const":
                raise EnsembleError(
                    f"{node.element} depends on {dep!r}, which is not a constant; the ensemble "
                    "engine needs the time grid before the run"
                )


def output_rows(nodes: dict, outputs: tuple) -> list[tuple[int, int]]:
    """Rows of the result buffer (rows, saves, members) that each output fills."""
    rows, lo = [], 0
    for o in outputs:
        size = int(np.prod(nodes[o].shape)) if nodes[o].dims else 1
        rows.append((lo, lo + size))
        lo += size
    return rows


def output_views(nodes: dict, outputs: tuple, out: np.ndarray) -> list:
    """What the generated code writes each output into (see ``generate``'s save lines)."""
    views = []
    for o, (lo, hi) in zip(outputs, output_rows(nodes, outputs), strict=True):
        views.append(out[lo:hi] if nodes[o].dims else out[lo])
    return views


def dataset_columns(ds, nodes: dict) -> pd.DataFrame:
    """Per-member parameters given as an ``xarray.Dataset`` as one column per element.

    Each variable is a constant of the model (Python or Vensim name) with a ``sample`` dim and,
    for a subscripted constant, the constant's subscript dims (any order; coordinates are the
    elements, a subset of them is fine): ``growth`` with dims ``(sample, Region)`` gives the
    columns ``"growth[Krakow]"``, ``"growth[Manila]"`` ...
    """
    if "sample" not in ds.dims:
        raise ParameterError(f"a Dataset of parameters needs a 'sample' dim, got {tuple(ds.dims)}")
    consts = {n for n, nd in nodes.items() if nd.kind == "const"}
    by_name = {normalise(nodes[n].element): n for n in consts}
    by_name.update({normalise(n): n for n in consts})
    cols: dict = {}
    for raw, da in ds.data_vars.items():
        key = normalise(str(raw))
        if key not in by_name:
            raise ParameterError(f"unknown parameter {raw!r}{did_you_mean(key, sorted(by_name))}")
        node = nodes[by_name[key]]
        other = tuple(d for d in da.dims if d != "sample")
        if "sample" not in da.dims or set(other) != set(node.dims):
            raise ParameterError(
                f"parameter {raw!r} has dims {tuple(da.dims)}; it needs ('sample',"
                f"{''.join(' ' + repr(d) + ',' for d in node.dims)})"
            )
        da = da.transpose("sample", *node.dims)
        axes = [[str(c) for c in da[d].values] for d in node.dims]
        for idx in itertools.product(*[range(len(a)) for a in axes]):
            cells = ",".join(a[i] for a, i in zip(axes, idx, strict=True))
            name = f"{node.name}[{cells}]" if node.dims else node.name
            cols[name] = np.asarray(da.values[(slice(None),) + idx])
    return pd.DataFrame(cols, index=pd.Index(ds["sample"].values, name="sample"))


def check_workers(workers, error: type[Exception] = ParameterError) -> None:
    """Refuse a ``workers`` that is not None or a whole number >= 1 (``error`` names it)."""
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1
    ):
        raise error(f"workers must be a whole number >= 1 or None, got {workers!r}")
