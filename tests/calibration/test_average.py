"""Frequency averaging before imaging: smearing budget and a real mstransform."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.calibration.average import (
    average_channels,
    max_average_factor,
    smearing_loss,
)

from .conftest import needs_casa


def test_smearing_small_beta_limit():
    # small beta: loss ~ (ln 2 / 3) beta^2
    beta = 0.1
    width = beta * 299_792_458.0 / (np.radians(1.0) * 400.0)
    assert smearing_loss(width, 1.0, 400.0) == pytest.approx(np.log(2) / 3 * beta**2, rel=0.01)


def test_factor_respects_budget():
    f = max_average_factor(48, 250e6 / 768, 1.75, 2600.0, 0.01)
    assert 48 % f == 0
    assert smearing_loss(f * 250e6 / 768, 1.75, 2600.0) < 0.01
    nxt = [g for g in range(f + 1, 49) if 48 % g == 0]
    assert not nxt or smearing_loss(nxt[0] * 250e6 / 768, 1.75, 2600.0) >= 0.01


@needs_casa
def test_average_channels(cal_night, tmp_path):
    from casacore.tables import table

    ms = cal_night["clean"][1][1]
    out = average_channels(ms, tmp_path / "avg.ms", 2, workdir=tmp_path / "w")
    with table(str(ms), ack=False) as t:
        d = t.getcol("DATA")
    with table(str(out), ack=False) as t:
        a = t.getcol("DATA")
    assert a.shape[1] * 2 == d.shape[1]
    np.testing.assert_allclose(a[:, 0], d[:, :2].mean(axis=1), rtol=1e-4, atol=1e-4)
