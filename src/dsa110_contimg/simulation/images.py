"""Synthetic radio images: beam-convolved point sources on beam-correlated noise.

:func:`make_fits_image` writes a DSA-110-like FITS image (SIN projection, restoring beam in
BMAJ/BMIN/BPA, BUNIT JY/BEAM, DATE-OBS/DATE-END) and returns its truth table.
:func:`make_beam_correlated_noise` makes noise whose autocorrelation is the restoring beam:
white noise filtered by a Gaussian of half the beam's covariance, scaled to the requested rms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from ..catalog.ids import position_source_ids
from ..photometry.beam import local_jacobian, pixel_covariance, sky_covariance
from ..photometry.inject import render_point_sources

__all__ = [
    "make_beam_correlated_noise",
    "make_fits_image",
    "random_empty_positions",
    "render_point_sources",
]

#: Latitude of the DSA-110 site (deg); images at dec near it pass close to the zenith.
DSA110_LATITUDE_DEG = 37.2334


def make_beam_correlated_noise(
    shape: tuple[int, int],
    *,
    beam_cov_pix: np.ndarray,
    rms: float,
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Gaussian noise whose autocorrelation is the restoring beam.

    White noise is filtered (in Fourier space, periodic boundaries) by a Gaussian with half the
    beam's covariance; the autocorrelation of the result is then a Gaussian with the beam's
    covariance (filtering by the beam itself would make it sqrt(2) wider). The result is scaled
    by its exact expected standard deviation, so its rms is ``rms``.

    Parameters
    ----------
    shape : tuple of int
        (ny, nx).
    beam_cov_pix : numpy.ndarray
        (2, 2) beam covariance in pixel^2, ordered (x, y).
    rms : float
        Standard deviation of each pixel.
    seed : int or numpy.random.Generator, optional
        Random seed or generator.

    Returns
    -------
    numpy.ndarray
        float64 array of ``shape``.

    Examples
    --------
    >>> n = make_beam_correlated_noise((256, 256), beam_cov_pix=np.diag([4.0, 4.0]), rms=2.0,
    ...                                seed=1)
    >>> bool(abs(n.std() / 2.0 - 1) < 0.1)
    True
    """
    from scipy import fft

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    ny, nx = int(shape[0]), int(shape[1])
    white = rng.standard_normal((ny, nx))
    half = 0.5 * np.asarray(beam_cov_pix, dtype=float)
    kx = 2 * np.pi * fft.rfftfreq(nx)
    ky = 2 * np.pi * fft.fftfreq(ny)
    kxx, kyy = np.meshgrid(kx, ky)
    transfer = np.exp(
        -0.5 * (half[0, 0] * kxx**2 + 2 * half[0, 1] * kxx * kyy + half[1, 1] * kyy**2)
    )
    filtered = fft.irfft2(fft.rfft2(white, workers=-1) * transfer, s=(ny, nx), workers=-1)
    # exact variance of the filtered unit white noise: mean of |H|^2 over the full k grid
    weights = np.full(kx.size, 2.0)
    weights[0] = 1.0
    if nx % 2 == 0:
        weights[-1] = 1.0
    variance = float((transfer**2 * weights).sum() / (nx * ny))
    return filtered * (rms / np.sqrt(variance))


def _as_source_arrays(sources: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, list | None]:
    if isinstance(sources, Table):
        ids = list(sources["source_id"]) if "source_id" in sources.colnames else None
        return (
            np.asarray(sources["ra_deg"], float),
            np.asarray(sources["dec_deg"], float),
            np.asarray(sources["flux_jy"], float),
            ids,
        )
    rows = list(sources)
    if not rows:
        return np.empty(0), np.empty(0), np.empty(0), None
    arr = np.asarray(rows, dtype=float).reshape(len(rows), 3)
    return arr[:, 0], arr[:, 1], arr[:, 2], None


def _header(
    shape: tuple[int, int],
    center: tuple[float, float],
    pixel_scale_arcsec: float,
    beam: tuple[float, float, float],
    *,
    four_d: bool,
    stokes_first: bool,
    freq_hz: float,
    date_obs: str | None,
    date_end: str | None,
    rotation_deg: float = 0.0,
) -> fits.Header:
    ny, nx = shape
    h = fits.Header()
    h["BUNIT"] = "JY/BEAM"
    h["BTYPE"] = "Intensity"
    h["CTYPE1"] = "RA---SIN"
    h["CRVAL1"] = float(center[0])
    h["CDELT1"] = -pixel_scale_arcsec / 3600.0
    h["CRPIX1"] = nx / 2.0 + 1.0
    h["CUNIT1"] = "deg"
    h["CTYPE2"] = "DEC--SIN"
    h["CRVAL2"] = float(center[1])
    h["CDELT2"] = pixel_scale_arcsec / 3600.0
    h["CRPIX2"] = ny / 2.0 + 1.0
    h["CUNIT2"] = "deg"
    if rotation_deg:
        c, s_ = np.cos(np.deg2rad(rotation_deg)), np.sin(np.deg2rad(rotation_deg))
        h["PC1_1"], h["PC1_2"], h["PC2_1"], h["PC2_2"] = c, -s_, s_, c
    if four_d:
        freq = ("FREQ", float(freq_hz), 1.0e7, "Hz")
        stokes = ("STOKES", 1.0, 1.0, "")
        for k, (ctype, crval, cdelt, cunit) in enumerate(
            (stokes, freq) if stokes_first else (freq, stokes), start=3
        ):
            h[f"CTYPE{k}"] = ctype
            h[f"CRVAL{k}"] = crval
            h[f"CDELT{k}"] = cdelt
            h[f"CRPIX{k}"] = 1.0
            h[f"CUNIT{k}"] = cunit
    else:
        h["RESTFRQ"] = float(freq_hz)
    h["RADESYS"] = "ICRS"
    h["EQUINOX"] = 2000.0
    h["SPECSYS"] = "TOPOCENT"
    h["BMAJ"] = beam[0] / 3600.0
    h["BMIN"] = beam[1] / 3600.0
    h["BPA"] = float(beam[2])
    h["TELESCOP"] = "DSA-110"
    h["OBJECT"] = "SIMULATED"
    h["TIMESYS"] = "UTC"
    if date_obs:
        h["DATE-OBS"] = date_obs
    if date_end:
        h["DATE-END"] = date_end
    h["ORIGIN"] = "dsa110_contimg.simulation"
    return h


def make_fits_image(
    path: str | Path,
    *,
    shape: tuple[int, int] = (512, 512),
    center: tuple[float, float] = (180.0, 55.0),
    pixel_scale_arcsec: float = 3.0,
    beam: tuple[float, float, float] = (15.0, 12.0, 30.0),
    sources: Table | Iterable[Sequence[float]] | None = None,
    n_sources: int = 20,
    flux_range_jy: tuple[float, float] = (5e-3, 0.5),
    noise_jy: float = 1e-3,
    seed: int | None = 0,
    four_d: bool = False,
    stokes_first: bool = False,
    freq_hz: float = 1.405e9,
    date_obs: str | None = "2025-01-01T00:00:00",
    date_end: str | None = "2025-01-01T00:05:09",
    blank: Iterable[Sequence[float]] | None = None,
    blank_border_pix: int = 0,
    big_endian: bool = False,
    dtype: str = "float32",
    edge_margin_beams: float = 3.0,
    rotation_deg: float = 0.0,
) -> Table:
    """Write a synthetic DSA-110-like FITS image and return its truth table.

    Parameters
    ----------
    path : str or Path
        Output FITS file (overwritten).
    shape : tuple of int
        (ny, nx) of the celestial plane.
    center : tuple of float
        (ra_deg, dec_deg) of the reference pixel (image centre).
    pixel_scale_arcsec : float
        Pixel size.
    beam : tuple of float
        Restoring beam (bmaj_arcsec, bmin_arcsec, bpa_deg east of north).
    sources : astropy.table.Table or iterable of (ra_deg, dec_deg, flux_jy), optional
        Sources to place (a Table needs ``ra_deg, dec_deg, flux_jy``, optionally
        ``source_id``). When None, ``n_sources`` random sources are drawn.
    n_sources : int
        Number of random sources (positions uniform inside ``edge_margin_beams`` of the edges,
        fluxes log-uniform in ``flux_range_jy``).
    flux_range_jy : tuple of float
        Range of random fluxes.
    noise_jy : float
        rms of the beam-correlated noise (0 for none).
    seed : int, optional
        Seed of every random draw.
    four_d : bool
        Write (RA, DEC, FREQ, STOKES) axes as WSClean does.
    stokes_first : bool
        With ``four_d``, put STOKES before FREQ (as CASA does).
    freq_hz : float
        Observing frequency.
    date_obs, date_end : str, optional
        ISO UTC start and end of the observation.
    blank : iterable of (ra_deg, dec_deg, radius_arcsec), optional
        Circles set to NaN (blanked regions).
    blank_border_pix : int
        Width of a NaN border (as primary-beam-cut images have).
    big_endian : bool
        Hand astropy a big-endian array. FITS data are big-endian on disk in any case, so the
        file is the same; the option exists so that tests can compare in-memory byte orders.
    dtype : str
        Data type written (``float32`` or ``float64``).
    edge_margin_beams : float
        Distance of random sources from the edges, in beam major axes.
    rotation_deg : float
        Rotation of the pixel grid against north (PCi_j matrix), to test code that must not
        assume north-up images.

    Returns
    -------
    astropy.table.Table
        Truth: ``source_id, ra_deg, dec_deg, x_pix, y_pix, flux_jy`` (0-based pixels; flux is
        the peak flux density in Jy/beam). ``meta`` holds the noise rms, beam and path.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "sim.fits")
    >>> truth = make_fits_image(p, shape=(128, 128), n_sources=3, seed=2)
    >>> len(truth), truth.colnames[:3]
    (3, ['source_id', 'ra_deg', 'dec_deg'])
    """
    path = Path(path)
    ny, nx = int(shape[0]), int(shape[1])
    rng = np.random.default_rng(seed)
    header = _header(
        (ny, nx),
        center,
        pixel_scale_arcsec,
        beam,
        four_d=four_d,
        stokes_first=stokes_first,
        freq_hz=freq_hz,
        date_obs=date_obs,
        date_end=date_end,
        rotation_deg=rotation_deg,
    )
    wcs = WCS(header, naxis=2)
    if sources is None:
        margin = edge_margin_beams * beam[0] / pixel_scale_arcsec
        margin = min(margin, 0.45 * min(nx, ny))
        xs = rng.uniform(margin, nx - 1 - margin, n_sources)
        ys = rng.uniform(margin, ny - 1 - margin, n_sources)
        ra, dec = wcs.all_pix2world(xs, ys, 0)
        lo, hi = flux_range_jy
        flux = np.exp(rng.uniform(np.log(lo), np.log(hi), n_sources))
        ids = None
    else:
        ra, dec, flux, ids = _as_source_arrays(sources)
    ra = np.mod(np.asarray(ra, float), 360.0)
    dec = np.asarray(dec, float)
    image = render_point_sources(wcs, (ny, nx), ra, dec, flux, beam=beam)
    if noise_jy > 0:
        x0, y0 = (nx - 1) / 2.0, (ny - 1) / 2.0
        jac = local_jacobian(wcs, np.array([x0]), np.array([y0]))
        cov = pixel_covariance(sky_covariance(beam[0] / 3600, beam[1] / 3600, beam[2]), jac)[0]
        image += make_beam_correlated_noise((ny, nx), beam_cov_pix=cov, rms=noise_jy, seed=rng)
    if blank is not None or blank_border_pix > 0:
        yy, xx = np.mgrid[0:ny, 0:nx]
        mask = np.zeros((ny, nx), bool)
        if blank_border_pix > 0:
            b = int(blank_border_pix)
            mask |= (xx < b) | (xx >= nx - b) | (yy < b) | (yy >= ny - b)
        for bra, bdec, brad in blank or []:
            bx, by = wcs.all_world2pix([bra], [bdec], 0)
            rad_pix = brad / pixel_scale_arcsec
            mask |= (xx - bx[0]) ** 2 + (yy - by[0]) ** 2 <= rad_pix**2
        image[mask] = np.nan
    data = image.astype(np.dtype(dtype).newbyteorder(">" if big_endian else "="))
    if four_d:
        data = data[None, None, :, :]
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data=data, header=header).writeto(path, overwrite=True)
    x, y = wcs.all_world2pix(ra, dec, 0)
    if ids is None:
        ids = position_source_ids(ra, dec) if ra.size else []
    truth = Table(
        {
            "source_id": np.asarray(ids, dtype=str) if len(ids) else np.array([], dtype=str),
            "ra_deg": ra,
            "dec_deg": dec,
            "x_pix": np.asarray(x, float),
            "y_pix": np.asarray(y, float),
            "flux_jy": np.asarray(flux, float),
        }
    )
    truth.meta.update(
        {
            "noise_jy": float(noise_jy),
            "bmaj_arcsec": float(beam[0]),
            "bmin_arcsec": float(beam[1]),
            "bpa_deg": float(beam[2]),
            "pixel_scale_arcsec": float(pixel_scale_arcsec),
            "path": str(path),
        }
    )
    return truth


def random_empty_positions(
    image: Any,
    n: int,
    *,
    seed: int | np.random.Generator | None = None,
    min_sep_beams: float = 3.0,
    margin_beams: float = 2.5,
    clear_sigma: float = 5.0,
    clear_beams: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` random positions on an image, away from its sources, edges and blanks.

    A position is kept when no pixel within ``clear_beams`` beam major axes is NaN or beyond
    ``clear_sigma`` robust sigma, it lies ``margin_beams`` from the edges, and it is
    ``min_sep_beams`` from every position kept before it (so injected sources do not blend).

    Parameters
    ----------
    image : FitsImage
        An opened image with a restoring beam.
    n : int
        Positions wanted (fewer are returned when the image has no more room).
    seed : int or numpy.random.Generator, optional
        Random seed.
    min_sep_beams, margin_beams, clear_sigma, clear_beams : float
        See above.

    Returns
    -------
    tuple of numpy.ndarray
        (ra_deg, dec_deg).
    """
    from scipy import ndimage

    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    data = np.asarray(image.data, dtype=np.float64)
    ny, nx = data.shape
    bmaj = image.beam.bmaj_deg / image.pixel_scale_deg
    finite = np.isfinite(data)
    vals = data[finite]
    med = np.median(vals)
    sigma = 1.482602218505602 * np.median(np.abs(vals - med))
    busy = ~finite | (np.abs(np.where(finite, data - med, 0.0)) > clear_sigma * sigma)
    if busy.any():
        busy = ndimage.distance_transform_edt(~busy) <= max(1.0, clear_beams * bmaj)
    margin = margin_beams * bmaj
    cand = rng.uniform([margin, margin], [nx - 1 - margin, ny - 1 - margin], (40 * n + 100, 2))
    cand = cand[~busy[np.rint(cand[:, 1]).astype(int), np.rint(cand[:, 0]).astype(int)]]
    kept: list[np.ndarray] = []
    min_sep2 = (min_sep_beams * bmaj) ** 2
    for p in cand:
        if len(kept) >= n:
            break
        if kept and np.min(np.sum((np.asarray(kept) - p) ** 2, axis=1)) < min_sep2:
            continue
        kept.append(p)
    if not kept:
        return np.empty(0), np.empty(0)
    k = np.asarray(kept)
    ra, dec = image.wcs.all_pix2world(k[:, 0], k[:, 1], 0)
    return np.asarray(ra, float), np.asarray(dec, float)
