"""Observed and stylised figures with their provenance, and a loader that validates them.

The format (documented in ``data/README.md``) is a tidy CSV, one figure a row::

    region,series,year,value,unit,kind,bound,source_title,source_address,says,via

``kind`` says what a figure is: ``observed``, ``approximate``, ``forecast`` (a published
projection) or ``stylised`` (a claim or target that is not data). ``bound`` is ``lower`` or
``upper`` for figures such as "over 90,000" or "up to 27 %", empty otherwise. Every row carries
its source: the title, the address and the exact sentence or table (``says``).

A bad file is refused with the file, the line and the reason; nothing is filled in or guessed.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import xarray as xr

from hubsd.core.errors import HubsdError
from hubsd.core.paths import OBSERVED, OBSERVED_DIR, REPO  # noqa: F401 - OBSERVED re-exported

COLUMNS = [
    "region",
    "series",
    "year",
    "value",
    "unit",
    "kind",
    "bound",
    "source_title",
    "source_address",
    "says",
    "via",
]
REQUIRED_TEXT = ["region", "series", "unit", "kind", "source_title", "source_address", "says"]
KINDS = {"observed", "approximate", "forecast", "stylised"}
BOUNDS = {"", "lower", "upper"}
UNITS = {
    "persons": (0.0, math.inf),
    "centres": (0.0, math.inf),
    "fraction": (0.0, 1.0),
    "fraction_per_year": (-1.0, 10.0),
    "per_1000_inhabitants": (0.0, 1000.0),
    "indicator": (-1.0, 1.0),
}
_SERIES = re.compile(r"^[a-z][a-z0-9_]*$")


class DataError(HubsdError):
    """A data file that does not follow the documented format."""


def _fail(path, line: int | None, msg: str):
    where = f"{path}" + (f", line {line}" if line is not None else "")
    raise DataError(f"{where}: {msg}")


def _read_rows(path: Path) -> list[tuple[int, dict]]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        _fail(path, None, f"cannot read: {exc.strerror}")
    except UnicodeDecodeError:
        _fail(path, None, "not UTF-8 text")
    reader = csv.reader(io.StringIO(text), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        _fail(path, 1, "empty file; expected a header with " + ", ".join(COLUMNS))
    except csv.Error as exc:
        _fail(path, 1, f"malformed CSV: {exc}")
    header = [h.strip() for h in header]
    unknown = [h for h in header if h not in COLUMNS]
    missing = [c for c in COLUMNS if c not in header]
    if unknown or missing:
        msg = []
        if unknown:
            msg.append(f"unknown column(s) {', '.join(unknown)}")
        if missing:
            msg.append(f"missing column(s) {', '.join(missing)}")
        _fail(path, 1, "; ".join(msg) + f"; expected: {', '.join(COLUMNS)}")
    rows = []
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                _fail(path, line, f"{len(record)} fields, expected {len(header)}")
            rows.append((line, dict(zip(header, (c.strip() for c in record), strict=False))))
    except csv.Error as exc:
        _fail(path, reader.line_num, f"malformed CSV: {exc}")
    return rows


def _check_row(path, line: int, row: dict) -> dict:
    for col in REQUIRED_TEXT:
        if not row[col]:
            _fail(path, line, f"empty {col!r}")
    if not _SERIES.match(row["series"]):
        _fail(path, line, f"series {row['series']!r} must be lower_snake_case")
    if row["kind"] not in KINDS:
        _fail(path, line, f"kind {row['kind']!r} is not one of {', '.join(sorted(KINDS))}")
    if row["bound"] not in BOUNDS:
        _fail(path, line, f"bound {row['bound']!r} must be empty, 'lower' or 'upper'")
    if row["unit"] not in UNITS:
        _fail(path, line, f"unit {row['unit']!r} is not one of {', '.join(sorted(UNITS))}")
    try:
        value = float(row["value"]) if row["value"] else math.nan
    except ValueError:
        _fail(path, line, f"value {row['value']!r} is not a number")
    if not math.isfinite(value):
        _fail(path, line, f"value {row['value']!r} must be a finite number")
    low, high = UNITS[row["unit"]]
    if not (low <= value <= high):
        _fail(
            path,
            line,
            f"value {value:g} outside the plausible range [{low:g}, {high:g}] "
            f"for unit {row['unit']!r}",
        )
    if row["year"]:
        try:
            year = int(row["year"])
        except ValueError:
            _fail(path, line, f"year {row['year']!r} is not a whole year")
        if not 1950 <= year <= 2100:
            _fail(path, line, f"year {year} outside 1950-2100")
    elif row["kind"] != "stylised":
        _fail(path, line, "year missing (only stylised figures may lack a year)")
    else:
        year = None
    return {**row, "year": year, "value": value, "line": line, "file": str(path)}


def bundled_files() -> list[Path]:
    """The bundled figure files: every ``data/observed/*.csv``, sorted by name.

    ``hub_figures.csv`` holds the figures the project started from, the others those added
    with later evidence work (industry series and forecasts, AI adoption surveys, city series).
    """
    return sorted(OBSERVED_DIR.glob("*.csv"))


def load_observations(paths: Iterable[str | Path] | str | Path | None = None) -> pd.DataFrame:
    """Read and validate one or more figure files (default: the bundled one).

    Parameters
    ----------
    paths : path or list of paths
        CSV files in the documented format (default: :func:`bundled_files`); a user's own file
        can be given beside the bundled ones (``[*bundled_files(), "my_series.csv"]``).

    Returns
    -------
    pandas.DataFrame
        One row per figure with the columns of the format plus ``file`` and ``line``;
        ``year`` is a nullable integer, ``value`` a float.

    Raises
    ------
    DataError
        Naming the file, the line and the reason, for a malformed file, an unknown or missing
        column, an empty source, a bad unit, kind, year or value, or a duplicate figure
        (same region, series, year and kind) within or across files.
    """
    if paths is None:
        paths = bundled_files()
    elif isinstance(paths, (str, Path)):
        paths = [paths]
    records, seen = [], {}
    for path in paths:
        for line, row in _read_rows(Path(path)):
            rec = _check_row(path, line, row)
            key = (rec["region"].lower(), rec["series"], rec["year"], rec["kind"])
            if key in seen:
                _fail(
                    path,
                    line,
                    f"duplicate of {seen[key]} ({rec['region']}, {rec['series']}, "
                    f"{rec['year']}, {rec['kind']})",
                )
            seen[key] = f"{path}, line {line}"
            records.append(rec)
    df = pd.DataFrame.from_records(records, columns=COLUMNS + ["file", "line"])
    df["year"] = df["year"].astype("Int64")
    return df


def series(
    region: str,
    name: str,
    obs: pd.DataFrame | None = None,
    kinds: Iterable[str] = ("observed", "approximate"),
):
    """One series as an ``xarray.DataArray`` along ``year``, with its sources in ``attrs``.

    Raises
    ------
    DataError
        If the region has no such series (naming the series it has).
    """
    obs = load_observations() if obs is None else obs
    sel = obs[
        (obs.region.str.lower() == region.lower())
        & (obs.series == name)
        & obs.kind.isin(list(kinds))
    ].sort_values("year")
    if sel.empty:
        have = sorted(obs[obs.region.str.lower() == region.lower()].series.unique())
        raise DataError(
            f"no {name!r} figures of kind {sorted(kinds)} for {region!r}; "
            f"it has: {', '.join(have) or 'nothing'}"
        )
    da = xr.DataArray(
        sel.value.to_numpy(float), coords={"year": sel.year.to_numpy(int)}, dims="year", name=name
    )
    da.attrs = {
        "units": sel.unit.iloc[0],
        "region": region,
        "kind": ", ".join(sel.kind),
        "bound": ", ".join(b or "-" for b in sel.bound),
        "sources": " | ".join(
            f"{y}: {t} <{a}>: {s}"
            for y, t, a, s in zip(
                sel.year, sel.source_title, sel.source_address, sel.says, strict=False
            )
        ),
    }
    return da
