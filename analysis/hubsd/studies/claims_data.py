"""Part (a) of the claims ledger: what the observed series say about a claim, and where it maps.

:data:`REGION_MAP` says, for every region a claim may be about, which hub the model tests it on
(and with what assumption), which observed series measures the sector's employment there and
which series measure youth unemployment (the region's own, ``direct``, or proxies).
:func:`data_check` compares a claim with the observation files
(:func:`hubsd.inputs.observations.load_observations`):

``supports`` / ``contradicts``
    a figure of the claim's own measure, in the claim's year (or two figures on either side of
    it that agree), satisfies / violates the claim;
``contradicts`` (proxies)
    no series of the claim's own measure, but every proxy series (the country's youth rate, the
    city's all-age rate) disagrees with the claim by a clear margin (:data:`PROXY_MARGIN_PP`);
``silent``
    nothing observed decides it; the text says what the nearest series show.

Only figures of kind ``observed`` and ``approximate`` count; forecasts and stylised figures (the
claims themselves) never do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hubsd.studies.claims_spec import Claim

#: Kinds of figures that count as data.
DATA_KINDS = ("observed", "approximate")
#: A proxy contradicts a claim only if it misses it by more than this [percentage points].
PROXY_MARGIN_PP = 0.5
#: ... and a "~" claim by more than this [percentage points].
PROXY_MARGIN_APPROX_PP = 1.0


@dataclass(frozen=True)
class Region:
    """Where a region's claims are tested and which series bear on them."""

    hubs: tuple[str, ...] | None  # None: every hub (a general mechanism)
    assumption: str
    employment: tuple[str, str] | None = None
    youth: tuple[tuple[str, str, bool], ...] = ()  # (region, series, direct)
    enrolment: tuple[tuple[str, str, bool], ...] = ()


REGION_MAP = {
    "World": Region(
        None,
        "a world-wide or general claim, tested on each hub as it stands",
    ),
    "Poland": Region(
        ("krakow",),
        "the krakow hub stands in for Poland's business-services sector (Kraków holds about a "
        "quarter of it): shares and growth rates carry over, persons do not",
        ("Poland", "business_services_employment"),
        youth=(("Poland", "youth_unemployment_rate_15_24", True),),
        enrolment=(("Poland", "students_business_administration_law_share", False),),
    ),
    "Krakow": Region(
        ("krakow",),
        "",
        ("Krakow", "business_services_employment"),
        youth=(
            ("Krakow", "youth_unemployment_rate_15_24", True),
            ("Malopolska", "youth_unemployment_rate_15_24", False),
            ("Poland", "youth_unemployment_rate_15_24", False),
            ("Krakow", "registered_unemployment_rate", False),
        ),
        enrolment=(
            ("Krakow", "business_first_year_enrolment", True),
            ("Malopolska", "students_business_administration_law_share", False),
            ("Poland", "students_business_administration_law_share", False),
            ("Krakow", "students", False),
        ),
    ),
    "India": Region(
        ("telangana",),
        "the telangana hub (Hyderabad's IT-BPM sector) stands in for India's BPM sector: shares "
        "carry over; persons are converted to a share of India's BPM employment",
        ("India", "bpm_employment"),
        youth=(("India", "youth_unemployment_rate_15_29", True),),
    ),
    "telangana": Region(
        ("telangana",),
        "",
        ("Telangana", "it_bpm_employment"),
        youth=(("Telangana", "youth_unemployment_rate_15_29", True),),
    ),
    "Philippines": Region(
        ("manila",),
        "the manila hub (Metro Manila, about three quarters of the Philippine IT-BPM sector) "
        "stands in for the country's sector: shares carry over, persons do not",
        ("Philippines", "it_bpm_employment"),
    ),
    "Manila": Region(
        ("manila",),
        "Metro Manila has no employment series of its own; the Philippine IT-BPM series "
        "(about three quarters of it in Metro Manila) stands in for it in the data check",
        ("Philippines", "it_bpm_employment"),
    ),
    "Tallinn": Region(
        ("tallinn",),
        "the tallinn hub is Tallinn's IT-services cluster (Statistics Estonia's ICT and "
        "information-and-communication employment with Tallinn's share estimated): no count of "
        "Tallinn's business-services centres was found",
        youth=(("Estonia", "youth_unemployment_rate_15_26", False),),
    ),
    "Vilnius": Region(
        ("vilnius",),
        "",
        ("Lithuania", "business_services_employment"),
        youth=(("Lithuania", "youth_unemployment_rate_15_24", False),),
    ),
}
#: The region whose persons a hub's persons are (no conversion needed).
HUB_REGION = {
    "krakow": "Krakow",
    "manila": "Manila",
    "telangana": "telangana",
    "tallinn": "Tallinn",
    "vilnius": "Vilnius",
}
_TOKEN = re.compile(r"([A-Z][A-Za-z]*(?: [A-Z][A-Za-z]*)*)/([a-z][a-z0-9_]*)")


@dataclass(frozen=True)
class DataCheck:
    """The data check of one claim: status, whether direct, the figure compared, the words."""

    status: str  # supports, contradicts, silent
    direct: bool
    value: float
    text: str


def _series(obs: pd.DataFrame, region: str, name: str, bounds: bool = False) -> pd.Series:
    """Figures of kind observed/approximate by year (observed preferred).

    Bounds ("over X", "up to X") are dropped unless ``bounds``; then their value is kept.
    """
    sel = obs[
        (obs.region.str.lower() == region.lower())
        & (obs.series == name)
        & obs.kind.isin(DATA_KINDS)
        & obs.year.notna()
    ].copy()
    if not bounds:
        sel = sel[sel.bound.fillna("") == ""]
    if sel.empty:
        return pd.Series(dtype=float)
    sel["rank"] = (sel.kind != "observed").astype(int) + 2 * (sel.bound.fillna("") != "")
    sel = sel.sort_values(["year", "rank"]).drop_duplicates("year")
    out = pd.Series(sel.value.to_numpy(float), index=sel.year.astype(int).to_numpy())
    out.attrs["bound"] = dict(zip(out.index, sel.bound.fillna(""), strict=True))
    return out


def _fmt(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    return f"{x:.3g}"


def reference_level(obs: pd.DataFrame, region: str, year: int) -> tuple[float, str]:
    """A region's sector employment in ``year``, log-linear between the nearest figures.

    Returns the level (NaN if the region has no series bracketing or holding the year) and how
    it was found, for the row's assumption.
    """
    spec = REGION_MAP[region].employment
    if spec is None:
        return math.nan, f"{region} has no employment series"
    s = _series(obs, *spec)
    if year in s.index:
        return float(s[year]), f"{spec[0]}/{spec[1]} {year} = {_fmt(s[year])}"
    before, after = s[s.index < year], s[s.index > year]
    if before.empty or after.empty:
        return math.nan, f"{spec[0]}/{spec[1]} has no figures around {year}"
    (y0, v0), (y1, v1) = (before.index[-1], before.iloc[-1]), (after.index[0], after.iloc[0])
    level = v0 * (v1 / v0) ** ((year - y0) / (y1 - y0))
    how = (
        f"{spec[0]}/{spec[1]} {year} about {_fmt(level)} (log-linear between "
        f"{y0} = {_fmt(v0)} and {y1} = {_fmt(v1)})"
    )
    return float(level), how


def satisfies(value, operator: str, threshold: float, tolerance: float | None):
    """Whether ``value`` satisfies the claim (elementwise for arrays; NaN gives False)."""
    v = np.asarray(value, dtype=float)
    with np.errstate(invalid="ignore"):
        if operator == "<=":
            out = v <= threshold
        elif operator == ">=":
            out = v >= threshold
        elif operator == "==":
            out = np.abs(v - threshold) <= 1e-9 * max(1.0, abs(threshold))
        else:
            out = np.abs(v - threshold) <= (tolerance or 0.0)
    return out if out.ndim else bool(out)


def _level(claim: Claim, obs) -> DataCheck:
    q = claim.quantity
    region = REGION_MAP[claim.region]
    if region.employment is None:
        return DataCheck("silent", False, math.nan, f"{claim.region} has no employment series")
    name = "/".join(region.employment)
    s = _series(obs, *region.employment)
    year = q.window[1]
    if year in s.index:
        ok = satisfies(s[year], q.operator, q.value, q.tolerance)
        verb = "satisfies" if ok else "violates"
        return DataCheck(
            "supports" if ok else "contradicts",
            True,
            float(s[year]),
            f"{name} {year} = {_fmt(s[year])} {verb} {q.operator} {_fmt(q.value)}",
        )
    before, after = s[s.index < year], s[s.index > year]
    if before.empty or after.empty or q.operator not in ("<=", ">="):
        return DataCheck("silent", False, math.nan, f"{name} has no figure for {year}")
    y0, y1 = before.index[-1], after.index[0]
    oks = [satisfies(before.iloc[-1], q.operator, q.value, None)]
    oks.append(satisfies(after.iloc[0], q.operator, q.value, None))
    text = (
        f"{name} has no figure for {year}; {y0} = {_fmt(before.iloc[-1])} and {y1} = "
        f"{_fmt(after.iloc[0])} bracket it"
    )
    if all(oks):
        return DataCheck("supports", True, math.nan, text + f", both {q.operator} {_fmt(q.value)}")
    if not any(oks):
        return DataCheck("contradicts", True, math.nan, text + f", neither {q.operator} value")
    return DataCheck("silent", False, math.nan, text + ", on either side of the claim")


def _growth(claim: Claim, obs) -> DataCheck:
    q = claim.quantity
    region = REGION_MAP[claim.region]
    if region.employment is None:
        return DataCheck("silent", False, math.nan, f"{claim.region} has no employment series")
    name = "/".join(region.employment)
    s = _series(obs, *region.employment)
    y0, y1 = q.window
    if y0 in s.index and y1 in s.index:
        g = s[y1] / s[y0] - 1
        ok = satisfies(g, q.operator, q.value, q.tolerance)
        return DataCheck(
            "supports" if ok else "contradicts",
            True,
            float(g),
            f"{name} grew {g:+.0%} from {y0} to {y1}",
        )
    if y1 not in s.index:
        return DataCheck("silent", False, math.nan, f"{name} has no figure for {y1}")
    later = s[s.index > y0]
    text = f"{name} has no figure for {y0}"
    if q.operator == ">=":
        text += f"; the claim needs the {y0} level <= {_fmt(s[y1] / (1 + q.value))}"
    if len(later):
        first = later.index[0]
        text += (
            f"; the earliest later figure, {first} = {_fmt(later.iloc[0])}, gives "
            f"{s[y1] / later.iloc[0] - 1:+.0%} from {first} to {y1}"
        )
    return DataCheck("silent", False, math.nan, text)


def _changes_pp(s: pd.Series, y0: int, y1: int) -> dict[int, float]:
    """Year-on-year changes in percentage points for consecutive years inside [y0, y1]."""
    return {y: 100.0 * (s[y] - s[y - 1]) for y in s.index if y0 < y <= y1 and (y - 1) in s.index}


def change_measure(changes: dict[int, float], operator: str) -> float:
    """One number for year-on-year changes [pp].

    The largest for ``<=`` (every year must stay below), the smallest for ``>=``, the last
    year's otherwise.
    """
    if operator == "<=":
        return max(changes.values())
    if operator == ">=":
        return min(changes.values())
    return changes[max(changes)]


def _clearly_fails(measure, operator, value, tolerance, margin) -> bool:
    """Whether ``measure`` misses the claim by more than ``margin`` (proxies need a margin)."""
    if operator == "<=":
        return measure > value + margin
    if operator == ">=":
        return measure < value - margin
    return abs(measure - value) > (tolerance or 0.0) + margin


def _youth(claim: Claim, obs) -> DataCheck:
    q = claim.quantity
    y0, y1 = q.window
    parts, verdicts, direct_seen = [], [], None
    margin = PROXY_MARGIN_APPROX_PP if q.operator == "~" else PROXY_MARGIN_PP
    for reg, name, direct in REGION_MAP[claim.region].youth:
        ch = _changes_pp(_series(obs, reg, name), y0, y1)
        if not ch:
            continue
        measure = change_measure(ch, q.operator)
        ok = satisfies(measure, q.operator, q.value, q.tolerance)
        clear = _clearly_fails(measure, q.operator, q.value, q.tolerance, margin)
        listed = ", ".join(f"{y}: {c:+.1f} pp" for y, c in sorted(ch.items()))
        role = "own series" if direct else "proxy"
        parts.append(f"{reg}/{name} ({role}) {listed}")
        if direct:
            direct_seen = (ok, measure)
            break
        verdicts.append((clear, measure))
    if direct_seen is not None:
        ok, measure = direct_seen
        return DataCheck("supports" if ok else "contradicts", True, measure, "; ".join(parts))
    if not parts:
        return DataCheck("silent", False, math.nan, "no youth unemployment series for the window")
    if verdicts and all(clear for clear, _ in verdicts):
        return DataCheck(
            "contradicts",
            False,
            verdicts[0][1],
            "no series of the claim's own measure; every proxy misses it by more than "
            f"{margin:g} pp: " + "; ".join(parts),
        )
    return DataCheck("silent", False, math.nan, "proxies only, not decisive: " + "; ".join(parts))


def _enrolment(claim: Claim, obs) -> DataCheck:
    q = claim.quantity
    y0, y1 = q.window
    parts = []
    for reg, name, direct in REGION_MAP[claim.region].enrolment:
        s = _series(obs, reg, name)
        if direct and y0 in s.index and y1 in s.index:
            g = s[y1] / s[y0] - 1
            ok = satisfies(g, q.operator, q.value, q.tolerance)
            return DataCheck("supports" if ok else "contradicts", True, g, f"{reg}/{name} {g:+.1%}")
        if len(s):
            pts = ", ".join(f"{y} = {_fmt(v)}" for y, v in s.tail(3).items())
            parts.append(f"{reg}/{name} {pts}")
    text = "no first-year business enrolment series; nearest: " + ("; ".join(parts) or "none")
    return DataCheck("silent", False, math.nan, text + " (shares and totals, not enrolments)")


def _realised(claim: Claim, obs) -> DataCheck | None:
    region = REGION_MAP[claim.region]
    if region.employment is None:
        return None  # nothing of the sector: the listed series are what there is
    name = "/".join(region.employment)
    s = _series(obs, *region.employment)
    if len(s) < 2:
        return DataCheck("silent", False, math.nan, f"{name}: fewer than two figures")
    (ya, va), (yb, vb) = (s.index[-2], s.iloc[-2]), (s.index[-1], s.iloc[-1])
    change = (vb / va) ** (1 / (yb - ya)) - 1
    what = "no realised fall" if change >= 0 else "a fall"
    return DataCheck(
        "silent",
        False,
        math.nan,
        f"latest {name}: {ya} = {_fmt(va)}, {yb} = {_fmt(vb)} ({change:+.1%} a year), {what} "
        f"by {yb}; exposure and jobs lost to AI are not observed as such",
    )


def _listed(claim: Claim, obs) -> tuple[str, list[str]]:
    """What the claim's listed series hold, and which have no observed figure."""
    found, missing = [], []
    for entry in claim.data_series:
        for reg, name in _TOKEN.findall(entry):
            s = _series(obs, reg, name, bounds=True)
            if s.empty:
                known = ((obs.region.str.lower() == reg.lower()) & (obs.series == name)).any()
                missing.append(f"{reg}/{name}" + ("" if known else " (not in the files)"))
                continue
            rel = {"lower": ">=", "upper": "<=", "": "="}
            bound = s.attrs["bound"]
            pts = ", ".join(f"{y} {rel[bound[y]]} {_fmt(v)}" for y, v in s.tail(3).items())
            found.append(f"{reg}/{name} {pts}")
    return "; ".join(dict.fromkeys(found)), list(dict.fromkeys(missing))


_CHECKS = {
    "hub_employment": _level,
    "hub_employment_growth_since": _growth,
    "youth_unemployment_change_pp": _youth,
    "business_enrolment_change": _enrolment,
    "exposed_share_all": _realised,
    "exposed_share_junior_mid": _realised,
    "jobs_automated": _realised,
    "net_job_change_vs_no_ai": _realised,
    "announced_cuts_share": _realised,
}


def data_check(claim: Claim, obs: pd.DataFrame) -> DataCheck:
    """Part (a): what the observed series say about ``claim`` (see the module docstring).

    Parameters
    ----------
    claim : Claim
        A validated claim (:func:`hubsd.studies.claims_spec.load_claims`).
    obs : pandas.DataFrame
        The observations (:func:`hubsd.inputs.observations.load_observations`).

    Returns
    -------
    DataCheck
        ``status`` (supports, contradicts, silent), ``direct`` (the claim's own measure, not a
        proxy), the figure compared (NaN if none) and a sentence with the figures.

    Examples
    --------
    >>> data_check(claims[3], load_observations()).status
    'supports'
    """
    check = _CHECKS.get(claim.quantity.name)
    result = check(claim, obs) if check else None
    listed, missing = _listed(claim, obs)
    if result is None:
        text = f"no series of the claim's measure; listed series: {listed}" if listed else ""
        result = DataCheck("silent", False, math.nan, text or "no observed series bear on it")
    if missing:
        result = DataCheck(
            result.status,
            result.direct,
            result.value,
            result.text + f" (no observed figure of the listed {', '.join(missing)})",
        )
    return result
