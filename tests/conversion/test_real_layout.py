"""The converter reads the telescope's own file layout (issue 18's table), row by row.

Each test writes files in the correlator's layout with the simulator (``layout="dsa110"``,
the default), or rewrites one field of such a file with h5py, and reads them back through
:func:`read_group` / :func:`phase_to_meridian` / :func:`convert_group`.
"""

from __future__ import annotations

import shutil

import h5py
import numpy as np
import pytest

from dsa110_contimg.conversion import convert_group, phase_to_meridian, read_group
from dsa110_contimg.conversion.layout import UnknownLayoutError, inspect_uvh5
from dsa110_contimg.imaging import read_ms_info
from dsa110_contimg.simulation import group_pointing, make_uvh5_group
from dsa110_contimg.simulation.antennas import dsa110_stations
from dsa110_contimg.simulation.uvh5 import INTEGRATION_S

START = "2025-01-15T12:00:00"
NT = 3
ANTS = tuple(range(1, 103, 4)) + (103, 110, 117)  # 26 core stations + 3 outriggers


@pytest.fixture(scope="module")
def noiseless(tmp_path_factory):
    """A source of 9.46 Jy at the pointing centre, noise-free, 4 subbands of 2 channels."""
    ra, dec = group_pointing(START, 37.0, n_integrations=NT)
    return make_uvh5_group(
        tmp_path_factory.mktemp("real"),
        start_time=START,
        sources={"ra_deg": [ra], "dec_deg": [dec], "flux_jy": [9.46], "spectral_index": [0.0]},
        n_channels_per_subband=2,
        n_integrations=NT,
        noise=False,
        subbands=[0, 1, 2, 9],
        correlated_antennas=ANTS,
        seed=3,
    )


def _edit(src, dst, fn):
    shutil.copyfile(src, dst)
    with h5py.File(dst, "r+") as f:
        fn(f)
    return dst


def test_the_files_are_in_the_correlators_layout(noiseless):
    with h5py.File(noiseless.paths[0], "r") as f:
        h = f["Header"]
        assert h["uvw_array"].dtype == np.float32
        assert f["Data/visdata"].shape[1] == 1 and f["Data/visdata"].ndim == 4
        assert h["phase_type"][()] == b"drift" and "phase_center_catalog" not in h
        assert h["telescope_name"][()] == b"OVRO_MMA" and h["instrument"][()] == b"DSA"
        assert "vis_units" not in h
        assert h["freq_array"].shape == (1, 2) and np.all(np.diff(h["freq_array"][0]) < 0)
        assert int(h["Nants_telescope"][()]) == 117 and int(h["Nants_data"][()]) == len(ANTS)
        assert np.any(h["ant_1_array"][:] > h["ant_2_array"][:])
        assert h["antenna_numbers"][:].tolist() == list(range(117))
        assert h["extra_keywords/phase_center_dec"][()] == pytest.approx(np.radians(37.0))
    assert inspect_uvh5(noiseless.paths[0]).name == "dsa110"


def test_float32_uvw_subbands_join(noiseless):
    uv = read_group(noiseless.paths)
    assert uv.uvw_array.dtype == np.float64
    assert uv.Nfreqs == 8 and np.all(np.diff(uv.freq_array) > 0)  # descending -> ascending
    assert np.all(uv.ant_1_array <= uv.ant_2_array)


def test_source_at_the_pointing_keeps_its_flux(noiseless):
    """The silent failure of issue 18: 9.46 Jy at the pointing centre read back as 3.23 Jy.

    Noise-free data, so the bound is numerical: the vector average of the cross-correlations
    over baselines, channels and integrations, once phased to the mid-group meridian, is the
    flux times the primary beam at the source (1 at mid-group, >0.999 over 39 s) to 0.1 %,
    and its phase is 0.
    """
    uv = read_group(noiseless.paths)
    ra, dec, _ = phase_to_meridian(uv)
    pra, pdec = group_pointing(START, 37.0, n_integrations=NT)
    assert ra == pytest.approx(pra, abs=1e-6) and dec == pytest.approx(pdec, abs=1e-6)
    cross = uv.ant_1_array != uv.ant_2_array
    v = uv.data_array[cross][..., 0]
    assert abs(v.mean()) == pytest.approx(9.46, rel=1e-3)
    assert np.abs(np.angle(v)).max() < 1e-3


def test_positions_come_from_the_station_table(noiseless, tmp_path):
    """Wrong positions in the file do not matter: the bundled 117-station table wins."""
    bad = tmp_path / noiseless.paths[0].name

    def scramble(f):
        f["Header/antenna_positions"][...] = f["Header/antenna_positions"][:] + 5.0

    _edit(noiseless.paths[0], bad, scramble)
    uv = read_group([bad])
    st = dsa110_stations()
    rel = st.ecef_m - uv.telescope._location.xyz()
    names = list(uv.telescope.antenna_names)
    assert names[:3] == ["1", "2", "3"] and len(names) == 117
    assert np.allclose(uv.telescope.antenna_positions, rel, atol=1e-6)
    # outriggers 103-117 included: baselines beyond the 0.4 x 0.44 km Tee
    assert np.linalg.norm(uv.uvw_array, axis=1).max() > 1500.0


def test_nans_are_flagged(noiseless, tmp_path):
    nan = tmp_path / noiseless.paths[1].name

    def last_integration_nan(f):
        vis = f["Data/visdata"]
        n = vis.shape[0] // NT
        block = vis[-n:]
        block[...] = np.nan
        vis[-n:] = block

    _edit(noiseless.paths[1], nan, last_integration_nan)
    uv = read_group([noiseless.paths[0], nan])
    assert np.all(np.isfinite(uv.data_array))
    last = uv.time_array == uv.time_array.max()
    sb01 = uv.freq_array < uv.freq_array.min() + 1.5 * uv.channel_width[0]  # lowest two
    assert uv.flag_array[np.ix_(last, sb01)].all()
    assert not uv.flag_array[np.ix_(~last, sb01)].any()
    assert not uv.flag_array[:, ~sb01].any()


def test_name_timestamps_jitter_but_times_agree(tmp_path):
    g = make_uvh5_group(
        tmp_path,
        start_time=START,
        n_channels_per_subband=1,
        n_integrations=2,
        correlated_antennas=range(1, 7),
        name_jitter_s=4,
        seed=5,
    )
    stamps = {p.name.split("_sb")[0] for p in g.paths}
    assert len(stamps) > 1 and min(stamps) == START
    assert not list(tmp_path.glob("*_incomplete.hdf5"))  # renamed when complete
    uv = read_group(g.paths)
    assert uv.Ntimes == 2 and uv.Nfreqs == 16
    assert np.diff(np.unique(uv.time_array))[0] * 86400 == pytest.approx(INTEGRATION_S)


def test_old_simulated_layout_still_reads(tmp_path):
    ra, dec = group_pointing(START, 37.0, n_integrations=2, layout="legacy")
    g = make_uvh5_group(
        tmp_path,
        start_time=START,
        sources={"ra_deg": [ra], "dec_deg": [dec], "flux_jy": [2.0], "spectral_index": [0.0]},
        n_channels_per_subband=1,
        n_integrations=2,
        noise=False,
        subbands=[0, 1],
        layout="legacy",
    )
    assert inspect_uvh5(g.paths[0]).name == "legacy"
    res = convert_group(g.paths, tmp_path / "legacy.ms")
    assert read_ms_info(res.ms_path).phase_dec_deg == pytest.approx(dec, abs=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f: f["Header/extra_keywords"].__delitem__("phase_center_dec"), "phase_center_dec"),
        (
            lambda f: f["Header/extra_keywords/ha_phase_center"].write_direct(np.array(0.1)),
            "ha_phase_center",
        ),
        (
            lambda f: (
                f["Header"].__delitem__("phase_type"),
                f["Header"].__setitem__("phase_type", np.bytes_("phased")),
            ),
            "'phased'",
        ),
        (lambda f: f["Header"].__delitem__("phase_type"), "phase_center_catalog"),
        (lambda f: f["Header/polarization_array"].write_direct(np.array([1, 2])), "polarizations"),
    ],
)
def test_a_foreign_file_is_refused_naming_what_differs(noiseless, tmp_path, change, message):
    bad = _edit(noiseless.paths[0], tmp_path / noiseless.paths[0].name, change)
    with pytest.raises(UnknownLayoutError, match=message) as err:
        read_group([bad, noiseless.paths[1]])
    assert bad.name in str(err.value)


def test_real_group_converts_to_a_ms(noiseless, tmp_path):
    res = convert_group(noiseless.paths, tmp_path / "real.ms")
    info = read_ms_info(res.ms_path)
    # sb00-02 adjacent, sb09 alone: two windows
    assert info.n_spws == 2 and len(info.freqs_hz) == 8
    assert info.telescope_name == "OVRO_MMA" and info.array_name == "DSA-110"
    assert info.duration_s == pytest.approx(NT * INTEGRATION_S, rel=1e-6)
