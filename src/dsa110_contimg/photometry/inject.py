"""Adding beam-shaped point sources to images (injection-recovery tests, simulations)."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

from ..errors import InvalidImageError
from .beam import local_jacobian, pixel_covariance, sky_covariance
from .image import FitsImage, image_jy_per_unit, read_image

__all__ = ["inject_into_image", "inject_source", "render_point_sources"]


def render_point_sources(
    wcs: WCS,
    shape: tuple[int, int],
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    flux_jy: np.ndarray,
    *,
    beam: tuple[float, float, float],
) -> np.ndarray:
    """Image of point sources convolved with the restoring beam (peak = flux in Jy/beam).

    Each source is evaluated on the sky: every pixel of a stamp of +-5 sigma is converted to
    (RA, Dec) with the full WCS and its offset from the source projected on the tangent plane,
    so the rendering is independent of the photometry engine's pixel-frame approximation.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    shape : tuple of int
        (ny, nx).
    ra_deg, dec_deg, flux_jy : numpy.ndarray
        Source positions and peak flux densities.
    beam : tuple of float
        (bmaj_arcsec, bmin_arcsec, bpa_deg).

    Returns
    -------
    numpy.ndarray
        float64 image.
    """
    ny, nx = int(shape[0]), int(shape[1])
    image = np.zeros((ny, nx))
    ra = np.asarray(ra_deg, float)
    dec = np.asarray(dec_deg, float)
    flux = np.asarray(flux_jy, float)
    if ra.size == 0:
        return image
    cov = sky_covariance(beam[0] / 3600.0, beam[1] / 3600.0, beam[2])
    icov = np.linalg.inv(cov)
    x, y = wcs.all_world2pix(ra, dec, 0)
    jac = local_jacobian(wcs, x, y)
    pix_cov = pixel_covariance(cov, jac)
    half = np.ceil(5.0 * np.sqrt(np.max(np.diagonal(pix_cov, axis1=1, axis2=2), axis=1)))
    half = int(np.max(half))
    off = np.arange(-half, half + 1)
    # process in chunks to bound memory
    chunk = max(1, 2_000_000 // off.size**2)
    for start in range(0, ra.size, chunk):
        sl = slice(start, start + chunk)
        ix = np.rint(x[sl]).astype(int)
        iy = np.rint(y[sl]).astype(int)
        px = ix[:, None, None] + off[None, None, :]
        py = iy[:, None, None] + off[None, :, None]
        px, py = np.broadcast_arrays(px, py)
        inside = (px >= 0) & (px < nx) & (py >= 0) & (py < ny)
        lon, lat = wcs.all_pix2world(px.ravel().astype(float), py.ravel().astype(float), 0)
        lon = np.deg2rad(lon.reshape(px.shape))
        lat = np.deg2rad(lat.reshape(px.shape))
        a0 = np.deg2rad(ra[sl])[:, None, None]
        d0 = np.deg2rad(dec[sl])[:, None, None]
        dlon = lon - a0
        cosc = np.sin(d0) * np.sin(lat) + np.cos(d0) * np.cos(lat) * np.cos(dlon)
        xi = np.rad2deg(np.cos(lat) * np.sin(dlon) / cosc)
        eta = np.rad2deg(
            (np.cos(d0) * np.sin(lat) - np.sin(d0) * np.cos(lat) * np.cos(dlon)) / cosc
        )
        q = icov[0, 0] * xi**2 + 2 * icov[0, 1] * xi * eta + icov[1, 1] * eta**2
        stamp = flux[sl][:, None, None] * np.exp(-0.5 * q)
        np.add.at(image, (py[inside], px[inside]), stamp[inside])
    return image


def inject_source(
    fits_path: str | Path,
    ra_deg: float,
    dec_deg: float,
    flux_jy: float,
    output_path: str | Path | None = None,
) -> Path:
    """Add a point source convolved with the image's restoring beam.

    Parameters
    ----------
    fits_path : str or Path
        Image with BMAJ/BMIN/BPA.
    ra_deg, dec_deg : float
        Position of the source.
    flux_jy : float
        Peak flux density in Jy/beam (the flux of an unresolved source).
    output_path : str or Path, optional
        Where to write the result; by default the input file is modified in place.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidImageError
        If the file is not a FITS image with a celestial WCS and a restoring beam.

    Examples
    --------
    >>> import tempfile, os
    >>> from dsa110_contimg.simulation import make_fits_image
    >>> d = tempfile.mkdtemp()
    >>> t = make_fits_image(os.path.join(d, "a.fits"), shape=(64, 64), n_sources=0, noise_jy=0)
    >>> out = inject_source(os.path.join(d, "a.fits"), 180.0, 55.0, 0.1,
    ...                     output_path=os.path.join(d, "b.fits"))
    >>> round(float(np.nanmax(read_image(out).data)), 3)
    0.1
    """
    src = Path(fits_path)
    image = read_image(src)
    if image.beam is None:
        raise InvalidImageError("no restoring beam (BMAJ/BMIN/BPA) to inject with", path=src)
    beam = (image.beam.bmaj_arcsec, image.beam.bmin_arcsec, image.beam.bpa_deg)
    stamp = render_point_sources(
        image.wcs,
        image.shape,
        np.array([ra_deg]),
        np.array([dec_deg]),
        np.array([flux_jy]),
        beam=beam,
    )
    stamp /= image_jy_per_unit(image)  # into the image's own unit
    hdu_index = image.hdu_index
    del image
    dst = Path(output_path) if output_path is not None else src
    if dst != src:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    with fits.open(dst, mode="update", memmap=False) as hdul:
        hdu = hdul[hdu_index]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            full = WCS(hdu.header, naxis=int(hdu.header["NAXIS"]))
        lng, lat = int(full.wcs.lng), int(full.wcs.lat)
        data = hdu.data
        index = tuple(
            slice(None) if (data.ndim - 1 - ax) in (lng, lat) else 0 for ax in range(data.ndim)
        )
        plane = data[index]
        plane += stamp.astype(plane.dtype)
        hdul.flush()
    return dst


def inject_into_image(
    image: FitsImage,
    ra_deg: np.ndarray,
    dec_deg: np.ndarray,
    flux_jy: np.ndarray,
    *,
    beam: tuple[float, float, float] | None = None,
) -> FitsImage:
    """Return a copy of an opened image (in memory) with beam-shaped sources added.

    Parameters
    ----------
    image : FitsImage
        The image (not modified).
    ra_deg, dec_deg, flux_jy : numpy.ndarray
        Positions and peak flux densities (Jy/beam; converted to the image's unit).
    beam : tuple of float, optional
        (bmaj_arcsec, bmin_arcsec, bpa_deg) of the injected sources; default the image's
        restoring beam (point sources). A wider beam makes resolved sources whose peak is
        ``flux_jy``.

    Returns
    -------
    FitsImage
        Same header, WCS and beam; float64 data.
    """
    import dataclasses

    if beam is None:
        if image.beam is None:
            raise InvalidImageError(
                "no restoring beam (BMAJ/BMIN/BPA) to inject with", path=image.path
            )
        beam = (image.beam.bmaj_arcsec, image.beam.bmin_arcsec, image.beam.bpa_deg)
    stamp = render_point_sources(
        image.wcs,
        image.shape,
        np.atleast_1d(ra_deg),
        np.atleast_1d(dec_deg),
        np.atleast_1d(flux_jy),
        beam=beam,
    )
    data = np.asarray(image.data, dtype=np.float64) + stamp / image_jy_per_unit(image)
    return dataclasses.replace(image, data=data)
