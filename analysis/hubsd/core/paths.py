"""Where the bundled files and the user's workspace live: the one place that knows the layout.

Every other module takes its default paths from here, so a layout change is one edit.

**Bundled files.** The model (``models/``), the data (``data/``) and the notebooks stay at the
repository's top level. A wheel carries them as package data under ``hubsd/_bundle/`` (mapped
there by ``pyproject.toml``) and they are found through :mod:`importlib.resources`; in a source
checkout or an editable install, where the package sits in ``analysis/hubsd`` beside
``models/hub.mdl``, the repository's own files are used.

**Workspace.** A folder with a ``hubsd.toml`` (made by ``hubsd init DIR``) holds a user's own
hubs, calibration specs, observations, scenarios, calibrated sets, outputs and, optionally,
model. When the current folder (or one above it, or ``$HUBSD_WORKSPACE``) is a workspace, the
defaults below point into it: every command run inside it reads its files and writes its
calibrated sets there, never into the installed package. ``hubsd.toml``::

    [workspace]
    model = "bundled"            # or a .mdl file, relative to this file
    hubs = "hubs"                # folder of hub files
    calibration = "calibration"  # folder of calibration specs
    calibrated = "calibrated"    # calibrated sets are written here
    observed = "observed"        # observation CSVs used by calibration
    scenarios = "scenarios.yaml"
    outputs = "outputs"          # default parent of every output folder
    notebooks = "notebooks"

The workspace is read once, when the package is imported.
"""

from __future__ import annotations

import os
import tomllib
from importlib import resources
from pathlib import Path

from hubsd.core.errors import HubsdError

#: Name of the workspace file.
WORKSPACE_FILE = "hubsd.toml"
#: Environment variable naming a workspace folder (wins over the search from the cwd).
WORKSPACE_ENV = "HUBSD_WORKSPACE"
#: Keys of ``[workspace]`` with their defaults, relative to the workspace folder.
WORKSPACE_KEYS = {
    "model": "bundled",
    "hubs": "hubs",
    "calibration": "calibration",
    "calibrated": "calibrated",
    "observed": "observed",
    "scenarios": "scenarios.yaml",
    "outputs": "outputs",
    "notebooks": "notebooks",
}


class WorkspaceError(HubsdError):
    """A ``hubsd.toml`` that cannot be read, or a workspace that cannot be made."""


def _bundle_root() -> tuple[Path, bool]:
    """The folder holding ``models/``, ``data/`` and ``notebooks/``; True when installed.

    The repository when the package runs from a checkout (editable install or ``PYTHONPATH``),
    else the package data of the installed wheel (``hubsd/_bundle``).
    """
    here = Path(__file__).resolve()
    repo = here.parents[3]
    if here.parents[2].name == "analysis" and (repo / "models" / "hub.mdl").is_file():
        return repo, False
    bundle = resources.files("hubsd").joinpath("_bundle")
    return Path(str(bundle)), True


#: The folder holding the bundled ``models/``, ``data/`` and ``notebooks/``: the repository in
#: a checkout, ``site-packages/hubsd/_bundle`` in a wheel install.
REPO, INSTALLED = _bundle_root()
BUNDLED_MODELS_DIR = REPO / "models"
#: The hub model (Vensim) as shipped.
BUNDLED_MODEL = BUNDLED_MODELS_DIR / "hub.mdl"
BUNDLED_DATA_DIR = REPO / "data"
BUNDLED_NOTEBOOKS = REPO / "notebooks"


def find_workspace(start: str | os.PathLike | None = None) -> Path | None:
    """The workspace folder in use: ``$HUBSD_WORKSPACE``, else the nearest ``hubsd.toml``.

    Parameters
    ----------
    start : path, optional
        Folder to search from, upwards (default: the current folder).

    Returns
    -------
    Path or None
        The folder holding ``hubsd.toml``, or None outside a workspace.

    Raises
    ------
    WorkspaceError
        ``$HUBSD_WORKSPACE`` names a folder without a ``hubsd.toml``.
    """
    env = os.environ.get(WORKSPACE_ENV, "").strip()
    if env:
        folder = Path(env).expanduser().resolve()
        if not (folder / WORKSPACE_FILE).is_file():
            raise WorkspaceError(
                f"${WORKSPACE_ENV}={env!r} has no {WORKSPACE_FILE}; make one with "
                f"`hubsd init {env}` or unset the variable"
            )
        return folder
    try:
        folder = Path(start or Path.cwd()).resolve()
    except OSError:  # the current folder was removed
        return None
    for candidate in (folder, *folder.parents):
        if (candidate / WORKSPACE_FILE).is_file():
            return candidate
    return None


def read_workspace(folder: str | os.PathLike) -> dict[str, Path | None]:
    """The paths a workspace names, resolved against its folder.

    Parameters
    ----------
    folder : path
        A folder holding ``hubsd.toml``.

    Returns
    -------
    dict of str -> Path or None
        One entry per key of :data:`WORKSPACE_KEYS`; ``model`` is None for the bundled model.

    Raises
    ------
    WorkspaceError
        Malformed TOML, a key that is not a string, an unknown key (naming the valid ones) or
        a model file that does not exist.
    """
    folder = Path(folder)
    path = folder / WORKSPACE_FILE
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise WorkspaceError(f"{path}: cannot read the workspace file: {exc}") from None
    section = doc.get("workspace", {})
    if not isinstance(section, dict):
        raise WorkspaceError(f"{path}: [workspace] must be a table")
    unknown = sorted(set(section) - set(WORKSPACE_KEYS))
    if unknown:
        raise WorkspaceError(
            f"{path}: unknown key(s) {', '.join(unknown)} in [workspace]; valid: "
            f"{', '.join(WORKSPACE_KEYS)}"
        )
    out: dict[str, Path | None] = {}
    for key, default in WORKSPACE_KEYS.items():
        value = section.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise WorkspaceError(f"{path}: {key} must be a non-empty string, got {value!r}")
        out[key] = None if key == "model" and value == "bundled" else folder / value
    if out["model"] is not None and not out["model"].is_file():
        raise WorkspaceError(
            f"{path}: model {section['model']!r} is not a file (give a .mdl file relative to "
            f"the workspace, or 'bundled' for the hub model)"
        )
    return out


#: The workspace folder in use, or None (see the module doc).
WORKSPACE = find_workspace()
_WS = read_workspace(WORKSPACE) if WORKSPACE is not None else {}

MODELS_DIR = BUNDLED_MODELS_DIR
#: The model every function uses unless given another: the workspace's, else the hub model.
DEFAULT_MODEL = _WS.get("model") or BUNDLED_MODEL
#: Reality checks of the hub model, beside it.
CHECKS_FILE = BUNDLED_MODELS_DIR / "hub.checks.yaml"
DATA_DIR = BUNDLED_DATA_DIR
HUBS_DIR = _WS.get("hubs") or DATA_DIR / "hubs"
SCENARIOS_FILE = _WS.get("scenarios") or DATA_DIR / "scenarios.yaml"
OBSERVED_DIR = _WS.get("observed") or DATA_DIR / "observed"
#: The bundled figures read in public sources.
OBSERVED = DATA_DIR / "observed" / "hub_figures.csv"
CALIBRATION_DIR = _WS.get("calibration") or DATA_DIR / "calibration"
#: Where calibrated sets are read and saved: the workspace's folder, else the bundled one.
CALIBRATED_DIR = _WS.get("calibrated") or DATA_DIR / "calibrated"
EVIDENCE_DIR = DATA_DIR / "evidence"
NOTEBOOKS = _WS.get("notebooks") or BUNDLED_NOTEBOOKS
#: Default parent of output folders: the workspace's ``outputs``, else ``outputs`` in the cwd.
OUTPUTS_DIR = _WS.get("outputs") or Path("outputs")


def writable_calibrated_dir() -> Path:
    """Where a new calibrated set may be saved: never inside an installed package.

    Raises
    ------
    WorkspaceError
        In a wheel install outside a workspace (the bundled folder is in site-packages).
    """
    if INSTALLED and WORKSPACE is None:
        raise WorkspaceError(
            "calibrated sets are saved into a workspace, not into the installed package: "
            "run `hubsd init DIR`, then calibrate inside DIR (or pass --no-save)"
        )
    return CALIBRATED_DIR
