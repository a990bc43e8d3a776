"""Where the bundled files live: the one place that knows the repository's layout.

Every other module takes its default paths from here, so a layout change is one edit.
"""

from __future__ import annotations

from pathlib import Path

#: The repository (the folder holding ``models/``, ``data/`` and ``analysis/``).
REPO = Path(__file__).resolve().parents[3]
MODELS_DIR = REPO / "models"
#: The hub model (Vensim).
DEFAULT_MODEL = MODELS_DIR / "hub.mdl"
#: Reality checks of the hub model, beside it.
CHECKS_FILE = MODELS_DIR / "hub.checks.yaml"
DATA_DIR = REPO / "data"
HUBS_DIR = DATA_DIR / "hubs"
SCENARIOS_FILE = DATA_DIR / "scenarios.yaml"
OBSERVED_DIR = DATA_DIR / "observed"
#: The bundled figures read in public sources.
OBSERVED = OBSERVED_DIR / "hub_figures.csv"
CALIBRATION_DIR = DATA_DIR / "calibration"
CALIBRATED_DIR = DATA_DIR / "calibrated"
EVIDENCE_DIR = DATA_DIR / "evidence"
NOTEBOOKS = REPO / "notebooks"
