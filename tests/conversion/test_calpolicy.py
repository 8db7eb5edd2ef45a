"""Selection of the solution set for a group, and refusal of bad solutions, on real DB rows."""

import numpy as np
import pytest

from dsa110_contimg.config.calibration import CalibrationSettings
from dsa110_contimg.conversion.streaming.calpolicy import (
    SolutionSummary,
    choose_caltable,
    refusal_reasons,
)
from dsa110_contimg.database.caltables import caltables_covering, register_caltable

T0 = 61000.0


def _reg(settings, transit, status="valid"):
    return register_caltable(
        calibrator="3C286",
        transit_mjd=transit,
        validity_hours=12,
        tables={"K": "/k", "B": "/b", "G": "/g"},
        status=status,
        reason=None if status == "valid" else "median SNR 2 < 10",
        settings=settings,
    )


def test_most_recent_valid_before_mid_within_window(db_settings):
    old = _reg(db_settings, T0)  # 00:00
    mid = _reg(db_settings, T0 + 4 / 24)  # 04:00
    refused = _reg(db_settings, T0 + 5 / 24, status="refused")  # 05:00, refused
    later = _reg(db_settings, T0 + 8 / 24)  # 08:00

    def pick(mjd):
        c = choose_caltable(mjd, caltables_covering(mjd, status=None, settings=db_settings))
        return None if c is None else c.id

    assert pick(T0 + 6 / 24) == mid.id  # the refused 05:00 is skipped: 04:00 stays in use
    assert pick(T0 + 4.5 / 24) == mid.id
    assert pick(T0 + 9 / 24) == later.id
    assert pick(T0 + 1 / 24) == old.id
    # before the first transit: the next one inside the window (a waiting group)
    assert pick(T0 - 1 / 24) == old.id
    # 13 h after the last transit: outside every window
    assert pick(T0 + 21 / 24) is None
    assert refused.id not in {pick(T0 + h / 24) for h in np.arange(-11, 20, 0.5)}


CFG = CalibrationSettings()


def _s(t, snr=60.0, ff=0.02, flagged=(), n=20, delays=None, amps=None):
    return SolutionSummary(t, snr, ff, tuple(flagged), n, delays, amps)


def test_good_solution_accepted():
    prev = _s(T0, delays=np.linspace(-3, 3, 20), amps=np.ones(20))
    new = _s(T0 + 0.5, delays=np.linspace(-3, 3, 20) + 0.1, amps=np.full(20, 1.05))
    assert refusal_reasons(new, prev, CFG) == []
    assert refusal_reasons(new, None, CFG) == []


@pytest.mark.parametrize(
    "new, match",
    [
        (_s(T0 + 0.5, snr=4.0), "median SNR 4 < 10"),
        (_s(T0 + 0.5, snr=float("nan")), "SNR unknown"),
        (_s(T0 + 0.5, ff=0.7), "70% of the solutions flagged"),
        (_s(T0 + 0.5, flagged=range(6)), "6 of 20 antennas flagged"),
        (_s(T0 + 0.5, delays=np.linspace(-3, 3, 20) + 5.0), "delays jumped by 5.00 ns"),
        (_s(T0 + 0.5, amps=np.full(20, 1.6)), "factor 1.60"),
    ],
)
def test_bad_solutions_refused_with_reason(new, match):
    prev = _s(T0, delays=np.linspace(-3, 3, 20), amps=np.ones(20))
    reasons = refusal_reasons(new, prev, CFG)
    assert len(reasons) == 1 and match in reasons[0]


def test_jump_ignores_flagged_antennas_and_old_transits():
    prev = _s(T0, delays=np.zeros(20), amps=np.ones(20))
    # 4 antennas jump by 50 ns but are flagged in the new set: no jump
    delays = np.zeros(20)
    delays[:4] = 50.0
    assert refusal_reasons(_s(T0 + 0.5, delays=delays, flagged=range(4)), prev, CFG) == []
    # a jump against a transit older than jump_max_age_hours is not a reason
    far = _s(T0 + 3.0, delays=np.full(20, 9.0))
    assert refusal_reasons(far, prev, CFG) == []
