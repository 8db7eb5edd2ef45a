"""Forced photometry: injection-recovery with stated statistical bounds, flags, layouts.

Images are written by :func:`dsa110_contimg.simulation.make_fits_image`: point sources convolved
with the restoring beam (evaluated on the sky through the full WCS) on noise whose
autocorrelation is the restoring beam.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.errors import InvalidImageError
from dsa110_contimg.photometry import (
    FLAGS,
    ForcedPhotometryResult,
    inject_source,
    measure_forced_peak,
    measure_image,
    measure_many,
    read_image,
)
from dsa110_contimg.simulation import make_fits_image

NOISE = 1e-3
BEAM = (15.0, 12.0, 30.0)  # arcsec, arcsec, deg east of north
SHAPE = (1024, 1024)


def _grid_sources(path: Path, *, seed: int, center, rotation_deg: float = 0.0):
    """Sources on a jittered grid 16 beams apart: half bright (SNR 60-200), half faint."""
    rng = np.random.default_rng(100 + seed)
    make_fits_image(
        path,
        shape=SHAPE,
        center=center,
        beam=BEAM,
        n_sources=0,
        noise_jy=0,
        rotation_deg=rotation_deg,
    )
    wcs = WCS(fits.getheader(path), naxis=2)
    g = np.arange(40, SHAPE[0] - 40, 48)
    xx, yy = np.meshgrid(g, g)
    xx = xx.ravel() + rng.uniform(-3, 3, xx.size)
    yy = yy.ravel() + rng.uniform(-3, 3, yy.size)
    ra, dec = wcs.all_pix2world(xx, yy, 0)
    bright = np.arange(xx.size) % 2 == 0
    flux = np.where(bright, rng.uniform(0.06, 0.2, xx.size), rng.uniform(0.0, 0.01, xx.size))
    truth = make_fits_image(
        path,
        shape=SHAPE,
        center=center,
        beam=BEAM,
        sources=list(zip(ra, dec, flux, strict=True)),
        noise_jy=NOISE,
        seed=seed,
        rotation_deg=rotation_deg,
    )
    return truth


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    """Three images at DSA-110 declinations (one with a rotated pixel grid)."""
    base = tmp_path_factory.mktemp("recovery")
    runs = []
    for seed, center, rot in (
        (1, (150.0, 37.2), 0.0),
        (2, (40.0, 55.0), 0.0),
        (3, (300.0, 71.0), 35.0),
    ):
        path = base / f"rec{seed}.fits"
        truth = _grid_sources(path, seed=seed, center=center, rotation_deg=rot)
        table = measure_many(path, truth)
        runs.append((truth, table))
    return runs


def _robust_std(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    return float(1.482602218505602 * np.median(np.abs(x - np.median(x))))


def test_bright_sources_unbiased_within_half_percent(recovery):
    ratios = []
    for truth, table in recovery:
        snr = truth["flux_jy"] / NOISE
        sel = snr > 50
        assert sel.sum() > 150
        assert np.all(table["flags"][sel] == "")
        ratios.append(np.asarray(table["flux_jy"][sel]) / truth["flux_jy"][sel])
    r = np.concatenate(ratios)
    assert abs(np.median(r) - 1.0) < 0.005


def test_pulls_have_unit_robust_std(recovery):
    pulls = np.concatenate(
        [(t["flux_jy"] - tr["flux_jy"]) / t["flux_err_jy"] for tr, t in recovery]
    )
    assert pulls.size > 1000
    assert np.all(np.isfinite(pulls))
    s = _robust_std(pulls)
    assert 0.9 <= s <= 1.1, s
    assert 0.9 <= float(np.std(pulls)) <= 1.1
    assert abs(float(np.mean(pulls))) < 0.15


def test_errors_are_not_independent_pixel_errors(recovery, tmp_path):
    """The calibrated error is sqrt(4/3) rms, far above sigma / sqrt(sum K^2).

    With the noise autocorrelation measured on the image (the default) the factor is
    measured too: within 2% of sqrt(4/3) on noise correlated exactly as the beam.
    """
    for truth, table in recovery:
        assert table.meta["noise_correlation"] == "measured"
        ratio = np.asarray(table["flux_err_jy"] / table["local_rms_jy"])
        np.testing.assert_allclose(ratio, np.sqrt(4.0 / 3.0), rtol=0.02)
        np.testing.assert_allclose(np.median(table["local_rms_jy"]), NOISE, rtol=0.03)
        exact = measure_many(truth.meta["path"], truth, noise_correlation="beam")
        assert exact.meta["noise_correlation"] == "beam"
        ratio = np.asarray(exact["flux_err_jy"] / exact["local_rms_jy"])
        np.testing.assert_allclose(ratio, np.sqrt(4.0 / 3.0), rtol=1e-5)


def test_chi2_is_near_dof_for_point_sources(recovery):
    for _, table in recovery:
        red = np.asarray(table["chi2"] / table["dof"])
        assert 0.7 < np.median(red) < 1.3
        assert np.all(table["dof"] > 100)


def test_pairs_one_beam_apart_recovered_jointly(tmp_path):
    rng = np.random.default_rng(7)
    path = tmp_path / "pairs.fits"
    make_fits_image(path, shape=(512, 512), beam=BEAM, n_sources=0, noise_jy=0)
    wcs = WCS(fits.getheader(path), naxis=2)
    g = np.arange(60, 460, 80)
    xx, yy = (a.ravel().astype(float) for a in np.meshgrid(g, g))
    ra1, dec1 = wcs.all_pix2world(xx, yy, 0)
    # second member one beam FWHM away along a random direction on the sky
    pa = rng.uniform(0, 360, xx.size)
    sep_deg = BEAM[0] / 3600.0
    dec2 = dec1 + sep_deg * np.cos(np.deg2rad(pa))
    ra2 = ra1 + sep_deg * np.sin(np.deg2rad(pa)) / np.cos(np.deg2rad(dec1))
    ra = np.r_[ra1, ra2]
    dec = np.r_[dec1, dec2]
    flux = rng.uniform(0.02, 0.1, ra.size)
    make_fits_image(
        path,
        shape=(512, 512),
        beam=BEAM,
        noise_jy=NOISE,
        seed=8,
        sources=list(zip(ra, dec, flux, strict=True)),
    )
    t = measure_many(path, np.column_stack([ra, dec]))
    assert np.all(t["flags"] == "blended")
    pulls = (t["flux_jy"] - flux) / t["flux_err_jy"]
    assert np.all(np.abs(pulls) < 3), pulls
    # fitted one by one, each member would absorb much of its neighbour's flux
    solo = measure_many(path, np.column_stack([ra, dec]), blend_radius_beams=0)
    assert np.median((solo["flux_jy"] - flux) / flux) > 0.1


@pytest.mark.parametrize("stokes_first", [False, True])
def test_four_d_and_two_d_copies_give_identical_results(tmp_path, stokes_first):
    kw = dict(shape=(256, 256), n_sources=15, noise_jy=NOISE, seed=11, beam=BEAM)
    t2 = make_fits_image(tmp_path / "a2.fits", **kw)
    make_fits_image(tmp_path / "a4.fits", four_d=True, stokes_first=stokes_first, **kw)
    assert fits.getdata(tmp_path / "a4.fits").ndim == 4
    coords = np.column_stack([t2["ra_deg"], t2["dec_deg"]])
    r2 = measure_many(tmp_path / "a2.fits", coords)
    r4 = measure_many(tmp_path / "a4.fits", coords)
    for name in r2.colnames:
        np.testing.assert_array_equal(np.asarray(r2[name]), np.asarray(r4[name]))


def test_big_endian_and_little_endian_data_give_identical_results(tmp_path):
    truth = make_fits_image(
        tmp_path / "be.fits", shape=(256, 256), n_sources=12, seed=5, big_endian=True, beam=BEAM
    )
    image = read_image(tmp_path / "be.fits")
    assert image.data.dtype.byteorder == ">"  # FITS data are big-endian on disk
    little = dataclasses.replace(image, data=np.ascontiguousarray(image.data.astype("<f4")))
    assert little.data.dtype.byteorder in ("<", "=")
    ra, dec = np.asarray(truth["ra_deg"]), np.asarray(truth["dec_deg"])
    a = measure_image(image, ra, dec)
    b = measure_image(little, ra, dec)
    for name in a.colnames:
        np.testing.assert_array_equal(np.asarray(a[name]), np.asarray(b[name]))
    assert np.all(np.isfinite(a["flux_jy"]))


@pytest.fixture
def flag_image(tmp_path):
    path = tmp_path / "flags.fits"
    wcs0 = None
    make_fits_image(path, shape=(256, 256), n_sources=0, noise_jy=0, beam=BEAM)
    wcs0 = WCS(fits.getheader(path), naxis=2)
    pix = {
        "clean": (128.0, 128.0),
        "edge": (3.0, 128.0),
        "blanked": (60.0, 60.0),
        "pair_a": (190.0, 190.0),
        "pair_b": (194.0, 192.0),
        "coincident_a": (70.0, 190.0),
        "coincident_b": (70.02, 190.0),
    }
    names = list(pix)
    ra, dec = wcs0.all_pix2world([pix[n][0] for n in names], [pix[n][1] for n in names], 0)
    sources = [(r, d, 0.05) for r, d in zip(ra, dec, strict=True)]
    make_fits_image(
        path,
        shape=(256, 256),
        sources=sources,
        noise_jy=NOISE,
        seed=3,
        beam=BEAM,
        blank=[(ra[2], dec[2], 6.0)],
    )
    coords = {n: (float(r), float(d)) for n, r, d in zip(names, ra, dec, strict=True)}
    coords["off_image"] = (float(ra[0]) + 5.0, float(dec[0]))
    coords["bad_position"] = (float("nan"), 10.0)
    coords["beyond_projection"] = (float(ra[0]) + 180.0, -float(dec[0]))
    return path, coords


def test_each_flag_is_exercised_and_bad_positions_never_raise(flag_image, tmp_path):
    path, coords = flag_image
    names = list(coords)
    t = measure_many(path, [coords[n] for n in names], source_ids=names)
    got = {row["source_id"]: row["flags"] for row in t}
    assert got["clean"] == ""
    assert got["edge"] == "edge"
    assert got["blanked"] == "blanked"
    assert got["pair_a"] == got["pair_b"] == "blended"
    # 0.02 pixel apart: merged, measured once, shared (issue 14)
    assert got["coincident_a"] == got["coincident_b"] == "duplicate"
    assert got["off_image"] == "off_image"
    assert got["beyond_projection"] == "off_image"
    assert got["bad_position"] == "bad_position"
    flux = dict(zip(t["source_id"], t["flux_jy"], strict=True))
    for name in ("edge", "blanked", "off_image", "bad_position"):
        assert np.isnan(flux[name])
    assert flux["coincident_a"] == flux["coincident_b"]
    assert abs(flux["coincident_a"] - 0.1) < 5 * NOISE  # two 0.05 Jy sources on one spot
    assert abs(flux["clean"] - 0.05) < 5 * NOISE
    assert list(t["source_id"]) == names  # input order

    # zero / NaN noise from a noise map: bad_noise
    noise_path = tmp_path / "noise.fits"
    with fits.open(path) as hdul:
        noise = np.full(hdul[0].data.shape, NOISE, dtype=np.float32)
        hdr = hdul[0].header.copy()
    wcs = WCS(hdr, naxis=2)
    x, y = wcs.all_world2pix([coords["clean"][0]], [coords["clean"][1]], 0)
    noise[int(round(y[0])), int(round(x[0]))] = 0.0
    fits.PrimaryHDU(noise, hdr).writeto(noise_path)
    t2 = measure_many(path, [coords["clean"], coords["pair_a"]], noise_map_path=noise_path)
    assert t2["flags"][0] == "bad_noise" and np.isnan(t2["flux_jy"][0])
    assert t2["local_rms_jy"][1] == pytest.approx(NOISE, rel=1e-6)
    assert set(FLAGS) >= {"no_beam"}


def test_no_beam_falls_back_to_peak_pixel(tmp_path):
    path = tmp_path / "nobeam.fits"
    truth = make_fits_image(path, shape=(128, 128), sources=[(180.0, 55.0, 0.3)], seed=2, beam=BEAM)
    with fits.open(path, mode="update") as hdul:
        for key in ("BMAJ", "BMIN", "BPA"):
            del hdul[0].header[key]
    r = measure_forced_peak(path, float(truth["ra_deg"][0]), float(truth["dec_deg"][0]))
    assert isinstance(r, ForcedPhotometryResult)
    assert r.flags == "no_beam"
    assert abs(r.flux_jy - 0.3) < 0.3 * 0.05 + 5 * NOISE  # peak pixel: within the sampling loss
    assert r.dof == 0 and np.isnan(r.chi2)


def test_noise_estimate_is_not_inflated_by_bright_neighbours(tmp_path):
    """A 2000-sigma source next to the target must not raise the target's local rms."""
    path = tmp_path / "bright.fits"
    make_fits_image(path, shape=(256, 256), n_sources=0, noise_jy=0, beam=BEAM)
    wcs = WCS(fits.getheader(path), naxis=2)
    ra, dec = wcs.all_pix2world([128.0, 140.0, 100.0], [128.0, 128.0, 150.0], 0)
    sources = [(ra[0], dec[0], 0.01), (ra[1], dec[1], 2.0), (ra[2], dec[2], 1.0)]
    make_fits_image(path, shape=(256, 256), sources=sources, noise_jy=NOISE, seed=9, beam=BEAM)
    t = measure_many(path, np.column_stack([ra, dec]))
    assert np.all(np.abs(t["local_rms_jy"] / NOISE - 1) < 0.1), t["local_rms_jy"]
    # and when the bright source is not in the list, clipping still protects the estimate
    t1 = measure_many(path, [(ra[0], dec[0])])
    assert abs(t1["local_rms_jy"][0] / NOISE - 1) < 0.15


def test_background_map_is_subtracted(tmp_path):
    path = tmp_path / "bkg.fits"
    truth = make_fits_image(path, shape=(128, 128), sources=[(180.0, 55.0, 0.1)], seed=4, beam=BEAM)
    with fits.open(path) as hdul:
        data = hdul[0].data.astype(np.float64) + 0.02
        hdr = hdul[0].header.copy()
    fits.PrimaryHDU(data.astype(np.float32), hdr).writeto(tmp_path / "offset.fits")
    fits.PrimaryHDU(np.full(data.shape, 0.02, np.float32), hdr).writeto(tmp_path / "b.fits")
    coords = [(truth["ra_deg"][0], truth["dec_deg"][0])]
    plain = measure_many(path, coords)
    biased = measure_many(tmp_path / "offset.fits", coords)
    fixed = measure_many(tmp_path / "offset.fits", coords, background_path=tmp_path / "b.fits")
    assert biased["flux_jy"][0] > plain["flux_jy"][0] + 0.01
    assert fixed["flux_jy"][0] == pytest.approx(plain["flux_jy"][0], abs=1e-6)
    fits.PrimaryHDU(np.zeros((10, 10), np.float32), hdr).writeto(tmp_path / "small.fits")
    with pytest.raises(InvalidImageError, match="small.fits"):
        measure_many(path, coords, background_path=tmp_path / "small.fits")


def test_inject_source_then_recover(tmp_path):
    path = tmp_path / "base.fits"
    make_fits_image(
        path, shape=(256, 256), n_sources=0, noise_jy=NOISE, seed=12, beam=BEAM, four_d=True
    )
    out = inject_source(path, 180.01, 55.005, 0.25, output_path=tmp_path / "inj.fits")
    before = measure_forced_peak(path, 180.01, 55.005)
    after = measure_forced_peak(out, 180.01, 55.005)
    assert abs((after.flux_jy - before.flux_jy) - 0.25) < 1e-4
    # in place
    inject_source(path, 180.01, 55.005, 0.25)
    again = measure_forced_peak(path, 180.01, 55.005)
    assert again.flux_jy == pytest.approx(after.flux_jy, rel=1e-6)


def test_empty_and_invalid_inputs(tmp_path):
    path = tmp_path / "e.fits"
    make_fits_image(path, shape=(64, 64), n_sources=0, seed=1)
    t = measure_many(path, [])
    assert len(t) == 0 and "flux_err_jy" in t.colnames
    with pytest.raises(InvalidImageError, match="missing.fits"):
        measure_many(tmp_path / "missing.fits", [(0.0, 0.0)])
    bad = tmp_path / "table.fits"
    fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])]).writeto(bad)
    with pytest.raises(InvalidImageError, match="table.fits"):
        measure_many(bad, [(0.0, 0.0)])
    nowcs = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((20, 20), np.float32)).writeto(nowcs)
    with pytest.raises(InvalidImageError, match="celestial"):
        measure_many(nowcs, [(0.0, 0.0)])
    with pytest.raises(TypeError, match="unknown"):
        measure_many(path, [(0.0, 0.0)], cutout_size=3)


# --- real images (tests/data/images, see PROVENANCE.md) -------------------------------------


def _pix_to_coords(image, xs, ys):
    ra, dec = image.wcs.all_pix2world(np.asarray(xs, float), np.asarray(ys, float), 0)
    return np.column_stack([ra, dec])


def test_real_first_cutout(data_dir):
    path = data_dir / "images" / "first_cutout_J105007+304037_astroquery.fits"
    image = read_image(path)
    assert image.beam.bmaj_deg == pytest.approx(1.5e-3)
    iy, ix = np.unravel_index(np.nanargmax(image.data), image.shape)
    t = measure_many(path, _pix_to_coords(image, [16, ix, 0], [16, iy, 16]))
    # the FIRST source here is extended (chi2/dof ~ 20-50 for a point source): poor_fit
    assert t["flags"][0] == "poor_fit" and t["flags"][1] == "poor_fit"
    assert np.all(np.isfinite(t["flux_jy"][:2])) and np.all(t["snr"][:2] > 10)
    assert t["flags"][2] == "edge"


def test_real_askap_10x10_is_all_edge(data_dir):
    path = data_dir / "images" / "askap_SB56659_RACS_0940-04_beam17_ch0000_10x10_flint.fits"
    image = read_image(path)
    assert image.shape == (10, 10)
    assert image.beam.bmaj_arcsec == pytest.approx(18.262, abs=0.01)
    t = measure_many(path, _pix_to_coords(image, [5, 0, 9], [5, 0, 9]))
    assert list(t["flags"]) == ["edge"] * 3  # a 3-beam cutout cannot fit in 10 x 10 pixels
    assert np.all(np.isfinite(t["x_pix"]))


@pytest.mark.parametrize(
    "name, freq_hz",
    [("amila_GRB120422A_15GHz_pyse.fits", None), ("amila_SWIFT_554620_16GHz_pyse.fits", 1.688e10)],
)
def test_real_amila_images(data_dir, tmp_path, name, freq_hz):
    path = data_dir / "images" / name
    image = read_image(path)
    assert image.shape == (512, 512)
    assert 0.006 < image.beam.bmin_deg < image.beam.bmaj_deg < 0.02
    if freq_hz:
        assert image.freq_hz == pytest.approx(freq_hz, rel=1e-3)
    rng = np.random.default_rng(0)
    xs = rng.uniform(50, 460, 200)
    ys = rng.uniform(50, 460, 200)
    t = measure_many(path, _pix_to_coords(image, xs, ys))
    ok = t["flags"] == ""
    assert ok.sum() > 100
    assert np.all(np.isfinite(t["flux_jy"][ok]))
    # random positions on a source-poor field: pulls scatter about unity, not 10x
    assert 0.5 < _robust_std(t["snr"][ok]) < 2.0
    # inject a bright source into a copy and recover it
    copy = tmp_path / name
    shutil.copyfile(path, copy)
    ra, dec = _pix_to_coords(image, [300.3], [200.7])[0]
    before = measure_forced_peak(copy, ra, dec)
    inject_source(copy, ra, dec, 0.05)
    after = measure_forced_peak(copy, ra, dec)
    assert after.flux_jy - before.flux_jy == pytest.approx(0.05, rel=2e-3)


def test_mjy_per_beam_images_are_reported_in_jy(tmp_path):
    path = tmp_path / "jy.fits"
    truth = make_fits_image(path, shape=(128, 128), sources=[(180.0, 55.0, 0.2)], seed=6)
    with fits.open(path) as hdul:
        hdr = hdul[0].header.copy()
        data = hdul[0].data * 1000.0
    hdr["BUNIT"] = "mJy/beam"
    fits.PrimaryHDU(data, hdr).writeto(tmp_path / "mjy.fits")
    a = measure_many(path, truth)
    b = measure_many(tmp_path / "mjy.fits", truth)
    for name in ("flux_jy", "flux_err_jy", "local_rms_jy"):
        np.testing.assert_allclose(np.asarray(b[name]), np.asarray(a[name]), rtol=1e-5)
