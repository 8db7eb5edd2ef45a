"""Seed phase 1 by its names: ``dsa110_contimg.photometry.helpers``.

The catalog sources an image shows are found (and only those), at the image's centre, and
measured back at their injected fluxes; the same on a mosaic of two images.
"""

from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from dsa110_contimg.errors import ContimgWarning
from dsa110_contimg.photometry import measure_forced_peak
from dsa110_contimg.photometry.helpers import (
    get_field_center_from_fits,
    query_sources_for_fits,
    query_sources_for_mosaic,
)
from tests.integration.seed import CENTER, make_seed_field


def _on_image(path, cat):
    with fits.open(path) as hdul:
        hdr = hdul[0].header
        wcs = WCS(hdr).celestial
        ny, nx = hdr["NAXIS2"], hdr["NAXIS1"]
    x, y = wcs.world_to_pixel_values(np.asarray(cat["ra_deg"]), np.asarray(cat["dec_deg"]))
    return {s for s, a, b in zip(cat["source_id"], x, y, strict=True)
            if -0.5 <= a < nx - 0.5 and -0.5 <= b < ny - 0.5}  # fmt: skip


def test_centre_sources_and_fluxes(tmp_path, settings):
    f = make_seed_field(tmp_path, settings, 1)
    ra, dec = get_field_center_from_fits(f.paths[0])
    assert abs(ra - CENTER[0]) < 1e-3 and abs(dec - CENTER[1]) < 1e-3
    found = query_sources_for_fits(f.paths[0], "nvss", settings=settings)
    assert {s["source_id"] for s in found} == _on_image(f.paths[0], f.catalog) != set()
    truth = {
        s: fl / 1e3 * f.gains[0]
        for s, fl in zip(f.catalog["source_id"], f.catalog["flux_mjy"], strict=True)
    }
    for s in found:
        r = measure_forced_peak(f.paths[0], s["ra_deg"], s["dec_deg"])
        # 1 mJy noise, sources >= 100 mJy: within 5 sigma (false alarm ~1e-6 per source)
        assert abs(r.flux_jy - truth[s["source_id"]]) < 5 * r.flux_err_jy, (s, r)


def test_mosaic_sources(tmp_path, settings):
    from dsa110_contimg.mosaic import build_mosaic

    f = make_seed_field(tmp_path, settings, 2)
    out = tmp_path / "mosaic.fits"
    with pytest.warns(ContimgWarning, match="no primary-beam image"):
        build_mosaic(f.paths, out, settings=settings)
    found = query_sources_for_mosaic(out, "nvss", settings=settings)
    assert {s["source_id"] for s in found} == _on_image(f.paths[0], f.catalog)
