"""The city side of a calibrated hub against its city's observed figures (issue 11).

The model's city side (youth unemployment of young graduates, their net migration, local
service jobs) is compared with what each city publishes, as listed in ``data/city_checks.yaml``:
for every comparison the model output, the observed series, the *concept* mismatch between the
two (age band, registered vs survey, all young people vs young graduates, area) and, for youth
unemployment, the band of the ratio model/observed the battery accepts::

    bands:
      youth_unemployment: {accept: [0.3333, 3.0], why: "..."}
    hubs:
      telangana:
        - {output: youth_unemployment_rate, region: Telangana,
           series: youth_unemployment_rate_15_29, band: youth_unemployment, concept: "..."}
        - {output: [youth_unemployment_rate, young_graduate_labour_force],   # a product
           region: Krakow, series: registered_unemployed_under_30, concept: "..."}

>>> city_comparison("telangana")      # one row per figure: observed, simulated, ratio, concept
>>> city_row("telangana")             # the battery row "city side" (pass, fail or skipped)

The model runs at the hub's newest calibrated set (or the named one, ``"telangana@v3"``), no
policy, with PySD. A malformed file or one naming an unknown hub, output, band or series raises
:class:`CityCheckError` with the file, the line and the valid values, before anything runs.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DATA_DIR, DEFAULT_MODEL
from hubsd.core.yamlio import read_yaml
from hubsd.engine.ensemble import compile_model
from hubsd.engine.pysd_runner import run
from hubsd.inputs.calibrated import load_calibrated, versions
from hubsd.inputs.observations import load_observations
from hubsd.validation.report import make_row, skipped_row

CITY_CHECKS_FILE = DATA_DIR / "city_checks.yaml"
CHECK = "city side"
TESTS = (
    "the calibrated city side (youth unemployment of young graduates) is of the order of its "
    "city's observed figures, each with its concept mismatch stated"
)
COLUMNS = [
    "hub",
    "version",
    "output",
    "region",
    "series",
    "year",
    "observed",
    "bound",
    "simulated",
    "ratio",
    "band",
    "accept_low",
    "accept_high",
    "concept",
]


class CityCheckError(HubsdError):
    """A malformed city-checks file, or one naming an unknown hub, output, band or series."""


def _fail(path, line, msg):
    where = f"{path}, line {line}" if line else str(path)
    raise CityCheckError(f"{where}: {msg}")


def load_city_checks(path: str | Path = CITY_CHECKS_FILE, mdl=DEFAULT_MODEL) -> dict:
    """Read and check the city-checks file.

    Parameters
    ----------
    path : path
        The file (default ``data/city_checks.yaml``).
    mdl : path
        The model whose outputs the comparisons name.

    Returns
    -------
    dict
        ``{"bands": {name: (low, high, why)}, "hubs": {hub: [comparison, ...]}}``; each
        comparison a dict with ``outputs`` (list), ``region``, ``series``, ``years`` (list or
        None), ``band`` (name or None), ``concept`` and ``line``.

    Raises
    ------
    CityCheckError
        With the file, the line and the valid values: unknown keys, hubs, outputs, bands or
        series, a missing concept, a band that is not ``[low, high]`` with ``0 < low < high``.
    """
    path = Path(path)
    doc = read_yaml(path, CityCheckError, lines=True)
    if not isinstance(doc, dict) or not isinstance(doc.get("hubs"), dict):
        _fail(path, 1, "expected a mapping with 'bands' and 'hubs'")
    extra = sorted(set(doc) - {"bands", "hubs", "history", "__line__"})
    if extra:
        _fail(path, 1, f"unknown key {extra[0]!r} (allowed: bands, hubs, history)")
    bands = {}
    for name, entry in (doc.get("bands") or {}).items():
        if name == "__line__":
            continue
        line = entry.get("__line__") if isinstance(entry, dict) else doc["__line__"]
        acc = entry.get("accept") if isinstance(entry, dict) else None
        ok = (
            isinstance(acc, list)
            and len(acc) == 2
            and all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in acc)
            and 0 < acc[0] < acc[1]
        )
        if not ok:
            _fail(path, line, f"band {name!r}: 'accept' must be [low, high] with 0 < low < high")
        if not str(entry.get("why", "")).strip():
            _fail(path, line, f"band {name!r}: say why (key 'why')")
        bands[name] = (float(acc[0]), float(acc[1]), " ".join(str(entry["why"]).split()))
    outputs = set(compile_model(mdl).outputs_available())
    obs = load_observations()
    pairs = sorted({f"{r}/{s}" for r, s in zip(obs.region, obs.series, strict=True)})
    known_hubs = sorted(p.stem for p in (DATA_DIR / "hubs").glob("*.yaml"))
    hubs: dict[str, list[dict]] = {}
    allowed = {"output", "region", "series", "years", "band", "concept"}
    for hub, entries in doc["hubs"].items():
        if hub == "__line__":
            continue
        if hub not in known_hubs:
            _fail(
                path,
                doc["hubs"]["__line__"],
                f"unknown hub {hub!r}{did_you_mean(hub, known_hubs)} "
                f"(hubs: {', '.join(known_hubs)})",
            )
        if not isinstance(entries, list) or not entries:
            _fail(path, doc["hubs"]["__line__"], f"hub {hub!r}: expected a list of comparisons")
        hubs[hub] = []
        for entry in entries:
            if not isinstance(entry, dict):
                _fail(path, doc["hubs"]["__line__"], f"hub {hub!r}: each comparison is a mapping")
            line = entry.get("__line__")
            bad = sorted(set(entry) - allowed - {"__line__"})
            if bad:
                _fail(
                    path,
                    line,
                    f"unknown key {bad[0]!r}{did_you_mean(bad[0], allowed)} "
                    f"(allowed: {', '.join(sorted(allowed))})",
                )
            for key in ("output", "region", "series", "concept"):
                if not str(entry.get(key, "")).strip():
                    _fail(path, line, f"hub {hub!r}: a comparison needs {key!r}")
            outs = entry["output"] if isinstance(entry["output"], list) else [entry["output"]]
            for out in outs:
                if out not in outputs:
                    _fail(
                        path,
                        line,
                        f"the model has no output {out!r}{did_you_mean(out, outputs)}",
                    )
            asked = f"{entry['region']}/{entry['series']}"
            if asked not in pairs:
                _fail(
                    path,
                    line,
                    f"no observed series {asked!r}{did_you_mean(asked, pairs)} "
                    "(data/observed/*.csv)",
                )
            band = entry.get("band")
            if band is not None and band not in bands:
                _fail(
                    path,
                    line,
                    f"unknown band {band!r}{did_you_mean(band, bands)} "
                    f"(bands: {', '.join(bands) or 'none'})",
                )
            years = entry.get("years")
            if years is not None and (
                not isinstance(years, list) or not all(isinstance(y, int) for y in years)
            ):
                _fail(path, line, "'years' must be a list of whole years")
            hubs[hub].append(
                {
                    "outputs": [str(o) for o in outs],
                    "region": str(entry["region"]),
                    "series": str(entry["series"]),
                    "years": years,
                    "band": band,
                    "concept": " ".join(str(entry["concept"]).split()),
                    "line": line,
                }
            )
    history = _load_history(path, doc.get("history"), known_hubs, pairs)
    return {"bands": bands, "hubs": hubs, "history": history}


def _load_history(path: Path, entry, known_hubs: list[str], pairs: list[str]) -> dict:
    """The ``history`` section: per hub the long series whose range the baseline keeps."""
    if entry is None:
        return {"why": "", "hubs": {}}
    if not isinstance(entry, dict) or not isinstance(entry.get("hubs"), dict):
        _fail(path, None, "'history' must be a mapping with 'why' and 'hubs'")
    line = entry.get("__line__")
    bad = sorted(set(entry) - {"why", "hubs", "__line__"})
    if bad:
        _fail(path, line, f"history: unknown key {bad[0]!r} (allowed: why, hubs)")
    if not str(entry.get("why", "")).strip():
        _fail(path, line, "history: say why (key 'why')")
    out = {}
    for hub, item in entry["hubs"].items():
        if hub == "__line__":
            continue
        where = entry["hubs"].get("__line__")
        if hub not in known_hubs:
            _fail(
                path,
                where,
                f"history: unknown hub {hub!r}{did_you_mean(hub, known_hubs)} "
                f"(hubs: {', '.join(known_hubs)})",
            )
        if not isinstance(item, dict):
            _fail(path, where, f"history: hub {hub!r} needs region, series and concept")
        where = item.get("__line__", where)
        bad = sorted(set(item) - {"region", "series", "concept", "__line__"})
        if bad:
            _fail(
                path, where, f"history: unknown key {bad[0]!r} (allowed: concept, region, series)"
            )
        for key in ("region", "series", "concept"):
            if not str(item.get(key, "")).strip():
                _fail(path, where, f"history: hub {hub!r} needs {key!r}")
        asked = f"{item['region']}/{item['series']}"
        if asked not in pairs:
            _fail(
                path,
                where,
                f"history: no observed series {asked!r}{did_you_mean(asked, pairs)} "
                "(data/observed/*.csv)",
            )
        out[hub] = {
            "region": str(item["region"]),
            "series": str(item["series"]),
            "concept": " ".join(str(item["concept"]).split()),
        }
    return {"why": " ".join(str(entry["why"]).split()), "hubs": out}


def _resolve(hub: str) -> tuple[str, str | None]:
    base, _, version = str(hub).partition("@")
    if not versions(base):
        return base, None
    doc = load_calibrated(base, version or "latest")
    return base, str(doc.get("version", Path(doc["file"]).stem))


def city_comparison(
    hub: str, path: str | Path = CITY_CHECKS_FILE, mdl=DEFAULT_MODEL
) -> pd.DataFrame:
    """The calibrated city side of ``hub`` against its city's figures, one row per figure.

    Parameters
    ----------
    hub : str
        A hub (its newest calibrated set) or a named set (``"krakow@v3"``).
    path, mdl : path
        The city-checks file and the model.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: the model output(s), the observed figure (its unit is the
        model's: a fraction or persons), ``bound`` (``lower``/``upper`` for a bound),
        ``simulated`` (PySD, at the calibrated set, no policy), ``ratio`` = simulated /
        observed, the accepted band (NaN where none) and the concept mismatch. Empty when the
        hub has no comparison in the file or no calibrated set.
    """
    checks = load_city_checks(path, mdl)
    base, version = _resolve(hub)
    comps = checks["hubs"].get(base, [])
    if version is None or not comps:
        return pd.DataFrame(columns=COLUMNS)
    obs = load_observations()
    outputs = sorted({o for c in comps for o in c["outputs"]})
    rows = []
    ds = run(f"{base}@{version}", outputs=outputs, saveper=1, mdl=mdl)
    first, last = float(ds.time[0]), float(ds.time[-1])
    for c in comps:
        sel = obs[(obs.region == c["region"]) & (obs.series == c["series"])].sort_values("year")
        low, high = (math.nan, math.nan)
        if c["band"] is not None:
            low, high, _ = checks["bands"][c["band"]]
        for r in sel.itertuples():
            year = float(r.year)
            if not first <= year <= last or (c["years"] and int(year) not in c["years"]):
                continue
            sim = 1.0
            for out in c["outputs"]:
                sim *= float(ds[out].sel(time=year, method="nearest"))
            rows.append(
                {
                    "hub": base,
                    "version": version,
                    "output": " x ".join(c["outputs"]),
                    "region": c["region"],
                    "series": c["series"],
                    "year": int(year),
                    "observed": float(r.value),
                    "bound": r.bound or "",
                    "simulated": sim,
                    "ratio": sim / float(r.value) if r.value else math.nan,
                    "band": c["band"] or "",
                    "accept_low": low,
                    "accept_high": high,
                    "concept": c["concept"],
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def city_row(hub: str | None, path: str | Path = CITY_CHECKS_FILE, mdl=DEFAULT_MODEL) -> dict:
    """The battery row ``city side`` of ``hub``.

    For every comparison with a band, the ratio of the mean simulated to the mean observed value
    over its figures must lie inside the band; comparisons without a band are listed in the
    details only. ``figure``: the banded ratio farthest from 1 (on a log scale). Skipped
    without a hub, a calibrated set or a banded comparison.
    """
    if hub is None:
        return skipped_row("behaviour", CHECK, TESTS, "no hub, so no calibrated set")
    if "youth_unemployment_rate" not in compile_model(mdl).outputs_available():
        return skipped_row("behaviour", CHECK, TESTS, "the model has no youth_unemployment_rate")
    table = city_comparison(hub, path, mdl)
    if table.empty:
        return skipped_row(
            "behaviour", CHECK, TESTS, f"no calibrated set or no city comparison for {hub}"
        )
    parts, worst, ok, banded = [], math.nan, True, False
    for (_, region, series, output), grp in table.groupby(
        ["band", "region", "series", "output"], sort=False
    ):
        ratio = float(grp.simulated.mean() / grp.observed.mean())
        each = ", ".join(
            f"{y}: {s:.3g} vs {o:.3g}{' (' + b + ' bound)' if b else ''}"
            for y, s, o, b in zip(grp.year, grp.simulated, grp.observed, grp.bound, strict=True)
        )
        text = f"{output} vs {region}/{series}: ratio of means {ratio:.2f} [{each}]"
        low, high = float(grp.accept_low.iloc[0]), float(grp.accept_high.iloc[0])
        if np.isfinite(low):
            banded = True
            inside = low <= ratio <= high
            ok &= inside
            text += f", accepted [{low:.2f}, {high:.2f}]: {'inside' if inside else 'OUTSIDE'}"
            if not np.isfinite(worst) or abs(math.log(ratio)) > abs(math.log(worst)):
                worst = ratio
        parts.append(f"{text}; concept: {grp.concept.iloc[0]}")
    hub_set = f"{table.hub.iloc[0]}@{table.version.iloc[0]}"
    if not banded:
        return skipped_row(
            "behaviour", CHECK, TESTS, f"no banded comparison for {hub_set}: " + " | ".join(parts)
        )
    row = make_row(
        "behaviour",
        CHECK,
        TESTS,
        figure=float(worst),
        measure=f"ratio model/observed of {hub_set} farthest from 1",
        details=" | ".join(parts),
        status="pass" if ok else "fail",
    )
    return {**row, "threshold": "ratio of means inside each comparison's band"}


RANGE_CHECK = "youth unemployment keeps its historical range"
RANGE_TESTS = (
    "the calibrated baseline's youth unemployment, from the scenario start year on, stays within "
    "the range of its country's or region's observed series, scaled to the model's concept"
)


def history_range(
    hub: str, path: str | Path = CITY_CHECKS_FILE, mdl=DEFAULT_MODEL
) -> xr.Dataset | None:
    """The calibrated baseline's youth unemployment against its history's scaled range.

    The observed series named in the file's ``history`` section spans ``[min, max]`` over its
    years; the scale factor ``k`` is the model's mean over those years divided by the observed
    mean (the concept mismatch: survey rate of all young people vs young graduates seeking
    hub-type work). The forward window runs from the model's ``scenario start year`` (or 2026
    when the model has none) to the end of the run, yearly.

    Parameters
    ----------
    hub : str
        A hub (its newest calibrated set) or a named set (``"krakow@v3"``).
    path, mdl : path
        The city-checks file and the model.

    Returns
    -------
    xarray.Dataset or None
        ``simulated`` (dim ``time``, the whole run, yearly), ``observed`` (dim ``year``), and
        attrs ``low``, ``high`` (the scaled range), ``scale``, ``start``, ``hub``, ``version``,
        ``region``, ``series``, ``concept``; None when the hub has no calibrated set or no
        history entry.
    """
    checks = load_city_checks(path, mdl)
    base, version = _resolve(hub)
    entry = checks["history"]["hubs"].get(base)
    if version is None or entry is None:
        return None
    obs = load_observations()
    sel = obs[(obs.region == entry["region"]) & (obs.series == entry["series"])]
    sel = sel.sort_values("year")
    outputs = ["youth_unemployment_rate"]
    engine = compile_model(mdl)
    if "scenario_start_year" in engine.outputs_available():
        outputs.append("scenario_start_year")
    ds = run(f"{base}@{version}", outputs=outputs, saveper=1, mdl=mdl)
    sim = ds["youth_unemployment_rate"]
    first, last = float(ds.time[0]), float(ds.time[-1])
    years = [float(y) for y in sel.year if first <= float(y) <= last]
    if not years:
        return None
    values = sel.set_index("year").value.astype(float)
    observed = np.array([values.loc[int(y)] for y in years])
    model_at = np.array([float(sim.sel(time=y, method="nearest")) for y in years])
    scale = float(model_at.mean() / observed.mean())
    start = (
        float(ds["scenario_start_year"].values.ravel()[0])
        if "scenario_start_year" in ds
        else 2026.0
    )
    out = xr.Dataset(
        {
            "simulated": sim.assign_attrs(units="Dmnl"),
            "observed": xr.DataArray(
                observed, dims="year", coords={"year": [int(y) for y in years]}
            ).assign_attrs(units="Dmnl"),
        }
    )
    out.attrs.update(
        low=scale * float(observed.min()),
        high=scale * float(observed.max()),
        scale=scale,
        start=start,
        hub=base,
        version=version,
        region=entry["region"],
        series=entry["series"],
        concept=entry["concept"],
        why=checks["history"]["why"],
    )
    return out


def history_range_row(
    hub: str | None, path: str | Path = CITY_CHECKS_FILE, mdl=DEFAULT_MODEL
) -> dict:
    """The battery row ``youth unemployment keeps its historical range`` of ``hub``.

    ``figure``: the forward value farthest outside the scaled range, as a ratio to the edge it
    crosses (1 when inside: the nearest approach to an edge is in the details). Skipped without a
    hub, a calibrated set or a ``history`` entry.
    """
    if hub is None:
        return skipped_row("behaviour", RANGE_CHECK, RANGE_TESTS, "no hub, so no calibrated set")
    if "youth_unemployment_rate" not in compile_model(mdl).outputs_available():
        return skipped_row(
            "behaviour", RANGE_CHECK, RANGE_TESTS, "the model has no youth_unemployment_rate"
        )
    res = history_range(hub, path, mdl)
    if res is None:
        return skipped_row(
            "behaviour",
            RANGE_CHECK,
            RANGE_TESTS,
            f"no calibrated set or no history series for {hub}",
        )
    a = res.attrs
    fwd = res["simulated"].sel(time=slice(a["start"], None))
    lo, hi = float(fwd.min()), float(fwd.max())
    ratio = 1.0
    if lo < a["low"]:
        ratio = lo / a["low"]
    if hi > a["high"] and hi / a["high"] > 1 / ratio:
        ratio = hi / a["high"]
    inside = a["low"] <= lo and hi <= a["high"]
    obs = res["observed"]
    details = (
        f"{a['hub']}@{a['version']} baseline {a['start']:.0f}-{float(fwd.time[-1]):.0f}: "
        f"{lo:.3g} to {hi:.3g}; range of {a['region']}/{a['series']} "
        f"({int(obs.year[0])}-{int(obs.year[-1])}, {obs.size} figures) "
        f"{float(obs.min()):.3g} to {float(obs.max()):.3g}, scaled by {a['scale']:.3g} to "
        f"[{a['low']:.3g}, {a['high']:.3g}]: {'inside' if inside else 'OUTSIDE'}; "
        f"concept: {a['concept']}"
    )
    row = make_row(
        "behaviour",
        RANGE_CHECK,
        RANGE_TESTS,
        figure=ratio,
        measure="forward value / the range edge it crosses (1 = inside)",
        details=details,
        status="pass" if inside else "fail",
    )
    return {**row, "threshold": "inside the scaled historical range"}
