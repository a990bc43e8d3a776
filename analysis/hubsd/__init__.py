"""hubsd: system-dynamics models of AI automation in outsourcing and shared-services hubs.

The model is ``models/hub.mdl`` (Vensim), run through PySD. Start with :func:`hubsd.run`.
"""

__version__ = "0.1.0"

from .ensemble import compile_model  # noqa: E402
from .hubs import HubError, load_hub  # noqa: E402
from .hubs import available as available_hubs
from .parameters import ParameterError, validate  # noqa: E402
from .parameters import table as parameter_table
from .run import KEY_OUTPUTS, run, run_scenarios, run_sector, save, sector_inputs, sectors  # noqa: E402

__all__ = [
    "HubError",
    "KEY_OUTPUTS",
    "ParameterError",
    "available_hubs",
    "compile_model",
    "load_hub",
    "parameter_table",
    "run",
    "run_scenarios",
    "run_sector",
    "save",
    "sector_inputs",
    "sectors",
    "validate",
]
