"""Settings of the validation battery: sample sizes, thresholds, the extreme conditions, names."""

from __future__ import annotations

import operator

from hubsd.core.errors import HubsdError
from hubsd.inputs.scenarios import STRESS

#: Latin hypercube defaults: samples and seed.
LHS_SAMPLES = 1000
LHS_SEED = 20251125
#: Members simulated together in one LHS chunk (memory: every variable of the model is kept).
LHS_CHUNK = 250

#: Strong automation in a mature hub from the scenario start year: a_J raised by 0.3 (towards
#: the top of the ILO range 0.24-0.8), no further growth of the clients' demand and automation
#: that saves no cost, so automation, not demand, drives the hub; history before it unchanged.
SHOCK = {
    "change_in_automatable_junior_share": 0.3,
    "client_demand_growth_multiplier": 0.0,
    "change_in_ai_running_cost_ratio": 1.0,
}

#: Full automation of junior tasks (a_J = 1 and h = 0) in a hub with no long-run demand growth
#: (:data:`hubsd.inputs.scenarios.STRESS`).
STRONG_SHOCK = dict(STRESS)


#: Every parameter that acts only through AI adoption, at the other end of its range.
AI_EFFECT_EXTREMES = {
    "automatable_junior_share": 1.0,
    "automatable_mid_share": 0.25,
    "augmentation_productivity_gain": 0.34,
    "bass_imitation_coefficient": 0.6,
    "ai_implementation_delay": 0.67,
    "ai_start_year": 2010.0,
    "ai_running_cost_ratio": 1.0,
    "augmentation_attrition_reduction": 0.5,
    "reinstatement_ratio": 1.0,
    "baseline_human_centred_ai_share": 1.0,
}

#: No AI adoption: no innovators and no initial adopters.
NO_ADOPTION = {"bass_innovation_coefficient": 0.0, "initial_adopting_share": 0.0}
#: Every junior task automatable and no human-centred deployment.
FULL_AUTOMATION = {"automatable_junior_share": 1.0, "baseline_human_centred_ai_share": 0.0}
#: No local multiplier.
NO_MULTIPLIER = {"local_multiplier": 0.0}

#: INTEG stocks that are signed by definition (net people who crossed the city boundary).
SIGNED_STOCKS = {"cumulative_net_boundary_flow"}

#: Key outputs whose integration error is measured (those the model has).
INTEGRATION_OUTPUTS = [
    "total_hub_staff",
    "junior_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "business_first_year_enrolment",
    "local_service_jobs",
    "net_young_migration",
    "new_industry_jobs",
    "adopting_share",
]

#: Outputs that can stay at or near zero for a whole run: (reference output, fraction) whose
#: product floors their scale. The displaced stock is exactly 0 without an automation shock,
#: where its own max |x| would turn any round-off into a 100 % change; its scale is at least
#: 1 % of the run's peak hub staff (see ``tests/test_behaviour.py``).
SCALE_FLOOR = {"displaced_hub_workers": ("total_hub_staff", 0.01)}

#: Outputs drawn as Latin hypercube envelopes (those the model has; else its first stocks).
ENVELOPE_OUTPUTS = [
    "total_hub_staff",
    "junior_staff",
    "displaced_hub_workers",
    "youth_unemployment_rate",
    "local_service_jobs",
    "new_industry_jobs",
]

CONSERVATION_TOLERANCE = 1e-9
NEGATIVE_TOLERANCE = 1e-9
HALVING_THRESHOLD = 0.01
REFERENCE_DIVISOR = 8
REFERENCE_THRESHOLD = 0.02
#: Exact identities of the extreme conditions, relative to the variables' scale.
IDENTITY_TOLERANCE = 1e-12

PASS, FAIL, SKIPPED = "pass", "fail", "skipped"
UNITS_TESTS = "every equation is dimensionally consistent with the units written in the model"
#: Largest |scenario - baseline| / scale allowed before a scenario's start year (round-off).
HISTORY_TOLERANCE = 1e-9
HISTORY_TESTS = (
    "every scenario and shock reproduces the baseline (calibrated) path up to its start year: "
    "it changes the future, never the fitted history"
)
CONSERVATION_TESTS = (
    "every person leaving a stock enters another or crosses the boundary through a counted flow"
)
LHS_TESTS = (
    "no variable is NaN or infinite anywhere in the parameter space",
    "no stock goes negative anywhere in the parameter space",
)
INTEGRATION_TESTS = "key outputs change little when TIME STEP is refined"
EXTREME_NAMES = [
    "no adoption is the no-AI world",
    "full junior automation",
    "zero graduates limit hiring",
    "no multiplier keeps services at base",
]
COLUMNS = ["check", "group", "tests", "status", "figure", "threshold", "measure", "details"]
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, "==": operator.eq}


class ValidationInputError(HubsdError):
    """Bad input to :func:`validate_model`: the message is one line naming the file (and line)."""
