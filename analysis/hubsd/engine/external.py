"""GET XLS/GET DIRECT CONSTANTS and LOOKUPS for the ensemble engine, read by PySD's readers.

The values are read once, when the model is compiled, with PySD's own ``ExtConstant`` and
``ExtLookup`` (``pysd.py_backend.external``), from the file named in the equation (relative to
the model's folder; CSV or spreadsheet, as PySD reads them). A constant read from a file
becomes a parameter of the model like any other (its default is the file's value, and it can
vary per member); a table read from a file is a table like any other. GET DATA (a time series
read from a file) is not implemented.
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
