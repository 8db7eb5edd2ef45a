"""The DSA-110 simulator: station table, UVH5 layout, noise and the visibility model."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.simulation import group_pointing, make_uvh5_group
from dsa110_contimg.simulation.antennas import read_station_table, station_positions
from dsa110_contimg.simulation.uvh5 import N_SUBBANDS


def test_station_table_has_both_arms():
    rows = read_station_table()
    arms = [r[1] for r in rows]
    assert arms.count("EW") == 53 and arms.count("NS") == 51  # 1-51 + 200W/200E; 52-102
    st = station_positions()
    assert st.numbers.tolist() == list(range(1, 105))
    ew = st.arm == "EW"
    # the East-West arm runs east-west (north offset ~constant), the North-South one north
    assert np.ptp(st.enu_m[ew, 1]) < 2.0 and np.ptp(st.enu_m[ew, 0]) > 399.0
    assert np.ptp(st.enu_m[~ew, 0]) < 0.01 and st.enu_m[~ew, 1].max() == pytest.approx(
        440.08, abs=0.1
    )
    # ECEF radius is the Earth's at the OVRO latitude
    assert np.allclose(np.linalg.norm(st.ecef_m, axis=1), 6.3713e6, rtol=2e-3)


def test_station_table_bad_file(tmp_path):
    from dsa110_contimg.errors import ConfigError

    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="Station Number"):
        read_station_table(bad)


def test_117_station_table():
    from dsa110_contimg.simulation.antennas import dsa110_stations, read_station_coordinates

    rows = read_station_coordinates()
    assert [r[0] for r in rows] == list(range(1, 118)) and rows[-1][3] is None
    st = dsa110_stations()
    assert st.names.tolist() == [str(n) for n in range(1, 118)]
    assert (st.arm == "OUT").sum() == 15  # outriggers 103-117
    core = st.arm != "OUT"
    assert np.ptp(st.enu_m[core, 0]) == pytest.approx(396.9, abs=0.5)
    assert np.ptp(st.enu_m[core, 1]) == pytest.approx(441.4, abs=0.5)
    assert np.all(np.isfinite(st.ecef_m))


def test_group_files_layout(tmp_path):
    """The default layout is the correlator's (issue 18's table)."""
    import h5py
    from pyuvdata import UVData

    from dsa110_contimg.simulation.uvh5 import (
        CHANNEL_WIDTH_HZ,
        DEFAULT_CORRELATED_ANTENNAS,
        INTEGRATION_S,
        subband_frequencies,
    )

    g = make_uvh5_group(
        tmp_path,
        start_time="2025-01-15T12:00:00",
        dec_deg=37.0,
        n_integrations=2,
        noise=False,
        subbands=[0, 15],
    )
    assert [p.name[-10:] for p in g.paths] == ["_sb00.hdf5", "_sb15.hdf5"]
    assert min(p.name[:19] for p in g.paths) == "2025-01-15T12:00:00"
    with h5py.File(g.paths[0], "r") as f:
        h = f["Header"]
        freqs = h["freq_array"][0]
        assert len(freqs) == 48 and freqs[0] == pytest.approx(1498.643188e6, abs=1.0)
        assert np.allclose(np.diff(freqs), -CHANNEL_WIDTH_HZ) and h["channel_width"][()] > 0
        assert f["Data/visdata"].shape == (h["Nblts"][()], 1, 48, 2)
        assert f["Data/nsamples"].dtype == np.float32
        assert h["polarization_array"][:].tolist() == [-5, -6]
        assert h["integration_time"][0] == pytest.approx(12.884902, abs=1e-6)
    uv15 = UVData.from_file(str(g.paths[1]), file_type="uvh5", run_check=False)
    assert uv15.freq_array.min() == pytest.approx(1311.387329e6, abs=1.0)  # band 1311.39-1498.64
    assert uv15.Ntimes == 2 and uv15.Nants_data == len(DEFAULT_CORRELATED_ANTENNAS) == 96
    assert uv15.telescope.Nants == 117
    assert np.allclose(np.diff(np.unique(uv15.time_array)) * 86400, INTEGRATION_S)
    assert len(g.freqs_hz) == 16 * 48 and np.all(np.diff(g.freqs_hz) > 0)
    f, w = subband_frequencies(3, 4)
    assert w == 12 * CHANNEL_WIDTH_HZ and np.all(np.diff(f) < 0)


def test_legacy_layout_is_kept(tmp_path):
    from pyuvdata import UVData

    g = make_uvh5_group(
        tmp_path, n_channels_per_subband=2, n_integrations=2, noise=False, layout="legacy"
    )
    assert [p.name for p in g.paths] == [f"2025-01-15T12:00:00_sb{i:02d}.hdf5" for i in range(16)]
    uv0 = UVData.from_file(str(g.paths[0]), file_type="uvh5")
    uv15 = UVData.from_file(str(g.paths[15]), file_type="uvh5")
    assert uv0.freq_array.min() > uv15.freq_array.max()  # sb00 is the highest subband
    assert uv0.Nants_data == 104 and uv0.Npols == 2
    cat = next(iter(uv0.phase_center_catalog.values()))
    assert cat["cat_type"] == "driftscan" and cat["cat_frame"] == "altaz"
    assert len(g.freqs_hz) == 2 * N_SUBBANDS


def test_noise_level_matches_sefd(tmp_path):
    from pyuvdata import UVData

    g = make_uvh5_group(tmp_path, n_channels_per_subband=2, n_integrations=2, subbands=[3], seed=4)
    uv = UVData.from_file(str(g.paths[0]), file_type="uvh5", run_check=False)
    cross = uv.ant_1_array != uv.ant_2_array
    d = uv.data_array[cross]
    # ~37 000 samples: the standard deviation is known to < 1 %
    assert np.std(d.real) == pytest.approx(g.noise_jy, rel=0.02)
    assert np.std(d.imag) == pytest.approx(g.noise_jy, rel=0.02)


def test_source_at_phase_centre_is_real_after_phasing(tmp_path):
    """A source at the mid-group meridian gives V = S * B on every baseline once phased there."""
    from dsa110_contimg.conversion import read_group
    from dsa110_contimg.conversion.uvh5_to_ms import phase_to_meridian

    ra, dec = group_pointing("2025-01-15T12:00:00", 37.0, n_integrations=3)
    g = make_uvh5_group(
        tmp_path,
        sources={"ra_deg": [ra], "dec_deg": [dec], "flux_jy": [2.0], "spectral_index": [0.0]},
        n_channels_per_subband=1,
        n_integrations=3,
        noise=False,
        subbands=[0, 7, 15],
    )
    uv = read_group(g.paths)
    cross = uv.ant_1_array != uv.ant_2_array
    first = (uv.time_array == uv.time_array.min()) & cross
    # drift-scan data: phased to the meridian per integration, so off-meridian times wrap
    assert np.abs(uv.data_array[first][:, :, 0].imag).max() > 0.5
    pra, pdec, _ = phase_to_meridian(uv)
    assert pra == pytest.approx(ra, abs=1e-6) and pdec == pytest.approx(dec, abs=1e-6)
    mid = np.unique(uv.time_array)[1]
    sel = (uv.time_array == mid) & (uv.ant_1_array != uv.ant_2_array)
    v = uv.data_array[sel][:, :, 0]
    # the beam at the pointing is 1: amplitude S, phase 0 on every baseline and channel
    assert np.allclose(v.real, 2.0, rtol=1e-3)
    assert np.abs(v.imag).max() < 2e-3
    # phased to the source, every integration is real (the amplitude follows the beam)
    assert np.abs(uv.data_array[first][:, :, 0].imag).max() < 2e-3


def test_flux_changes_and_gain(tmp_path):
    ra, dec = group_pointing("2025-01-15T12:00:00", 37.0)
    sky = {
        "ra_deg": [ra, ra + 0.5],
        "dec_deg": [dec, dec],
        "flux_jy": [1.0, 0.5],
        "source_id": ["a", "b"],
    }
    g = make_uvh5_group(
        tmp_path,
        sources=sky,
        flux_changes={"b": 2.0},
        gain_error=0.1,
        seed=3,
        n_channels_per_subband=1,
        n_integrations=2,
        subbands=[0],
        noise=False,
    )
    assert g.truth["flux_jy"].tolist() == [1.0, 1.0]
    assert g.gain != 1.0 and abs(g.gain - 1.0) < 0.5
    assert 0.9 < g.truth["beam_mid"][0] <= 1.0
