"""Policy scenarios (``data/scenarios.yaml``) and the named shocks the studies and checks apply.

A scenario is a set of parameter overrides (the policy levers); a hub file may resize a lever
for its city under ``scenarios:``. Every value is checked against the parameter table when read.
"""

from __future__ import annotations

from pathlib import Path

from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL, SCENARIOS_FILE
from hubsd.inputs.hubs import HubError, check_mapping, read_yaml
from hubsd.model.parameters import ParameterError, check_parameters

#: A strong automation shock under which policies matter, switched on at the scenario start year
#: (``scenario_start_year``, default 2026: the year after the last observation) so that the
#: fitted history stays as it was: every junior task automatable from then on, no human-centred
#: AI without policy, no further growth of the clients' offshorable work, and automation that
#: wins the hub no work through lower costs (AI running cost equal to the labour it saves).
STRESS = {
    "change_in_automatable_junior_share": 1.0,
    "change_in_baseline_human_centred_ai_share": -1.0,
    "client_demand_growth_multiplier": 0.0,
    "change_in_ai_running_cost_ratio": 1.0,
}


#: The one scenario of a model of one's own run without a scenario file.
BASELINE_ONLY = {"baseline": {"description": "the model's own values", "parameters": {}}}


def load_scenarios(path: Path | None = SCENARIOS_FILE, mdl=DEFAULT_MODEL) -> dict[str, dict]:
    """Policy scenarios: name -> ``{"description": str, "parameters": dict}`` (validated).

    Parameters
    ----------
    path : path or None
        A scenario file (default ``data/scenarios.yaml``, or the workspace's). ``None``: that
        file for the default model, and only a ``baseline`` without overrides for another
        model (the bundled scenarios set the hub model's policy levers).
    mdl : path
        The model whose parameter table the values are checked against.
    """
    if path is None:
        same = Path(mdl).resolve() == Path(DEFAULT_MODEL).resolve()
        if not (same and Path(SCENARIOS_FILE).is_file()):
            return {k: dict(v) for k, v in BASELINE_ONLY.items()}
        path = SCENARIOS_FILE
    path = Path(path)
    if not path.is_file():
        raise HubError(f"scenario file {str(path)!r} not found")
    doc = check_mapping(read_yaml(path), str(path))
    out = {}
    for name, entry in doc.items():
        entry = check_mapping(entry, f"{path}: scenario {name!r}")
        try:
            params = check_parameters(entry.get("parameters") or {}, mdl)
        except ParameterError as exc:
            raise ParameterError(f"{path}: scenario {name!r}: {exc}") from None
        out[str(name)] = {"description": str(entry.get("description", "")), "parameters": params}
    return out


def scenario_parameters(
    hub: dict, names: list[str] | None = None, path: Path | None = SCENARIOS_FILE, mdl=DEFAULT_MODEL
) -> dict[str, dict]:
    """Parameter overrides of each scenario for a hub (hub file overrides win).

    ``path`` and ``mdl`` as in :func:`load_scenarios`.
    """
    scenarios = load_scenarios(path, mdl)
    names = list(scenarios) if names is None else names
    out = {}
    for name in names:
        if name not in scenarios:
            msg = f"unknown scenario {name!r}{did_you_mean(name, scenarios, n=1)}"
            raise HubError(f"{msg}. Known scenarios: {', '.join(scenarios)}")
        out[name] = {**scenarios[name]["parameters"], **hub["scenarios"].get(name, {})}
    return out


def smart_mix(path: Path = SCENARIOS_FILE) -> dict[str, float]:
    """The parameters of the "smart automation policy" scenario (``smart_mix``)."""
    return load_scenarios(path)["smart_mix"]["parameters"]
