"""GET XLS/GET DIRECT CONSTANTS and LOOKUPS for the ensemble engine, read by PySD's readers.

The values are read once, when the model is compiled, with PySD's own ``ExtConstant`` and
``ExtLookup`` (``pysd.py_backend.external``), from the file named in the equation (relative to
the model's folder; CSV or spreadsheet, as PySD reads them). A constant read from a file
becomes a parameter of the model like any other (its default is the file's value, and it can
vary per member); a table read from a file is a table like any other.

Data variables (``x := GET XLS/DIRECT DATA(...)``, and ``x :INTERPOLATE:`` without an equation,
whose series PySD reads from the ``data_files`` given to the model) are read the same way, with
PySD's ``ExtData`` and ``TabData``, into a series of times and values; the generated code looks
them up at each step's time as PySD's ``Data.__call__`` does (:func:`data_value`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from hubsd.engine.nodes import EnsembleError


def _part_coords(component, dims: tuple, ranges: dict) -> dict:
    tokens = component.subscripts[0]
    return {d: list(ranges.get(t, [t])) for d, t in zip(dims, tokens, strict=True)}


def _read(obj, where: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj.initialize()
    except Exception as err:  # PySD raises many kinds: a missing file, a bad cell ...
        lines = " ".join(str(err).split())[:300]
        raise EnsembleError(
            f"cannot read the data of {where!r} from {', '.join(map(str, obj.files))} with "
            f"PySD's reader: {type(err).__name__}: {lines}"
        ) from err
    return obj.data


def read_constants(element, py: str, dims: tuple, coords: dict, ranges: dict, root: Path):
    """The value of a GET ... CONSTANTS element: a float, or an array with the element's dims."""
    from pysd.py_backend.external import ExtConstant

    ext = None
    for comp in element.components:
        ast, part = comp.ast, _part_coords(comp, dims, ranges)
        if ext is None:
            ext = ExtConstant(ast.file, ast.tab, ast.cell, part, root, coords, py)
        else:
            ext.add(ast.file, ast.tab, ast.cell, part)
    data = _read(ext, element.name)
    if not dims:
        return float(np.asarray(data, dtype=float))
    values = np.asarray(data.transpose(*dims).values, dtype=float)
    if np.isnan(values).any():
        raise EnsembleError(f"{element.name!r}: the file has no value for some elements")
    return values


def read_lookups(element, py: str, dims: tuple, coords: dict, ranges: dict, root: Path):
    """A GET ... LOOKUPS table as ``(xs, ys, "interpolate")``, ``ys`` with dims first."""
    from pysd.py_backend.external import ExtLookup

    ext = None
    for comp in element.components:
        ast, part = comp.ast, _part_coords(comp, dims, ranges)
        args = (ast.file, ast.tab, ast.x_row_or_col, ast.cell, part)
        if ext is None:
            ext = ExtLookup(*args, root, coords, py)
        else:
            ext.add(*args)
    data = _read(ext, element.name).sortby("lookup_dim")
    xs = np.asarray(data.lookup_dim.values, dtype=float)
    ys = np.asarray(data.transpose(*dims, "lookup_dim").values, dtype=float)
    if np.isnan(ys).any() or len(set(xs)) != len(xs):
        raise EnsembleError(f"table {element.name!r}: missing or repeated values in the file")
    return xs, ys, "interpolate"


#: PySD's interpolation keywords of a data variable (``:HOLD BACKWARD:`` ...); none: interpolate.
DATA_MODES = ("interpolate", "raw", "look_forward", "hold_backward")


def _series(data, dims: tuple, where: str, mode: str):
    """``(times, values, mode)``: values with the element's dims first and time last."""
    data = data.sortby("time")
    times = np.asarray(data["time"].values, dtype=float)
    values = np.asarray(data.transpose(*dims, "time").values, dtype=float)
    if len(times) == 0 or len(set(times)) != len(times):
        raise EnsembleError(f"data variable {where!r}: no times, or repeated times, in the file")
    return times, values, "data:" + mode


def _mode(element) -> str:
    keywords = {(c.keyword or "interpolate").replace(" ", "_") for c in element.components}
    mode = keywords.pop()
    if keywords or mode not in DATA_MODES:
        raise EnsembleError(
            f"data variable {element.name!r}: interpolation {mode!r} (or mixed keywords); "
            f"valid: {', '.join(DATA_MODES)}"
        )
    return mode


def read_data(element, py: str, dims: tuple, coords: dict, ranges: dict, root: Path):
    """A GET XLS/DIRECT DATA element as ``(times, values, "data:<mode>")``."""
    from pysd.py_backend.external import ExtData

    mode = _mode(element)
    ext = None
    for comp in element.components:
        ast, part = comp.ast, _part_coords(comp, dims, ranges)
        args = (ast.file, ast.tab, ast.time_row_or_col, ast.cell, comp.keyword, part)
        if ext is None:
            ext = ExtData(*args, root, coords, py)
        else:
            ext.add(*args)
    return _series(_read(ext, element.name), dims, element.name, mode)


def read_data_files(element, py: str, dims: tuple, coords: dict, files: tuple):
    """A data variable without an equation, from the data files (PySD's ``TabData``)."""
    from pysd.py_backend.data import TabData

    mode = _mode(element)
    if not files:
        raise EnsembleError(
            f"data variable {element.name!r} has no equation: give the files with its series "
            "as compile_model(mdl, data_files=[...]) (as pysd.read_vensim(..., data_files=...))"
        )
    tab = TabData(element.name, py, coords, mode)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tab.load_data([str(f) for f in files])
    except Exception as err:  # PySD raises ValueError and pandas' errors
        lines = " ".join(str(err).split())[:300]
        raise EnsembleError(
            f"cannot read the data variable {element.name!r} from "
            f"{', '.join(map(str, files))} with PySD's reader: {type(err).__name__}: {lines}"
        ) from err
    return _series(tab.data, dims, element.name, mode)


def data_value(t, times, values, mode):
    """A data variable at time ``t``, as PySD's ``Data.__call__``.

    The value at a time of the series; with ``raw`` the missing value (NaN) between them;
    otherwise the first or last value outside the series' times, and between two of them the
    linear interpolation (``interpolate``), the next value (``look_forward``) or the last one
    (``hold_backward``). Values with dims get a member axis of length 1.
    """
    k = int(np.searchsorted(times, t))
    if k < len(times) and times[k] == t:
        v = values[..., k]
    elif mode == "data:raw":
        v = np.full(values.shape[:-1], np.nan)
    elif t > times[-1]:
        v = values[..., -1]
    elif t < times[0]:
        v = values[..., 0]
    elif mode == "data:interpolate":
        x0, x1 = times[k - 1], times[k]
        if values.ndim == 1:
            v = np.interp(t, times[k - 1 : k + 1], values[k - 1 : k + 1])
        else:
            flat = values.reshape(-1, values.shape[-1])
            cells = [np.interp(t, (x0, x1), row[k - 1 : k + 1]) for row in flat]
            v = np.reshape(cells, values.shape[:-1])
    elif mode == "data:look_forward":
        v = values[..., k]
    else:  # hold_backward
        v = values[..., k - 1]
    if values.ndim == 1:
        return np.float64(v)
    return np.asarray(v, dtype=float)[..., None]
