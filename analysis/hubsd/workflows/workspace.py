"""``hubsd init DIR``: a user workspace with copies of the bundled files to edit.

A workspace is a folder with a ``hubsd.toml`` (format in :mod:`hubsd.core.paths`). Every
command run inside it (or below it) reads its hubs, calibration specs, observations, scenarios
and, if it names one, its model from there, writes its calibrated sets into its
``calibrated/`` and its outputs into its ``outputs/``. :func:`init_workspace` makes one with
copies of the bundled hub files, calibration specs, calibrated sets, observations, scenarios
and notebooks, so a new city starts from a copy of an existing one.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hubsd.core.atomic import atomic_folder
from hubsd.core.paths import (
    BUNDLED_DATA_DIR,
    BUNDLED_NOTEBOOKS,
    WORKSPACE_FILE,
    WorkspaceError,
)

#: What a new workspace holds: folder or file in it -> bundled source.
COPIES = {
    "hubs": BUNDLED_DATA_DIR / "hubs",
    "calibration": BUNDLED_DATA_DIR / "calibration",
    "calibrated": BUNDLED_DATA_DIR / "calibrated",
    "observed": BUNDLED_DATA_DIR / "observed",
    "scenarios.yaml": BUNDLED_DATA_DIR / "scenarios.yaml",
    "notebooks": BUNDLED_NOTEBOOKS,
}


def workspace_toml(model: str = "bundled") -> str:
    """The text of a new ``hubsd.toml``, every key with what it means."""
    return f"""# hubsd workspace: every hubsd command run in this folder (or below) uses its files.
# Paths are relative to this file. Edit the copies, or add your own files beside them.
[workspace]
# Vensim model: "bundled" is the hub model shipped with hubsd; or a .mdl file of your own
model = "{model}"
# hub parameter files (hubsd run --hub <name>; a path to any hub file works too)
hubs = "hubs"
# calibration specs (hubsd calibrate --hub <name>)
calibration = "calibration"
# calibrated sets: hubsd calibrate saves <hub>/vN.yaml here (run them as <hub>@vN)
calibrated = "calibrated"
# observation CSVs the specs are fitted to (format in the bundled data/README.md)
observed = "observed"
# policy scenarios (hubsd run --scenario NAME)
scenarios = "scenarios.yaml"
# default parent of every output folder
outputs = "outputs"
notebooks = "notebooks"
"""


def init_workspace(folder: str | os.PathLike, model: str | os.PathLike | None = None) -> Path:
    """Make a workspace: ``hubsd.toml`` and copies of the bundled files, atomically.

    Parameters
    ----------
    folder : path
        The workspace folder; it must not exist or be empty.
    model : path, optional
        A Vensim model of one's own, copied into the workspace and named in ``hubsd.toml``
        (default: the bundled hub model). The hub model's files are then not copied: the
        folders start empty, for the model's own parameter files, specs and data.

    Returns
    -------
    Path
        The workspace folder (resolved).

    Raises
    ------
    WorkspaceError
        The folder exists and is not empty, or ``model`` is not a ``.mdl`` file.
    """
    target = Path(folder).expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise WorkspaceError(
            f"{str(folder)!r} exists and is not an empty folder; give a new folder for the "
            "workspace"
        )
    if model is not None:
        model = Path(model)
        if not model.is_file() or model.suffix.lower() != ".mdl":
            raise WorkspaceError(f"--model {str(model)!r} is not a Vensim .mdl file")
    if target.exists():
        target.rmdir()  # empty: the workspace is built beside it and renamed in
    with atomic_folder(target) as tmp:
        for name, source in COPIES.items():
            if model is not None:  # the bundled files are the hub model's: empty folders
                if source.is_dir():
                    (tmp / name).mkdir()
                continue
            if source.is_dir():
                shutil.copytree(
                    source, tmp / name, ignore=shutil.ignore_patterns(".*", "__pycache__")
                )
            else:
                shutil.copy2(source, tmp / name)
        (tmp / "outputs").mkdir()
        entry = "bundled"
        if model is not None:
            shutil.copy2(model, tmp / model.name)
            entry = model.name
        (tmp / WORKSPACE_FILE).write_text(workspace_toml(entry), encoding="utf-8")
    return target
