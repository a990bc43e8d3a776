"""Joint posterior draws of the calibrated parameters (issue 17: uncertainty ignores the fit).

The Monte Carlo ensembles used to draw every calibrated parameter independently over its 95 %
profile interval, so that most members missed the figures the parameters were fitted to. These
tests score members against the figures of the hub's calibration spec, on the newest
calibrated set (whatever its values), and need no stored result.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import hubsd.inputs.calibrated as calibrated_registry
from hubsd.calibration.posterior import (
    HISTORY_SHIFT,
    data_consistency,
    model_parameters,
    sample_posterior,
)
from hubsd.core.errors import HubsdError
from hubsd.inputs.hubs import load_hub
from hubsd.studies import draw_ensemble, lhs_parameters, uncertain_ranges

HUB = "krakow@calibrated"
MEMBERS = 200
SEED = 3


@pytest.fixture(scope="module")
def posterior():
    return sample_posterior(HUB, MEMBERS, SEED, proposals=1000, rounds=2)


def _shares(post):
    return pd.DataFrame(
        {k: post[k].to_numpy() for k in post.data_vars if post[k].attrs.get("kind") == "share"}
    )


def test_joint_draws_meet_the_data_and_independent_draws_do_not(posterior):
    joint = model_parameters(posterior)
    ranges = uncertain_ranges(HUB)
    calibrated = {k: ranges[k] for k in joint.columns if k in ranges}
    assert calibrated, "the calibrated set has parameters with intervals"
    independent = lhs_parameters(MEMBERS, SEED, list(calibrated), ranges=calibrated)

    after = data_consistency(HUB, joint, _shares(posterior))
    before = data_consistency(HUB, independent)
    jobs = "Krakow/business_services_employment 2022"
    within10 = {
        k: float(np.mean(np.abs(d["relative_error"].sel(figure=jobs)) <= 0.10))
        for k, d in (("after", after), ("before", before))
    }
    # inside the joint 95 % likelihood-ratio region of the spec's free quantities
    assert float(after["in_region"].mean()) >= 0.80
    assert float(before["in_region"].mean()) < 0.50
    assert within10["after"] >= 0.90 > within10["before"]
    assert float(after["within_error"].mean()) > float(before["within_error"].mean())
    # the draw scores its members as data_consistency does
    np.testing.assert_allclose(posterior["cost"], after["cost"], rtol=1e-6)


def test_posterior_is_reproducible_varied_and_recorded(posterior):
    small = [sample_posterior(HUB, 20, SEED, proposals=300, rounds=1, moves=2) for _ in range(2)]
    for name in small[0].data_vars:
        np.testing.assert_array_equal(small[0][name], small[1][name])
    a = posterior.attrs
    assert a["hub"].startswith("krakow@v") and "importance-resampling" in a["method"]
    assert a["distinct"] >= MEMBERS // 2 and 0 < a["acceptance"] < 1 and a["ess"] >= 1
    for name in model_parameters(posterior):
        assert posterior[name].attrs["units"] and posterior[name].std() > 0


def test_draw_ensemble_combines_joint_and_prior_draws():
    frame = draw_ensemble(HUB, 50, SEED, proposals=500, rounds=1, moves=2)
    ranges = uncertain_ranges(HUB)
    held = frame.attrs["held_by_the_data"]
    assert held and all(v > HISTORY_SHIFT for v in held.values())
    assert not set(held) & set(frame.columns)  # held at the values the fit assumed
    ranges = {k: v for k, v in ranges.items() if k not in held}
    assert len(frame) == 50 and set(ranges) <= set(frame.columns)
    assert "importance-resampling" in frame.attrs["method"]
    # Kraków's share of Poland's sector is a model parameter since krakow@v4 (B9), drawn with the
    # joint posterior like the others, so the spec has no shares beside the model
    assert "initial_hub_share_of_national_sector" in frame.columns and frame.attrs["shares"] == {}
    joint = frame.attrs["posterior"]
    assert joint["hub"].startswith("krakow@v")
    calibrated = set(load_hub(HUB)["calibrated"])
    for name, (lo, hi) in ranges.items():  # the joint draws may leave a profile interval
        if name not in calibrated:
            assert lo <= frame[name].min() and frame[name].max() <= hi
    plain = draw_ensemble("krakow", 50, SEED)  # the hub file: no fit to condition on
    assert "independent" in plain.attrs["method"]
    file_ranges = uncertain_ranges("krakow")
    expected = lhs_parameters(50, SEED, list(file_ranges), ranges=file_ranges)
    pd.testing.assert_frame_equal(plain, expected)


def test_whole_ensemble_stays_near_the_data():
    """Members of draw_ensemble (joint calibrated draws, priors the history speaks to held)
    mostly lie in the joint 95 % likelihood region; drawing every prior freely put 2.3 % of
    Kraków's members there (measured 2026-11-29 on 200 members; 71 % with the priors held).
    The test draws 100 members (half the cost of 200): 60 % of them inside on krakow@v3
    (measured 2026-11-29)."""
    frame = draw_ensemble(HUB, 100, SEED)
    inside = float(data_consistency(HUB, frame)["in_region"].mean())
    assert inside >= 0.5, inside
    free = dict(frame)
    ranges = uncertain_ranges(HUB)
    extra = [k for k in frame.attrs["held_by_the_data"] if k in ranges]
    draws = lhs_parameters(100, SEED, extra, ranges={k: ranges[k] for k in extra})
    loose = pd.DataFrame({**free, **dict(draws)})
    assert float(data_consistency(HUB, loose)["in_region"].mean()) < 0.2


def test_a_hub_without_a_calibrated_set_is_refused_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(calibrated_registry, "CALIBRATED_DIR", tmp_path)
    with pytest.raises(HubsdError, match="no calibrated set.*hubsd calibrate --hub krakow"):
        sample_posterior("krakow", 10)
    with pytest.raises(HubsdError, match="at least 2"):
        sample_posterior(HUB, 1)
