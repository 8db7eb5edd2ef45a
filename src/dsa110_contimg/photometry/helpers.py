"""Which catalog sources lie on an image: the field centre and the sources on valid pixels."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings, resolve_settings
from ..errors import InvalidImageError

__all__ = ["get_field_center_from_fits", "query_sources_for_fits", "query_sources_for_mosaic"]


def _center(img) -> tuple[float, float]:
    ny, nx = img.shape
    try:
        ra, dec = img.wcs.pixel_to_world_values((nx - 1) / 2.0, (ny - 1) / 2.0)
        ra, dec = float(ra), float(dec)
    except Exception:  # noqa: BLE001 - any WCS failure falls back to CRVAL
        ra = dec = math.nan
    if not (math.isfinite(ra) and math.isfinite(dec)):
        crval = img.wcs.wcs.crval
        ra, dec = float(crval[0]), float(crval[1])
    if not (math.isfinite(ra) and math.isfinite(dec) and abs(dec) <= 90.0):
        raise InvalidImageError("the celestial WCS gives no valid field centre", path=img.path)
    return ra % 360.0, dec


def get_field_center_from_fits(fits_path: str | Path) -> tuple[float, float]:
    """Return the sky position (RA, Dec in degrees) of an image's central pixel.

    The centre is computed from the celestial WCS at pixel ``((nx-1)/2, (ny-1)/2)``; the
    reference value CRVAL is used only when that fails.

    Parameters
    ----------
    fits_path : str or Path
        A FITS image.

    Returns
    -------
    (float, float)
        RA and Dec in degrees.

    Raises
    ------
    InvalidImageError
        Missing file, not an image, or no usable celestial WCS.

    Examples
    --------
    >>> import os, tempfile
    >>> from dsa110_contimg.simulation import make_fits_image
    >>> p = os.path.join(tempfile.mkdtemp(), "im.fits")
    >>> _ = make_fits_image(p, shape=(65, 65), center=(150.0, 30.0), n_sources=0, seed=1)
    >>> [round(v, 2) for v in get_field_center_from_fits(p)]
    [150.0, 30.0]
    """
    from .image import read_image

    return _center(read_image(fits_path))


def _footprint_radius_deg(img, ra0: float, dec0: float) -> float:
    """Largest distance from the centre to the image's outer pixel corners (plus one pixel)."""
    from ..catalog.spatial import angular_separation_deg

    ny, nx = img.shape
    xs = np.array([-0.5, nx - 0.5, -0.5, nx - 0.5, (nx - 1) / 2, (nx - 1) / 2, -0.5, nx - 0.5])
    ys = np.array([-0.5, -0.5, ny - 0.5, ny - 0.5, -0.5, ny - 0.5, (ny - 1) / 2, (ny - 1) / 2])
    with np.errstate(invalid="ignore"):
        ra, dec = img.wcs.pixel_to_world_values(xs, ys)
    ra, dec = np.asarray(ra, dtype=float), np.asarray(dec, dtype=float)
    half_diag = 0.5 * math.hypot(nx, ny) * img.pixel_scale_deg
    ok = np.isfinite(ra) & np.isfinite(dec)
    r = float(np.max(angular_separation_deg(ra[ok], dec[ok], ra0, dec0))) if ok.any() else 0.0
    if not ok.all():  # corners beyond the projection's horizon: use the geometric size
        r = max(r, half_diag)
    return min(r + img.pixel_scale_deg, 180.0)


def _plain(value: Any) -> Any:
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        v = float(value)
        return None if math.isnan(v) else v
    if isinstance(value, np.str_):
        return str(value)
    return value


def query_sources_for_fits(
    fits_path: str | Path,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    min_flux_mjy: float | None = None,
    max_sources: int | None = None,
    *,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Return the catalog sources that fall on valid (finite) pixels of an image.

    Parameters
    ----------
    fits_path : str or Path
        A FITS image (any number of degenerate extra axes).
    catalog : str
        Catalog name (``nvss``, ``master``, ...).
    radius_deg : float, optional
        Search radius around the field centre; by default it covers the whole footprint,
        corners included.
    min_flux_mjy : float, optional
        Faintest catalog flux kept.
    max_sources : int, optional
        Keep the brightest this many, after the on-image filter.
    settings : Settings, optional
        Names the database.

    Returns
    -------
    list of dict
        Brightest first; keys ``source_id, catalog, ra_deg, dec_deg, flux_mjy``, the other
        catalog columns (NaN as None) and ``x_pix, y_pix`` (0-based pixel position). Empty
        when no source lies on the image.

    Raises
    ------
    InvalidImageError
        The file is not a FITS image with a celestial WCS.
    CatalogError
        The catalog is not ingested.
    """
    from ..catalog.store import query_sources
    from .image import read_image

    settings = resolve_settings(settings)
    img = read_image(fits_path)
    ra0, dec0 = _center(img)
    radius = _footprint_radius_deg(img, ra0, dec0) if radius_deg is None else float(radius_deg)
    table = query_sources(catalog, ra0, dec0, radius, min_flux_mjy, None, settings=settings)
    if len(table) == 0:
        return []
    with np.errstate(invalid="ignore"):
        x, y = img.wcs.world_to_pixel_values(
            np.asarray(table["ra_deg"], dtype=float), np.asarray(table["dec_deg"], dtype=float)
        )
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ny, nx = img.shape
    ix, iy = np.round(np.nan_to_num(x, nan=-1.0)), np.round(np.nan_to_num(y, nan=-1.0))
    inside = np.isfinite(x) & np.isfinite(y) & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    idx = np.flatnonzero(inside)
    values = np.asarray(
        img.data[iy[idx].astype(np.intp), ix[idx].astype(np.intp)], dtype=np.float64
    )
    idx = idx[np.isfinite(values)]
    if max_sources is not None:
        idx = idx[: int(max_sources)]
    names = table.colnames
    out = []
    for i in idx.tolist():
        row = {name: _plain(table[name][i]) for name in names}
        row["x_pix"] = float(x[i])
        row["y_pix"] = float(y[i])
        out.append(row)
    return out


def query_sources_for_mosaic(
    mosaic_path: str | Path,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    min_flux_mjy: float | None = None,
    max_sources: int | None = None,
    *,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """Return the catalog sources on valid pixels of a mosaic (see :func:`query_sources_for_fits`).

    A mosaic's blank (NaN) regions outside the member images are excluded by the same
    finite-pixel filter; the default radius covers the whole mosaic.
    """
    return query_sources_for_fits(
        mosaic_path, catalog, radius_deg, min_flux_mjy, max_sources, settings=settings
    )
