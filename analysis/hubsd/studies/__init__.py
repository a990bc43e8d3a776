"""The studies room: sensitivity analysis (SALib on the ensemble engine) and policy studies."""

from hubsd.inputs.scenarios import STRESS
from hubsd.studies.policies import (
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
    "lhs_parameters",
    "policy_effects",
    "quantiles",
    "relative_to",
    "run_cases",
    "uncertain_parameters",
    "uncertain_ranges",
]
