"""The Measurement Set is one CASA reads as meant: observatory, antennas, spectral windows.

Every check reads the written MS back with python-casacore (the tables CASA itself reads).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsa110_contimg.conversion import convert_group
from dsa110_contimg.conversion.ms_casa import read_array_name
from dsa110_contimg.imaging import read_ms_info

ct = pytest.importorskip("casacore.tables")


def _table(ms, sub=""):
    return ct.table(str(ms / sub) if sub else str(ms), ack=False)


def test_observatory_is_ovro_mma_and_the_array_keeps_its_name(small_group, tmp_path):
    res = convert_group(small_group.paths, tmp_path / "g.ms")
    with _table(res.ms_path, "OBSERVATION") as t:
        assert t.getcell("TELESCOPE_NAME", 0) == "OVRO_MMA"
        assert t.getcell("PROJECT", 0) == "DSA-110"
        assert t.getkeyword("ARRAY_NAME") == "DSA-110"
        # the array's own centre, not CASA's OVRO_MMA position
        loc = np.asarray(t.getcell("TELESCOPE_LOCATION", 0))
        assert np.linalg.norm(loc) == pytest.approx(6.37e6, rel=2e-3)
    assert read_array_name(res.ms_path) == "DSA-110"
    info = read_ms_info(res.ms_path)
    assert (info.telescope_name, info.array_name) == ("OVRO_MMA", "DSA-110")


def test_antennas_are_zero_based_with_no_dummy_row(small_group, tmp_path):
    res = convert_group(small_group.paths, tmp_path / "g.ms")
    with _table(res.ms_path, "ANTENNA") as t:
        names = list(t.getcol("NAME"))
        pos = t.getcol("POSITION")
    assert all(names), "an unnamed antenna row"
    assert np.all(np.linalg.norm(pos, axis=1) > 6.3e6), "an antenna at the Earth's centre"
    with _table(res.ms_path) as t:
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    used = np.union1d(a1, a2)
    assert used.min() == 0 and used.max() < len(names)
    assert np.all(a1 <= a2)
    # the whole 117-station table, numbered from 0 in station order, names kept
    assert len(names) == 117 and names[:3] == ["1", "2", "3"] and names[-1] == "117"


def test_one_spectral_window_per_contiguous_block_of_subbands(small_group, tmp_path):
    keep = [p for p in small_group.paths if "_sb07" not in p.name and "_sb12" not in p.name]
    res = convert_group(keep, tmp_path / "gap.ms")
    with _table(res.ms_path, "SPECTRAL_WINDOW") as t:
        n = t.nrows()
        freqs = [np.asarray(t.getcell("CHAN_FREQ", i)) for i in range(n)]
        widths = [np.asarray(t.getcell("CHAN_WIDTH", i)) for i in range(n)]
    # sb00 is the highest subband: sb15-13 | sb11-08 | sb06-00, ascending
    assert [len(f) for f in freqs] == [3, 4, 7]
    for f, w in zip(freqs, widths, strict=True):
        assert np.all(np.diff(f) > 0)
        assert np.allclose(np.diff(f), w[0], rtol=1e-6)  # no gap inside a window
    assert all(freqs[i][-1] < freqs[i + 1][0] for i in range(n - 1))
    with _table(res.ms_path, "DATA_DESCRIPTION") as t:
        assert sorted(t.getcol("SPECTRAL_WINDOW_ID")) == [0, 1, 2]
    with _table(res.ms_path) as t:
        ddid = t.getcol("DATA_DESC_ID")
    assert sorted(np.unique(ddid)) == [0, 1, 2]
    info = read_ms_info(res.ms_path)
    assert info.n_spws == 3 and len(info.freqs_hz) == 14
    # every row of every window is there: 14 channels x cross baselines x times, per pol
    full = convert_group(small_group.paths, tmp_path / "full.ms")
    assert read_ms_info(full.ms_path).n_spws == 1
    assert info.n_cross_vis * 16 == read_ms_info(full.ms_path).n_cross_vis * 14


@pytest.mark.slow
def test_wsclean_images_a_ms_with_several_windows(small_group, tmp_path):
    if shutil.which("wsclean") is None:
        pytest.skip("wsclean is not installed (apt-get install wsclean)")
    from astropy.io import fits

    from dsa110_contimg.imaging.qa import assess_image
    from dsa110_contimg.imaging.wsclean import image_ms
    from tests.conftest import make_settings

    keep = [p for p in small_group.paths if "_sb07" not in p.name]
    res = convert_group(keep, tmp_path / "gap.ms")
    settings = make_settings(
        tmp_path / "state", imaging={"field_of_view_deg": 1.0, "cell_fraction": 1 / 4}
    )
    img = image_ms(res.ms_path, tmp_path / "img" / "gap", settings=settings)
    assert img.info.n_spws == 2 and len(img.info.freqs_hz) == 15
    with fits.open(img.pb_image_path) as h:
        data = np.squeeze(h[0].data)
    assert np.isfinite(data).any() and np.nanmax(data) > 0.5  # the 1 Jy source at the centre
    with fits.open(img.beam_path) as h:  # primary beam over both windows' band
        assert np.nanmax(h[0].data) > 0.9
    # QA reads the MS summary of both windows: thermal noise from 15 channels
    qa = assess_image(
        img.image_path, info=img.info, residual_path=img.residual_path, config=settings.imaging
    )
    assert qa.expected_noise_jy is not None and qa.noise_ratio is not None
    assert qa.noise_ratio < 3.0, qa
