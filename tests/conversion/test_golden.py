"""Golden tests: the telescope's file layout -> Measurement Set -> WSClean -> forced photometry.

A group in the correlator's layout (the simulator's default: drift + ``phase_center_dec``,
float32 uvw, descending channels, 117-antenna table with the 96 default correlated antennas,
ant1 >= ant2, name jitter) holds a source at the pointing centre and one 0.8 deg off it. It
is converted, imaged with WSClean, primary-beam corrected, and measured by forced photometry
at the true positions; the position is fitted on the image.

Statistical bounds (stated per test below): 8 integrations x 16 x 4 channels x 4560
baselines x 2 polarizations give an image noise of ~0.3 mJy/beam (QA's thermal estimate), so
the 2 Jy and 1.5 Jy sources have SNR > 3000: the statistical flux error is < 0.05 % and the
position error (~beam / (2 SNR)) < 0.001 beam. The 1 % flux and 0.1 beam position bounds of
issue 18 are therefore allowances for systematics (CLEAN, time and bandwidth smearing of
< 0.3 % at 0.8 deg, the primary-beam correction), more than 20 standard errors wide: a
converter that re-phases from the wrong direction loses tens of percent (9.46 -> 3.23 Jy in
issue 18) and fails them. Spectral indices are 0, so the flux at 1.4 GHz is also the band's.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from dsa110_contimg.conversion import convert_group
from dsa110_contimg.imaging.wsclean import image_ms
from dsa110_contimg.photometry.forced import measure_forced_peak
from dsa110_contimg.simulation import group_pointing, make_uvh5_group
from tests.conftest import make_settings

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")]

START = "2025-03-02T03:10:00"
DEC = 52.0
NT = 8


def _sky():
    ra, dec = group_pointing(START, DEC, n_integrations=NT)
    off_ra = ra + 0.6 / np.cos(np.radians(dec))  # 0.6 deg east ...
    return {
        "ra_deg": [ra, off_ra],
        "dec_deg": [dec, dec - 0.53],  # ... and 0.53 deg south: 0.8 deg off centre
        "flux_jy": [2.0, 1.5],
        "spectral_index": [0.0, 0.0],
        "source_id": ["centre", "off"],
    }


def _fit_position(image_path, ra, dec):
    """Fit a 2-D Gaussian to the image around (ra, dec): fitted (ra, dec) and BMAJ (deg)."""
    from astropy.io import fits
    from astropy.modeling import fitting, models
    from astropy.wcs import WCS

    with fits.open(image_path) as h:
        data = np.squeeze(h[0].data).astype(float)
        header = h[0].header
    w = WCS(header).celestial
    x0, y0 = w.world_to_pixel_values(ra, dec)
    bmaj_px = header["BMAJ"] / abs(header["CDELT2"])
    half = int(np.ceil(1.5 * bmaj_px))
    ix, iy = int(round(float(x0))), int(round(float(y0)))
    cut = data[iy - half : iy + half + 1, ix - half : ix + half + 1]
    yy, xx = np.mgrid[iy - half : iy + half + 1, ix - half : ix + half + 1]
    sigma = bmaj_px / 2.3548
    g0 = models.Gaussian2D(cut.max(), x0, y0, sigma, sigma)
    fit = fitting.LevMarLSQFitter()(g0, xx, yy, cut)
    fra, fdec = w.pixel_to_world_values(fit.x_mean.value, fit.y_mean.value)
    return float(fra), float(fdec), float(header["BMAJ"])


def _separation_deg(ra1, dec1, ra2, dec2):
    from astropy import units as u
    from astropy.coordinates import SkyCoord

    a = SkyCoord(ra1 * u.deg, dec1 * u.deg)
    return float(a.separation(SkyCoord(ra2 * u.deg, dec2 * u.deg)).deg)


@pytest.mark.parametrize(
    "variant, subbands, nan_integrations, n_spws",
    [
        ("complete", None, (), 1),
        ("missing-sb05", [i for i in range(16) if i != 5], (), 2),
        ("nan-last-integration", None, (NT - 1,), 1),
    ],
)
def test_golden_fluxes_and_positions(tmp_path, variant, subbands, nan_integrations, n_spws):
    """Fluxes within 1 % and positions within 0.1 beam (> 20 standard errors: see above)."""
    if shutil.which("wsclean") is None:
        pytest.skip("wsclean is not installed (apt-get install wsclean)")
    sky = _sky()
    g = make_uvh5_group(
        tmp_path / "in",
        start_time=START,
        dec_deg=DEC,
        sources=sky,
        n_channels_per_subband=4,
        n_integrations=NT,
        subbands=subbands,
        nan_integrations=nan_integrations,
        seed=18,
    )
    res = convert_group(g.paths, tmp_path / f"{variant}.ms")
    # production imaging settings (3.5 deg field): a field cut to ~2.2 deg for speed loses
    # 1-2 % off axis in WSClean 3.1 (measured while writing this test; 4 deg: < 0.6 %)
    settings = make_settings(tmp_path / "state")
    img = image_ms(res.ms_path, tmp_path / "img" / variant, settings=settings)
    assert img.info.n_spws == n_spws
    if nan_integrations:
        assert len(img.info.times_mjd_s) == NT  # flagged, not dropped
    report = []
    for ra, dec, flux in zip(sky["ra_deg"], sky["dec_deg"], sky["flux_jy"], strict=True):
        r = measure_forced_peak(img.pb_image_path, ra, dec)
        fra, fdec, bmaj = _fit_position(img.image_path, ra, dec)
        offset_beams = _separation_deg(ra, dec, fra, fdec) / bmaj
        report.append((flux, round(r.flux_jy, 4), round(r.flux_err_jy, 5), round(offset_beams, 4)))
        assert r.flux_err_jy < 0.001 * flux, report  # the SNR > 1000 the bounds rest on
        assert r.flux_jy == pytest.approx(flux, rel=0.01), report
        assert offset_beams < 0.1, report
    print(f"{variant}: (true Jy, measured Jy, error Jy, offset in beams) {report}")
