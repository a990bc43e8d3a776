"""Helpers shared by the behaviour tests (``tests/test_behaviour.py``,
``tests/test_behaviour_limits.py``)."""

import json

import numpy as np
import xarray as xr

from hubsd.inputs.scenarios import smart_mix

#: The "smart automation policy" of data/scenarios.yaml (all three levers from 2026).
SMART_MIX = smart_mix()
DT = 1 / 32  # the model's TIME STEP [Year]


def run_params(ds: xr.Dataset) -> dict:
    """The full parameter vector a run used (stored by ``hubsd.run``)."""
    return json.loads(ds.attrs["parameters"])


def run_times(ds: xr.Dataset) -> np.ndarray:
    """The run's saved times [Year]."""
    return ds["time"].values
