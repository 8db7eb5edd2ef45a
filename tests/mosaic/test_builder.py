"""Mosaics of synthetic drift-scan images with known sources and noise."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from dsa110_contimg.errors import ContimgWarning, MosaicError
from dsa110_contimg.mosaic import build_mosaic
from dsa110_contimg.mosaic.beams import common_beam
from dsa110_contimg.photometry import measure_many, read_image
from dsa110_contimg.photometry.noise import clipped_rms
from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set
from tests.conftest import make_settings

STEP_DEG = 0.4  # RA step between pointings: footprints 1.42 deg wide (x cos dec) overlap 2-3x
N_IMAGES = 5


def _bright_sources(seed: int) -> Table:
    """Bright (SNR > 1000) sources along the strip, many of them where images overlap."""
    rng = np.random.default_rng(seed)
    ra = np.linspace(179.7, 180.0 + (N_IMAGES - 1) * STEP_DEG + 0.3, 14)
    dec = 55.0 + rng.uniform(-0.45, 0.45, ra.size)
    return Table({"ra_deg": ra, "dec_deg": dec, "flux_jy": rng.uniform(1.5, 3.0, ra.size)})


@pytest.fixture(scope="module")
def strip(tmp_path_factory):
    d = tmp_path_factory.mktemp("strip")
    s = make_pb_image_set(d, n_images=N_IMAGES, ra_step_deg=STEP_DEG, sources=_bright_sources(1),
                          noise_jy=1e-3, seed=10)
    return s, build_mosaic(s.pb_paths, d / "mosaic.fits")


@pytest.fixture(scope="module")
def strip_mixed_beams(tmp_path_factory):
    d = tmp_path_factory.mktemp("mixed")
    beams = [(80, 64, 30), (90, 60, 0), (70, 70, 0), (85, 64, 60), (76, 66, -40)]
    s = make_pb_image_set(d, n_images=N_IMAGES, ra_step_deg=STEP_DEG, sources=_bright_sources(2),
                          noise_jy=1e-3, seed=20, beams=beams)
    return s, beams, build_mosaic(s.pb_paths, d / "mosaic.fits")


def _coverage(s, ra, dec):
    """Number of input footprints (beam >= 0.1) covering each position."""
    out = np.zeros(len(ra), int)
    for bp in s.beam_paths:
        b = read_image(bp)
        x, y = b.wcs.all_world2pix(ra, dec, 0)
        ix, iy = np.rint(x).astype(int), np.rint(y).astype(int)
        ok = (ix >= 2) & (iy >= 2) & (ix < b.shape[1] - 2) & (iy < b.shape[0] - 2)
        val = np.zeros(len(ra))
        val[ok] = np.asarray(b.data)[iy[ok], ix[ok]]
        out += val >= 0.1
    return out


def test_bright_fluxes_preserved_within_one_percent_also_in_overlaps(strip):
    s, result = strip
    t = measure_many(result.path, list(zip(s.truth["ra_deg"], s.truth["dec_deg"], strict=False)))
    ratio = np.asarray(t["flux_jy"]) / np.asarray(s.truth["flux_jy"])
    cover = _coverage(s, np.asarray(s.truth["ra_deg"]), np.asarray(s.truth["dec_deg"]))
    assert (cover >= 2).sum() >= 6, "the test needs sources in overlaps"
    assert np.all(np.abs(ratio - 1) < 0.01), ratio


def test_fluxes_preserved_when_inputs_have_different_beams(strip_mixed_beams):
    s, beams, result = strip_mixed_beams
    from dsa110_contimg.photometry.image import Beam

    expected = common_beam([Beam(a / 3600, b / 3600, c) for a, b, c in beams])
    assert result.beam.bmaj_deg == pytest.approx(expected.bmaj_deg)
    assert result.n_convolved == N_IMAGES  # none of these beams is the common one
    img = read_image(result.path)
    assert img.beam.bmaj_deg == pytest.approx(expected.bmaj_deg)
    assert img.beam.bmin_deg == pytest.approx(expected.bmin_deg)
    t = measure_many(result.path, list(zip(s.truth["ra_deg"], s.truth["dec_deg"], strict=False)))
    ratio = np.asarray(t["flux_jy"]) / np.asarray(s.truth["flux_jy"])
    assert np.all(np.abs(ratio - 1) < 0.01), ratio


def _normalised_residual_std(result, truth: Table | None = None) -> float:
    img = np.asarray(read_image(result.path).data, dtype=np.float64)
    noise = np.asarray(read_image(result.noise_path).data, dtype=np.float64)
    z = img / noise
    return float(clipped_rms(z[np.isfinite(z)][None, :])[0])


def test_noise_map_matches_measured_noise(tmp_path):
    """Source-free strip: mosaic / noise-map has unit rms (tens of thousands of pixels, ~5000
    independent beams: a 1.5% statistical error, bound 6%), with equal and with mixed beams."""
    for beams in (None, [(80, 64, 30), (90, 60, 0), (70, 70, 0), (85, 64, 60), (76, 66, -40)]):
        d = tmp_path / ("mixed" if beams else "same")
        s = make_pb_image_set(d, n_images=N_IMAGES, ra_step_deg=STEP_DEG, n_sources=0,
                              noise_jy=1e-3, seed=30, beams=beams)
        result = build_mosaic(s.pb_paths, d / "mosaic.fits")
        assert _normalised_residual_std(result) == pytest.approx(1.0, abs=0.06)


def test_noise_in_overlap_of_k_images_scales_as_one_over_sqrt_k(tmp_path):
    """k images of the same field with independent noise (flat-topped primary beam): the mosaic
    rms is 1/sqrt(k) of one image's. Each rms comes from ~2500 independent beams (1.4%
    error); bound 7% on the ratio."""
    rms = {}
    for k in (1, 2, 4):
        s = make_pb_image_set(tmp_path / f"k{k}", n_images=k, ra_step_deg=0.0, n_sources=0,
                              noise_jy=1e-3, seed=40, pb_fwhm_deg=50.0)
        result = build_mosaic(s.pb_paths, tmp_path / f"k{k}" / "mosaic.fits")
        data = np.asarray(read_image(result.path).data, dtype=np.float64)[10:-10, 10:-10]
        rms[k] = float(clipped_rms(data.ravel()[None, :])[0])
        noise_map = np.asarray(read_image(result.noise_path).data)[10:-10, 10:-10]
        # the effective-noise map says the same (the beam is ~1 over this field)
        assert float(np.nanmedian(noise_map)) == pytest.approx(1e-3 / np.sqrt(k), rel=0.01)
    assert rms[1] == pytest.approx(1e-3, rel=0.07)
    assert rms[2] / rms[1] == pytest.approx(1 / np.sqrt(2), rel=0.07)
    assert rms[4] / rms[1] == pytest.approx(0.5, rel=0.07)


def test_header_times_beam_and_side_maps(strip):
    s, result = strip
    h = fits.getheader(result.path)
    assert h["BUNIT"] == "JY/BEAM"
    assert h["NIMAGES"] == N_IMAGES
    from astropy.time import Time

    assert Time(h["DATE-OBS"], scale="utc").mjd == pytest.approx(min(s.mjd_starts), abs=1e-8)
    assert Time(h["DATE-END"], scale="utc").mjd == pytest.approx(max(s.mjd_ends), abs=1e-8)
    assert "smallest-area ellipse" in " ".join(str(c) for c in h["HISTORY"])
    assert result.mjd_mid == pytest.approx(0.5 * (min(s.mjd_starts) + max(s.mjd_ends)))
    w = np.asarray(read_image(result.weight_path).data, dtype=np.float64)
    n = np.asarray(read_image(result.noise_path).data, dtype=np.float64)
    ok = w > 0
    assert np.allclose(n[ok], 1 / np.sqrt(w[ok]), rtol=1e-5)
    # the weight peaks at one input's centre with B = 1: at least 1/sigma^2 there
    assert w.max() >= 0.99 / 1e-3**2
    assert fits.getheader(result.weight_path)["DATE-OBS"] == h["DATE-OBS"]


def test_input_without_beam_is_weighted_flat_with_a_warning(tmp_path):
    s = make_pb_image_set(tmp_path, n_images=2, ra_step_deg=STEP_DEG, n_sources=0,
                          noise_jy=1e-3, seed=50, write_beam=False)
    with pytest.warns(ContimgWarning, match="flat beam"):
        result = build_mosaic(s.pb_paths, tmp_path / "mosaic.fits")
    assert all(i.beam_path is None for i in result.inputs)
    w = np.asarray(read_image(result.weight_path).data)
    # flat weights: 1/sigma^2 (one input) or 2/sigma^2 (overlap), nothing else
    sigma = result.inputs[0].noise_jy
    levels = np.unique(np.round(w[w > 0] * sigma**2, 1))
    assert set(levels.tolist()) <= {1.0, 2.0}


def test_noise_taken_from_the_uncorrected_image(strip):
    s, result = strip
    for inp in result.inputs:
        assert inp.noise_jy == pytest.approx(1e-3, rel=0.1)


def test_car_projection(tmp_path):
    s = make_pb_image_set(tmp_path, n_images=3, ra_step_deg=STEP_DEG, sources=_bright_sources(3),
                          noise_jy=1e-3, seed=60)
    settings = make_settings(tmp_path / "state", mosaic={"projection": "CAR"})
    result = build_mosaic(s.pb_paths, tmp_path / "car.fits", settings=settings)
    assert fits.getheader(result.path)["CTYPE1"] == "RA---CAR"
    cover = _coverage(s, np.asarray(s.truth["ra_deg"]), np.asarray(s.truth["dec_deg"]))
    inside = cover >= 1
    pos = list(zip(s.truth["ra_deg"][inside], s.truth["dec_deg"][inside], strict=True))
    t = measure_many(result.path, pos)
    ratio = np.asarray(t["flux_jy"]) / np.asarray(s.truth["flux_jy"][inside])
    assert np.all(np.abs(ratio - 1) < 0.01), ratio


def test_missing_unreadable_and_off_strip_inputs_fail_with_the_file_named(tmp_path):
    s = make_pb_image_set(tmp_path, n_images=2, ra_step_deg=STEP_DEG, n_sources=0, seed=70,
                          dec_offsets_deg=[0.0, 2.0])
    with pytest.raises(MosaicError, match="drift_001-image-pb.fits.*another declination"):
        build_mosaic(s.pb_paths, tmp_path / "m.fits", dec_tolerance_deg=0.5)
    missing = tmp_path / "gone-image-pb.fits"
    with pytest.raises(MosaicError, match="gone-image-pb.fits"):
        build_mosaic([s.pb_paths[0], missing], tmp_path / "m.fits")
    junk = tmp_path / "junk-image-pb.fits"
    junk.write_bytes(b"not a fits file at all" * 100)
    with pytest.raises(MosaicError, match="junk-image-pb.fits.*unreadable"):
        build_mosaic([junk], tmp_path / "m.fits")
    with pytest.raises(MosaicError, match="no input"):
        build_mosaic([], tmp_path / "m.fits")
    assert not (tmp_path / "m.fits").exists()
