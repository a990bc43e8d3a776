"""The interactive explorer: policy levers and AI uncertainties against a calibrated ensemble.

>>> ui = explore("krakow@calibrated")      # in JupyterLab: sliders, fan charts, headline table
>>> ui.set(reskilling=True)                # as a user would: widgets, figure and table follow
>>> Explorer("krakow@calibrated").set(reskilling_policy_capacity=5000).headline   # no widgets

An ensemble of ``samples`` members (at least 500) is drawn once per hub with
:func:`hubsd.studies.draw_ensemble` (for a calibrated set the calibrated parameters jointly
from their posterior given the hub's data, every other uncertain parameter by a Latin
hypercube over :func:`hubsd.studies.uncertain_ranges`), and kept for the session.

The AI sliders are the model's ``Scenario`` sector (:data:`UNCERTAINTIES`): changes to the
calibrated hub (a change in the automatable junior or mid share, in the share of AI that augments
without policy, in AI's running cost; multipliers of adoption speed and of the clients' demand
growth) that act only from the ``scenario start year`` (2026), so that moving them leaves the
fitted history before 2026 exactly as it is (``tests/test_explore.py``). Each starts neutral;
where its range comes from is in :func:`uncertainty_ranges` and in the slider's tooltip.
Every change of a lever or of an AI future reruns the ensemble on the vectorised engine with
the new values overriding their columns, from 2026 only: the history 2005-2025, the same for
every setting, is simulated once per hub and kept (a warm start,
:mod:`hubsd.studies.explore_run`; a change that could act before 2026, such as a lever's start
year before it, or members that need a finer step run in full from 2005, and the status line
says so). It redraws fan charts
(median, 50 % and 90 % bands) of hub jobs by tier, youth unemployment, enrolments, local service
jobs, net young migration and the policy cost, with a headline table against the baseline (the
same members with every lever off; members are paired, so the change is the median of the
members' own changes).

The explorer integrates with a coarser TIME STEP than the model's own 1/32 year: 1/6 year for
every member, and the engine re-runs only the members that step cannot integrate (a third-order
delay shorter than three steps, or a member whose shortest time constant is below the step, which
blows up) at 1/8, then at the model's step (``finer_steps`` of
:meth:`hubsd.engine.ensemble.EnsembleModel.run`; ``member_time_step`` says which). A redraw
thus takes about a third of the time it takes with the model's step
(``benchmarks/bench_explore.py``), and the fan medians agree with the model's step to a fraction of
a percent of their band (``tests/test_explore.py``). Pass ``time_step=None`` for the model's own
step, or a step of your own. The hub's values are passed with every run and the
baseline is rerun only when an AI uncertainty moves; the figure keeps its axes as a background
(:class:`hubsd.plots.fans.FanFigure`).

The widgets (``ipywidgets``, in the ``lab`` extra) are imported only by :func:`explore`; without
them it returns the :class:`Explorer`, which renders as a static image like the widget does
where no kernel runs (nbconvert, nbval, the HTML report): the figures with the headline table
as a PNG image and the table as text.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hubsd.core.errors import HubsdError
from hubsd.engine.ensemble import compile_model
from hubsd.inputs.hubs import available, calibrated_or_file, load_hub
from hubsd.inputs.scenarios import scenario_parameters
from hubsd.model.parameters import table
from hubsd.plots.fans import TIERS, FanFigure, number
from hubsd.studies.explore_run import (  # noqa: F401 (OUTPUTS, QUANTILES: re-exported)
    OUTPUTS,
    QUANTILES,
    EnsembleRuns,
    fan_quantiles,
)
from hubsd.studies.policies import draw_ensemble

#: Policy levers: name -> (label, on/off, intensity parameter, further parameters).
LEVERS = {
    "reskilling": ("Reskilling", "reskilling_policy_capacity", ["reskilling_start_year"]),
    "attraction": (
        "New-industry attraction",
        "new_industry_attraction_jobs",
        ["new_industry_attraction_start_year", "new_industry_attraction_duration"],
    ),
    "human_centred": (
        "Human-centred AI",
        "human_centred_ai_policy_share",
        ["human_centred_ai_policy_start_year"],
    ),
}
#: The AI futures with a slider: parameters of the model's Scenario sector, changes to the
#: calibrated hub that act only from the ``scenario start year`` (2026), so that moving them
#: leaves the fitted history 2016-2025 as it is. Name -> slider label (+: add to the hub's
#: value, x: multiply it).
UNCERTAINTIES = {
    "ai_adoption_speed_multiplier": "Adoption speed \u00d7",
    "change_in_automatable_junior_share": "Junior automatable +",
    "change_in_automatable_mid_share": "Mid automatable +",
    "change_in_baseline_human_centred_ai_share": "Human-centred +",
    "change_in_ai_running_cost_ratio": "AI running cost +",
    "client_demand_growth_multiplier": "Client growth \u00d7",
}
#: Where each AI future's slider range comes from, as the slider's tooltip says it.
FUTURE_RANGES = {
    "ai_adoption_speed_multiplier": "table",
    "change_in_automatable_junior_share": ("evidence", "automatable_junior_share"),
    "change_in_automatable_mid_share": ("evidence", "automatable_mid_share"),
    "change_in_baseline_human_centred_ai_share": ("share", "baseline_human_centred_ai_share"),
    "change_in_ai_running_cost_ratio": ("share", "ai_running_cost_ratio"),
    "client_demand_growth_multiplier": "table",
}
#: Style of the widget's headline table.
TABLE_STYLE = (
    "<style>.hubsd-headline{border-collapse:collapse;font-size:12px;line-height:1.3}"
    ".hubsd-headline th,.hubsd-headline td{padding:2px 8px;border-bottom:1px solid #ddd;"
    "text-align:right}.hubsd-headline tbody th{text-align:left;font-weight:normal}</style>"
)
#: Short names of the AI futures (in the static figure's title and the status line).
SHORT = {
    "ai_adoption_speed_multiplier": "adoption speed x",
    "change_in_automatable_junior_share": "junior automatable +",
    "change_in_automatable_mid_share": "mid automatable +",
    "change_in_baseline_human_centred_ai_share": "human-centred share +",
    "change_in_ai_running_cost_ratio": "AI running cost +",
    "client_demand_growth_multiplier": "client growth x",
}
#: Integration steps of the explorer, coarsest first [Year]: every member runs at the first,
#: the members it cannot integrate at the next (then at the model's own step; see the module
#: docstring).
TIME_STEPS = (1 / 6, 1 / 8)
#: The explorer's default step: the first of :data:`TIME_STEPS` the model allows.
TIME_STEP = "auto"
#: Fewest members of the explorer's ensemble.
MIN_SAMPLES = 500
#: Intensity sliders reach this multiple of the hub's smart-mix value.
SLIDER_SPAN = 10 / 3


#: Ensembles drawn in this session: (hub, hub file, members, seed) -> parameter frame.
_DRAWS: dict[tuple, pd.DataFrame] = {}


class ExplorerError(HubsdError):
    """A bad setting of the explorer: unknown control, value outside its range, too few members."""


def _round3(x: float) -> float:
    """``x`` rounded to three significant digits (deterministic printed output)."""
    if not np.isfinite(x) or x == 0:
        return 0.0 if x == 0 else float(x)
    return float(np.round(x, 2 - int(np.floor(np.log10(abs(x))))))


def step_label(step: float | None) -> str:
    """A time step as people write it: ``1/8``, or ``of the model`` for None."""
    if step is None:
        return "of the model"
    inverse = 1 / step
    return f"1/{round(inverse)}" if abs(inverse - round(inverse)) < 1e-9 else f"{step:g}"


def lever_ranges(hub: str) -> dict[str, tuple[float, float, float]]:
    """Slider range and initial value of every lever parameter for a hub: name -> (lo, hi, value).

    Intensities start at the hub's ``smart_mix`` scenario (``data/scenarios.yaml``, resized by
    the hub file) and reach :data:`SLIDER_SPAN` times it; start years and durations span the
    parameter table's range.
    """
    tab = table()
    mix = scenario_parameters(load_hub(hub), ["smart_mix"])["smart_mix"]
    out = {}
    for _label, intensity, others in LEVERS.values():
        for name in (intensity, *others):
            lo, hi = float(tab.loc[name, "low"]), float(tab.loc[name, "high"])
            value = float(mix.get(name, tab.loc[name, "default"]))
            if name == intensity and hi > 1:  # persons per year: scale to the hub
                hi = min(hi, _round3(max(value, 1.0) * SLIDER_SPAN))
            out[name] = (lo, hi, value)
    return out


def uncertainty_ranges(hub: str) -> dict[str, tuple[float, float, float]]:
    """Slider range and initial value of each AI future: name -> (lo, hi, value).

    Every slider starts at the neutral value (the calibrated hub: change 0, multiplier 1).
    Ranges (:data:`FUTURE_RANGES`; :func:`future_sources` says which for each):

    * automatable junior/mid share: the change that takes the hub's value to either end of
      the hub file's evidence range (derived from task data, ``data/evidence/``, Eloundou et
      al. 2023; ``range:`` in ``data/hubs/<hub>.yaml``);
    * baseline human-centred AI share, AI running cost ratio: the change that takes the hub's
      value to 0 or to 1 (the whole range of a share; no data narrow it);
    * adoption speed and client growth multipliers: the model's parameter table range (an
      assumption: no data up to 2025 speak to them).
    """
    tab = table()
    hub_def = load_hub(hub)
    out = {}
    for name in UNCERTAINTIES:
        lo, hi = float(tab.loc[name, "low"]), float(tab.loc[name, "high"])
        kind = FUTURE_RANGES[name]
        if kind != "table":
            base = kind[1]
            value = float(hub_def["parameters"].get(base, tab.loc[base, "default"]))
            ends = hub_def["ranges"].get(base) if kind[0] == "evidence" else (0.0, 1.0)
            if ends is None:  # a hub file without an evidence range: the whole share
                ends = (float(tab.loc[base, "low"]), float(tab.loc[base, "high"]))
            lo = max(lo, _round3(float(ends[0]) - value))
            hi = min(hi, _round3(float(ends[1]) - value))
        out[name] = (lo, hi, float(tab.loc[name, "default"]))
    return out


def future_sources(hub: str) -> dict[str, str]:
    """Where each AI future's slider range comes from (the slider's tooltip): name -> text."""
    tab = table()
    hub_def = load_hub(hub)
    start = f"{float(hub_def['parameters'].get('scenario_start_year', 2026)):g}"
    out = {}
    for name in UNCERTAINTIES:
        kind = FUTURE_RANGES[name]
        what = str(tab.loc[name, "description"]).split(" from the scenario start year")[0]
        if kind == "table":
            where = "range: the model's parameter table (assumption; no data speak to it)"
        elif kind[0] == "evidence" and kind[1] in hub_def["ranges"]:
            where = (
                f"range: from the hub's {kind[1]} to the ends of its evidence range "
                "(data/evidence, Eloundou et al. 2023; data/hubs)"
            )
        else:
            where = f"range: from the hub's {kind[1]} to 0 or 1 (the whole share; assumption)"
        out[name] = f"{what} from {start}, against the calibrated hub; {where}"
    return out


class Explorer:
    """The explorer's model side: the ensemble, the current settings, fans and headline.

    Parameters
    ----------
    hub : str
        Hub: ``"krakow@calibrated"`` (its newest calibrated set, shown resolved as
        ``krakow@v1``), ``"krakow@v1"`` or ``"krakow"`` (the hub file's values).
    samples : int
        Ensemble members (at least :data:`MIN_SAMPLES`), drawn once per hub.
    seed : int
        Seed of the Latin hypercube.
    time_step : "auto", float or None
        Integration step [Year]: ``"auto"`` the first of :data:`TIME_STEPS`, with the members
        it cannot integrate re-run at the next (see the module docstring); ``None`` the
        model's own (slower); a number: that step for every member (a delay too short for it
        is refused).
    year : float
        Year of the headline table's hub jobs, enrolments and local service jobs.
    warm : bool
        Run each change from 2026 on the history kept once per hub (default), falling back to
        the full run where that is refused (:mod:`hubsd.studies.explore_run`); False: always
        the full run from 2005.

    Attributes
    ----------
    hub : str
        The resolved hub (``krakow@v1``).
    values : dict
        Current lever parameters and AI futures.
    member_time_step : numpy.ndarray
        Each member's integration step in the last run [Year] (empty without ``"auto"``).
    on : dict
        Which levers are switched on.
    seconds : float
        Wall time of the last update (ensemble run, quantiles, headline).
    timings : dict
        Its parts [s]: ``engine`` (the ensemble run) and ``fans and headline``.
    runs : hubsd.studies.explore_run.EnsembleRuns
        The runs (warm from 2026 or in full); :attr:`mode` says how the last one ran.
    """

    def __init__(
        self,
        hub: str = "krakow@calibrated",
        samples: int = MIN_SAMPLES,
        seed: int = 0,
        time_step: float | str | None = TIME_STEP,
        year: float = 2035.0,
        warm: bool = True,
    ) -> None:
        if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)):
            raise ExplorerError(f"samples must be a whole number, got {samples!r}")
        if samples < MIN_SAMPLES:
            raise ExplorerError(f"samples must be at least {MIN_SAMPLES}, got {samples}")
        self.samples, self.seed, self.year = int(samples), seed, year
        self.model = compile_model()
        if time_step == "auto":  # the members the coarse step cannot integrate: the next
            own = float(self.model.controls["time_step"])
            self.time_step, self._finer = TIME_STEPS[0], (*TIME_STEPS[1:], own)
        else:
            self.time_step, self._finer = time_step, ()
        self.member_time_step = np.array([])
        self.runs = EnsembleRuns(self.model, self.time_step, self._finer, warm)
        self._baseline_cache: dict = {}
        self.seconds = 0.0
        self.timings: dict[str, float] = {}
        self.set_hub(hub)

    @property
    def explorer(self) -> Explorer:
        """The explorer itself (as ``ui.explorer`` of the widgets)."""
        return self

    # -- settings ------------------------------------------------------------------------------

    def set_hub(self, hub: str) -> Explorer:
        """Switch to another hub: new ensemble, its levers and uncertainties at their values."""
        resolved = load_hub(hub)["hub"]
        # calibrated parameters jointly from their posterior, the other priors by LHS; drawn
        # once per hub, members and seed in a session (a posterior draw takes minutes)
        key = (resolved, load_hub(resolved).get("file"), self.samples, self.seed)
        if key not in _DRAWS:
            _DRAWS[key] = draw_ensemble(resolved, self.samples, self.seed)
        draw = _DRAWS[key]
        names = list(draw.columns)  # the AI futures (Scenario sector) are not drawn
        self.hub = resolved
        # the hub's values, passed with every run (the engine would read the hub file each time)
        self.hub_values = {k: float(v) for k, v in load_hub(resolved)["parameters"].items()}
        self.lhs = {n: draw[n].to_numpy() for n in names}
        self.lever_ranges = lever_ranges(resolved)
        self.uncertainty_ranges = uncertainty_ranges(resolved)
        self.sources = future_sources(resolved)
        self.ranges = {**self.lever_ranges, **self.uncertainty_ranges}
        self.values = {n: r[2] for n, r in self.ranges.items()}
        self.on = dict.fromkeys(LEVERS, False)
        self.runs.reset(self.hub_values, self.lhs, {**self.policy(), **self.future_values()})
        self._baseline_cache.clear()
        return self.update()

    def set(self, **changes) -> Explorer:
        """Change levers (``reskilling=True``), lever parameters or AI uncertainties; rerun.

        Raises
        ------
        ExplorerError
            An unknown name or a value outside its slider range; nothing is changed.
        """
        values, on = dict(self.values), dict(self.on)
        for name, value in changes.items():
            if name in LEVERS:
                on[name] = bool(value)
            elif name in self.ranges:
                lo, hi, _ = self.ranges[name]
                value = float(value)
                if not lo <= value <= hi:
                    raise ExplorerError(f"{name} must lie in [{lo:g}, {hi:g}], got {value:g}")
                values[name] = value
                lever = [k for k, v in LEVERS.items() if v[1] == name]
                if lever and lever[0] not in changes:  # moving an intensity switches it on
                    on[lever[0]] = True
            else:
                known = [*LEVERS, *self.ranges]
                raise ExplorerError(f"unknown control {name!r}; known: {', '.join(known)}")
        self.values, self.on = values, on
        return self.update()

    def future_values(self) -> dict[str, float]:
        """The AI futures' current values."""
        return {n: self.values[n] for n in UNCERTAINTIES}

    def policy(self) -> dict[str, float]:
        """Lever parameters of the current settings (a lever switched off has intensity 0)."""
        out = {}
        for lever, (_label, intensity, others) in LEVERS.items():
            out[intensity] = self.values[intensity] if self.on[lever] else 0.0
            out.update({n: self.values[n] for n in others})
        return out

    # -- runs ----------------------------------------------------------------------------------

    def _run(self, policies: list[Mapping[str, float]]) -> list[dict[str, np.ndarray]]:
        """One ensemble run of every member under each policy; outputs (member, time) each.

        From 2026 on the kept history where the warm start allows it, else in full
        (:mod:`hubsd.studies.explore_run`; :attr:`mode` says which).
        """
        runs = self.runs.run(policies, self.future_values())
        self.timings["engine"] = self.runs.seconds
        self.time, self.attrs = self.runs.time, self.runs.attrs
        self.member_time_step = self.runs.member_time_step
        return runs

    @property
    def mode(self) -> str:
        """How the last run ran: from 2026 on the kept history, or in full (and why)."""
        return self.runs.mode

    def update(self) -> Explorer:
        """Rerun the ensemble for the current settings.

        The baseline (every lever's intensity 0) depends on the AI uncertainties only: it is run
        together with the policy when one of them changes, and reused while only levers move.
        """
        t0 = time.perf_counter()
        self.timings = {"engine": 0.0}
        policy = self.policy()
        off = {**policy, **{LEVERS[k][1]: 0.0 for k in LEVERS}}
        key = (self.hub, *(self.values[n] for n in UNCERTAINTIES))
        if self._baseline_cache.get("key") != key:
            runs = self._run([off] if policy == off else [off, policy])
            fans = {v: fan_quantiles(a) for v, a in runs[0].items()}
            self._baseline_cache.update(key=key, members=runs[0], fans=fans)
        elif policy == off:
            runs = [self._baseline_cache["members"]]
        else:
            runs = self._run([policy])
        self.baseline_members = self._baseline_cache["members"]
        self.baseline_fans = self._baseline_cache["fans"]
        self.members = runs[-1]
        self.fans = {v: fan_quantiles(a) for v, a in self.members.items()}
        self.headline = self._headline()
        self.seconds = time.perf_counter() - t0
        self.timings["fans and headline"] = self.seconds - self.timings["engine"]
        return self

    # -- the headline table ----------------------------------------------------------------------

    def _at(self, members: dict[str, np.ndarray], name: str, year: float) -> np.ndarray:
        return members[name][:, int(np.argmin(np.abs(self.time - year)))]

    def _headline_rows(self, members: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        late = self.time >= 2024
        window = late & (self.time <= self.year)
        y = f"{self.year:g}"
        rows = {
            f"{lab} jobs {y}": self._at(members, n, self.year)
            for lab, n in zip(("Junior", "Mid", "Senior"), TIERS, strict=True)
        }
        rows[f"Hub jobs {y}"] = self._at(members, "total_hub_staff", self.year)
        rows[f"Hub jobs {self.time[-1]:g}"] = members["total_hub_staff"][:, -1]
        rows["Peak youth unemployment from 2024 [%]"] = 100 * members["youth_unemployment_rate"][
            :, late
        ].max(axis=1)
        rows[f"Net young migration 2024-{y} [persons]"] = members["net_young_migration"][
            :, window
        ].sum(axis=1)  # Person/Year saved yearly: the sum is the integral
        rows[f"First-year business students {y}"] = self._at(
            members, "business_first_year_enrolment", self.year
        )
        rows[f"Local service jobs {y}"] = self._at(members, "local_service_jobs", self.year)
        rows[f"Policy cost to {self.time[-1]:g} [M EUR]"] = (
            members["cumulative_policy_cost"][:, -1] / 1e6
        )
        return rows

    def _headline(self) -> pd.DataFrame:
        base = self._headline_rows(self.baseline_members)
        pol = self._headline_rows(self.members)
        rows = {}
        for row, b in base.items():
            diff = pol[row] - b
            values = np.array(
                [
                    np.median(b),
                    np.median(pol[row]),
                    np.median(diff),
                    *np.quantile(diff, [0.05, 0.95]),
                ]
            )
            # one resolution per row (4 digits of its largest level), so that round-off in a
            # change (1e-12 for 0) prints as 0 on every machine, then 3 significant digits
            scale = float(np.max(np.abs(values[:2]))) or float(np.max(np.abs(values))) or 1.0
            step = 10.0 ** (np.floor(np.log10(scale)) - 3)
            rows[row] = [_round3(float(np.round(v / step) * step)) + 0.0 for v in values]
        columns = ["baseline", "with levers", "change", "change 5%", "change 95%"]
        return pd.DataFrame.from_dict(rows, orient="index", columns=columns)

    def describe(self) -> str:
        """One line: hub, members, the levers on, the AI futures moved from neutral."""
        levers = [
            f"{LEVERS[k][0].lower()} {self.values[LEVERS[k][1]]:g}" for k in LEVERS if self.on[k]
        ]
        return (
            f"{self.hub}, {self.samples} members; levers: {', '.join(levers) or 'none'}; "
            f"AI futures: {self.futures()}"
        )

    def futures(self) -> str:
        """The AI futures moved from neutral (``junior automatable + 0.2``), or "as calibrated"."""
        moved = [
            f"{SHORT[n]} {self.values[n]:.3g}"
            for n in UNCERTAINTIES
            if self.values[n] != self.uncertainty_ranges[n][2]
        ]
        return ", ".join(moved) or "as calibrated"

    def steps(self) -> str:
        """The integration steps of the last run: ``1/6`` or ``1/6 (3 members at 1/8)``."""
        text = step_label(self.time_step)
        finer, counts = np.unique(self.member_time_step, return_counts=True)
        rest = [
            f"{c} member{'s' if c > 1 else ''} at {step_label(float(f))}"
            for f, c in zip(finer, counts, strict=True)
            if self.time_step is None or f < self.time_step * (1 - 1e-9)
        ]
        return f"{text} ({', '.join(rest)})" if rest else text

    def text(self) -> str:
        """The headline table as text, under a line describing the settings."""
        with pd.option_context("display.width", 200, "display.max_columns", 10):
            table = self.headline.to_string(float_format=number)
        return f"{self.describe()}\nmedians over members\n{table}"

    def html_table(self) -> str:
        """The headline table as a compact HTML table (for the widget)."""
        return TABLE_STYLE + self.headline.to_html(
            classes="hubsd-headline", float_format=number, border=0
        )

    # -- figures -------------------------------------------------------------------------------

    def title(self, settings: bool = False) -> str:
        """The figure's title (with the levers and the AI futures on a second line)."""
        title = (
            f"{self.hub}: median, 50 % and 90 % bands of {self.samples} members "
            "(dashed: baseline median)"
        )
        if settings:
            levers = [
                f"{k.replace('_', '-')} {self.values[LEVERS[k][1]]:g}" for k in LEVERS if self.on[k]
            ]
            title += f"\nlevers: {', '.join(levers) or 'none'}; AI futures: {self.futures()}"
        return title

    def draw(self, fans: FanFigure) -> FanFigure:
        """Draw the current fans into ``fans`` (its table too if it has one)."""
        static = fans.table_ax is not None
        fans.draw(self.time, self.fans, self.baseline_fans, self.title(static), self.headline)
        return fans

    def figure(self, table: bool = False) -> Figure:
        """The fan charts of the current settings (with the headline table below if ``table``)."""
        return self.draw(FanFigure(table=table)).fig

    def png(self, table: bool = False) -> bytes:
        """:meth:`figure` as PNG bytes."""
        return self.draw(FanFigure(table=table)).png()

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"image/png": self.png(table=True), "text/plain": self.text()}


def hub_choices() -> list[str]:
    """Hubs of the dropdown: each hub's newest calibrated set (where one exists), then its file."""
    out = []
    for name in available():
        out += dict.fromkeys([calibrated_or_file(name), name])
    return out


# -- the widgets ---------------------------------------------------------------------------------

_UI_CLASS: dict = {}


def _ui_class(widgets):
    """The explorer's widget class (a VBox whose static rendering is the last state's image)."""
    if "cls" not in _UI_CLASS:

        class ExplorerUI(widgets.VBox):
            """The explorer's widgets; ``.explorer`` is its :class:`Explorer`."""

            def set(self, **values):
                """Set controls as a user would (``reskilling=True``), with one redraw."""
                self._apply(values)
                return self

            def _repr_mimebundle_(self, **kwargs):
                data = super()._repr_mimebundle_(**kwargs) or {}
                if isinstance(data, tuple):  # (data, metadata)
                    data = data[0]
                # where no kernel runs (nbconvert, nbval, a notebook opened without its kernel)
                # the image and the text stand in for the widget
                data.update(self.explorer._repr_mimebundle_())
                return data

        _UI_CLASS["cls"] = ExplorerUI
    return _UI_CLASS["cls"]


def _slider(widgets, name: str, label: str, lo: float, hi: float, value: float):
    integer = name.endswith(("_year", "_duration")) or hi > 100
    cls = widgets.IntSlider if integer else widgets.FloatSlider
    step = 1 if integer else _round3((hi - lo) / 100)
    if integer and hi > 1000:
        step = int(_round3((hi - lo) / 100))
    kwargs = {} if integer else {"readout_format": ".3g"}
    return cls(
        value=round(value) if integer else value,
        min=round(lo) if integer else lo,
        max=round(hi) if integer else hi,
        step=step,
        description=label,
        continuous_update=False,
        style={"description_width": "150px"},
        layout=widgets.Layout(width="340px"),
        **kwargs,
    )


def _futures_header(explorer: Explorer) -> str:
    """The heading of the AI sliders: what they change, and from when."""
    start = f"{explorer.hub_values.get('scenario_start_year', 2026):g}"
    return (
        f"<b>AI futures from {start}</b><br><small>changes to the calibrated hub "
        f"(+: added to its value, \u00d7: its rate multiplied) for every member from {start} "
        f"on; the history before {start} stays as fitted. Hover a slider for its range's "
        "source.</small>"
    )


def _label(name: str) -> str:
    for suffix, text in (("_start_year", "start year"), ("_duration", "duration [years]")):
        if name.endswith(suffix):
            return text
    unit = table().loc[name, "units"]
    return {"Person/Year": "persons/year", "Dmnl": "share"}.get(unit, unit)


def explore(
    hub: str = "krakow@calibrated",
    samples: int = MIN_SAMPLES,
    seed: int = 0,
    time_step: float | str | None = TIME_STEP,
    year: float = 2035.0,
    warm: bool = True,
):
    """The interactive explorer: levers and AI uncertainties, fan charts, a headline table.

    Parameters
    ----------
    hub : str
        Hub to start with (``"krakow@calibrated"``: its newest calibrated set, ``"krakow@v1"``,
        ``"krakow"``: the hub file); the dropdown switches to any other hub.
    samples : int
        Ensemble members, at least 500 (drawn once per hub; see :class:`Explorer`).
    seed : int
        Seed of the Latin hypercube.
    time_step : "auto", float or None
        Integration step [Year] (default: the coarsest of :data:`TIME_STEPS` the model allows;
        ``None``: the model's own).
    year : float
        Year of the headline numbers.
    warm : bool
        Run each change from 2026 on the kept history (default; the full run where refused).

    Returns
    -------
    ipywidgets.VBox
        The explorer (display it, or leave it as a cell's last expression): its ``explorer``
        attribute is the :class:`Explorer`, ``controls`` maps each control's name to its
        widget, ``table`` is the headline table's HTML widget. Where no kernel runs it renders
        as the last state's image and headline table. Without ipywidgets (``pip install -e
        ".[lab]"``) the :class:`Explorer` is returned instead, which renders the same way.

    Raises
    ------
    ExplorerError, HubError
        Too few members, an unknown hub.

    Examples
    --------
    >>> import hubsd
    >>> hubsd.explore("krakow@calibrated")  # doctest: +SKIP
    """
    explorer = Explorer(hub, samples=samples, seed=seed, time_step=time_step, year=year, warm=warm)
    try:
        import ipywidgets as widgets
    except ImportError:  # the lab extra is not installed: the static explorer
        return explorer
    return _build(widgets, explorer)


def _build(widgets, explorer: Explorer):
    fans = FanFigure()
    controls: dict = {}
    hubs = hub_choices()
    if explorer.hub not in hubs:
        hubs.insert(0, explorer.hub)
    controls["hub"] = widgets.Dropdown(
        options=hubs,
        value=explorer.hub,
        description="Hub",
        style={"description_width": "150px"},
        layout=widgets.Layout(width="340px"),
    )
    boxes = [controls["hub"], widgets.HTML("<b>Policy levers</b>")]
    for lever, (label, intensity, others) in LEVERS.items():
        controls[lever] = widgets.Checkbox(
            value=explorer.on[lever],
            description=label,
            indent=False,
            layout=widgets.Layout(width="340px"),
        )
        boxes.append(controls[lever])
        for name in (intensity, *others):
            lo, hi, value = explorer.ranges[name]
            controls[name] = _slider(widgets, name, _label(name), lo, hi, value)
            boxes.append(controls[name])
    header = widgets.HTML(_futures_header(explorer))
    boxes.append(header)
    for name, label in UNCERTAINTIES.items():
        lo, hi, value = explorer.ranges[name]
        controls[name] = _slider(widgets, name, label, lo, hi, value)
        controls[name].tooltip = explorer.sources[name]
        boxes.append(controls[name])
    image = widgets.Image(
        format="png", layout=widgets.Layout(width="100%", max_width="960px", height="auto")
    )
    headline = widgets.HTML()
    status = widgets.HTML()
    busy = {"on": False}

    def show():
        t0 = time.perf_counter()
        explorer.draw(fans)
        t1 = time.perf_counter()
        image.value = fans.png()
        t2 = time.perf_counter()
        headline.value = explorer.html_table()
        total = explorer.seconds + time.perf_counter() - t0
        parts = {"figure": t1 - t0, "png": t2 - t1, "table": time.perf_counter() - t2}
        ui.timings = {**explorer.timings, **parts}
        status.value = (
            f"<small>{explorer.describe()}<br>redrawn in {total:.2f} s (ensemble "
            f"{explorer.seconds:.2f} s, {explorer.mode}); TIME STEP {explorer.steps()}"
            "</small>"
        )
        ui.seconds = total

    def sync():
        """Controls follow the explorer (after a hub change or a lever switched on)."""
        busy["on"] = True
        try:
            header.value = _futures_header(explorer)
            for name, widget in controls.items():
                if name == "hub":
                    continue
                if name in LEVERS:
                    widget.value = explorer.on[name]
                    continue
                lo, hi, value = explorer.ranges[name]
                if isinstance(widget, widgets.IntSlider):
                    lo, hi, value = round(lo), round(hi), round(value)
                widget.max = max(hi, widget.min)
                widget.min, widget.max = lo, hi
                widget.value = explorer.values[name]
                if name in UNCERTAINTIES:
                    widget.tooltip = explorer.sources[name]
        finally:
            busy["on"] = False

    def apply(values: dict) -> None:
        if "hub" in values:
            explorer.set_hub(values.pop("hub"))
        if values:
            explorer.set(**values)
        sync()
        show()

    def changed(change):
        if busy["on"]:
            return
        try:
            apply({change["owner"]._hubsd_name: change["new"]})
        except HubsdError as exc:
            status.value = f"<span style='color:#b00'>{exc}</span>"

    for name, widget in controls.items():
        widget._hubsd_name = name
        widget.observe(changed, names="value")
    # controls in a fixed column, the figure and table beside them (below on narrow screens)
    left = widgets.VBox(boxes, layout=widgets.Layout(flex="0 0 360px", width="360px"))
    right = widgets.VBox(
        [image, headline, status], layout=widgets.Layout(flex="1 1 520px", min_width="520px")
    )
    row = widgets.HBox([left, right], layout=widgets.Layout(flex_flow="row wrap", width="100%"))
    ui = _ui_class(widgets)([row])
    ui.explorer, ui.controls, ui.table = explorer, controls, headline
    ui.image, ui.status = image, status
    ui._apply = apply
    ui.add_class("hubsd-explorer")
    show()
    return ui
