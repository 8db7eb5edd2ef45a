"""Synthetic images: truth, beam-correlated noise statistics, layouts, blanking."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from dsa110_contimg.photometry import read_image
from dsa110_contimg.simulation import make_beam_correlated_noise, make_fits_image


def test_noise_autocorrelation_equals_the_beam():
    cov = np.array([[6.0, 1.5], [1.5, 3.0]])  # pixels^2, (x, y), tilted
    noise = make_beam_correlated_noise((1024, 1024), beam_cov_pix=cov, rms=2.0, seed=3)
    assert noise.std() == pytest.approx(2.0, rel=0.03)
    f = np.fft.rfft2(noise - noise.mean())
    acf = np.fft.irfft2(np.abs(f) ** 2, s=noise.shape) / noise.size / noise.var()
    icov = np.linalg.inv(cov)
    for dx, dy in [(1, 0), (0, 1), (2, 1), (-2, 1), (3, 0), (0, 3)]:
        expected = np.exp(-0.5 * np.array([dx, dy]) @ icov @ np.array([dx, dy]))
        assert acf[dy % 1024, dx % 1024] == pytest.approx(expected, abs=0.03), (dx, dy)


def test_noise_is_seeded():
    cov = np.diag([4.0, 4.0])
    a = make_beam_correlated_noise((64, 64), beam_cov_pix=cov, rms=1.0, seed=1)
    b = make_beam_correlated_noise((64, 64), beam_cov_pix=cov, rms=1.0, seed=1)
    c = make_beam_correlated_noise((64, 64), beam_cov_pix=cov, rms=1.0, seed=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_make_fits_image_header_truth_and_peaks(tmp_path):
    path = tmp_path / "im.fits"
    truth = make_fits_image(
        path,
        shape=(200, 300),
        center=(210.0, 37.2),
        n_sources=6,
        noise_jy=0.0,
        seed=4,
        four_d=True,
        freq_hz=1.4e9,
    )
    h = fits.getheader(path)
    assert h["CTYPE1"] == "RA---SIN" and h["CTYPE3"] == "FREQ" and h["CTYPE4"] == "STOKES"
    assert h["BUNIT"] == "JY/BEAM" and h["BMAJ"] == pytest.approx(15 / 3600)
    assert "DATE-OBS" in h and "DATE-END" in h
    image = read_image(path)
    assert image.shape == (200, 300)
    assert len(truth) == 6 and set(truth.colnames) >= {"source_id", "ra_deg", "flux_jy"}
    # noise-free: the pixel nearest each source is close to its peak (beam 5 px FWHM)
    ix = np.rint(truth["x_pix"]).astype(int)
    iy = np.rint(truth["y_pix"]).astype(int)
    ratio = image.data[iy, ix] / truth["flux_jy"]
    assert np.all((ratio > 0.85) & (ratio < 1.01))


def test_blanking_and_byte_order(tmp_path):
    a = tmp_path / "a.fits"
    b = tmp_path / "b.fits"
    kw = dict(shape=(64, 64), n_sources=2, seed=5, blank=[(180.0, 55.0, 12.0)], blank_border_pix=2)
    make_fits_image(a, **kw)
    make_fits_image(b, big_endian=True, **kw)
    da, db = fits.getdata(a), fits.getdata(b)
    np.testing.assert_array_equal(da, db)
    assert np.isnan(da[32, 32]) and np.isnan(da[0, 10]) and np.isfinite(da[10, 10])


def test_sources_as_list_and_rotation(tmp_path):
    path = tmp_path / "rot.fits"
    truth = make_fits_image(
        path, shape=(128, 128), sources=[(180.0, 55.0, 0.1)], noise_jy=0.0, rotation_deg=40.0
    )
    assert truth["x_pix"][0] == pytest.approx(64.0) and truth["flux_jy"][0] == 0.1
    assert fits.getheader(path)["PC1_2"] != 0
    assert np.nanmax(fits.getdata(path)) == pytest.approx(0.1, rel=1e-3)
