"""Shared fixtures: a cached Kraków runner and baseline, and an empty working folder."""

from __future__ import annotations

import pytest

import hubsd


@pytest.fixture(scope="session")
def simulate():
    """``simulate(params, outputs="all", **controls)``: a Kraków run, cached for the session.

    Runs are keyed by their parameters, outputs and control overrides, so tests that share a
    scenario (e.g. the automation shock) run it once. Returned Datasets must not be modified.
    """
    cache = {}

    def _run(params=None, outputs="all", **controls):
        params = dict(params or {})
        outs = outputs if isinstance(outputs, str) else tuple(outputs)
        key = (tuple(sorted(params.items())), outs, tuple(sorted(controls.items())))
        if key not in cache:
            cache[key] = hubsd.run("krakow", params, outputs, **controls)
        return cache[key]

    return _run


@pytest.fixture(scope="session")
def baseline(simulate):
    """Every output of the Kraków baseline (no policy), saved every 0.25 year."""
    return simulate()


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in an empty folder, so a default `outputs/` would show up too."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


#: The files that take longest (``pytest --durations=0`` summed per file, 2026-11-29, after
#: tests/test_behaviour.py was cut in two), longest first. pytest-xdist (``--dist loadfile
#: --no-loadscope-reorder``, pyproject.toml) hands files to its workers in collection order, so
#: these start first and the short files fill in at the end: the workers finish together
#: instead of one core idling while the other runs a long file started last. The pipeline test
#: is one test of about 2-3 minutes: it must start at once.
SLOW_FIRST = (
    "tests/test_pipeline.py",
    "tests/test_sweep.py",
    "tests/test_behaviour.py",
    "tests/test_wheel.py",
    "tests/test_behaviour_limits.py",
    "tests/test_ensemble.py",
    "tests/test_validate.py",
    "tests/test_engine_conformance.py",
    "tests/test_browser.py",
    "tests/test_explore.py",
    "tests/test_city_side.py",
    "tests/test_workspace.py",
    "notebooks/02_calibration.ipynb",
    "tests/test_policy_design.py",
)


def pytest_collection_modifyitems(config, items):
    """Schedule :data:`SLOW_FIRST` first; the order inside each file is kept (stable sort)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
