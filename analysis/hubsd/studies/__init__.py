"""The studies room: sensitivity analysis, policy studies, the claims ledger and the explorer."""

from hubsd.inputs.scenarios import STRESS
from hubsd.studies.claims import claims_ledger
from hubsd.studies.explore import Explorer
from hubsd.studies.policies import (
    draw_ensemble,
    lhs_parameters,
    policy_effects,
    quantiles,
    relative_to,
    run_cases,
    uncertain_parameters,
    uncertain_ranges,
)

__all__ = [
    "STRESS",
    "Explorer",
    "claims_ledger",
    "draw_ensemble",
    "lhs_parameters",
    "policy_effects",
    "quantiles",
    "relative_to",
    "run_cases",
    "uncertain_parameters",
    "uncertain_ranges",
]
