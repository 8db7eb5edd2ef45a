"""Imaging pieces that need no WSClean run: geometry, command line, primary beam, QA.

WSClean itself runs in tests/conversion/test_stream_e2e.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_contimg.config.imaging import ImagingSettings
from dsa110_contimg.errors import ImagingError, ToolMissingError
from dsa110_contimg.imaging import (
    MsInfo,
    assess_image,
    beam_fwhm_rad,
    drift_beam,
    find_wsclean,
    gaussian_beam,
    image_geometry,
    image_ms,
    pb_paths,
    wsclean_command,
)
from dsa110_contimg.simulation import group_pointing

pytestmark = pytest.mark.filterwarnings("ignore::astropy.wcs.FITSFixedWarning")


def _info(**kw) -> MsInfo:
    from astropy.time import Time

    t0 = Time("2025-01-15T12:00:00").mjd * 86400.0
    base = dict(
        path=None,
        times_mjd_s=t0 + (np.arange(24) + 0.5) * 12.885,
        integration_s=12.885,
        start_mjd=t0 / 86400,
        end_mjd=(t0 + 24 * 12.885) / 86400,
        freqs_hz=np.linspace(1.281e9, 1.529e9, 64),
        channel_width_hz=3.9e6,
        phase_ra_deg=0.0,
        phase_dec_deg=37.0,
        max_baseline_m=483.0,
        n_cross_vis=5356 * 24 * 64,
        n_pols=2,
    )
    base.update(kw)
    return MsInfo(**base)


def test_missing_wsclean_says_how_to_install(settings, tmp_path):
    with pytest.raises(ToolMissingError, match="apt-get install wsclean"):
        find_wsclean("no-such-wsclean-binary")
    settings.imaging.wsclean_path = "no-such-wsclean-binary"
    with pytest.raises(ToolMissingError):
        image_ms(tmp_path / "x.ms", tmp_path / "x", settings=settings, info=_info())


def test_geometry_covers_the_field_with_beam_sampled_pixels():
    size, cell = image_geometry(_info(), ImagingSettings())
    lam_over_b = np.degrees(299792458.0 / 1.529e9 / 483.0) * 3600
    assert cell == pytest.approx(lam_over_b / 8, abs=0.06)
    assert size * cell / 3600 >= 3.5 and size % 32 == 0
    fixed = ImagingSettings(cell_arcsec=20.0, image_size_px=512)
    assert image_geometry(_info(), fixed) == (512, 20.0)


def test_wsclean_command_encodes_the_settings():
    cfg = ImagingSettings(
        robust=-0.5, niter=500, auto_mask=0, extra_args=["-parallel-gridding", "2"]
    )
    argv, params = wsclean_command("/d/x.ms", "/o/x", _info(), cfg)
    joined = " ".join(argv)
    assert "-weight briggs -0.5" in joined and "-niter 500" in joined
    assert "-auto-threshold 3.0" in joined and "-auto-mask" not in joined
    assert argv[-1] == "/d/x.ms" and argv[-3:-1] == ["-name", "/o/x"]
    assert "-parallel-gridding 2" in joined
    assert params["robust"] == -0.5
    assert params["size_px"] == int(argv[argv.index("-size") + 1])


def test_pb_paths_need_an_image_name():
    assert pb_paths("/a/b-image.fits")[1].name == "b-image-pb.fits"
    with pytest.raises(ImagingError):
        pb_paths("/a/b.fits")


def test_beam_model_half_power_and_scaling():
    fwhm = beam_fwhm_rad(1.4e9)
    assert np.degrees(fwhm) == pytest.approx(3.16, abs=0.01)
    assert gaussian_beam(fwhm / 2, 1.4e9) == pytest.approx(0.5)
    # the beam narrows with frequency
    assert gaussian_beam(0.02, 1.5e9) < gaussian_beam(0.02, 1.3e9)


def test_drift_beam_peaks_at_the_pointing_and_is_stretched_in_ra():
    from astropy.wcs import WCS

    ra, dec = group_pointing("2025-01-15T12:00:00", 37.0)
    info = _info(phase_ra_deg=ra, phase_dec_deg=dec)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    w.wcs.crval = [ra, dec]
    w.wcs.crpix = [65, 65]
    w.wcs.cdelt = [-0.05, 0.05]
    b = drift_beam(w, (129, 129), info)
    assert np.unravel_index(np.nanargmax(b), b.shape) == (64, 64)
    # averaging over the drift lowers the centre below 1 and widens the beam east-west
    assert 0.97 < b[64, 64] < 1.0
    assert b[64, 64 + 30] > b[64 + 30, 64]
    # the same beam a single integration would give is narrower in RA
    single = drift_beam(
        w,
        (129, 129),
        _info(phase_ra_deg=ra, phase_dec_deg=dec, times_mjd_s=info.times_mjd_s[11:13]),
    )
    assert single[64, 64 + 30] < b[64, 64 + 30]


def test_qa_passes_a_good_image_and_flags_a_bad_one(tmp_path):
    from astropy.io import fits

    from dsa110_contimg.simulation import make_fits_image

    good = tmp_path / "g-image.fits"
    make_fits_image(
        good,
        shape=(256, 256),
        center=(10.0, 37.0),
        pixel_scale_arcsec=10.0,
        beam=(90.0, 50.0, 0.0),
        sources=[(10.0, 37.0, 0.5)],
        noise_jy=1e-3,
        seed=1,
    )
    info = _info(n_cross_vis=5356 * 24 * 64)
    qa = assess_image(good, info=info, config=ImagingSettings(sefd_jy=5800.0 * 5))
    assert qa.status == "passed", qa.reason
    assert qa.noise_jy == pytest.approx(1e-3, rel=0.3)
    assert qa.dynamic_range > 100 and qa.finite_fraction == 1.0
    assert qa.bmaj_arcsec == pytest.approx(90.0)
    # the same image judged against a much lower expected noise, with NaN holes: failed
    with fits.open(good, mode="update") as h:
        h[0].data[..., :40, :] = np.nan
    bad = assess_image(good, info=info, config=ImagingSettings())
    assert bad.status == "failed"
    assert "x thermal" in bad.reason and "finite fraction" in bad.reason
    assert set(bad.metrics()) >= {"noise_jy", "noise_ratio", "dynamic_range", "bmaj_arcsec"}


def _astrometry_image(path, truth):
    from dsa110_contimg.simulation import make_fits_image

    make_fits_image(
        path,
        shape=(384, 384),
        center=(150.0, 37.0),
        pixel_scale_arcsec=10.0,
        beam=(60.0, 45.0, 30.0),
        sources=truth,
        noise_jy=1e-3,
        seed=3,
    )


def _astrometry_truth(n=16, seed=4):
    rng = np.random.default_rng(seed)
    ra = 150.0 + rng.uniform(-0.6, 0.6, n) / np.cos(np.radians(37.0))
    dec = 37.0 + rng.uniform(-0.6, 0.6, n)
    flux = rng.uniform(0.05, 0.5, n)
    return [(float(a), float(d), float(f)) for a, d, f in zip(ra, dec, flux, strict=True)]


@pytest.mark.parametrize("shift_beams", [0.0, 0.05, 0.3])
def test_astrometric_offset_recovered_and_flagged(tmp_path, shift_beams):
    """Sources injected at known positions; the catalog is shifted by a known offset."""
    from dsa110_contimg.config.calibration import CalibrationSettings
    from dsa110_contimg.imaging.qa import measure_astrometry

    truth = _astrometry_truth()
    path = tmp_path / "a-image.fits"
    _astrometry_image(path, truth)
    fwhm_arcsec = np.sqrt(60.0 * 45.0)
    shift_deg = shift_beams * fwhm_arcsec / 3600.0
    # the catalog is offset to the south-east: measured - catalog points north-west
    catalog = [
        {"ra_deg": a + shift_deg * 0.6 / np.cos(np.radians(d)), "dec_deg": d - shift_deg * 0.8,
         "flux_mjy": f * 1e3}
        for a, d, f in truth
    ]
    res = measure_astrometry(path, catalog, noise_jy=1e-3, n_sources=30, min_snr=20.0)
    assert res.n_sources >= 10
    assert res.offset_beams == pytest.approx(shift_beams, abs=0.03)
    assert res.median_dra_arcsec == pytest.approx(-0.6 * shift_beams * fwhm_arcsec, abs=2.0)
    assert res.median_ddec_arcsec == pytest.approx(0.8 * shift_beams * fwhm_arcsec, abs=2.0)
    qa = assess_image(path, config=ImagingSettings(qa_min_dynamic_range=5), sources=catalog,
                      astrometry=CalibrationSettings(astrometry_max_offset_beams=0.1))
    assert qa.astrometric_offset_beams == pytest.approx(res.offset_beams)
    assert qa.metrics()["n_astrometric_sources"] == res.n_sources
    if shift_beams > 0.1:
        assert qa.status == "failed" and "astrometric offset" in qa.reason
    else:
        assert qa.status == "passed", qa.reason
