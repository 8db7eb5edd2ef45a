"""Field centre and the catalog sources on an image's valid pixels (photometry.helpers)."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from dsa110_contimg.catalog import ingest_table
from dsa110_contimg.catalog.spatial import angular_separation_deg
from dsa110_contimg.errors import CatalogError, InvalidImageError
from dsa110_contimg.photometry.helpers import (
    get_field_center_from_fits,
    query_sources_for_fits,
    query_sources_for_mosaic,
)
from dsa110_contimg.simulation import make_fits_image
from dsa110_contimg.simulation.catalogs import make_catalog

CENTER = (150.0, 54.6)


@pytest.fixture
def field(tmp_path, settings):
    """A 200x200 image at 6"/px (0.33 deg wide) with a blanked circle, and a catalog around it."""
    path = tmp_path / "im.fits"
    blank = [(150.0 + 0.08 / np.cos(np.radians(54.6)), 54.6, 120.0)]
    make_fits_image(
        path,
        shape=(200, 200),
        center=CENTER,
        pixel_scale_arcsec=6.0,
        n_sources=0,
        noise_jy=0.0,
        blank=blank,
        blank_border_pix=5,
        four_d=True,
        seed=1,
    )
    cat = make_catalog(center=CENTER, radius_deg=0.6, density_per_deg2=400.0, seed=4)
    ingest_table("nvss", cat, settings=settings)
    return path, cat


def _on_valid_pixels(path, cat):
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=float).squeeze()
        wcs = WCS(hdul[0].header).celestial
    x, y = wcs.world_to_pixel_values(np.asarray(cat["ra_deg"]), np.asarray(cat["dec_deg"]))
    ix, iy = np.round(x).astype(int), np.round(y).astype(int)
    ok = (ix >= 0) & (ix < data.shape[1]) & (iy >= 0) & (iy < data.shape[0])
    ok[ok] = np.isfinite(data[iy[ok], ix[ok]])
    return set(np.asarray(cat["source_id"])[ok])


def test_field_center_is_central_pixel(field):
    path, _ = field
    ra, dec = get_field_center_from_fits(path)
    with fits.open(path) as hdul:
        wcs = WCS(hdul[0].header).celestial
    ra_c, dec_c = wcs.pixel_to_world_values(99.5, 99.5)  # centre of a 200 x 200 grid
    assert angular_separation_deg([ra], [dec], float(ra_c), float(dec_c))[0] < 1e-9
    assert angular_separation_deg([ra], [dec], *CENTER)[0] < 6.0 / 3600  # within a pixel


def test_sources_on_valid_pixels_default_radius_covers_corners(field, settings):
    path, cat = field
    rows = query_sources_for_fits(path, settings=settings)
    expected = _on_valid_pixels(path, cat)
    assert {r["source_id"] for r in rows} == expected
    assert len(expected) > 20
    # corners are farther than half the width: a naive half-width radius would miss some
    sep = angular_separation_deg([r["ra_deg"] for r in rows], [r["dec_deg"] for r in rows], *CENTER)
    assert sep.max() > 0.5 * 200 * 6 / 3600
    fluxes = [r["flux_mjy"] for r in rows]
    assert fluxes == sorted(fluxes, reverse=True)
    assert {"source_id", "catalog", "ra_deg", "dec_deg", "flux_mjy", "x_pix", "y_pix"} <= set(
        rows[0]
    )
    assert all(isinstance(r["ra_deg"], float) and r["catalog"] == "nvss" for r in rows)


def test_max_sources_applies_after_the_pixel_filter(field, settings):
    path, cat = field
    all_rows = query_sources_for_fits(path, settings=settings)
    top = query_sources_for_fits(path, max_sources=5, settings=settings)
    assert [r["source_id"] for r in top] == [r["source_id"] for r in all_rows[:5]]
    bright = query_sources_for_mosaic(path, min_flux_mjy=20.0, settings=settings)
    assert all(r["flux_mjy"] >= 20.0 for r in bright)
    assert {r["source_id"] for r in bright} == {
        r["source_id"] for r in all_rows if r["flux_mjy"] >= 20.0
    }


def test_empty_field_and_errors(tmp_path, settings):
    path = tmp_path / "far.fits"
    make_fits_image(path, shape=(64, 64), center=(10.0, -20.0), n_sources=0, noise_jy=0.0, seed=2)
    ingest_table(
        "nvss",
        Table({"source_id": ["a"], "ra_deg": [200.0], "dec_deg": [60.0], "flux_mjy": [1.0]}),
        settings=settings,
    )
    assert query_sources_for_fits(path, settings=settings) == []
    with pytest.raises(CatalogError):
        query_sources_for_fits(path, catalog="nope", settings=settings)
    with pytest.raises(InvalidImageError):
        get_field_center_from_fits(tmp_path / "missing.fits")
    nowcs = tmp_path / "nowcs.fits"
    fits.PrimaryHDU(np.zeros((8, 8), dtype=np.float32)).writeto(nowcs)
    with pytest.raises(InvalidImageError):
        get_field_center_from_fits(nowcs)
