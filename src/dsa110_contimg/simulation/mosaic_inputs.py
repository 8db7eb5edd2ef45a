"""Consecutive drift-scan images as the imaging step writes them, for mosaic tests.

:func:`make_pb_image_set` writes, per pointing, the uncorrected ``<name>-image.fits`` (sky
attenuated by a Gaussian primary beam, plus beam-correlated noise, via
:func:`~dsa110_contimg.simulation.make_fits_image`), the primary-beam response
``<name>-beam.fits`` and the corrected ``<name>-image-pb.fits`` (image / beam, blanked where the
beam is below a cut-off). Pointings step along RA at fixed declination, one per ``cadence_s``,
as consecutive DSA-110 drift-scan images do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.time import Time, TimeDelta

from .images import make_fits_image

__all__ = ["PbImageSet", "gaussian_primary_beam", "make_pb_image_set"]

#: Sidereal RA drift per second of time, degrees.
SIDEREAL_DEG_PER_S = 360.0 / 86164.0905


@dataclass(frozen=True)
class PbImageSet:
    """The files written by :func:`make_pb_image_set` and their truth.

    Attributes
    ----------
    image_paths, beam_paths, pb_paths : list of Path
        Uncorrected images, primary-beam responses, corrected images (one per pointing).
    centers : list of (float, float)
        Pointing centres (ra_deg, dec_deg).
    truth : astropy.table.Table
        Intrinsic sources: ``ra_deg, dec_deg, flux_jy`` (what a corrected image should show).
    noise_jy : float
        Noise rms of each uncorrected image.
    mjd_starts, mjd_ends : list of float
        Observation times of each image.
    """

    image_paths: list[Path]
    beam_paths: list[Path]
    pb_paths: list[Path]
    centers: list[tuple[float, float]]
    truth: Table
    noise_jy: float
    mjd_starts: list[float] = field(default_factory=list)
    mjd_ends: list[float] = field(default_factory=list)


def gaussian_primary_beam(
    shape: tuple[int, int], pixel_scale_deg: float, fwhm_deg: float
) -> np.ndarray:
    """Gaussian primary-beam response on a SIN grid centred on the pointing (float32).

    Uses the exact angular distance of a SIN pixel from the tangent point
    (``sin(theta) = r``), so no full WCS evaluation is needed for large images.

    Examples
    --------
    >>> b = gaussian_primary_beam((64, 64), 0.05, 1.0)
    >>> float(b[32, 32]), round(float(b[32, 42]), 3)   # 0.5 deg off: half power
    (1.0, 0.5)
    """
    ny, nx = shape
    scale = math.radians(pixel_scale_deg)
    # make_fits_image puts the tangent point at CRPIX = n/2 + 1 (1-based): 0-based n/2
    x = ((np.arange(nx, dtype=np.float32) - nx / 2.0) * np.float32(scale)) ** 2
    y = ((np.arange(ny, dtype=np.float32) - ny / 2.0) * np.float32(scale)) ** 2
    r2 = np.minimum(y[:, None] + x[None, :], np.float32(1.0))
    theta = np.arcsin(np.sqrt(r2, dtype=np.float32))
    k = np.float32(4.0 * math.log(2.0) / math.radians(fwhm_deg) ** 2)
    return np.exp(-k * theta * theta).astype(np.float32)


def _angular_sep_deg(ra1, dec1, ra2, dec2):
    a1, d1, a2, d2 = map(np.radians, (ra1, dec1, ra2, dec2))
    c = np.sin(d1) * np.sin(d2) + np.cos(d1) * np.cos(d2) * np.cos(a1 - a2)
    return np.degrees(np.arccos(np.clip(c, -1.0, 1.0)))


def make_pb_image_set(
    out_dir: str | Path,
    *,
    n_images: int = 3,
    shape: tuple[int, int] = (256, 256),
    pixel_scale_arcsec: float = 20.0,
    beam: tuple[float, float, float] = (80.0, 64.0, 30.0),
    beams: list[tuple[float, float, float]] | None = None,
    dec_deg: float = 55.0,
    ra_start_deg: float = 180.0,
    ra_step_deg: float | None = None,
    pb_fwhm_deg: float = 1.2,
    pb_cutoff: float = 0.05,
    sources: Table | list[tuple[float, float, float]] | None = None,
    n_sources: int = 10,
    flux_range_jy: tuple[float, float] = (0.05, 1.0),
    noise_jy: float = 1e-3,
    seed: int = 0,
    start_time: str = "2025-01-01T00:00:00",
    cadence_s: float = 309.0,
    prefix: str = "drift",
    write_beam: bool = True,
    dec_offsets_deg: list[float] | None = None,
) -> PbImageSet:
    """Write consecutive primary-beam-corrected drift-scan images and their beams.

    Parameters
    ----------
    out_dir : path
        Directory to write into (created).
    n_images : int
        Number of consecutive pointings.
    shape : tuple of int
        (ny, nx) of each image.
    pixel_scale_arcsec : float
        Pixel size.
    beam : tuple of float
        Restoring beam (bmaj_arcsec, bmin_arcsec, bpa_deg) of every image, unless ``beams``
        gives one per image.
    beams : list of tuple, optional
        Restoring beam per image.
    dec_deg : float
        Declination of the strip.
    ra_start_deg : float
        RA of the first pointing.
    ra_step_deg : float, optional
        RA step between pointings; default the sidereal drift in ``cadence_s`` (1.29 deg for
        309 s), too large for small test images.
    pb_fwhm_deg : float
        FWHM of the Gaussian primary beam.
    pb_cutoff : float
        The corrected image is blanked (NaN) where the beam is below this.
    sources : Table or list of (ra_deg, dec_deg, flux_jy), optional
        Intrinsic sky; default ``n_sources`` random sources over the strip.
    n_sources : int
        Number of random sources.
    flux_range_jy : tuple of float
        Range of random fluxes (log-uniform).
    noise_jy : float
        Noise rms of each uncorrected image (beam-correlated).
    seed : int
        Seed of every random draw (image ``i`` uses ``seed + 1 + i`` for its noise).
    start_time : str
        ISO UTC start of the first image.
    cadence_s : float
        Duration of (and interval between) the images.
    prefix : str
        File names are ``<prefix>_<i:03d>-image.fits`` etc.
    write_beam : bool
        Write the ``-beam.fits`` files (False: inputs without a beam image).
    dec_offsets_deg : list of float, optional
        Per-image offset of the pointing declination (to make off-strip inputs).

    Returns
    -------
    PbImageSet

    Examples
    --------
    >>> import tempfile
    >>> s = make_pb_image_set(tempfile.mkdtemp(), n_images=2, shape=(64, 64), n_sources=1)
    >>> [p.name for p in s.pb_paths]
    ['drift_000-image-pb.fits', 'drift_001-image-pb.fits']
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if ra_step_deg is None:
        ra_step_deg = cadence_s * SIDEREAL_DEG_PER_S
    if beams is None:
        beams = [beam] * n_images
    if len(beams) != n_images:
        raise ValueError(f"{len(beams)} beams given for {n_images} images")
    offsets = dec_offsets_deg or [0.0] * n_images
    centers = [
        ((ra_start_deg + i * ra_step_deg) % 360.0, dec_deg + offsets[i]) for i in range(n_images)
    ]
    scale_deg = pixel_scale_arcsec / 3600.0
    if sources is None:
        half_h = 0.4 * shape[0] * scale_deg
        half_w = 0.4 * shape[1] * scale_deg / math.cos(math.radians(dec_deg))
        ra = rng.uniform(ra_start_deg - half_w, ra_start_deg + (n_images - 1) * ra_step_deg
                         + half_w, n_sources) % 360.0
        dec = rng.uniform(dec_deg - half_h, dec_deg + half_h, n_sources)
        lo, hi = flux_range_jy
        flux = np.exp(rng.uniform(math.log(lo), math.log(hi), n_sources))
        truth = Table({"ra_deg": ra, "dec_deg": dec, "flux_jy": flux})
    elif isinstance(sources, Table):
        truth = Table(sources, copy=True)
    else:
        arr = np.asarray(list(sources), dtype=float).reshape(-1, 3)
        truth = Table({"ra_deg": arr[:, 0], "dec_deg": arr[:, 1], "flux_jy": arr[:, 2]})
    t0 = Time(start_time, scale="utc")
    images, beam_files, pbs, starts, ends = [], [], [], [], []
    k = 4.0 * math.log(2.0) / pb_fwhm_deg**2
    for i, (cra, cdec) in enumerate(centers):
        start = t0 + TimeDelta(i * cadence_s, format="sec")
        end = start + TimeDelta(cadence_s, format="sec")
        sep = _angular_sep_deg(np.asarray(truth["ra_deg"], float),
                               np.asarray(truth["dec_deg"], float), cra, cdec)
        attenuated = np.asarray(truth["flux_jy"], float) * np.exp(-k * sep**2)
        name = f"{prefix}_{i:03d}"
        image_path = out / f"{name}-image.fits"
        make_fits_image(
            image_path,
            shape=shape,
            center=(cra, cdec),
            pixel_scale_arcsec=pixel_scale_arcsec,
            beam=beams[i],
            sources=list(zip(truth["ra_deg"], truth["dec_deg"], attenuated, strict=True)),
            noise_jy=noise_jy,
            seed=seed + 1 + i,
            date_obs=start.isot,
            date_end=end.isot,
        )
        with fits.open(image_path) as hdul:
            header = hdul[0].header.copy()
            data = np.asarray(hdul[0].data, dtype=np.float32)
        pb = gaussian_primary_beam(shape, scale_deg, pb_fwhm_deg)
        beam_path = out / f"{name}-beam.fits"
        if write_beam:
            bh = header.copy()
            bh["BUNIT"] = ""
            bh["BTYPE"] = "Beam"
            fits.PrimaryHDU(pb, bh).writeto(beam_path, overwrite=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            corrected = np.where(pb >= pb_cutoff, data / pb, np.nan).astype(np.float32)
        del data
        pb_path = out / f"{name}-image-pb.fits"
        fits.PrimaryHDU(corrected, header).writeto(pb_path, overwrite=True)
        del corrected, pb
        images.append(image_path)
        beam_files.append(beam_path)
        pbs.append(pb_path)
        starts.append(float(start.mjd))
        ends.append(float(end.mjd))
    return PbImageSet(
        image_paths=images,
        beam_paths=beam_files,
        pb_paths=pbs,
        centers=centers,
        truth=truth,
        noise_jy=float(noise_jy),
        mjd_starts=starts,
        mjd_ends=ends,
    )
