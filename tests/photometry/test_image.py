"""Reading FITS images: layouts, beams, frequencies, times and typed errors."""

from __future__ import annotations

import mmap

import numpy as np
import pytest
from astropy.io import fits

from dsa110_contimg.errors import InvalidImageError
from dsa110_contimg.photometry import observation_times, read_image
from dsa110_contimg.simulation import make_fits_image

IMAGES = "images"


def _is_memory_mapped(arr) -> bool:
    base = arr
    while base is not None:
        if isinstance(base, np.memmap | mmap.mmap):
            return True
        base = getattr(base, "base", None)
    return False


@pytest.mark.parametrize(
    "name, shape, bmaj_deg, freq_hz",
    [
        ("first_cutout_J105007+304037_astroquery.fits", (33, 33), 1.5e-3, 1.3649e9),
        (
            "askap_SB56659_RACS_0940-04_beam17_ch0000_10x10_flint.fits",
            (10, 10),
            0.00507281757649565,
            8.0849074e8,
        ),
        ("amila_GRB120422A_15GHz_pyse.fits", (512, 512), 1.506752332052e-02, None),
        ("amila_SWIFT_554620_16GHz_pyse.fits", (512, 512), 1.708134757148e-02, 1.687992813e10),
    ],
)
def test_real_images(data_dir, name, shape, bmaj_deg, freq_hz):
    image = read_image(data_dir / IMAGES / name)
    assert image.shape == shape
    assert image.data.ndim == 2
    assert _is_memory_mapped(image.data)
    assert image.beam.bmaj_deg == pytest.approx(bmaj_deg)
    assert image.wcs.naxis == 2 and image.wcs.has_celestial
    if freq_hz is None:
        assert image.freq_hz is None or image.freq_hz > 1e10  # AMI-LA: only RESTFRQ
    else:
        assert image.freq_hz == pytest.approx(freq_hz, rel=1e-4)
    start, mid, end = observation_times(image.header)
    assert start is not None and 40000 < start < 70000
    assert mid >= start


def test_awkward_amila_header_stokes_then_vopt(data_dir):
    path = data_dir / IMAGES / "amila_GRB120422A_15GHz_pyse.fits"
    image = read_image(path)
    raw = fits.getdata(path)
    np.testing.assert_array_equal(image.data, raw[0, 0])
    assert image.beam.bpa_deg == pytest.approx(5.014526367188)
    assert image.pixel_scale_deg == pytest.approx(1.388888888889e-03)


def test_history_card_beam(tmp_path):
    path = tmp_path / "hist.fits"
    make_fits_image(path, shape=(32, 32), n_sources=0, seed=0)
    with fits.open(path, mode="update") as hdul:
        h = hdul[0].header
        for key in ("BMAJ", "BMIN", "BPA"):
            del h[key]
        h.add_history("AIPS   CLEAN BMAJ=  4.1667E-03 BMIN=  3.3333E-03 BPA=  30.00")
    beam = read_image(path).beam
    assert beam.bmaj_deg == pytest.approx(4.1667e-3)
    assert beam.bpa_deg == pytest.approx(30.0)


def test_observation_times():
    h = fits.Header()
    assert observation_times(h) == (None, None, None)
    h["DATE-OBS"] = "2025-01-01T00:00:00"
    assert observation_times(h) == (60676.0, 60676.0, None)
    h["EXPTIME"] = 864.0
    s, m, e = observation_times(h)
    assert e == pytest.approx(60676.01) and m == pytest.approx(60676.005)
    h["DATE-END"] = "2025-01-01T00:00:08.64"
    assert observation_times(h)[2] == pytest.approx(60676.0001)
    assert observation_times(fits.Header({"MJD-OBS": 60000.5}))[0] == 60000.5
    assert observation_times(fits.Header({"DATE-OBS": "19930417"}))[0] == 49094.0
    assert observation_times(fits.Header({"DATE-OBS": "garbage"})) == (None, None, None)


def test_errors_name_the_file(tmp_path):
    text = tmp_path / "notfits.fits"
    text.write_text("hello")
    with pytest.raises(InvalidImageError, match="notfits.fits"):
        read_image(text)
    with pytest.raises(InvalidImageError, match="absent.fits"):
        read_image(tmp_path / "absent.fits")
    nowcs = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((8, 8), np.float32)).writeto(nowcs)
    with pytest.raises(InvalidImageError, match=r"nowcs.fits.*celestial"):
        read_image(nowcs)
    empty = tmp_path / "empty.fits"
    fits.PrimaryHDU().writeto(empty)
    with pytest.raises(InvalidImageError, match="empty.fits"):
        read_image(empty)


def test_image_in_extension_hdu(tmp_path):
    src = tmp_path / "p.fits"
    make_fits_image(src, shape=(40, 50), n_sources=0, seed=0)
    with fits.open(src) as hdul:
        ext = fits.ImageHDU(hdul[0].data, hdul[0].header)
    path = tmp_path / "ext.fits"
    fits.HDUList([fits.PrimaryHDU(), ext]).writeto(path)
    image = read_image(path)
    assert image.shape == (40, 50) and image.hdu_index == 1


def test_latitude_first_axis_order_gives_the_same_photometry(tmp_path):
    from dsa110_contimg.photometry import measure_many

    truth = make_fits_image(tmp_path / "a.fits", shape=(120, 160), n_sources=4, seed=3)
    h = fits.getheader(tmp_path / "a.fits")
    d = fits.getdata(tmp_path / "a.fits")
    swapped = h.copy()
    for key in ("CTYPE", "CRVAL", "CDELT", "CRPIX", "CUNIT"):
        swapped[f"{key}1"], swapped[f"{key}2"] = h[f"{key}2"], h[f"{key}1"]
    fits.PrimaryHDU(np.ascontiguousarray(d.T), swapped).writeto(tmp_path / "t.fits")
    assert read_image(tmp_path / "t.fits").shape == (120, 160)
    a = measure_many(tmp_path / "a.fits", truth)
    b = measure_many(tmp_path / "t.fits", truth)
    np.testing.assert_allclose(np.asarray(a["flux_jy"]), np.asarray(b["flux_jy"]), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(a["x_pix"]), np.asarray(b["x_pix"]), atol=1e-6)
