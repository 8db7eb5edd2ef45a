"""The bundled calibrator list, flux models and recognizing a calibrator transit."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.calibration.calibrators import (
    Calibrator,
    calibrator_flux_jy,
    find_calibrator,
    get_calibrator,
    load_calibrators,
    transit_mjd,
)
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import CalibrationError


@pytest.fixture(scope="module")
def cals():
    return load_calibrators()


@pytest.fixture
def settings(tmp_path):
    return Settings(state_dir=tmp_path)


def test_3c286(cals):
    c = get_calibrator("3C286", cals)
    assert c.name == "1331+305" and c.alt_name == "3C286"
    assert c.flux_20cm_jy == 15.0 and c.usable and c.is_primary
    assert c.ra_deg == pytest.approx(202.78453, abs=1e-4)
    assert c.dec_deg == pytest.approx(30.50916, abs=1e-4)
    assert get_calibrator("1331+305", cals) == c
    assert len(cals) == 1865


def test_primaries_and_quality_codes(cals):
    primaries = {c.alt_name for c in cals if c.is_primary}
    assert primaries == {"3C286", "3C48", "3C147", "3C138"}
    # 3C48: X in the A configuration only; usable with DSA-110's compact array
    assert get_calibrator("3C48", cals).usable
    # no 20 cm entry: unusable
    assert not get_calibrator("0001+192", cals).usable
    x_in_d = [c for c in cals if c.quality_20cm and c.quality_20cm[3] == "X"]
    assert x_in_d and not any(c.usable for c in x_in_d)


def test_perley_butler_2017(cals):
    f = np.array([1.4e9])
    assert calibrator_flux_jy(get_calibrator("3C286", cals), f)[0] == pytest.approx(15.08, abs=0.01)
    # the independent VLA list agrees with the PB2017 polynomials at 20 cm within 3%
    for name in ("3C286", "3C48", "3C147", "3C138"):
        c = get_calibrator(name, cals)
        assert calibrator_flux_jy(c, f)[0] == pytest.approx(c.flux_20cm_jy, rel=0.03), name
    lo, hi = calibrator_flux_jy(get_calibrator("3C286", cals), np.array([1.28e9, 1.53e9]))
    assert lo > hi  # falling spectrum


def test_secondary_power_law(cals):
    c = get_calibrator("0003-174", cals)  # 7 Jy at 90 cm, 2.2 at 20 cm, no 6 cm
    alpha = np.log(2.2 / 7.0) / np.log(1.4 / 0.33)
    assert c.spectral_index == pytest.approx(alpha, rel=1e-6)
    s = calibrator_flux_jy(c, np.array([1.4e9, 2.8e9]))
    assert s[0] == pytest.approx(2.2) and s[1] == pytest.approx(2.2 * 2**alpha)
    bare = Calibrator("x", None, 0, 0, 1.0, -0.7, True, False)
    assert calibrator_flux_jy(bare, 2.8e9) == pytest.approx(2 ** -0.7)


def test_missing_list_is_typed(tmp_path):
    with pytest.raises(CalibrationError, match="nothere"):
        load_calibrators(tmp_path / "nothere.txt")


def test_find_3c286_transit(cals, settings):
    c = get_calibrator("3C286", cals)
    t = transit_mjd(c.ra_deg, 30.5, 60690.0)
    m = find_calibrator(30.5, t - 0.002, t + 0.002, settings, catalog=Table(
        {"ra_deg": [c.ra_deg + 1.0], "dec_deg": [30.5], "flux_jy": [0.5]}))
    assert m is not None and m.calibrator.name == "1331+305"
    assert m.transit_mjd == pytest.approx(t, abs=1 / 86400)
    assert m.beam_weighted_flux_jy == pytest.approx(15.08, rel=0.02)
    assert 0 < m.contamination_ratio < 0.05
    # the group before and a pointing far away: nothing
    assert find_calibrator(30.5, t - 0.01, t - 0.005, settings) is None
    assert find_calibrator(40.0, t - 0.002, t + 0.002, settings) is None


def test_dominance_rule(cals, settings):
    c = get_calibrator("3C286", cals)
    t = transit_mjd(c.ra_deg, 30.5, 60690.0)
    # 4 Jy of confusing sources near the calibrator: 15/4 < 5 -> refused
    confused = Table({"ra_deg": [c.ra_deg + 0.3, c.ra_deg - 0.3], "dec_deg": [30.5, 30.6],
                      "flux_jy": [2.0, 2.0]})
    assert find_calibrator(30.5, t - 0.002, t + 0.002, settings, catalog=confused) is None
    lenient = Settings(state_dir=settings.state_dir, calibration={"min_dominance": 3.0})
    assert find_calibrator(30.5, t - 0.002, t + 0.002, lenient, catalog=confused) is not None
    # a flux threshold above 3C286 refuses it too
    strict = Settings(state_dir=settings.state_dir, calibration={"min_flux_jy": 20.0})
    assert find_calibrator(30.5, t - 0.002, t + 0.002, strict) is None


def test_quality_x_refused(settings):
    t0 = transit_mjd(202.78, 30.5, 60690.0)
    bad = [Calibrator("1331+305", "3C286", 202.7845, 30.509, 15.0, -0.5, False, True, "SSPX")]
    assert find_calibrator(30.5, t0 - 0.002, t0 + 0.002, settings, calibrators=bad) is None
