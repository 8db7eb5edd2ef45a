"""Subband file checks and UVH5 -> Measurement Set conversion."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from dsa110_contimg.conversion import convert_group
from dsa110_contimg.conversion.streaming import check_uvh5_file, parse_subband_name
from dsa110_contimg.errors import ConversionError, StreamError
from dsa110_contimg.imaging import read_ms_info
from dsa110_contimg.simulation import group_pointing
from dsa110_contimg.simulation.uvh5 import INTEGRATION_S

from .conftest import START, copy_group, truncate


def test_parse_subband_name():
    n = parse_subband_name("/x/2025-01-15T12:00:00_sb15.hdf5")
    assert (n.timestamp, n.subband) == ("2025-01-15T12:00:00", 15)
    assert n.time_unix == pytest.approx(1736942400.0)
    assert parse_subband_name("2025-01-15T12:00:00_sb1.hdf5") is None
    assert parse_subband_name("2025-13-45T12:00:00_sb01.hdf5") is None


def test_check_accepts_a_good_file(small_group):
    # the correlator's layout: Data/visdata (Nblts, 1, Nfreqs, Npols), float32 uvw, drift
    with h5py.File(small_group.paths[0], "r") as f:
        assert f["Data/visdata"].ndim == 4 and f["Header/uvw_array"].dtype == np.float32
    check_uvh5_file(small_group.paths[0])


def test_check_refuses_a_foreign_layout_naming_it(small_group, tmp_path):
    (p,) = copy_group(small_group.paths[:1], tmp_path, START)
    with h5py.File(p, "r+") as f:
        del f["Header/extra_keywords/phase_center_dec"]
    with pytest.raises(StreamError, match="phase_center_dec") as err:
        check_uvh5_file(p)
    assert p.name in str(err.value)


def test_check_rejects_truncated_file(small_group, tmp_path):
    (p,) = copy_group(small_group.paths[:1], tmp_path, START)
    truncate(p)
    with pytest.raises(StreamError, match="truncated|unreadable") as err:
        check_uvh5_file(p)
    assert p.name in str(err.value)


def test_check_rejects_non_hdf5_and_foreign_hdf5(tmp_path):
    txt = tmp_path / f"{START}_sb02.hdf5"
    txt.write_text("this is a log file, not visibilities\n")
    with pytest.raises(StreamError, match="not an HDF5 file"):
        check_uvh5_file(txt)
    other = tmp_path / f"{START}_sb03.hdf5"
    with h5py.File(other, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(StreamError, match="no 'Header' group"):
        check_uvh5_file(other)


def test_convert_group_phases_to_mid_group_meridian(small_group, tmp_path):
    res = convert_group(small_group.paths, tmp_path / "g.ms")
    info = read_ms_info(res.ms_path)
    ra, dec = group_pointing(START, 37.0, n_integrations=3)
    assert info.phase_ra_deg == pytest.approx(ra, abs=1e-5)
    assert info.phase_dec_deg == pytest.approx(dec, abs=1e-5)
    assert len(info.freqs_hz) == 16 and np.all(np.diff(info.freqs_hz) > 0)
    assert len(info.times_mjd_s) == 3
    assert info.duration_s == pytest.approx(3 * INTEGRATION_S, rel=1e-6)
    assert 480 < info.max_baseline_m < 500  # the T: 200 m west/east x 440 m north


def test_convert_group_names_the_bad_file(small_group, tmp_path):
    paths = copy_group(small_group.paths, tmp_path / "in", "2025-01-16T00:00:00")
    truncate(paths[5])
    with pytest.raises(ConversionError) as err:
        convert_group(paths, tmp_path / "bad.ms")
    assert paths[5].name in str(err.value)
    assert not (tmp_path / "bad.ms").exists()
