"""The time-averaged primary-beam response of a drift scan, and the primary-beam-corrected image.

During a ~5 minute group the dishes stay on the meridian while the sky drifts by ~1.3 deg of
hour angle, so each sky position is seen through a changing part of the beam. The response
that scales a source in the continuum image is the beam averaged over the integrations and
over the band (the image is an average over both). :func:`drift_beam` computes it on the
image grid with the model of :mod:`dsa110_contimg.imaging.primary_beam` (the same model the
simulator uses); :func:`write_pb_products` writes ``<name>-beam.fits`` and the corrected
``<name>-image-pb.fits`` (NaN where the response is below the cutoff).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..errors import ImagingError
from .msinfo import MsInfo
from .primary_beam import gaussian_beam, pointing_icrs, unit_vectors

__all__ = ["drift_beam", "drift_pointing", "pb_paths", "write_pb_products"]

log = logging.getLogger(__name__)


def pb_paths(image_path: str | Path) -> tuple[Path, Path]:
    """``(<name>-beam.fits, <name>-image-pb.fits)`` beside ``<name>-image.fits``.

    Examples
    --------
    >>> [p.name for p in pb_paths("/x/g1-image.fits")]
    ['g1-beam.fits', 'g1-image-pb.fits']
    """
    image_path = Path(image_path)
    stem = image_path.name
    if not stem.endswith("-image.fits"):
        raise ImagingError("expected an image named <name>-image.fits", path=image_path)
    name = stem[: -len("-image.fits")]
    return image_path.with_name(f"{name}-beam.fits"), image_path.with_name(f"{name}-image-pb.fits")


def drift_pointing(info: MsInfo, *, location=None) -> tuple[np.ndarray, np.ndarray]:
    """ICRS pointing (degrees) at each integration of a meridian drift scan.

    The dishes point where the phase centre is at mid-group (the converter puts the phase
    centre on the meridian at mid-group); that alt-az direction is held fixed.
    """
    from astropy import units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time

    from ..simulation.antennas import ovro_location

    location = location if location is not None else ovro_location()
    jd = info.times_jd
    mid = Time(0.5 * (jd.min() + jd.max()), format="jd", scale="utc")
    altaz = SkyCoord(ra=info.phase_ra_deg * u.deg, dec=info.phase_dec_deg * u.deg).transform_to(
        AltAz(obstime=mid, location=location)
    )
    return pointing_icrs(
        jd, az_deg=float(altaz.az.deg), alt_deg=float(altaz.alt.deg), location=location
    )


def drift_beam(
    wcs,
    shape: tuple[int, int],
    info: MsInfo,
    *,
    dish_diameter_m: float = 4.65,
    fwhm_factor: float = 1.2,
    n_freqs: int = 8,
) -> np.ndarray:
    """Average primary-beam response over the integrations and the band on an image grid.

    Parameters
    ----------
    wcs : astropy.wcs.WCS
        Celestial WCS of the image.
    shape : tuple of int
        ``(ny, nx)``.
    info : MsInfo
        Times, band and phase centre of the Measurement Set.
    dish_diameter_m, fwhm_factor : float
        Beam model parameters.
    n_freqs : int
        Frequencies sampled evenly across the band.

    Returns
    -------
    numpy.ndarray
        ``(ny, nx)`` float32 response (NaN outside the projection).
    """
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    ra, dec = wcs.pixel_to_world_values(xx.ravel(), yy.ravel())
    pix = unit_vectors(ra, dec)
    p_ra, p_dec = drift_pointing(info)
    pvec = unit_vectors(p_ra, p_dec)
    idx = np.unique(np.linspace(0, len(info.freqs_hz) - 1, max(1, n_freqs)).round().astype(int))
    freqs = info.freqs_hz[idx]
    # beam averaged over the band as a function of separation: a 1-D table
    sep_grid = np.linspace(0.0, np.pi, 20001)
    table = gaussian_beam(
        sep_grid[:, None], freqs[None, :], dish_diameter_m=dish_diameter_m, fwhm_factor=fwhm_factor
    ).mean(axis=1)
    acc = np.zeros(pix.shape[0])
    for v in pvec:
        sep = np.arccos(np.clip(pix @ v, -1.0, 1.0))
        acc += np.interp(sep, sep_grid, table)
    acc /= len(pvec)
    acc[~np.isfinite(ra) | ~np.isfinite(dec)] = np.nan
    return acc.reshape(ny, nx).astype(np.float32)


def write_pb_products(
    image_path: str | Path,
    info: MsInfo,
    *,
    pb_cutoff: float = 0.1,
    dish_diameter_m: float = 4.65,
    fwhm_factor: float = 1.2,
    n_freqs: int = 8,
) -> tuple[Path, Path]:
    """Write ``<name>-beam.fits`` and the primary-beam-corrected ``<name>-image-pb.fits``.

    Parameters
    ----------
    image_path : str or Path
        The uncorrected ``<name>-image.fits`` (WSClean output, 4-D or 2-D).
    info : MsInfo
        The Measurement Set it was made from.
    pb_cutoff : float
        Corrected pixels where the response is below this are NaN.
    dish_diameter_m, fwhm_factor, n_freqs : float, float, int
        See :func:`drift_beam`.

    Returns
    -------
    tuple of Path
        ``(beam_path, pb_image_path)``.
    """
    from astropy.io import fits
    from astropy.wcs import WCS

    image_path = Path(image_path)
    beam_path, pb_path = pb_paths(image_path)
    try:
        with fits.open(image_path) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data, dtype=np.float32)
    except (OSError, ValueError) as exc:
        raise ImagingError(f"cannot read the image ({exc})", path=image_path) from None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FITSFixedWarning on WSClean headers
        wcs = WCS(header).celestial
    plane_shape = data.shape[-2:]
    beam = drift_beam(
        wcs,
        plane_shape,
        info,
        dish_diameter_m=dish_diameter_m,
        fwhm_factor=fwhm_factor,
        n_freqs=n_freqs,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        corrected = np.where(beam >= pb_cutoff, data / beam, np.nan).astype(np.float32)
    bh = header.copy()
    bh["BUNIT"] = ""
    for key in ("BMAJ", "BMIN", "BPA"):
        bh.remove(key, ignore_missing=True)
    bh["PBMODEL"] = ("gaussian", "Gaussian beam, FWHM = PBFWHMF lambda/D")
    bh["PBDISH"] = (dish_diameter_m, "[m] dish diameter of the beam model")
    bh["PBFWHMF"] = (fwhm_factor, "beam FWHM in lambda/D")
    bh["COMMENT"] = "Primary-beam response averaged over the drift scan and the band"
    fits.PrimaryHDU(np.broadcast_to(beam, data.shape).astype(np.float32), header=bh).writeto(
        beam_path, overwrite=True
    )
    ph = header.copy()
    ph["PBCUTOFF"] = (pb_cutoff, "NaN where the beam response is below")
    ph["PBCORR"] = (True, "divided by the primary-beam response")
    ph["PBIMAGE"] = (beam_path.name, "primary-beam response image")
    fits.PrimaryHDU(corrected, header=ph).writeto(pb_path, overwrite=True)
    log.info("wrote %s and %s", beam_path.name, pb_path.name)
    return beam_path, pb_path
