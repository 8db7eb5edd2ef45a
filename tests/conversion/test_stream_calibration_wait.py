"""A raw group with no calibration waits for a calibrator, then is imaged ``uncalibrated``.

Real stream, CASA flagging and WSClean on the small simulated group (``calibration.mode =
required``: the files are taken as raw); time is injected into the release of waiting groups.
"""

from __future__ import annotations

import shutil

import pytest

from dsa110_contimg.conversion.streaming import Streamer, get_group, stream_status

from .conftest import copy_group

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")]


def test_waits_then_imaged_uncalibrated_and_excluded(settings, small_group, tmp_path):
    from astropy.io import fits

    from dsa110_contimg.calibration.casa import casa_available
    from dsa110_contimg.database import get_data
    from dsa110_contimg.database.caltables import image_calibration

    if shutil.which("wsclean") is None or not casa_available():
        pytest.skip("needs wsclean and casatasks")
    settings.stream.file_settle_seconds = 0.0
    settings.calibration.mode = "required"
    settings.calibration.wait_seconds = 600.0
    settings.imaging.field_of_view_deg = 2.0
    (tmp_path / "in").mkdir()
    copy_group(small_group.paths, tmp_path / "in", "2025-01-16T00:00:00")
    s = Streamer(tmp_path / "in", tmp_path / "out", settings=settings)
    (out,) = s.step()
    assert out.status == "waiting" and "waiting for a calibrator" in out.error
    g = get_group(out.group_id, settings=settings)
    assert g.status == "waiting" and g.cal_wait_until is not None
    assert not (tmp_path / "out" / "ms" / f"{g.group_key}.ms").exists()  # no MS kept meanwhile
    assert stream_status(settings)["counts"]["waiting"] == 1
    assert s.step() == []  # still waiting (the clock is far from the limit)
    # the wait is over (injected clock): the group goes back to the queue, imaged uncalibrated
    assert s.calibration.release(now=g.cal_wait_until + 1.0) == [(g.id, "timeout")]
    (done,) = s.step()
    assert done.status == "completed", done.error
    assert done.calibration_status == "uncalibrated" and done.qa_status == "failed"
    rec = get_data(done.data_id, settings=settings)
    assert rec.qa_reason.startswith("uncalibrated: no valid calibration solution")
    assert image_calibration(done.data_id, settings=settings)["calibration_status"] == (
        "uncalibrated"
    )
    assert fits.getheader(done.image_path)["CALSTAT"] == "uncalibrated"
    g = get_group(done.group_id, settings=settings)
    assert (g.status, g.calibration_status) == ("completed", "uncalibrated")
