"""Hub parameter sets (``data/hubs/<hub>.yaml``) and policy scenarios (``data/scenarios.yaml``).

A hub file holds the parameter values that make the generic model one city, each with its
source, and optionally hub-specific sizes of the policy levers::

    hub: krakow
    name: Kraków
    parameters:
      initial_hub_service_demand:
        value: 10000
        source: "..."
    scenarios:            # optional: overrides of data/scenarios.yaml for this hub
      reskilling: {reskilling_policy_capacity: 3000}

Everything is validated against the parameter table when it is read.
"""

from __future__ import annotations

import os
from pathlib import Path

from hubsd.core.errors import HubsdError
from hubsd.core.hints import did_you_mean
from hubsd.core.paths import DEFAULT_MODEL, HUBS_DIR, REPO
from hubsd.core.yamlio import read_yaml as core_read_yaml
from hubsd.inputs.calibrated import CalibrationError, check_version, load_calibrated, versions
from hubsd.model.parameters import ParameterError, check_parameters

#: The hub used when none is named.
DEFAULT_HUB = "krakow"


class HubError(HubsdError):
    """An unknown hub or a malformed hub or scenario file."""


def read_yaml(path: Path) -> object:
    """Parse a YAML input file; a syntax error is a :class:`HubError` with the file and line."""
    return core_read_yaml(path, HubError)


def available(hubs_dir: Path = HUBS_DIR) -> list[str]:
    """Names of the hubs with a parameter file.

    Parameters
    ----------
    hubs_dir : path
        Folder of the hub files (default ``data/hubs/``).

    Returns
    -------
    list of str
        Sorted hub names (the file stems), as :func:`load_hub` and ``hub=`` take them.

    Examples
    --------
    >>> import hubsd
    >>> hubsd.available_hubs()
    ['krakow', 'manila', 'telangana']
    """
    return sorted(p.stem for p in Path(hubs_dir).glob("*.yaml"))


def is_path(name: object) -> bool:
    """Whether a hub (or spec) name is a file path rather than a bundled name.

    A path ends in ``.yaml``/``.yml`` or contains a folder separator (``./lodz.yaml``,
    ``hubs/lodz.yaml``); a bare name (``krakow``) is looked up in the hubs folder.
    """
    text = str(name).strip()
    return text.lower().endswith((".yaml", ".yml")) or "/" in text or os.sep in text


def hub_name(hub: str) -> str:
    """The name a hub is known by: the stem of a hub file given as a path, else ``hub``."""
    base, at, version = str(hub).strip().partition("@")
    return (Path(base).stem if is_path(base) else base) + at + version


def hub_file(hub: str, hubs_dir: Path = HUBS_DIR) -> Path:
    """Path of a hub's parameter file; an unknown hub raises with the known ones.

    ``hub`` is a hub name of ``hubs_dir`` or the path of a hub file of the user's own
    (:func:`is_path`); its name is then the file's stem.
    """
    if is_path(hub):
        path = Path(str(hub).strip()).expanduser()
        if not path.is_file():
            raise HubError(
                f"hub file {str(hub)!r} not found (a hub is a name of {hubs_dir}: "
                f"{', '.join(available(hubs_dir))}, or the path of a hub YAML file)"
            )
        return path.resolve()
    known = available(hubs_dir)
    key = str(hub).strip().lower()
    if key not in known:
        raise HubError(
            f"unknown hub {hub!r}{did_you_mean(key, known, n=1)}. Known hubs: {', '.join(known)}"
        )
    return Path(hubs_dir) / f"{key}.yaml"


def check_mapping(obj: object, where: str) -> dict:
    """``obj`` if it is a mapping, else a :class:`HubError` naming ``where``."""
    if not isinstance(obj, dict):
        raise HubError(f"{where} must be a mapping, got {type(obj).__name__}")
    return obj


def _parameter_entries(
    params: object, where: str, strict: bool = True, mdl=DEFAULT_MODEL
) -> tuple[dict, dict, dict]:
    """Validated values, sources and ranges of a ``parameters:`` mapping.

    Each entry is ``name: {value, source}`` with an optional ``range: [low, high]``: the
    interval the evidence leaves the value in (e.g. the AI-exposure shares derived from task
    data), which studies sample instead of fixing the value. ``strict`` refuses other keys
    (hub files); calibrated sets carry their intervals and flags beside the value.
    """
    params = check_mapping(params or {}, f"{where}: 'parameters'")
    values, sources, ranges = {}, {}, {}
    for name, entry in params.items():
        entry = check_mapping(entry, f"{where}: parameter {name!r}")
        missing = {"value", "source"} - set(entry)
        if missing:
            raise HubError(f"{where}: parameter {name!r} lacks {', '.join(sorted(missing))}")
        extra = set(entry) - {"value", "source", "range"}
        if extra and strict:
            raise HubError(
                f"{where}: parameter {name!r} has unknown key(s) "
                f"{', '.join(sorted(map(str, extra)))} (valid: value, source, range)"
            )
        values[name] = entry["value"]
        sources[name] = str(entry["source"])
        if "range" in entry:
            ranges[name] = entry["range"]
    try:
        checked = check_parameters(values, mdl)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None
    keys = dict(zip(values, checked, strict=False))
    out_ranges = {}
    for name, rng in ranges.items():
        ok = (
            isinstance(rng, list)
            and len(rng) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rng)
        )
        if not ok:
            raise HubError(
                f"{where}: parameter {name!r}: range must be [low, high] numbers, got {rng!r}"
            )
        lo, hi = (float(v) for v in rng)
        try:
            check_parameters({keys[name]: lo}, mdl)
            check_parameters({keys[name]: hi}, mdl)
        except ParameterError as exc:
            raise ParameterError(f"{where}: parameter {name!r}: range {rng}: {exc}") from None
        if not lo <= checked[keys[name]] <= hi:
            raise HubError(
                f"{where}: parameter {name!r}: value {checked[keys[name]]:g} is "
                f"outside its range [{lo:g}, {hi:g}]"
            )
        out_ranges[keys[name]] = (lo, hi)
    return checked, {k: sources[n] for n, k in keys.items()}, out_ranges


def load_hub(hub: str, hubs_dir: Path = HUBS_DIR, mdl=DEFAULT_MODEL) -> dict:
    """A hub's definition: ``name``, ``parameters`` (validated values) and ``sources``.

    ``"<hub>@<version>"`` (``krakow@v1``, or ``krakow@calibrated`` for the newest) is the hub
    file with a calibrated set of ``data/calibrated/<hub>/`` laid over it (see
    :mod:`hubsd.calibration`).

    Parameters
    ----------
    hub : str
        Hub name (``"krakow"``, any case), the path of a hub file of one's own
        (``"./lodz.yaml"``), either followed by ``@<version>``.
    hubs_dir : path
        Folder of the hub files (default ``data/hubs/``, or the workspace's).
    mdl : path
        The model whose parameter table the values are checked against (default: the hub
        model, or the workspace's model).

    Returns
    -------
    dict
        ``hub`` (the name, with ``@<version>`` for a calibrated set), ``name`` (for people),
        ``description``, ``parameters`` (Python name -> value in the parameter table's
        units, e.g. Person, 1/Year, Dmnl), ``sources`` (Python name -> source of the value),
        ``scenarios`` (the hub's sizes of the policy levers, by scenario) and ``file``; a
        calibrated set adds ``base_file`` and ``calibrated`` (each entry with its value,
        ``low95``, ``high95`` and identifiability flag).

    Raises
    ------
    HubError
        Unknown hub or calibrated version, malformed YAML (file and line), or a parameter
        entry without a value or a source.
    ParameterError
        A parameter name or value the table does not allow (the message names the file).

    Examples
    --------
    >>> hub = load_hub("krakow")
    >>> hub["parameters"]["initial_hub_service_demand"]     # Person
    >>> hub["sources"]["initial_hub_service_demand"]
    >>> load_hub("krakow@v1")["hub"]
    'krakow@v1'
    """
    if "@" in str(hub):
        return _load_calibrated_hub(str(hub), hubs_dir, mdl)
    path = hub_file(hub, hubs_dir)
    doc = check_mapping(read_yaml(path), str(path))
    checked, sources, ranges = _parameter_entries(doc.get("parameters"), str(path), mdl=mdl)
    scen = check_mapping(doc.get("scenarios") or {}, f"{path}: 'scenarios'")
    return {
        "hub": path.stem,
        "name": str(doc.get("name", path.stem)),
        "description": str(doc.get("description", "")),
        "parameters": checked,
        "sources": sources,
        "ranges": ranges,
        "scenarios": {
            k: check_parameters(check_mapping(v, f"{path}: scenario {k!r}"), mdl)
            for k, v in scen.items()
        },
        "file": str(path),
    }


def load_hub_or_parameters(hub: str, mdl=DEFAULT_MODEL) -> dict:
    """A hub file of the hub model, else a parameter file of ``mdl`` (a model of one's own).

    Raises
    ------
    HubError, ParameterError
        As :func:`load_hub` with ``mdl`` (or with the default model when ``mdl`` is missing).
    """
    try:
        return load_hub(hub)
    except (HubError, ParameterError):
        if not Path(mdl).is_file():
            raise
        return load_hub(hub, mdl=mdl)


def _load_calibrated_hub(name: str, hubs_dir: Path, mdl=DEFAULT_MODEL) -> dict:
    base_name, _, version = name.partition("@")
    base = load_hub(base_name, hubs_dir, mdl)
    try:
        version = check_version(base["hub"], version)
        doc = load_calibrated(base["hub"], version)
    except CalibrationError as exc:
        raise HubError(str(exc)) from None
    ver = str(doc.get("version", Path(doc["file"]).stem))
    try:
        checked, sources, _ = _parameter_entries(
            doc["parameters"], doc["file"], strict=False, mdl=mdl
        )
    except ParameterError as exc:
        newest = versions(base["hub"])[-1]
        raise HubError(
            f"{base['hub']}@{ver} was calibrated on an earlier version of the model and does "
            f"not fit this one ({exc}); run {base['hub']}@{newest} (the newest) or "
            f"`hubsd calibrate --hub {base['hub']}`"
        ) from None
    return {
        **base,
        "hub": f"{base['hub']}@{ver}",
        "name": f"{base['name']} (calibrated {ver})",
        "parameters": {**base["parameters"], **checked},
        "sources": {**base["sources"], **sources},
        "file": doc["file"],
        "base_file": base["file"],
        "calibrated": doc["parameters"],  # each entry with its value, low95, high95 and flag
    }


def calibrated_or_file(hub: str) -> str:
    """``"<hub>@vN"`` for the newest calibrated set of a hub, or ``hub`` if it has none."""
    if "@" in hub:
        return load_hub(hub)["hub"]
    name = hub_file(hub).stem
    found = versions(name)
    return f"{name}@{found[-1]}" if found else name


def _shown(path: str | Path) -> str:
    """A file as notebooks print it: relative to the repository when inside it."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(path)


def describe(hub: str) -> str:
    """One line naming what a hub name resolves to: the calibrated version and its files.

    Notebooks print it first, so an executed notebook says which calibrated set it ran
    (``krakow@calibrated`` resolved to ``krakow@v2``), and a new calibrated version shows up
    as a visible change in that line rather than as unexplained changes in numbers.

    Parameters
    ----------
    hub : str
        Hub name (``"krakow"``) or ``"<hub>@<version>"`` (``krakow@v2``, ``krakow@calibrated``).

    Returns
    -------
    str
        ``"hub: krakow@calibrated = krakow@v2 (data/calibrated/krakow/v2.yaml over
        data/hubs/krakow.yaml)"``, ``"hub: krakow@v2 (...)"`` for a named version, or
        ``"hub: krakow (data/hubs/krakow.yaml, the hub file)"``.

    Raises
    ------
    HubError
        Unknown hub or calibrated version (with the known ones), or a malformed file.

    Examples
    --------
    >>> describe("krakow")
    'hub: krakow (data/hubs/krakow.yaml, the hub file)'
    """
    found = load_hub(hub)
    if "base_file" not in found:
        return f"hub: {found['hub']} ({_shown(found['file'])}, the hub file)"
    asked = str(hub).strip()
    resolved = found["hub"]
    head = resolved if asked == resolved else f"{asked} = {resolved}"
    return f"hub: {head} ({_shown(found['file'])} over {_shown(found['base_file'])})"


def exists(hub: str) -> bool:
    """Whether ``hub`` names a hub file or a saved calibrated set of one."""
    try:
        load_hub(hub)
    except (HubError, ParameterError):
        return False
    return True
