"""``contimg photometry measure`` in-process and as a real subprocess."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from dsa110_contimg.cli import main
from dsa110_contimg.simulation import make_fits_image

COLUMNS = "source_id,ra_deg,dec_deg,flux_jy,flux_err_jy,local_rms_jy,snr,chi2,dof,flags"


@pytest.fixture
def image_and_positions(tmp_path):
    img = tmp_path / "img.fits"
    truth = make_fits_image(img, shape=(256, 256), n_sources=5, seed=21, four_d=True)
    pos = tmp_path / "pos.csv"
    with open(pos, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ra_deg", "dec_deg", "source_id"])
        for i, row in enumerate(truth):
            w.writerow(
                [repr(float(row["ra_deg"])), repr(float(row["dec_deg"])), f"s{i}" if i != 2 else ""]
            )
        w.writerow(["10.0", "-40.0", "far"])
    return img, pos, truth


def _state(tmp_path: Path) -> list[str]:
    return ["--state-dir", str(tmp_path / "state")]


def test_measure_csv_in_input_order(tmp_path, image_and_positions):
    img, pos, truth = image_and_positions
    out = tmp_path / "out.csv"
    rc = main(
        [
            *_state(tmp_path),
            "photometry",
            "measure",
            str(img),
            "--positions",
            str(pos),
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert set(COLUMNS.split(",")) <= set(rows[0])
    assert [r["source_id"] for r in rows[:2]] == ["s0", "s1"]
    assert rows[2]["source_id"].startswith("J")
    assert rows[-1]["source_id"] == "far" and rows[-1]["flags"] == "off_image"
    assert rows[0]["flags"] == ""
    flux = np.array([float(r["flux_jy"]) for r in rows[:5]])
    err = np.array([float(r["flux_err_jy"]) for r in rows[:5]])
    assert np.all(np.abs(flux - truth["flux_jy"]) < 5 * err)


def test_measure_json(tmp_path, image_and_positions):
    img, pos, _ = image_and_positions
    out = tmp_path / "out.json"
    rc = main(
        [
            *_state(tmp_path),
            "photometry",
            "measure",
            str(img),
            "--positions",
            str(pos),
            "--output",
            str(out),
            "--format",
            "json",
        ]
    )
    assert rc == 0
    rows = json.loads(out.read_text())
    assert len(rows) == 6 and rows[-1]["flux_jy"] is None and rows[0]["dof"] > 0


def test_bad_inputs_exit_2_with_one_line_naming_the_file(tmp_path, image_and_positions, capsys):
    img, pos, _ = image_and_positions
    nocols = tmp_path / "nocols.csv"
    nocols.write_text("ra,dec\n1,2\n")
    table = tmp_path / "table.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])]).writeto(table)
    cases = [
        ([str(tmp_path / "missing.fits"), "--positions", str(pos)], "missing.fits"),
        ([str(pos), "--positions", str(pos)], "pos.csv"),
        ([str(table), "--positions", str(pos)], "table.fits"),
        ([str(img), "--positions", str(nocols)], "nocols.csv"),
        ([str(img), "--positions", str(tmp_path / "nope.csv")], "nope.csv"),
    ]
    for args, name in cases:
        capsys.readouterr()
        rc = main([*_state(tmp_path), "photometry", "measure", *args])
        err = capsys.readouterr().err.strip()
        assert rc == 2, args
        assert len(err.splitlines()) == 1 and name in err, err


def test_measure_subprocess(tmp_path, image_and_positions):
    img, pos, _ = image_and_positions
    exe = Path(sys.executable).with_name("contimg")
    out = tmp_path / "sub.csv"
    res = subprocess.run(
        [
            str(exe),
            *_state(tmp_path),
            "photometry",
            "measure",
            str(img),
            "--positions",
            str(pos),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_text().splitlines()[0].startswith("source_id,ra_deg,dec_deg")
    res = subprocess.run(
        [str(exe), *_state(tmp_path), "photometry", "measure", str(pos), "--positions", str(pos)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 2 and "pos.csv" in res.stderr
