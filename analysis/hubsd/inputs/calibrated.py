"""The registry of calibrated sets: ``data/calibrated/<hub>/vN.yaml``, listed and read.

Written by :func:`hubsd.calibration.store.save_calibrated`; read here so that hub resolution
(``krakow@v1``, ``krakow@calibrated``) does not depend on the calibration machinery.
"""

from __future__ import annotations

import re
from pathlib import Path

from hubsd.core.errors import HubsdError
from hubsd.core.paths import CALIBRATED_DIR
from hubsd.core.yamlio import read_yaml

#: File stem of a calibrated set: ``v1``, ``v2``, ...
VERSION_PATTERN = re.compile(r"^v(\d+)$")


class CalibrationError(HubsdError):
    """A malformed spec or calibrated set, data the model cannot be fitted to, or a failed fit."""


def check_version(hub: str, version: str) -> str:
    """A version string of ``<hub>@<version>``, checked strictly.

    Parameters
    ----------
    hub : str
        The hub's name, for the message.
    version : str
        What follows ``@``: ``vN`` (N a whole number from 1, no leading zero), or
        ``calibrated`` / ``latest`` for the newest saved set (any case).

    Returns
    -------
    str
        The version in lower case.

    Raises
    ------
    CalibrationError
        For anything else (``krakow@``, ``krakow@v``, ``krakow@1.5``, ``krakow@v01``), naming
        the valid forms.
    """
    key = str(version).strip().lower()
    if key in ("calibrated", "latest") or re.fullmatch(r"v[1-9]\d*", key):
        return key
    what = "an empty version" if not key else f"version {version!r}"
    raise CalibrationError(
        f"{hub}@{version}: {what} is not valid; give {hub}@vN (a saved version, N = 1, 2, ...) "
        f"or {hub}@calibrated (the newest saved version)"
    )


def versions(hub: str, directory: Path | None = None) -> list[str]:
    """Saved calibrated versions of a hub, oldest first (``["v1", "v2"]``)."""
    folder = Path(directory or CALIBRATED_DIR) / hub
    found = [p.stem for p in folder.glob("v*.yaml") if VERSION_PATTERN.match(p.stem)]
    return sorted(found, key=lambda v: int(v[1:]))


def calibrated_file(hub: str, version: str = "latest", directory: Path | None = None) -> Path:
    """Path of a saved calibrated set; ``latest`` (or ``calibrated``) is the newest version."""
    directory = Path(directory or CALIBRATED_DIR)
    known = versions(hub, directory)
    if not known:
        raise CalibrationError(
            f"hub {hub!r} has no calibrated set in {directory}; run `hubsd calibrate --hub {hub}`"
        )
    if version in ("latest", "calibrated"):
        version = known[-1]
    if version not in known:
        raise CalibrationError(
            f"hub {hub!r} has no calibrated version {version!r}; versions: "
            f"{', '.join(known)} (or 'calibrated' for the newest)"
        )
    return Path(directory) / hub / f"{version}.yaml"


def load_calibrated(hub: str, version: str = "latest", directory: Path | None = None) -> dict:
    """A calibrated set's document (model parameters under ``parameters``)."""
    path = calibrated_file(hub, version, directory)
    doc = read_yaml(path, CalibrationError)
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise CalibrationError(f"{path}: not a calibrated set (no 'parameters' mapping)")
    doc["file"] = str(path)
    return doc
