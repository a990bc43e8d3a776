"""The interactive explorer (hubsd.explore): ensemble, levers, headline, widgets, static image."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest
from PIL import Image

import hubsd
import hubsd.studies.explore as _explore
from hubsd.engine.nodes import EnsembleError
from hubsd.plots.fans import FanFigure, _limits
from hubsd.studies.explore import (
    OUTPUTS,
    TIME_STEPS,
    UNCERTAINTIES,
    Explorer,
    ExplorerError,
    explore,
    step_label,
)

HUB = "krakow"  # the hub file: the calibrated sets change with the model


@pytest.fixture(scope="module")
def explorer():
    return Explorer(HUB)


def test_ensemble_is_drawn_once_over_the_uncertain_ranges(explorer):
    ranges = hubsd.studies.uncertain_ranges(HUB)
    assert explorer.samples == 500 and explorer.hub == HUB
    assert set(explorer.lhs) == set(ranges) - set(UNCERTAINTIES)
    for name, column in explorer.lhs.items():
        assert len(column) == 500
        assert ranges[name][0] <= column.min() and column.max() <= ranges[name][1]
    for out in OUTPUTS:
        assert explorer.fans[out].shape == (5, len(explorer.time))
        assert np.all(np.diff(explorer.fans[out], axis=0) >= -1e-9)  # 5 <= 25 <= 50 <= 75 <= 95


def test_levers_change_the_headline_against_the_baseline(explorer):
    explorer.set(reskilling=False, attraction=False, human_centred=False)
    off = explorer.headline.copy()
    assert (off["change"] == 0).all() and (off["baseline"] == off["with levers"]).all()
    explorer.set(attraction=True, new_industry_attraction_jobs=3000)
    on = explorer.headline
    assert on.loc["Policy cost to 2045 [M EUR]", "with levers"] > 0
    assert on.loc["Hub jobs 2035", "baseline"] == off.loc["Hub jobs 2035", "baseline"]
    assert "new-industry attraction 3000" in explorer.describe()
    # an uncertainty moves the baseline too
    explorer.set(automatable_junior_share=explorer.ranges["automatable_junior_share"][1])
    assert (
        explorer.headline.loc["Junior jobs 2035", "baseline"]
        < on.loc["Junior jobs 2035", "baseline"]
    )
    explorer.set(automatable_junior_share=explorer.ranges["automatable_junior_share"][2])


def test_bad_settings_are_refused_and_change_nothing(explorer):
    before = dict(explorer.values)
    with pytest.raises(ExplorerError, match="unknown control 'reskiling'"):
        explorer.set(reskiling=True)
    with pytest.raises(ExplorerError, match=r"automatable_junior_share must lie in \["):
        explorer.set(automatable_junior_share=2.0)
    assert explorer.values == before
    with pytest.raises(ExplorerError, match="at least 500"):
        Explorer(HUB, samples=100)
    assert issubclass(ExplorerError, hubsd.HubsdError)


def test_explorer_time_step_keeps_the_medians_of_the_model_time_step(explorer):
    """The explorer integrates with a coarse TIME STEP for speed; its fans match the model's own."""
    # the coarsest step every member integrates stably (Kraków's draw needs 1/8: a member's
    # applicant search time is below 1/6 year)
    assert explorer.time_step in TIME_STEPS
    explorer.set(reskilling=True, human_centred=True)
    full = Explorer(HUB, time_step=None)
    full.set(**explorer.values, **explorer.on)
    for out in OUTPUTS:
        span = float(np.ptp(full.fans[out][[0, 4]])) or 1.0
        gap = float(np.max(np.abs(explorer.fans[out][2] - full.fans[out][2]))) / span
        assert gap < 0.01, (out, gap)


def test_widgets_redraw_on_a_slider_and_render_statically(explorer):
    pytest.importorskip("ipywidgets")
    ui = explore(HUB)
    assert ui.explorer.hub == HUB and ui.explorer.samples == 500
    before_table, before_image = ui.table.value, ui.image.value
    ui.controls["reskilling_policy_capacity"].value = 6000  # switches the lever on
    assert ui.controls["reskilling"].value is True
    assert ui.table.value != before_table and ui.image.value != before_image
    assert "reskilling 6000" in ui.status.value
    bundle = ui._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(bundle)
    assert bundle["text/plain"] == ui.explorer.text()
    assert Image.open(io.BytesIO(bundle["image/png"])).size[1] > 700  # fans and the table
    ui.set(hub="manila")
    assert ui.explorer.hub == "manila"
    assert ui.controls["reskilling_policy_capacity"].max > 6000 * 5  # resized to the hub


def test_without_ipywidgets_the_static_explorer(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import fails
    got = explore(HUB)
    assert isinstance(got, Explorer) and got.explorer is got
    assert set(got._repr_mimebundle_()) == {"image/png", "text/plain"}


def test_fan_figure_redraws_in_place(explorer):
    fans = FanFigure()
    explorer.draw(fans)
    first = fans.png()
    background = fans._background
    explorer.set(reskilling_start_year=2030)
    explorer.draw(fans)
    assert fans.png() != first
    assert fans._background is background  # the same limits: the axes were not drawn again
    assert _limits(0.2, 93.0) == (0.0, 100.0) and _limits(-12.0, 390.0) == (-15.0, 500.0)


def test_a_step_the_delays_refuse_falls_back_to_the_next(monkeypatch):
    monkeypatch.setattr(_explore, "TIME_STEPS", (0.25, 1 / 8))  # 3 x 0.25 > a 0.5-year delay
    assert Explorer(HUB).time_step == 1 / 8
    with pytest.raises(EnsembleError, match="time step"):  # a step given is used or refused
        Explorer(HUB, time_step=0.25)
    assert step_label(1 / 6) == "1/6" and step_label(None) == "of the model"
