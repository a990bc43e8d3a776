"""The claims ledger's input: ``data/claims.yaml`` read, validated and turned into :class:`Claim`.

The file's format is documented in ``data/README_claims.md``. Every entry is checked before
anything runs; a bad one is refused with the file and the line of the offending mapping, e.g.
``data/claims.yaml, line 87: claim 'pie_ssc_jobs_at_risk_2028': unknown quantity 'at_risk'``:

* an unknown ``region``, ``kind``, quantity ``name``, ``operator`` or tier;
* a malformed ``window`` (not two whole years, first after last, outside 1990-2100), a
  ``horizon`` that is not the window's last year, a ``tolerance`` without ``~`` (or ``~``
  without one);
* a ``model_variables`` entry the model does not compute (an unknown output);
* a missing or mistyped field, a duplicate ``id``.

A claim that maps to nothing the model computes (``quantity.name: null``) must say so with
``testable: false``; the ledger lists it as "not testable" with its reason, never drops it.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DATA_DIR
from hubsd.core.yamlio import read_yaml
from hubsd.engine.ensemble import compile_model

#: The bundled ledger of claims.
CLAIMS_FILE = DATA_DIR / "claims.yaml"
SCHEMA_VERSION = 1
#: Regions a claim may be about (data/README_claims.md).
REGIONS = (
    "World",
    "Poland",
    "Krakow",
    "India",
    "telangana",
    "Philippines",
    "Manila",
    "Tallinn",
    "Vilnius",
)
KINDS = ("quantitative", "qualitative")
OPERATORS = ("<=", ">=", "==", "~")
TIERS = ("junior", "mid", "senior")
#: The quantities a claim may map to, with what each means (data/README_claims.md).
QUANTITIES = {
    "exposed_share_junior_mid": "share of junior+mid (or the tiers') hub jobs exposed to AI",
    "exposed_share_all": "exposed junior+mid jobs over all hub jobs",
    "net_job_change_vs_no_ai": "hub staff, run minus the no-AI counterfactual",
    "jobs_automated": "jobs automated away over the window (with tiers: their share)",
    "hub_employment": "hub staff",
    "hub_employment_growth_since": "hub staff at window end / at window start - 1",
    "youth_unemployment_change_pp": "year-on-year change of the youth unemployment rate [pp]",
    "business_enrolment_change": "relative change of first-year business enrolment",
    "local_service_job_change": "local service jobs, run minus the no-AI counterfactual",
    "net_young_migration_change": "net young migration summed over the window, minus no-AI",
    "polarisation": "junior+mid share of hub staff, run minus the no-AI counterfactual",
    "diversified_city_loses_less": "city jobs, early new-industry attraction minus none",
    "announced_cuts_share": "hub layoffs in the year over hub staff",
}
YEARS = (1990, 2100)
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class ClaimsError(HubsdError):
    """A claims file that does not follow ``data/README_claims.md`` (file and line named)."""


@dataclass(frozen=True)
class Quantity:
    """What a claim means as a checkable model quantity (the ``quantity`` mapping)."""

    name: str | None
    tiers: tuple[str, ...] | None
    operator: str
    value: float
    unit: str
    tolerance: float | None
    window: tuple[int, int]
    model_variables: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    """One entry of the ledger, validated; ``line`` is where it starts in ``file``."""

    id: str
    text: str
    claimant: str
    region: str
    kind: str
    year: int | None
    horizon: int | None
    conditional_on: str | None
    quantity: Quantity
    testable: bool
    testable_reason: str
    source_found: bool = False
    source_note: str = ""
    data_series: tuple[str, ...] = ()
    data_note: str = ""
    file: str = "<memory>"
    line: int = 0
    related: tuple[str, ...] = field(default_factory=tuple)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(float(x))


def _is_year(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and YEARS[0] <= x <= YEARS[1]


class _Checker:
    """Field checks of one mapping, each failure naming the file, line and claim."""

    def __init__(self, path, line, cid=None):
        self.path, self.line, self.cid = path, line, cid

    def fail(self, msg: str):
        who = f"claim {self.cid!r}: " if self.cid else ""
        raise ClaimsError(f"{self.path}, line {self.line}: {who}{msg}")

    def mapping(self, doc: dict, key: str) -> dict:
        value = doc.get(key)
        if not isinstance(value, dict):
            self.fail(f"{key!r} must be a mapping, got {type(value).__name__}")
        return value

    def text(self, doc: dict, key: str, optional: bool = False) -> str | None:
        value = doc.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(f"{key!r} must be non-empty text, got {value!r}")
        return value.strip()

    def flag(self, doc: dict, key: str) -> bool:
        value = doc.get(key)
        if not isinstance(value, bool):
            self.fail(f"{key!r} must be true or false, got {value!r}")
        return value

    def choice(self, value, allowed: Sequence[str], what: str) -> str:
        if value not in allowed:
            self.fail(
                f"unknown {what} {value!r}{did_you_mean(str(value), allowed, n=1)}; "
                f"allowed: {', '.join(allowed)}"
            )
        return value

    def year(self, doc: dict, key: str) -> int | None:
        value = doc.get(key)
        if value is not None and not _is_year(value):
            self.fail(f"malformed {key} {value!r}: a whole year in {YEARS[0]}-{YEARS[1]} or null")
        return value


def _quantity(path, raw: dict, cid: str, outputs: Sequence[str] | None) -> Quantity:
    chk = _Checker(path, raw.get("__line__", "?"), cid)
    name = raw.get("name")
    if name is not None:
        chk.choice(name, list(QUANTITIES), "quantity")
    tiers = raw.get("tiers")
    if tiers is not None:
        if not isinstance(tiers, list) or not tiers or len(set(tiers)) != len(tiers):
            chk.fail(f"tiers must be null or a list of distinct tiers, got {tiers!r}")
        for tier in tiers:
            chk.choice(tier, TIERS, "tier")
        tiers = tuple(tiers)
    operator = chk.choice(raw.get("operator"), OPERATORS, "operator")
    value = raw.get("value")
    if not _is_number(value):
        chk.fail(f"value must be a finite number, got {value!r}")
    unit = chk.text(raw, "unit")
    tol = raw.get("tolerance")
    if operator == "~":
        if not _is_number(tol) or tol <= 0:
            chk.fail(f"operator '~' needs a positive tolerance, got {tol!r}")
    elif tol is not None:
        chk.fail(f"tolerance {tol!r} is only allowed with operator '~' (got {operator!r})")
    window = raw.get("window")
    if (
        not isinstance(window, list)
        or len(window) != 2
        or not all(_is_year(w) for w in window)
        or window[0] > window[1]
    ):
        chk.fail(
            f"malformed window {window!r}: give [first year, last year], whole years in "
            f"{YEARS[0]}-{YEARS[1]}, first <= last"
        )
    variables = raw.get("model_variables")
    if not isinstance(variables, list) or not all(isinstance(v, str) for v in variables):
        chk.fail(f"model_variables must be a list of output names, got {variables!r}")
    if outputs is not None:
        for var in variables:
            if var not in outputs:
                chk.fail(
                    f"unknown output {var!r} in model_variables{did_you_mean(var, outputs)} "
                    "(compile_model().outputs_available() lists them)"
                )
    return Quantity(
        name=name,
        tiers=tiers,
        operator=operator,
        value=float(value),
        unit=unit,
        tolerance=None if tol is None else float(tol),
        window=(int(window[0]), int(window[1])),
        model_variables=tuple(variables),
    )


def _claim(path, raw: dict, outputs) -> Claim:
    line = raw.get("__line__", "?")
    cid = raw.get("id")
    chk = _Checker(path, line)
    if not isinstance(cid, str) or not _ID.match(cid):
        chk.fail(f"claim id {cid!r} must be snake_case text ([a-z][a-z0-9_]*)")
    chk.cid = cid
    region = chk.choice(raw.get("region"), REGIONS, "region")
    kind = chk.choice(raw.get("kind"), KINDS, "kind")
    year = chk.year(raw, "year")
    horizon = chk.year(raw, "horizon")
    quantity = _quantity(path, chk.mapping(raw, "quantity"), cid, outputs)
    if horizon is not None and horizon != quantity.window[1]:
        _Checker(path, raw["quantity"].get("__line__", line), cid).fail(
            f"malformed horizon {horizon}: it must equal the window's last year "
            f"{quantity.window[1]}"
        )
    testable = chk.flag(raw, "testable")
    if quantity.name is None and testable:
        chk.fail("a claim without a quantity name must have testable: false")
    source = chk.mapping(raw, "primary_source")
    found = _Checker(path, source.get("__line__", line), cid).flag(source, "found")
    data = chk.mapping(raw, "data_check")
    series = data.get("series") or []
    if not isinstance(series, list) or not all(isinstance(s, str) for s in series):
        _Checker(path, data.get("__line__", line), cid).fail("data_check.series must be a list")
    related = tuple(
        str(r.get("relation", ""))
        for r in (source.get("related") or [])
        if isinstance(r, dict) and r.get("relation")
    )
    return Claim(
        id=cid,
        text=chk.text(raw, "text"),
        claimant=chk.text(raw, "claimant"),
        region=region,
        kind=kind,
        year=year,
        horizon=horizon,
        conditional_on=chk.text(raw, "conditional_on", optional=True),
        quantity=quantity,
        testable=testable,
        testable_reason=chk.text(raw, "testable_reason"),
        source_found=found,
        source_note=str(source.get("note") or ""),
        data_series=tuple(series),
        data_note=str(data.get("note") or ""),
        file=str(path),
        line=int(line) if isinstance(line, int) else 0,
        related=related,
    )


def load_claims(
    path: str | Path = CLAIMS_FILE, outputs: Sequence[str] | None = None
) -> list[Claim]:
    """Read and validate a claims file.

    Parameters
    ----------
    path : path
        The file (default ``data/claims.yaml``), format of ``data/README_claims.md``.
    outputs : list of str, optional
        The model's output names that ``model_variables`` may use (default: those of the
        compiled hub model, :meth:`hubsd.engine.ensemble.EnsembleModel.outputs_available`).

    Returns
    -------
    list of Claim
        In file order.

    Raises
    ------
    ClaimsError
        ``"<file>, line L: claim '<id>': <problem>"`` for malformed YAML, an unknown quantity,
        region, operator, tier or output, a malformed window or horizon, a missing field, a
        duplicate id or a wrong schema version.

    Examples
    --------
    >>> claims = load_claims()
    >>> claims[0].quantity.window
    (2024, 2030)
    """
    path = Path(path)
    doc = read_yaml(path, error=ClaimsError, lines=True)
    if not isinstance(doc, dict):
        raise ClaimsError(f"{path}, line 1: the file must be a mapping with 'claims'")
    chk = _Checker(path, doc.get("__line__", 1))
    if doc.get("schema_version") != SCHEMA_VERSION:
        chk.fail(f"schema_version must be {SCHEMA_VERSION}, got {doc.get('schema_version')!r}")
    entries = doc.get("claims")
    if not isinstance(entries, list) or not entries:
        chk.fail("'claims' must be a non-empty list of claim entries")
    if outputs is None:
        outputs = compile_model().outputs_available()
    claims, seen = [], {}
    for i, raw in enumerate(entries):
        if not isinstance(raw, dict):
            chk.fail(f"claims entry {i + 1} must be a mapping, got {type(raw).__name__}")
        claim = _claim(path, raw, outputs)
        if claim.id in seen:
            _Checker(path, claim.line, claim.id).fail(
                f"duplicate id (first at line {seen[claim.id]})"
            )
        seen[claim.id] = claim.line
        claims.append(claim)
    return claims


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (provenance of the ledger)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
