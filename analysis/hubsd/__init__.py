"""hubsd: system-dynamics models of AI automation in outsourcing and shared-services hubs.

The model is ``models/hub.mdl`` (Vensim), run through PySD. The public API is here; each entry
that concerns a hub takes ``(hub, params, outputs)`` in that order.

======================  ===================================================================
``run``                 one hub, one parameter set, through PySD (xarray Dataset, dim time)
``run_scenarios``       one hub under the policy scenarios (dims scenario, time)
``run_ensemble``        N parameter sets side by side on the ensemble engine (dims sample, time)
``calibrate``           fit a hub to its data, with intervals and a holdout test
``validate_model``      the model-testing battery (units, reality checks, LHS, integration ...)
``sobol``, ``morris``   global sensitivity (SALib on the ensemble engine)
``parameter_table``     every parameter: default, range, units, source
``load_hub``            a hub file (or calibrated set) with its sources
``check_parameters``    parameter values checked against the table
``explore``             the interactive explorer: levers, AI uncertainties, fan charts (JupyterLab)
======================  ===================================================================

The package is layered; a room imports only from the rooms before it::

    core -> model -> inputs -> engine -> plots -> calibration -> validation -> studies
         -> workflows -> cli
"""

from __future__ import annotations

import warnings

from hubsd.calibration.calibrate import Calibration, calibrate
from hubsd.core.errors import HubsdError
from hubsd.core.version import __version__
from hubsd.engine.ensemble import compile_model, run_ensemble
from hubsd.engine.pysd_runner import (
    KEY_OUTPUTS,
    run,
    run_scenarios,
    run_sector,
    save,
    sector_inputs,
    sectors,
)
from hubsd.inputs.hubs import HubError, load_hub
from hubsd.inputs.hubs import available as available_hubs
from hubsd.model.parameters import ParameterError, check_parameters
from hubsd.model.parameters import table as parameter_table
from hubsd.studies.explore import explore
from hubsd.studies.sensitivity import morris, sobol
from hubsd.validation.battery import validate_model
from hubsd.validation.report import ValidationReport

__all__ = [
    "KEY_OUTPUTS",
    "Calibration",
    "HubError",
    "HubsdError",
    "ParameterError",
    "ValidationReport",
    "__version__",
    "available_hubs",
    "calibrate",
    "check_parameters",
    "compile_model",
    "explore",
    "load_hub",
    "morris",
    "parameter_table",
    "run",
    "run_ensemble",
    "run_scenarios",
    "run_sector",
    "save",
    "sector_inputs",
    "sectors",
    "sobol",
    "validate_model",
]

#: Old names kept for one release: name -> (new object, message).
_DEPRECATED = {
    "validate": (check_parameters, "hubsd.validate is now hubsd.check_parameters"),
}


def __getattr__(name: str):
    if name in _DEPRECATED:
        obj, msg = _DEPRECATED[name]
        warnings.warn(f"{msg}; the old name will be removed", DeprecationWarning, stacklevel=2)
        return obj
    raise AttributeError(f"module 'hubsd' has no attribute {name!r}")
