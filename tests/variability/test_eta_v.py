"""eta-V thresholds: robust to the variables they are meant to find (injection)."""

import numpy as np
import pytest

from dsa110_contimg.variability.eta_v import eta_v_thresholds


def test_thresholds_recover_the_steady_core_despite_variables():
    rng = np.random.default_rng(4)
    n, n_var = 20_000, 400
    le = rng.normal(0.05, 0.2, n)
    lv = rng.normal(-1.8, 0.15, n)
    le[:n_var] += rng.uniform(1.5, 3.0, n_var)  # injected variables: far out in both
    lv[:n_var] += rng.uniform(1.0, 1.5, n_var)
    th = eta_v_thresholds(10**le, 10**lv, n_sigma=3)
    # the core's centre and width, not inflated by the 2 % of variables (bounds: ~5 sigma of
    # the estimators at this n)
    assert th.log_eta_mean == pytest.approx(0.05, abs=0.02)
    assert th.log_eta_std == pytest.approx(0.2, rel=0.06)
    assert th.log_v_mean == pytest.approx(-1.8, abs=0.02)
    assert th.log_v_std == pytest.approx(0.15, rel=0.06)
    above = (le > np.log10(th.eta)) & (lv > np.log10(th.v))
    assert above[:n_var].all()  # every injected variable found
    assert above[n_var:].mean() < 0.002  # ~(0.00135)^2 of the steady ones expected
    assert th.n_above == int(above.sum()) and th.n_sources == n


def test_too_few_or_bad_values():
    th = eta_v_thresholds([1.0, np.nan, -1.0, 0.0], [0.1, 0.1, 0.1, 0.1])
    assert th.eta is None and th.v is None and th.n_sources == 1
