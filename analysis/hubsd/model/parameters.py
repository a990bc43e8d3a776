"""The table of exposed parameters, read from the model, and validation against it.

Every constant of ``models/hub.mdl`` with a numeric range ``[low, high]`` in its units field is
an exposed parameter. Its default, units, range and source come from the ``.mdl`` through
PySD's ``model.doc``; nothing here restates them. Every entry point (API, command line, hub
files, sweep specs, notebook parameters) goes through :func:`check_parameters` before anything runs.
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import pandas as pd

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL
from hubsd.model.mdl import sector_of
from hubsd.model.pysd_model import load

CONTROL = {"initial_time", "final_time", "time_step", "saveper"}
#: Structure switches of the hub model: they choose between two formulations (0 the default, 1
#: the alternative), so studies set them by choice and never draw them as uncertain quantities
#: (a drawn 0.7 would mean nothing, and a Latin hypercube over [0, 1] would switch half the
#: members to a structure nobody asked for).
STRUCTURE_SWITCHES = frozenset({"share_paced_by_national_growth"})


class ParameterError(HubsdError):
    """A parameter name or value that the parameter table does not allow."""


def _source(comment: str) -> str:
    match = re.search(r"(Source:.*|Assumption.*|Scenario input.*)$", comment)
    return match.group(1).strip() if match else ""


def _cells(value) -> list[tuple[str, object]]:
    """``("", value)`` for a scalar; ``("[e1,e2]", value)`` per element of a subscripted one.

    The names of the ensemble engine's parameters (``"growth[Krakow]"``).
    """
    dims = list(getattr(value, "dims", ()))
    if not dims:
        return [("", value)]
    coords = [list(value.coords[d].values) for d in dims]
    return [
        (
            "[" + ",".join(str(e) for e in elems) + "]",
            value.sel(dict(zip(dims, elems, strict=True))),
        )
        for elems in itertools.product(*coords)
    ]


@lru_cache(maxsize=4)
def _table(mdl: str) -> pd.DataFrame:
    model = load(mdl)
    sectors = sector_of(Path(mdl).read_text(encoding="utf-8"))
    rows = []
    for _, row in model.doc.iterrows():
        if row["Type"] != "Constant" or row["Py Name"] in CONTROL:
            continue
        low, high = row["Limits"]
        value = getattr(model.components, row["Py Name"])()
        for suffix, cell in _cells(value):
            rows.append(
                {
                    "name": row["Py Name"] + suffix,
                    "model_name": row["Real Name"] + suffix,
                    "default": float(cell),
                    "low": float(low),
                    "high": float(high),
                    "units": row["Units"],
                    "sector": sectors.get(row["Real Name"], ""),
                    "description": row["Comment"],
                    "source": _source(row["Comment"]),
                }
            )
    return pd.DataFrame(rows).set_index("name").sort_index()


def table(mdl: str | Path = DEFAULT_MODEL) -> pd.DataFrame:
    """The parameter table: one row per exposed parameter.

    Every constant of the model with a numeric range in its units field; read from the
    ``.mdl`` through PySD (cached per model file), so it never disagrees with the model.

    Parameters
    ----------
    mdl : str or path
        The Vensim model (default ``models/hub.mdl``).

    Returns
    -------
    pandas.DataFrame
        Indexed by the Python name used everywhere in ``hubsd``; columns ``model_name``
        (Vensim), ``default``, ``low``, ``high`` (the valid range, in the parameter's units),
        ``units`` (e.g. Dmnl, Person, 1/Year, Year), ``sector`` (Vensim view),
        ``description`` and ``source``. A copy: changing it changes nothing else.

    Raises
    ------
    FileNotFoundError
        When the model file is missing (a model that does not translate raises PySD's error).

    Examples
    --------
    >>> import hubsd
    >>> tab = hubsd.parameter_table()
    >>> tab.loc["automatable_junior_share", ["default", "low", "high", "units"]]
    >>> tab[tab.sector == "Policy"].index      # the policy levers
    """
    return _table(str(mdl)).copy()


def _key(name: str) -> str:
    return re.sub(r"[\s_]+", "_", name.strip().lower())


def resolve_name(name: str, mdl: str | Path = DEFAULT_MODEL) -> str:
    """The Python name of a parameter given either spelling (``a_b`` or Vensim ``A b``)."""
    tab = _table(str(mdl))
    if not isinstance(name, str):
        raise ParameterError(f"parameter names must be strings, got {name!r}")
    key = _key(name)
    if key in tab.index:
        return key
    by_model = {_key(m): n for n, m in tab["model_name"].items()}
    if key in by_model:
        return by_model[key]
    msg = f"unknown parameter {name!r}{did_you_mean(key, tab.index, n=3)}"
    msg += " (`hubsd params` lists all)"
    raise ParameterError(msg)


def check_parameters(values: Mapping[str, object] | None, mdl: str | Path = DEFAULT_MODEL) -> dict:
    """Check parameter overrides against the table and return them by Python name.

    Every entry point (API, command line, hub files, sweep specs) calls this before anything
    runs. Nothing is simulated.

    Parameters
    ----------
    values : mapping or None
        Parameter name (Python ``automatable_junior_share`` or Vensim ``automatable junior
        share``, any case) -> value in the parameter's units (see :func:`table`).
    mdl : str or path
        The Vensim model whose table applies (default ``models/hub.mdl``).

    Returns
    -------
    dict of str -> float
        The values as floats by Python name, in the parameter's units (unchanged); empty for
        None.

    Raises
    ------
    ParameterError
        For an unknown name (with a did-you-mean hint), a value that is not a real number,
        NaN or infinity, a value outside ``[low, high]``, or one parameter given twice with
        different values under both spellings. Names the parameter, the value, its units and
        the valid range.

    Examples
    --------
    >>> check_parameters({"Automatable junior share": 0.5})
    {'automatable_junior_share': 0.5}
    >>> check_parameters({"automatable_junior_share": 2})  # a share: raises ParameterError
    """
    tab = _table(str(mdl))
    out: dict[str, float] = {}
    for raw_name, value in (values or {}).items():
        name = resolve_name(raw_name, mdl)
        row = tab.loc[name]
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ParameterError(
                f"parameter {name!r} must be a number [{row.units}], got {type(value).__name__}"
                f" {value!r}"
            )
        value = float(value)
        if not math.isfinite(value):
            raise ParameterError(f"parameter {name!r} must be finite, got {value}")
        if not (row.low <= value <= row.high):
            raise ParameterError(
                f"parameter {name!r} = {value:g} is outside its range "
                f"[{row.low:g}, {row.high:g}] {row.units}"
            )
        if name in out and out[name] != value:
            raise ParameterError(f"parameter {name!r} is given twice with different values")
        out[name] = value
    return out


def defaults(mdl: str | Path = DEFAULT_MODEL) -> dict[str, float]:
    """Default value of every exposed parameter, by Python name."""
    return _table(str(mdl))["default"].to_dict()


def to_markdown(mdl: str | Path = DEFAULT_MODEL) -> str:
    """The parameter table as Markdown (``models/parameters.md`` is this, generated)."""
    tab = _table(str(mdl)).reset_index()
    lines = [
        "# Parameter table of `models/hub.mdl`",
        "",
        "Generated from the model file by `hubsd params --markdown`; do not edit by hand.",
        "Defaults are the model's; hub files in `data/hubs/` override some of them.",
        "",
        "| name | Vensim name | default | low | high | units | sector | source |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in tab.sort_values(["sector", "name"]).itertuples():
        src = r.source.replace("|", "/")
        lines.append(
            f"| `{r.name}` | {r.model_name} | {r.default:g} | {r.low:g} | {r.high:g} | "
            f"{r.units} | {r.sector} | {src} |"
        )
    return "\n".join(lines) + "\n"
