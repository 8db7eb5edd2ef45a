"""The output grid of a mosaic: one celestial WCS covering every input, centred on the group.

``SIN``: orthographic projection tangent at the group centre (the mean direction of the input
centres), north up, square pixels. ``CAR``: plate carree (reference on the equator, so lines of
constant declination are rows), its RA step divided by cos(dec of the centre) so pixels are
square at the centre; the natural grid for a drift-scan strip at fixed declination.
The pixel size is the finest of the inputs'. The extent is the union of the inputs' footprints,
found by mapping points along each input's edges onto the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy.wcs import WCS
from astropy.wcs.utils import pixel_to_pixel

__all__ = ["MosaicGrid", "edge_points", "mosaic_grid", "pixel_bbox"]


@dataclass(frozen=True)
class MosaicGrid:
    """An output grid and where each input falls on it.

    Attributes
    ----------
    wcs : astropy.wcs.WCS
        2-D celestial WCS of the output.
    shape : tuple of int
        (ny, nx).
    boxes : tuple of tuple of int
        Per input, ``(y0, y1, x0, x1)``: the output pixels its footprint touches (half-open).
    ra_center_deg, dec_center_deg : float
        Centre of the group.
    pixel_scale_deg : float
        Pixel size.
    """

    wcs: WCS
    shape: tuple[int, int]
    boxes: tuple[tuple[int, int, int, int], ...]
    ra_center_deg: float
    dec_center_deg: float
    pixel_scale_deg: float


def edge_points(ny: int, nx: int, *, n: int = 33) -> tuple[np.ndarray, np.ndarray]:
    """Return 0-based (x, y) pixel positions along the outer edges of an (ny, nx) array.

    Examples
    --------
    >>> x, y = edge_points(10, 20, n=3)
    >>> float(x.min()), float(x.max()), float(y.max())
    (-0.5, 19.5, 9.5)
    """
    xs = np.linspace(-0.5, nx - 0.5, n)
    ys = np.linspace(-0.5, ny - 0.5, n)
    x = np.concatenate([xs, xs, np.full(n, -0.5), np.full(n, nx - 0.5)])
    y = np.concatenate([np.full(n, -0.5), np.full(n, ny - 0.5), ys, ys])
    return x, y


def pixel_bbox(
    x: np.ndarray, y: np.ndarray, shape: tuple[int, int], *, pad: int = 0
) -> tuple[int, int, int, int] | None:
    """Half-open (y0, y1, x0, x1) box of pixels covering points (x, y), clipped to ``shape``.

    None when the points are not finite or the box misses the array.

    Examples
    --------
    >>> pixel_bbox(np.array([1.2, 3.7]), np.array([0.1, 2.0]), (10, 10), pad=1)
    (0, 4, 0, 6)
    """
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any():
        return None
    x, y = x[ok], y[ok]
    x0 = max(0, int(math.floor(x.min() + 0.5)) - pad)
    x1 = min(shape[1], int(math.floor(x.max() + 0.5)) + 1 + pad)
    y0 = max(0, int(math.floor(y.min() + 0.5)) - pad)
    y1 = min(shape[0], int(math.floor(y.max() + 0.5)) + 1 + pad)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _center(wcss: list[WCS], shapes: list[tuple[int, int]]) -> tuple[float, float]:
    vec = np.zeros(3)
    for w, (ny, nx) in zip(wcss, shapes, strict=True):
        ra, dec = w.wcs_pix2world([[(nx - 1) / 2.0, (ny - 1) / 2.0]], 0)[0]
        a, d = math.radians(ra), math.radians(dec)
        vec += [math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d)]
    vec /= np.linalg.norm(vec)
    ra = math.degrees(math.atan2(vec[1], vec[0])) % 360.0
    dec = math.degrees(math.asin(max(-1.0, min(1.0, vec[2]))))
    return ra, dec


def _base_wcs(
    ra: float, dec: float, scale: float, projection: str, like: WCS
) -> WCS:
    w = WCS(naxis=2)
    if projection == "SIN":
        w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
        w.wcs.crval = [ra, dec]
        w.wcs.cdelt = [-scale, scale]
        w.wcs.crpix = [1.0, 1.0]
    elif projection == "CAR":
        w.wcs.ctype = ["RA---CAR", "DEC--CAR"]
        w.wcs.crval = [ra, 0.0]
        w.wcs.cdelt = [-scale / max(math.cos(math.radians(dec)), 1e-3), scale]
        w.wcs.crpix = [1.0, 1.0 - dec / scale]
    else:
        raise ValueError(f"unknown projection {projection!r} (SIN or CAR)")
    w.wcs.cunit = ["deg", "deg"]
    radesys = str(like.wcs.radesys or "").strip()
    w.wcs.radesys = radesys or "ICRS"
    if w.wcs.radesys in ("FK5", "FK4"):
        w.wcs.equinox = like.wcs.equinox
    w.wcs.set()
    return w


def mosaic_grid(
    wcss: list[WCS],
    shapes: list[tuple[int, int]],
    *,
    pixel_scale_deg: float,
    projection: str = "SIN",
) -> MosaicGrid:
    """Return the grid covering every input.

    Parameters
    ----------
    wcss : list of astropy.wcs.WCS
        Celestial WCS of each input.
    shapes : list of tuple of int
        (ny, nx) of each input.
    pixel_scale_deg : float
        Output pixel size.
    projection : {"SIN", "CAR"}
        Output projection.

    Returns
    -------
    MosaicGrid

    Examples
    --------
    >>> w = WCS(naxis=2); w.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    >>> w.wcs.crval = [10.0, 50.0]; w.wcs.cdelt = [-0.01, 0.01]; w.wcs.crpix = [51, 51]
    >>> g = mosaic_grid([w], [(100, 100)], pixel_scale_deg=0.01)
    >>> g.shape
    (101, 101)
    """
    ra, dec = _center(wcss, shapes)
    base = _base_wcs(ra, dec, pixel_scale_deg, projection, wcss[0])
    corners = []
    for w, (ny, nx) in zip(wcss, shapes, strict=True):
        x, y = edge_points(ny, nx)
        ox, oy = pixel_to_pixel(w, base, x, y)
        corners.append((np.asarray(ox), np.asarray(oy)))
    allx = np.concatenate([c[0] for c in corners])
    ally = np.concatenate([c[1] for c in corners])
    ok = np.isfinite(allx) & np.isfinite(ally)
    if not ok.any():
        raise ValueError("no input footprint maps onto the output projection")
    xmin = int(math.floor(allx[ok].min() + 0.5))
    ymin = int(math.floor(ally[ok].min() + 0.5))
    nx = int(math.floor(allx[ok].max() + 0.5)) - xmin + 1
    ny = int(math.floor(ally[ok].max() + 0.5)) - ymin + 1
    base.wcs.crpix = [base.wcs.crpix[0] - xmin, base.wcs.crpix[1] - ymin]
    base.wcs.set()
    boxes = []
    for ox, oy in corners:
        box = pixel_bbox(ox - xmin, oy - ymin, (ny, nx), pad=1)
        boxes.append(box if box is not None else (0, 0, 0, 0))
    return MosaicGrid(
        wcs=base,
        shape=(ny, nx),
        boxes=tuple(boxes),
        ra_center_deg=ra,
        dec_center_deg=dec,
        pixel_scale_deg=pixel_scale_deg,
    )
