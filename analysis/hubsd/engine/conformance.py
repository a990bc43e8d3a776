"""The ensemble engine beside PySD: one model run both ways, compared column by column.

Shared by the conformance suite (``tests/test_engine_conformance.py``), the speed benchmark of
small models (``benchmarks/bench_small_models.py``) and the corpus check
(``benchmarks/engine_corpus.py``): PySD translates a copy of the model (with the files it reads)
in a folder of its own, parameters given to the engine per element (``"growth[Krakow]"``) are
handed to PySD as floats or DataArrays, and a member's series are compared with PySD's columns
relative to each series' scale.
"""

from __future__ import annotations

import itertools
import shutil
import warnings
from pathlib import Path

import numpy as np
import xarray as xr


def load_pysd(mdl: str | Path, folder: str | Path, data_files=None):
    """PySD's model of a copy of ``mdl`` translated in ``folder``.

    Files beside the model named after it (``<stem>.csv``, ``<stem>.xlsx``: what its GET XLS /
    GET DIRECT functions read) are copied too; ``data_files`` are passed to
    ``pysd.read_vensim`` as they are.

    Parameters
    ----------
    mdl : path
        The Vensim model.
    folder : path
        An existing folder for the copy and PySD's translation (``<stem>.py``).
    data_files : list of paths, optional
        The series of the model's data variables without equations.

    Returns
    -------
    pysd.py_backend.model.Model
        The loaded PySD model.
    """
    import pysd

    mdl, folder = Path(mdl), Path(folder)
    shutil.copy(mdl, folder / mdl.name)
    for extra in mdl.parent.glob(f"{mdl.stem}.*"):
        if extra.suffix.lower() in (".csv", ".tab", ".xlsx", ".xls"):
            shutil.copy(extra, folder / extra.name)
    files = [str(Path(f).resolve()) for f in data_files] if data_files else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pysd.read_vensim(str(folder / mdl.name), data_files=files)


def pysd_params(model, values: dict) -> dict:
    """Engine parameter values (``"growth[Krakow]"``) as PySD's: floats or DataArrays.

    Parameters
    ----------
    model : hubsd.engine.ensemble.EnsembleModel
        The compiled model (for the dims and defaults of subscripted constants).
    values : dict
        Parameter name (the engine's) -> value of one member.

    Returns
    -------
    dict
        Python name -> float, or an ``xarray.DataArray`` over the constant's dims holding its
        defaults with the given elements replaced.
    """
    out: dict = {}
    for key, value in values.items():
        name = key.split("[")[0]
        node = model.nodes[name]
        if not node.dims:
            out[name] = float(value)
            continue
        if name not in out:
            coords = {d: node.coords[d] for d in node.dims}
            out[name] = xr.DataArray(np.array(node.value, dtype=float), coords, list(node.dims))
        out[name].loc[tuple(key[len(name) + 1 : -1].split(","))] = float(value)
    return out


def rel_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest ``|a - b|`` over the scale of ``b`` (``max |b|``); NaN must match NaN (else inf)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return np.inf
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0:
        return 0.0
    scale = np.max(np.abs(b))
    diff = np.max(np.abs(a - b))
    return float(diff / scale if scale > 0 else diff)


def differences(model, ens, df, member: int, outputs) -> dict[str, float]:
    """Relative difference (:func:`rel_diff`) of each PySD column from the engine's member.

    Parameters
    ----------
    model : hubsd.engine.ensemble.EnsembleModel
        The compiled model.
    ens : xarray.Dataset
        The engine's run (dims ``sample``, ``time`` and the outputs' subscript dims).
    df : pandas.DataFrame
        PySD's run (columns by Vensim name, ``name[a,b]`` per element).
    member : int
        Position of the member along ``sample``.
    outputs : list of str
        Python names of the outputs to compare.

    Returns
    -------
    dict
        Column name -> relative difference (dimensionless).
    """
    out = {}
    for o in outputs:
        node = model.nodes[o]
        series = ens[o].isel(sample=member)
        cells = itertools.product(*[node.coords[d] for d in node.dims]) if node.dims else [()]
        for cell in cells:
            column = f"{node.element}[{','.join(map(str, cell))}]" if cell else node.element
            a = series.sel(dict(zip(node.dims, cell, strict=True))) if cell else series
            out[column] = rel_diff(a.values, df[column].to_numpy(dtype=float))
    return out
