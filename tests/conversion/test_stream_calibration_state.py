"""The stream's calibration state: raw or precalibrated, waiting groups, re-calibration queue.

Real queue rows (files ingested by the streamer) and real solution-set rows, on both backends.
"""

from __future__ import annotations

import h5py
import pytest

from dsa110_contimg.conversion.streaming import Streamer, get_group, queue
from dsa110_contimg.conversion.streaming.calibration import group_is_raw, group_mid_mjd
from dsa110_contimg.database.caltables import (
    groups_to_recalibrate,
    register_caltable,
    release_waiting_groups,
    set_group_waiting,
)

from .conftest import copy_group


def _mark(paths, key, value):
    for p in paths:
        with h5py.File(p, "r+") as f:
            kw = f["Header"].require_group("extra_keywords")
            if key in kw:
                del kw[key]
            kw[key] = value


def test_raw_or_precalibrated_by_mode_and_marker(small_group, tmp_path):
    clean = copy_group(small_group.paths, tmp_path / "clean", "2025-01-16T00:00:00")
    assert not group_is_raw(clean, "auto")  # the clean simulator's files: precalibrated
    assert group_is_raw(clean, "required")
    corrupted = copy_group(small_group.paths, tmp_path / "raw", "2025-01-16T00:00:00")
    _mark(corrupted[:1], "contimg_corrupted", True)
    assert group_is_raw(corrupted, "auto")
    assert not group_is_raw(corrupted, "off")
    flagged_false = copy_group(small_group.paths, tmp_path / "cal", "2025-01-16T00:00:00")
    _mark(flagged_false, "contimg_calibrated", False)
    assert group_is_raw(flagged_false, "auto")
    truth = copy_group(small_group.paths, tmp_path / "truth", "2025-01-16T00:00:00")
    (tmp_path / "truth" / "2025-01-16T00:00:00_corruptions.json").write_text("{}")
    assert group_is_raw(truth, "auto")  # the simulator's corruption truth beside the files
    ok = copy_group(small_group.paths, tmp_path / "ok", "2025-01-16T00:00:00")
    _mark(ok, "contimg_corrupted", False)
    assert not group_is_raw(ok, "auto")
    # the correlator's own files say nothing of calibration: raw
    correlator = copy_group(small_group.paths, tmp_path / "corr", "2025-01-16T00:00:00")
    for p in correlator:
        with h5py.File(p, "r+") as f:
            del f["Header/extra_keywords/contimg_calibrated"]
            assert "phase_center_dec" in f["Header/extra_keywords"]
    assert group_is_raw(correlator, "auto")
    assert not group_is_raw(correlator, "off")
    # a calibrated file in Jy is not
    for p in correlator:
        with h5py.File(p, "r+") as f:
            f["Header"]["vis_units"] = b"Jy"
    assert not group_is_raw(correlator, "auto")


def _two_groups(db_settings, small_group, tmp_path):
    db_settings.stream.file_settle_seconds = 0.0
    (tmp_path / "in").mkdir()
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=db_settings)
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T00:00:00")
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T06:00:00")
    assert s.ingest() == 32
    a = queue.claim_next_group(settings=db_settings)
    b = queue.claim_next_group(settings=db_settings)
    return s, a, b


def _cal(settings, mjd, status="valid"):
    return register_caltable(
        calibrator="3C286",
        transit_mjd=mjd,
        validity_hours=12,
        tables={"K": "/k", "B": "/b", "G": "/g"},
        status=status,
        reason=None if status == "valid" else "median SNR 2 < 10",
        settings=settings,
    )


def test_waiting_groups_released_by_a_calibrator_or_the_time_limit(
    db_settings, small_group, tmp_path
):
    _, a, b = _two_groups(db_settings, small_group, tmp_path)
    set_group_waiting(a.id, 1000.0, reason="waiting", settings=db_settings)
    set_group_waiting(b.id, 2000.0, reason="waiting", settings=db_settings)
    assert get_group(a.id, settings=db_settings).status == "waiting"
    assert queue.stream_status(db_settings)["counts"]["waiting"] == 2
    assert queue.claim_next_group(settings=db_settings) is None  # waiting is not claimable
    kw = {"group_mid_mjd": group_mid_mjd, "settings": db_settings}
    assert release_waiting_groups(now=999.0, **kw) == []
    # a refused transit covering b releases nothing
    mid_b = group_mid_mjd(b.group_time)
    _cal(db_settings, mid_b + 0.1, status="refused")
    assert release_waiting_groups(now=999.0, **kw) == []
    assert release_waiting_groups(now=1000.0, **kw) == [(a.id, "timeout")]
    # a valid transit 13 h later does not cover b; one 2 h later does
    _cal(db_settings, mid_b + 13 / 24)
    assert release_waiting_groups(now=1500.0, **kw) == []
    _cal(db_settings, mid_b + 2 / 24)
    assert release_waiting_groups(now=1500.0, **kw) == [(b.id, "calibrator")]
    ga, gb = get_group(a.id, settings=db_settings), get_group(b.id, settings=db_settings)
    assert (ga.status, ga.cal_wait_until) == ("pending", 1000.0)
    assert gb.status == "pending"


def test_uncalibrated_groups_queued_again_inside_a_new_window(db_settings, small_group, tmp_path):
    _, a, b = _two_groups(db_settings, small_group, tmp_path)
    for g in (a, b):
        queue.finish_group(
            g.id,
            status="completed",
            data_id=f"img-{g.id}",
            calibration_status="uncalibrated",
            settings=db_settings,
        )
    mid_a = group_mid_mjd(a.group_time)
    refused = _cal(db_settings, mid_a + 0.01, status="refused")
    assert groups_to_recalibrate(refused, group_mid_mjd=group_mid_mjd, settings=db_settings) == []
    # transit 3 h after a: a (-3 h) and b (+3 h) are both inside +-12 h
    both = _cal(db_settings, mid_a + 3 / 24)
    assert sorted(
        groups_to_recalibrate(both, group_mid_mjd=group_mid_mjd, settings=db_settings)
    ) == sorted([a.id, b.id])
    g = get_group(a.id, settings=db_settings)
    assert (g.status, g.data_id, g.attempts) == ("pending", f"img-{a.id}", 0)
    # completed calibrated groups are never queued again
    queue.finish_group(
        a.id, status="completed", calibration_status="calibrated", settings=db_settings
    )
    queue.finish_group(
        b.id, status="completed", calibration_status="calibrated", settings=db_settings
    )
    late = _cal(db_settings, mid_a + 4 / 24)
    assert groups_to_recalibrate(late, group_mid_mjd=group_mid_mjd, settings=db_settings) == []


@pytest.mark.parametrize("seconds", [0.0, 309.0])
def test_group_mid_time(seconds):
    assert group_mid_mjd(seconds) - group_mid_mjd(0.0) == pytest.approx(seconds / 86400.0)


@pytest.mark.parametrize(
    ("n_chan", "budget", "expected"),
    [(48, 0.01, None), (48, 0.0, 1), (4, 0.01, 1)],
)
def test_average_factor_within_the_smearing_budget(tmp_path, n_chan, budget, expected):
    """The stream averages a calibrated group by the largest factor within the edge budget."""
    import numpy as np

    from dsa110_contimg.calibration.average import smearing_loss
    from dsa110_contimg.config import Settings
    from dsa110_contimg.conversion.streaming.calibration import CalibrationStep
    from dsa110_contimg.imaging.msinfo import MsInfo

    width = 250e6 / (16 * n_chan)  # DSA-110: 16 subbands over 250 MHz
    info = MsInfo(path=tmp_path, times_mjd_s=np.zeros(1), integration_s=12.885, start_mjd=0.0,
                  end_mjd=0.0, freqs_hz=1.28e9 + width * np.arange(16 * n_chan),
                  channel_width_hz=width, phase_ra_deg=0.0, phase_dec_deg=40.0,
                  max_baseline_m=440.0, n_cross_vis=1, n_pols=2, n_spws=16)
    s = Settings(state_dir=tmp_path, calibration={"average_max_smearing": budget})
    f = CalibrationStep(s, tmp_path).average_factor(info)
    if expected is not None:
        assert f == expected
        return
    edge = s.imaging.field_of_view_deg / 2
    assert n_chan % f == 0 and f > 1
    assert smearing_loss(f * width, edge, 440.0) < budget
    bigger = [g for g in range(f + 1, n_chan + 1) if n_chan % g == 0]
    assert smearing_loss(bigger[0] * width, edge, 440.0) >= budget
