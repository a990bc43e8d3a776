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
