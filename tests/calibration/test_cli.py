"""``contimg calibrate`` and ``contimg simulate --corrupt``."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsa110_contimg.cli import main

from .conftest import needs_casa
from .helpers import corrected_vs_clean, truth_of

pytestmark = [needs_casa, pytest.mark.slow]


def test_calibrate_calibrator_then_science(cal_night, tmp_path, capsys):
    night, (cal_src, sci_src) = cal_night["corrupt"]
    cal, sci = tmp_path / "cal.ms", tmp_path / "sci.ms"
    shutil.copytree(cal_src, cal)
    shutil.copytree(sci_src, sci)
    work = tmp_path / "work"
    base = ["--state-dir", str(tmp_path / "state"), "calibrate"]
    assert main([*base, str(cal), "--workdir", str(work)]) == 0
    out = capsys.readouterr().out
    assert "1331+305" in out and "delay scatter" in out
    tables = work / "cal_tables"
    assert {p.suffix for p in tables.iterdir()} >= {".K", ".B", ".G"}
    assert main([*base, str(sci), "--workdir", str(work), "--tables", str(tables)]) == 0
    r = corrected_vs_clean(sci, cal_night["clean"][1][1], truth_of(night, night.science_groups[0]))
    assert abs(np.median(np.abs(r)) - 1) < 0.003


def test_calibrate_refuses_a_group_without_calibrator(cal_night, tmp_path, capsys):
    _, (_, sci_src) = cal_night["corrupt"]
    sci = tmp_path / "sci.ms"
    shutil.copytree(sci_src, sci)
    code = main(["--state-dir", str(tmp_path / "s"), "calibrate", str(sci)])
    assert code == 2
    assert "no listed calibrator" in capsys.readouterr().err


def test_calibrate_bad_input(tmp_path, capsys):
    (tmp_path / "junk").mkdir()
    code = main(["--state-dir", str(tmp_path / "s"), "calibrate", str(tmp_path / "junk")])
    assert code == 2
    assert "junk" in capsys.readouterr().err


def test_simulate_corrupt_writes_truth(tmp_path):
    out = tmp_path / "uvh5"
    assert main(["--state-dir", str(tmp_path / "s"), "simulate", "--output-dir", str(out),
                 "--channels", "1", "--corrupt", "--seed", "4"]) == 0
    assert len(list(out.glob("*_corruptions.json"))) == 1
    assert len(list(out.glob("*_sb*.hdf5"))) == 16
