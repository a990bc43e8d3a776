"""Fit statistics against hand-computed values."""

import numpy as np
import pytest

from hubsd.core.stats import fit_statistics, mape, r_squared, rmse, theil


def test_perfect_fit():
    a = [1.0, 2.0, 4.0, 8.0]
    st = fit_statistics(a, a)
    assert st["rmse"] == 0 and st["mape"] == 0 and st["r2"] == pytest.approx(1)
    assert st["U_M"] == st["U_S"] == st["U_C"] == 0


def test_pure_bias_is_all_U_M():
    a = np.array([1.0, 2.0, 3.0, 4.0])
    t = theil(a + 2, a)
    assert (
        t["U_M"] == pytest.approx(1)
        and t["U_S"] == pytest.approx(0)
        and t["U_C"] == pytest.approx(0)
    )
    assert rmse(a + 2, a) == pytest.approx(2)


def test_pure_scale_is_all_U_S():
    a = np.array([-1.0, 1.0, -2.0, 2.0])
    t = theil(2 * a, a)
    assert t["U_S"] == pytest.approx(1) and t["U_M"] == pytest.approx(0, abs=1e-12)


def test_noise_is_mostly_U_C_and_proportions_sum_to_one():
    rng = np.random.default_rng(1)
    a = np.linspace(10, 20, 200)
    s = a + rng.normal(0, 1, a.size)
    t = theil(s, a)
    assert t["U_M"] + t["U_S"] + t["U_C"] == pytest.approx(1)
    assert t["U_C"] > 0.8


def test_hand_values():
    s, a = [2.0, 4.0, 5.0], [1.0, 4.0, 6.0]
    assert rmse(s, a) == pytest.approx(np.sqrt(2 / 3))
    assert mape(s, a) == pytest.approx((1 + 0 + 1 / 6) / 3)
    assert r_squared(s, a) == pytest.approx(np.corrcoef(s, a)[0, 1] ** 2)


def test_nan_pairs_dropped_and_errors():
    assert fit_statistics([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])["n"] == 2
    with pytest.raises(ValueError, match="differ in length"):
        rmse([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="no finite pairs"):
        rmse([np.nan], [1.0])
    assert np.isnan(mape([1.0], [0.0]))
