"""Part (b) of the claims ledger: the model's answer for each claim, member by member.

One hub's members are a Latin hypercube over its uncertain parameters
(:func:`hubsd.studies.lhs_parameters` over :func:`hubsd.studies.uncertain_ranges`: the
calibrated parameters over their 95 % intervals, the others over the parameter table). The
ledger keeps these independent draws rather than :func:`hubsd.studies.draw_ensemble`'s joint
posterior draws for now: the posterior draw costs about 16 plain ensemble runs (every member
moved 20 times on the engine; ``benchmarks/bench_posterior.py``), which took the five-hub
ledger over its two-minute budget on a shared machine (289 s), and its PRIM boxes (part c)
read best over independent inputs. The same
members are run, as needed, with no policy (``baseline``), without AI (``no_ai``: no adopter
ever, ``bass_innovation_coefficient = initial_adopting_share = 0``), and under a policy scenario
of ``data/scenarios.yaml`` at the hub's own lever sizes (``reskilling``, ``attraction``, and
``attraction_late``, the attraction started :data:`LATE_START_DELAY` years later).

Each quantity of ``data/README_claims.md`` is computed per member by a function of
:data:`QUANTITY_FUNCTIONS` from those runs; what each reads is in :data:`QUANTITY_OUTPUTS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import spearmanr

from hubsd.core.errors import HubsdError
from hubsd.core.paths import REPO
from hubsd.engine import fused
from hubsd.engine.ensemble import EnsembleModel, compile_model
from hubsd.inputs.hubs import calibrated_or_file, load_hub
from hubsd.inputs.scenarios import scenario_parameters
from hubsd.studies.claims_data import satisfies
from hubsd.studies.claims_spec import Claim
from hubsd.studies.policies import lhs_parameters, uncertain_ranges

#: The no-AI counterfactual: no centre ever adopts.
NO_AI = {"bass_innovation_coefficient": 0.0, "initial_adopting_share": 0.0}
#: The late attraction starts this many years after the scenario's start [Year].
LATE_START_DELAY = 6.0
#: A fall counts from this share of the no-AI level on (onset of a fall, for the lag).
ONSET_SHARE = 1e-3
#: "Under adoption": members whose adopting share at window end is at least this.
MIN_ADOPTION = 0.05
#: A city "loses less" only if it keeps more than this many jobs [Person] (not a tie).
MATERIAL = 1.0
#: Save step of the ledger's runs [Year].
SAVEPER = 0.25

#: Model outputs each quantity reads (from every run it uses).
QUANTITY_OUTPUTS = {
    "exposed_share_junior_mid": (
        "exposed_junior_jobs",
        "exposed_mid_jobs",
        "junior_staff",
        "mid_staff",
        "senior_staff",
    ),
    "exposed_share_all": ("exposed_junior_jobs", "exposed_mid_jobs", "total_hub_staff"),
    "net_job_change_vs_no_ai": (
        "total_hub_staff",
        "junior_jobs_automated_away",
        "mid_jobs_automated_away",
        "jobs_from_new_tasks",
    ),
    "jobs_automated": ("junior_jobs_automated_away", "mid_jobs_automated_away", "total_hub_staff"),
    "hub_employment": ("total_hub_staff",),
    "hub_employment_growth_since": ("total_hub_staff",),
    "youth_unemployment_change_pp": ("youth_unemployment_rate",),
    "business_enrolment_change": ("business_first_year_enrolment",),
    "local_service_job_change": ("local_service_jobs", "total_hub_staff"),
    "net_young_migration_change": (
        "net_young_migration",
        "total_hub_staff",
        "youth_unemployment_rate",
    ),
    "polarisation": ("junior_staff", "mid_staff", "senior_staff", "adopting_share"),
    "diversified_city_loses_less": ("total_hub_staff", "new_industry_jobs", "local_service_jobs"),
    "announced_cuts_share": ("junior_layoffs", "total_hub_staff"),
}
#: Runs each quantity needs besides the scenario it is evaluated in.
QUANTITY_RUNS = {
    "net_job_change_vs_no_ai": ("no_ai",),
    "local_service_job_change": ("no_ai",),
    "net_young_migration_change": ("no_ai",),
    "polarisation": ("no_ai",),
    "diversified_city_loses_less": ("attraction", "attraction_late"),
}


class ClaimsRunError(HubsdError):
    """A hub or scenario the ledger cannot run."""


def resolve_hub_set(hub: str) -> tuple[str, str]:
    """The parameter set a hub's claims run on, and a note on how it was chosen.

    The newest calibrated set (``<hub>@vN``) when it loads with the current model, else the hub
    file's values (the note says why the calibrated set was not used).

    Parameters
    ----------
    hub : str
        Hub name, or ``<hub>@<version>`` for a given calibrated set.

    Returns
    -------
    tuple of str
        The name to run (``"krakow@v2"`` or ``"krakow"``) and the note (empty when the newest
        calibrated set is used).

    Examples
    --------
    >>> resolve_hub_set("krakow")
    ('krakow@v2', '')
    """
    base = str(hub).strip().lower().split("@")[0]
    name = str(hub).strip() if "@" in str(hub) else calibrated_or_file(base)
    try:
        load_hub(name)
    except HubsdError as exc:
        if "@" not in name:
            raise
        load_hub(base)
        reason = re.sub(r"; did you mean .*?\?| \(`hubsd params` lists all\)", "", str(exc))
        reason = " ".join(reason.split())
        reason = reason.replace(f"{REPO}/", "")  # repository-relative, as in the ledger
        return base, (
            f"calibrated set {name} not used: {reason}; the hub file's values are used, every "
            "unfixed parameter over its table range"
        )
    return load_hub(name)["hub"], ""


@dataclass
class HubRuns:
    """The members of one hub and their runs, simulated on first use and kept."""

    hub: str  # the set run (krakow@v2 or krakow)
    members: int
    seed: int
    outputs: tuple[str, ...]
    final_time: float
    note: str = ""
    model: EnsembleModel | None = None  # compiled once per ledger (default: the hub model)
    params: pd.DataFrame = field(init=False)
    levers: dict = field(init=False)
    runs: dict = field(default_factory=dict, init=False)

    def __post_init__(self):
        self.params = lhs_parameters(
            self.members, self.seed, hub=self.hub, ranges=uncertain_ranges(self.hub)
        )
        self.levers = scenario_parameters(load_hub(self.hub))

    def overrides(self, key: str) -> dict[str, float]:
        """The scalar parameters of run ``key`` on top of the members' samples."""
        if key == "baseline":
            return {}
        if key == "no_ai":
            return dict(NO_AI)
        if key == "attraction_late":
            levers = dict(self.levers["attraction"])
            levers["new_industry_attraction_start_year"] = (
                levers.get("new_industry_attraction_start_year", 2026.0) + LATE_START_DELAY
            )
            return levers
        if key not in self.levers:
            raise ClaimsRunError(f"no scenario {key!r}; known: {', '.join(self.levers)}")
        return dict(self.levers[key])

    def __getitem__(self, key: str) -> xr.Dataset:
        if key not in self.runs:
            frame = self.params.copy()
            for name, value in self.overrides(key).items():
                frame[name] = float(value)
            model = self.model if self.model is not None else compile_model()
            self.runs[key] = model.run(
                frame,
                list(self.outputs),
                self.hub,
                final_time=self.final_time,
                saveper=SAVEPER,
                backend=fused.small_runs_backend(model),  # a few hundred members a run
            )
        return self.runs[key]


# ------------------------------------------------------------------------------------------
# helpers on runs (arrays over members)


def at(ds: xr.Dataset, name: str, year: float) -> np.ndarray:
    """An output's value per member at ``year`` (the nearest save time)."""
    return ds[name].sel(time=float(year), method="nearest").to_numpy()


def integral(ds: xr.Dataset, name: str, y0: float, y1: float) -> np.ndarray:
    """An output's time integral over ``[y0, y1]`` per member (trapezoidal)."""
    sel = ds[name].sel(time=slice(float(y0), float(y1)))
    return np.trapezoid(sel.to_numpy(), sel["time"].to_numpy(), axis=sel.get_axis_num("time"))


def _median(x) -> float:
    """Median of the finite values (NaN, without a warning, when there are none)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else math.nan


def _share(mask) -> float:
    """Share of True in ``mask`` (NaN, without a warning, when empty)."""
    mask = np.asarray(mask, dtype=bool)
    return float(mask.mean()) if mask.size else math.nan


def _ratio(num, den) -> np.ndarray:
    num, den = np.asarray(num, float), np.asarray(den, float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=np.abs(den) > 0)
    return out


def onset(diff: xr.DataArray, scale: xr.DataArray) -> np.ndarray:
    """First time per member at which ``diff`` falls below ``-ONSET_SHARE * scale`` (or inf)."""
    below = (diff < -ONSET_SHARE * np.abs(scale)).to_numpy()
    t = diff["time"].to_numpy()
    first = np.where(below.any(axis=1), t[np.argmax(below, axis=1)], np.inf)
    return first


@dataclass
class Answer:
    """The model's answer for one claim row: per-member value, holds, condition, words."""

    value: np.ndarray
    holds: np.ndarray | None = None  # default: the value against the claim
    cond: np.ndarray | None = None  # members the claim speaks of (default: all)
    statement: str = ""
    extra: str = ""


@dataclass(frozen=True)
class Context:
    """What a quantity function needs: the runs, the scenario, the threshold, the scaling."""

    claim: Claim
    runs: HubRuns
    scenario: str
    threshold: float
    tolerance: float | None
    relative: bool  # persons divided by the member's hub staff at window start

    @property
    def run(self) -> xr.Dataset:
        """The run the claim is evaluated in (baseline or its scenario)."""
        return self.runs[self.scenario]

    def persons(self, values: np.ndarray) -> np.ndarray:
        """``values`` as they compare with the threshold (a share when ``relative``)."""
        if not self.relative:
            return values
        return _ratio(values, at(self.runs["baseline"], "total_hub_staff", self.w0))

    @property
    def w0(self) -> int:
        """First year of the claim's window."""
        return self.claim.quantity.window[0]

    @property
    def w1(self) -> int:
        """Last year of the claim's window."""
        return self.claim.quantity.window[1]

    def gap(self, name: str, year: float) -> np.ndarray:
        """Run minus no-AI run of an output at ``year``."""
        return at(self.run, name, year) - at(self.runs["no_ai"], name, year)


def _tiers(ctx: Context, default=("junior", "mid")) -> tuple[str, ...]:
    return ctx.claim.quantity.tiers or default


def _exposed_tiers(ctx: Context) -> Answer:
    tiers = _tiers(ctx)
    exposed = sum(at(ctx.run, f"exposed_{t}_jobs", ctx.w1) for t in tiers if t != "senior")
    staff = sum(at(ctx.run, f"{t}_staff", ctx.w1) for t in tiers)
    return Answer(_ratio(exposed, staff))


def _exposed_all(ctx: Context) -> Answer:
    exposed = at(ctx.run, "exposed_junior_jobs", ctx.w1) + at(ctx.run, "exposed_mid_jobs", ctx.w1)
    return Answer(_ratio(exposed, at(ctx.run, "total_hub_staff", ctx.w1)))


def _net_change(ctx: Context) -> Answer:
    value = ctx.persons(ctx.gap("total_hub_staff", ctx.w1))
    away = at(ctx.run, "junior_jobs_automated_away", ctx.w1) + at(
        ctx.run, "mid_jobs_automated_away", ctx.w1
    )
    new = at(ctx.run, "jobs_from_new_tasks", ctx.w1)
    extra = (
        f"median at {ctx.w1}: {_median(away):,.0f} jobs automated away, "
        f"{_median(new):,.0f} from new tasks"
    )
    return Answer(value, extra=extra)


def _automated(ctx: Context) -> Answer:
    q = ctx.claim.quantity

    def delta(tier):
        if tier == "senior":
            return 0.0
        name = f"{tier}_jobs_automated_away"
        return at(ctx.run, name, ctx.w1) - at(ctx.run, name, ctx.w0)

    total = delta("junior") + delta("mid")
    if q.tiers is not None and "fraction" in q.unit:
        part = sum(delta(t) for t in q.tiers)
        value = _ratio(part, np.where(total > 0, total, np.nan))
        return Answer(
            value,
            statement=f"{'+'.join(q.tiers)} share of the jobs automated away "
            f"{ctx.w0}-{ctx.w1} {q.operator} {ctx.threshold:g}",
        )
    return Answer(ctx.persons(total))


def _employment(ctx: Context) -> Answer:
    return Answer(at(ctx.run, "total_hub_staff", ctx.w1))


def _growth(ctx: Context) -> Answer:
    return Answer(
        _ratio(at(ctx.run, "total_hub_staff", ctx.w1), at(ctx.run, "total_hub_staff", ctx.w0)) - 1
    )


def _youth(ctx: Context) -> Answer:
    years = range(ctx.w0 + 1, ctx.w1 + 1) if ctx.w1 > ctx.w0 else [ctx.w1]
    changes = {
        y: 100
        * (
            at(ctx.run, "youth_unemployment_rate", y)
            - at(ctx.run, "youth_unemployment_rate", y - 1)
        )
        for y in years
    }
    stacked = np.vstack(list(changes.values()))
    op = ctx.claim.quantity.operator
    # the same reduction as the data check (claims_data.change_measure)
    if op == "<=":
        value = stacked.max(axis=0)
    elif op == ">=":
        value = stacked.min(axis=0)
    else:
        value = stacked[-1]
    return Answer(value)


def _enrolment(ctx: Context) -> Answer:
    name = "business_first_year_enrolment"
    return Answer(_ratio(at(ctx.run, name, ctx.w1), at(ctx.run, name, ctx.w0)) - 1)


def _local_services(ctx: Context) -> Answer:
    run, base = ctx.run, ctx.runs["no_ai"]
    value = ctx.persons(ctx.gap("local_service_jobs", ctx.w1))
    until = run["time"] <= ctx.w1
    hub_on = onset(
        (run.total_hub_staff - base.total_hub_staff).where(until, 0), base.total_hub_staff
    )
    loc_on = onset(
        (run.local_service_jobs - base.local_service_jobs).where(until, 0), base.local_service_jobs
    )
    holds = satisfies(value, ctx.claim.quantity.operator, ctx.threshold, ctx.tolerance) & (
        loc_on >= hub_on
    )
    ok = np.isfinite(loc_on) & np.isfinite(hub_on)
    lag = np.where(ok, np.where(ok, loc_on, 0.0) - np.where(ok, hub_on, 0.0), np.nan)
    extra = (
        f"median lag of the local fall behind the hub's: {_median(lag):.2f} years "
        f"({int(ok.sum())} members where both fall)"
        if ok.any()
        else "no member in which both fall"
    )
    statement = (
        f"where hub jobs fall against no AI by {ctx.w1}, local service jobs are lower "
        f"too at {ctx.w1} and start to fall no earlier than hub jobs (a lag)"
    )
    return Answer(value, holds=holds, statement=statement, extra=extra)


def _migration(ctx: Context) -> Answer:
    run, base = ctx.run, ctx.runs["no_ai"]
    diff = integral(run, "net_young_migration", ctx.w0, ctx.w1) - integral(
        base, "net_young_migration", ctx.w0, ctx.w1
    )
    value = ctx.persons(diff)
    span = max(ctx.w1 - ctx.w0, 1)
    yu = (
        100
        * (
            integral(run, "youth_unemployment_rate", ctx.w0, ctx.w1)
            - integral(base, "youth_unemployment_rate", ctx.w0, ctx.w1)
        )
        / span
    )
    loss = ctx.gap("total_hub_staff", ctx.w1) < 0
    rho = math.nan
    if loss.sum() >= 3 and np.std(yu[loss]) > 0 and np.std(value[loss]) > 0:
        rho = float(spearmanr(yu[loss], value[loss]).statistic)
    extra = (
        f"rank correlation of the youth-unemployment rise with the migration change, "
        f"members with hub job loss: {rho:.2f} (negative: more unemployment, more "
        "out-migration)"
    )
    statement = (
        f"where hub jobs fall against no AI by {ctx.w1}, net young migration summed "
        f"over {ctx.w0}-{ctx.w1} is lower than without AI (more leave)"
    )
    return Answer(value, statement=statement, extra=extra)


def _polarisation(ctx: Context) -> Answer:
    tiers = _tiers(ctx)
    base = ctx.runs["no_ai"]

    def share(ds, tier):
        total = sum(at(ds, f"{t}_staff", ctx.w1) for t in ("junior", "mid", "senior"))
        return _ratio(at(ds, f"{tier}_staff", ctx.w1), total)

    diffs = {t: share(ctx.run, t) - share(base, t) for t in ("junior", "mid", "senior")}
    value = sum(diffs[t] for t in tiers)
    q = ctx.claim.quantity
    holds = satisfies(value, q.operator, ctx.threshold, ctx.tolerance)
    statement = (
        f"under adoption the {'+'.join(tiers)} share of hub staff at {ctx.w1} is "
        f"{q.operator} {ctx.threshold:g} against no AI"
    )
    if q.operator == "<=" and ctx.threshold == 0:
        for t in tiers:
            holds = holds & (diffs[t] <= 0)
        statement = (
            f"under adoption the {' and the '.join(tiers)} shares of hub staff are each "
            f"lower at {ctx.w1} than without AI, the other tiers' higher"
        )
    cond = at(ctx.run, "adopting_share", ctx.w1) >= MIN_ADOPTION
    extra = ", ".join(f"{t} share {_median(d[cond]) * 100:+.2f} pp" for t, d in diffs.items())
    combined = satisfies(value[cond], q.operator, ctx.threshold, ctx.tolerance)
    extra = (
        f"median change against no AI: {extra}; the {'+'.join(tiers)} share combined is "
        f"{q.operator} {ctx.threshold:g} in {_share(combined):.0%} of the members"
    )
    return Answer(value, holds=holds, cond=cond, statement=statement, extra=extra)


def _city(ds: xr.Dataset, year: int) -> np.ndarray:
    return sum(
        at(ds, n, year) for n in ("total_hub_staff", "new_industry_jobs", "local_service_jobs")
    )


def _diversified(ctx: Context) -> Answer:
    other = "attraction_late" if ctx.scenario == "attraction_late" else "baseline"
    early = ctx.runs["attraction"]
    value = ctx.persons(_city(early, ctx.w1) - _city(ctx.runs[other], ctx.w1))
    start = ctx.runs.overrides("attraction").get("new_industry_attraction_start_year", math.nan)
    versus = (
        f"the same started {start + LATE_START_DELAY:g}" if other != "baseline" else "no attraction"
    )
    q = ctx.claim.quantity
    holds = satisfies(value, q.operator, ctx.threshold, ctx.tolerance)
    statement = (
        f"with new-industry attraction from {start:g}, city jobs (hub + new industry "
        f"+ local services) at {ctx.w1} are {q.operator} {ctx.threshold:g} more than "
        f"with {versus}"
    )
    if q.operator == ">=" and ctx.threshold == 0:  # "loses less": a gain, not a tie
        holds = value > MATERIAL
        statement = statement.replace(">= 0 more", f"more (by over {MATERIAL:g} person)")
    hub = at(early, "total_hub_staff", ctx.w1) - at(ctx.runs[other], "total_hub_staff", ctx.w1)
    extra = (
        f">= 0 (a tie included) in {_share(value >= 0):.0%} of members; median change "
        f"of hub jobs alone: {_median(hub):+,.0f}"
    )
    return Answer(value, holds=holds, statement=statement, extra=extra)


def _cuts(ctx: Context) -> Answer:
    laid_off = integral(ctx.run, "junior_layoffs", ctx.w0, ctx.w0 + 1)
    value = _ratio(laid_off, at(ctx.run, "total_hub_staff", ctx.w0))
    floor = ctx.threshold - (ctx.tolerance or 0.0)
    statement = (
        f"junior layoffs in {ctx.w0} are at least {floor:.2g} of hub staff (one "
        "firm's announced cuts are a lower bound of a hub's layoffs)"
    )
    return Answer(value, holds=np.asarray(value >= floor), statement=statement)


#: Per-member computation of each quantity.
QUANTITY_FUNCTIONS: dict[str, Callable[[Context], Answer]] = {
    "exposed_share_junior_mid": _exposed_tiers,
    "exposed_share_all": _exposed_all,
    "net_job_change_vs_no_ai": _net_change,
    "jobs_automated": _automated,
    "hub_employment": _employment,
    "hub_employment_growth_since": _growth,
    "youth_unemployment_change_pp": _youth,
    "business_enrolment_change": _enrolment,
    "local_service_job_change": _local_services,
    "net_young_migration_change": _migration,
    "polarisation": _polarisation,
    "diversified_city_loses_less": _diversified,
    "announced_cuts_share": _cuts,
}
#: Quantities in persons (compared across regions only as shares, or as signs).
PERSONS = {
    "net_job_change_vs_no_ai",
    "hub_employment",
    "local_service_job_change",
    "net_young_migration_change",
    "diversified_city_loses_less",
}


def answer(ctx: Context) -> Answer:
    """The model's answer for one claim row (value, holds and condition per member)."""
    result = QUANTITY_FUNCTIONS[ctx.claim.quantity.name](ctx)
    value = np.asarray(result.value, dtype=float)
    if result.holds is None:
        q = ctx.claim.quantity
        holds = satisfies(value, q.operator, ctx.threshold, ctx.tolerance)
    else:
        holds = np.asarray(result.holds, dtype=bool)
    holds = np.where(np.isfinite(value), holds.astype(float), np.nan)
    cond = np.ones(len(value), bool) if result.cond is None else np.asarray(result.cond, bool)
    return Answer(value, holds, cond, result.statement, result.extra)
