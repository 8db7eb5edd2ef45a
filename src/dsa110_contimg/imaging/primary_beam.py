"""The DSA-110 dish primary beam and the drift-scan pointing: one model for simulation and imaging.

The 4.65 m dishes are modelled with a circular Gaussian power pattern whose full width at half
maximum is ``fwhm_factor * wavelength / dish_diameter`` (1.2 lambda/D, about 3.2 deg at
1.4 GHz; a tapered illumination). The dishes stay at a fixed elevation on the meridian while
the sky drifts, so the pointing in celestial coordinates follows the local sidereal time.
The simulator (:mod:`dsa110_contimg.simulation.uvh5`) attenuates the sky with exactly these
functions, and the imaging step (:mod:`dsa110_contimg.imaging.beam`) averages them over the
observation for the primary-beam correction, so the two can never disagree.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "C_M_S",
    "beam_fwhm_rad",
    "gaussian_beam",
    "meridian_altaz",
    "pointing_icrs",
    "unit_vectors",
]

#: Speed of light in m/s.
C_M_S = 299_792_458.0


def beam_fwhm_rad(freq_hz, *, dish_diameter_m: float = 4.65, fwhm_factor: float = 1.2):
    """Full width at half maximum of the primary beam in radians.

    Examples
    --------
    >>> round(float(np.degrees(beam_fwhm_rad(1.4e9))), 2)
    3.17
    """
    return fwhm_factor * (C_M_S / np.asarray(freq_hz, dtype=float)) / dish_diameter_m


def gaussian_beam(sep_rad, freq_hz, *, dish_diameter_m: float = 4.65, fwhm_factor: float = 1.2):
    """Primary-beam power response at angular distance ``sep_rad`` from the pointing.

    Parameters
    ----------
    sep_rad : array_like
        Angular separation from the pointing centre in radians.
    freq_hz : array_like
        Frequency in Hz (broadcast against ``sep_rad``).
    dish_diameter_m, fwhm_factor : float
        Dish diameter and the FWHM in units of lambda/D.

    Returns
    -------
    numpy.ndarray
        Response between 0 and 1 (1 at the pointing centre).

    Examples
    --------
    >>> float(gaussian_beam(0.0, 1.4e9))
    1.0
    >>> round(float(gaussian_beam(beam_fwhm_rad(1.4e9) / 2, 1.4e9)), 3)
    0.5
    """
    fwhm = beam_fwhm_rad(freq_hz, dish_diameter_m=dish_diameter_m, fwhm_factor=fwhm_factor)
    return np.exp(-4.0 * np.log(2.0) * (np.asarray(sep_rad, dtype=float) / fwhm) ** 2)


def meridian_altaz(dec_deg: float, lat_deg: float) -> tuple[float, float]:
    """Azimuth and elevation (degrees) of declination ``dec_deg`` on the meridian.

    Examples
    --------
    >>> meridian_altaz(37.0, 37.0)
    (0.0, 90.0)
    >>> meridian_altaz(30.0, 37.0)
    (180.0, 83.0)
    """
    alt = 90.0 - abs(lat_deg - dec_deg)
    az = 0.0 if dec_deg >= lat_deg else 180.0
    return az, alt


def pointing_icrs(
    times_jd, *, az_deg: float, alt_deg: float, location
) -> tuple[np.ndarray, np.ndarray]:
    """ICRS (RA, Dec) in degrees of a fixed alt-az pointing at each time.

    Parameters
    ----------
    times_jd : array_like
        Julian dates (UTC).
    az_deg, alt_deg : float
        The fixed pointing (no refraction).
    location : astropy.coordinates.EarthLocation
        The site.

    Returns
    -------
    tuple of numpy.ndarray
        RA and Dec in degrees, one per time.
    """
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time

    t = Time(np.atleast_1d(np.asarray(times_jd, dtype=float)), format="jd", scale="utc")
    frame = AltAz(obstime=t, location=location)
    c = SkyCoord(
        az=np.full(t.shape, az_deg) * u.deg, alt=np.full(t.shape, alt_deg) * u.deg, frame=frame
    ).icrs
    return c.ra.deg, c.dec.deg


def unit_vectors(ra_deg, dec_deg) -> np.ndarray:
    """Cartesian unit vectors ``(..., 3)`` of celestial positions in degrees."""
    ra = np.radians(np.asarray(ra_deg, dtype=float))
    dec = np.radians(np.asarray(dec_deg, dtype=float))
    return np.stack([np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)], axis=-1)
