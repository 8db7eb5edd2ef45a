"""CASA runs offline in a child process configured by the project."""

from __future__ import annotations

import pytest

from dsa110_contimg.calibration.casa import casa_config, run_casa_tasks
from dsa110_contimg.errors import CalibrationError

from .conftest import needs_casa

pytestmark = needs_casa


def test_config_is_offline_and_local(tmp_path):
    cfg = casa_config(tmp_path, "x").read_text()
    assert "measures_auto_update = False" in cfg and "data_auto_update = False" in cfg
    assert "casadata" in cfg and str(tmp_path) in cfg
    assert "~/.casa" not in cfg


def test_real_task_on_real_ms(cal_night, tmp_path):
    ms = cal_night["clean"][1][0]
    summary, _ = run_casa_tasks(
        [("flagdata", {"vis": str(ms), "mode": "summary"}),
         ("listobs", {"vis": str(ms), "listfile": str(tmp_path / "l.txt"), "overwrite": True})],
        ms=ms, workdir=tmp_path / "w", label="summary",
    )
    assert summary["total"] > 0 and summary["flagged"] == 0
    assert "OVRO_MMA" in (tmp_path / "l.txt").read_text()
    assert (tmp_path / "w" / "casa-summary.log").exists()


def test_failure_names_ms_and_task(tmp_path):
    bad = tmp_path / "missing.ms"
    with pytest.raises(CalibrationError) as exc:
        run_casa_tasks([("gaincal", {"vis": str(bad), "caltable": str(tmp_path / "g")})],
                       ms=bad, workdir=tmp_path / "w", label="g")
    assert "missing.ms" in str(exc.value) and "gaincal" in str(exc.value)
