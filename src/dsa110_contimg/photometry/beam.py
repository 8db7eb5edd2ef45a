"""Restoring-beam geometry in an image's local pixel frame.

The beam is given on the sky (FWHM major/minor, position angle east of north). At each position
the WCS Jacobian maps pixel offsets to local sky offsets (east, north), so the beam covariance in
pixels is ``J^-1 Sigma_sky J^-T``. Nothing assumes north-up images.
"""

from __future__ import annotations

import numpy as np
from astropy.wcs import WCS

__all__ = [
    "FWHM_TO_SIGMA",
    "local_jacobian",
    "pixel_covariance",
    "sky_covariance",
]

FWHM_TO_SIGMA = 1.0 / np.sqrt(8.0 * np.log(2.0))


def sky_covariance(bmaj_deg: float, bmin_deg: float, bpa_deg: float) -> np.ndarray:
    """Covariance (deg^2) of the beam in local (east, north) sky offsets.

    Parameters
    ----------
    bmaj_deg, bmin_deg : float
        FWHM of the major and minor axes in degrees.
    bpa_deg : float
        Position angle of the major axis, degrees east of north.

    Returns
    -------
    numpy.ndarray
        2 x 2 covariance matrix.

    Examples
    --------
    >>> c = sky_covariance(2.0, 1.0, 0.0)  # major axis along north
    >>> bool(c[1, 1] > c[0, 0])
    True
    """
    pa = np.deg2rad(bpa_deg)
    u = np.array([np.sin(pa), np.cos(pa)])  # major axis direction (east, north)
    v = np.array([np.cos(pa), -np.sin(pa)])
    smaj = bmaj_deg * FWHM_TO_SIGMA
    smin = bmin_deg * FWHM_TO_SIGMA
    return smaj**2 * np.outer(u, u) + smin**2 * np.outer(v, v)


def local_jacobian(wcs: WCS, x_pix: np.ndarray, y_pix: np.ndarray) -> np.ndarray:
    """Jacobian d(east, north)/d(x, y) in degrees per pixel at many pixel positions.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        2-D celestial WCS.
    x_pix, y_pix : numpy.ndarray
        0-based pixel positions (N,).

    Returns
    -------
    numpy.ndarray
        (N, 2, 2) array; ``J[n] @ (dx, dy)`` is the (east, north) offset in degrees.
    """
    x = np.asarray(x_pix, dtype=float).ravel()
    y = np.asarray(y_pix, dtype=float).ravel()
    n = x.size
    h = 0.5
    px = np.concatenate([x - h, x + h, x, x])
    py = np.concatenate([y, y, y - h, y + h])
    lon, lat = wcs.all_pix2world(px, py, 0)
    lon = np.deg2rad(lon)
    lat = np.deg2rad(lat)
    out = np.empty((n, 2, 2))
    for col, (a, b) in enumerate(((0, 1), (2, 3))):
        l1, l2 = lon[a * n : (a + 1) * n], lon[b * n : (b + 1) * n]
        b1, b2 = lat[a * n : (a + 1) * n], lat[b * n : (b + 1) * n]
        dlon = np.angle(np.exp(1j * (l2 - l1)))
        cosd = np.cos(0.5 * (b1 + b2))
        out[:, 0, col] = np.rad2deg(dlon * cosd) / (2 * h)
        out[:, 1, col] = np.rad2deg(b2 - b1) / (2 * h)
    return out


def pixel_covariance(sky_cov: np.ndarray, jacobian: np.ndarray) -> np.ndarray:
    """Beam covariance in pixel units at each position.

    Parameters
    ----------
    sky_cov : numpy.ndarray
        (2, 2) sky covariance from :func:`sky_covariance`.
    jacobian : numpy.ndarray
        (N, 2, 2) Jacobians from :func:`local_jacobian` (or a single (2, 2)).

    Returns
    -------
    numpy.ndarray
        (N, 2, 2) (or (2, 2)) covariance in pixel^2, ordered (x, y).

    Examples
    --------
    >>> j = np.diag([-1.0, 1.0])  # 1 deg pixels, east to the left
    >>> pixel_covariance(np.diag([4.0, 1.0]), j).tolist()
    [[4.0, 0.0], [0.0, 1.0]]
    """
    jinv = np.linalg.inv(jacobian)
    return jinv @ sky_cov @ np.swapaxes(jinv, -1, -2)
