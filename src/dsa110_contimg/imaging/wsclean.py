"""Image a Measurement Set with WSClean (Debian's ``wsclean`` package).

:func:`wsclean_command` builds the command line from :class:`~dsa110_contimg.config.imaging.
ImagingSettings`: a square image covering ``field_of_view_deg`` (3.5 deg), pixels of
``cell_fraction`` of ``lambda_min / B_max`` (from the longest baseline of the Measurement Set),
Briggs weighting, CLEAN to an automatic threshold inside an automatic mask, Stokes I. FITS
output. :func:`image_ms` runs it, writes the observation ``DATE-OBS``/``DATE-END`` (ISO UTC,
from the Measurement Set's times) into the image header next to the restoring beam that
WSClean writes, and then the primary-beam products (:mod:`dsa110_contimg.imaging.beam`).
"""

from __future__ import annotations

import logging
import math
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import Settings, resolve_settings
from ..config.imaging import ImagingSettings
from ..errors import ImagingError, ToolMissingError
from .beam import write_pb_products
from .msinfo import MsInfo, read_ms_info
from .primary_beam import C_M_S
from .tool import run_tied, stop_stale

__all__ = ["ImagingResult", "find_wsclean", "image_geometry", "image_ms", "wsclean_command"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImagingResult:
    """Products of imaging one Measurement Set.

    Attributes
    ----------
    image_path : Path
        Uncorrected ``<name>-image.fits``.
    pb_image_path : Path
        Primary-beam-corrected ``<name>-image-pb.fits`` (the registered product).
    beam_path : Path
        Time-averaged primary-beam response ``<name>-beam.fits``.
    residual_path : Path
        WSClean's residual image.
    size_px : int
        Image side in pixels.
    cell_arcsec : float
        Pixel size.
    params : dict
        Imaging parameters (recorded in the products database).
    info : MsInfo
        The Measurement Set summary.
    wsclean_seconds, beam_seconds : float
        Wall time of WSClean and of the primary-beam products.
    """

    image_path: Path
    pb_image_path: Path
    beam_path: Path
    residual_path: Path
    size_px: int
    cell_arcsec: float
    params: dict = field(repr=False)
    info: MsInfo = field(repr=False)
    wsclean_seconds: float = 0.0
    beam_seconds: float = 0.0


def find_wsclean(path: str = "wsclean") -> str:
    """Return the full path of the WSClean executable.

    Raises
    ------
    ToolMissingError
        WSClean is not installed (with how to install it).
    """
    found = shutil.which(path)
    if found is None:
        raise ToolMissingError(
            f"WSClean executable {path!r} not found: install it with "
            "'sudo apt-get install wsclean' (Debian/Ubuntu) or set imaging.wsclean_path"
        )
    return found


def image_geometry(info: MsInfo, cfg: ImagingSettings) -> tuple[int, float]:
    """Image side (pixels, even) and cell (arcsec) for a Measurement Set.

    Examples
    --------
    >>> import numpy as np
    >>> from dsa110_contimg.config.imaging import ImagingSettings
    >>> info = MsInfo(path=None, times_mjd_s=np.zeros(1), integration_s=1.0, start_mjd=0.0,
    ...     end_mjd=0.0, freqs_hz=np.array([1.5e9]), channel_width_hz=1.0, phase_ra_deg=0.0,
    ...     phase_dec_deg=0.0, max_baseline_m=600.0, n_cross_vis=1, n_pols=2)
    >>> image_geometry(info, ImagingSettings())
    (1472, 8.6)
    """
    if cfg.cell_arcsec is not None:
        cell = float(cfg.cell_arcsec)
    else:
        lam_min = C_M_S / float(np.max(info.freqs_hz))
        beam_arcsec = math.degrees(lam_min / max(info.max_baseline_m, 1.0)) * 3600.0
        cell = round(beam_arcsec * cfg.cell_fraction, 1)
    if cfg.image_size_px is not None:
        size = int(cfg.image_size_px)
    else:
        size = int(math.ceil(cfg.field_of_view_deg * 3600.0 / cell))
        size += size % 2
        size = int(math.ceil(size / 32.0) * 32)  # FFT-friendly
    return size, cell


def wsclean_command(
    ms_path: str | Path,
    prefix: str | Path,
    info: MsInfo,
    cfg: ImagingSettings,
    *,
    executable: str = "wsclean",
    data_column: str | None = None,
) -> tuple[list[str], dict]:
    """Build the WSClean command line and the parameters it encodes.

    ``data_column`` (for example ``CORRECTED_DATA`` after calibration) is passed as
    ``-data-column``; None leaves WSClean's default.

    Returns
    -------
    tuple
        ``(argv, params)``.
    """
    size, cell = image_geometry(info, cfg)
    params = {
        "tool": "wsclean",
        "size_px": size,
        "cell_arcsec": cell,
        "weighting": cfg.weighting,
        "robust": cfg.robust if cfg.weighting == "briggs" else None,
        "niter": cfg.niter,
        "mgain": cfg.mgain,
        "auto_threshold": cfg.auto_threshold,
        "auto_mask": cfg.auto_mask,
        "pol": "I",
        "extra_args": list(cfg.extra_args),
    }
    if data_column is not None:
        params["data_column"] = data_column
    argv = [executable, "-size", str(size), str(size), "-scale", f"{cell}asec", "-pol", "I"]
    if cfg.weighting == "briggs":
        argv += ["-weight", "briggs", str(cfg.robust)]
    else:
        argv += ["-weight", cfg.weighting]
    argv += ["-niter", str(cfg.niter), "-mgain", str(cfg.mgain)]
    if cfg.auto_threshold > 0:
        argv += ["-auto-threshold", str(cfg.auto_threshold)]
    if cfg.auto_mask > 0:
        argv += ["-auto-mask", str(cfg.auto_mask)]
    if cfg.threads > 0:
        argv += ["-j", str(cfg.threads)]
    if data_column is not None:
        argv += ["-data-column", data_column]
    if not cfg.keep_intermediate:
        argv += ["-no-dirty"]
    # the model visibilities are not needed (no self-calibration): do not write MODEL_DATA
    argv += [
        "-no-update-model-required",
        "-quiet",
        *cfg.extra_args,
        "-name",
        str(prefix),
        str(ms_path),
    ]
    return argv, params


def _mjd_to_isot(mjd: float) -> str:
    from astropy.time import Time

    return Time(mjd, format="mjd", scale="utc").isot


def _fix_header(image_path: Path, info: MsInfo, params: dict) -> None:
    from astropy.io import fits

    with fits.open(image_path, mode="update") as hdul:
        h = hdul[0].header
        if "BMAJ" not in h:
            raise ImagingError(
                "WSClean wrote no restoring beam (BMAJ) in the header", path=image_path
            )
        h["DATE-OBS"] = (_mjd_to_isot(info.start_mjd), "UTC start of the observation")
        h["DATE-END"] = (_mjd_to_isot(info.end_mjd), "UTC end of the observation")
        h["MJD-OBS"] = (info.start_mjd, "[d] MJD UTC start of the observation")
        h["EXPTIME"] = (info.duration_s, "[s] observed time span")
        h["TELESCOP"] = "DSA-110"
        h["TIMESYS"] = "UTC"
        h["IMAGER"] = ("wsclean", "imaging software")
        h["WEIGHTNG"] = (str(params["weighting"]), "visibility weighting")


def image_ms(
    ms_path: str | Path,
    prefix: str | Path,
    *,
    settings: Settings | None = None,
    info: MsInfo | None = None,
    data_column: str | None = None,
) -> ImagingResult:
    """Image a Measurement Set with WSClean and write the primary-beam products.

    Parameters
    ----------
    ms_path : str or Path
        The Measurement Set.
    prefix : str or Path
        Output name: ``<prefix>-image.fits``, ``<prefix>-beam.fits``, ``<prefix>-image-pb.fits``.
    settings : Settings, optional
        Imaging settings are read from ``settings.imaging``.
    info : MsInfo, optional
        The Measurement Set summary if already read.
    data_column : str, optional
        Visibility column to image (``CORRECTED_DATA`` once calibrated; default WSClean's).

    Returns
    -------
    ImagingResult

    Raises
    ------
    ToolMissingError
        WSClean is not installed.
    ImagingError
        WSClean failed, timed out or wrote no image.
    """
    settings = resolve_settings(settings)
    cfg = settings.imaging
    exe = find_wsclean(cfg.wsclean_path)
    ms_path = Path(ms_path)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    info = info if info is not None else read_ms_info(ms_path)
    argv, params = wsclean_command(
        ms_path, prefix, info, cfg, executable=exe, data_column=data_column
    )
    log.info("imaging %s: %s", ms_path.name, " ".join(argv[1:-3]))
    # a WSClean left from a killed run must not write into this folder while we image again
    pidfile = Path(f"{prefix}.pid")
    if stop_stale(pidfile):
        for stale in prefix.parent.glob(f"{prefix.name}-*.fits"):
            stale.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        # own session (a Ctrl-C meant for the pipeline lets the image finish), killed with us
        proc = run_tied(argv, cwd=prefix.parent, timeout=cfg.timeout_seconds, pidfile=pidfile)
    except subprocess.TimeoutExpired:
        raise ImagingError(
            f"WSClean timed out after {cfg.timeout_seconds:.0f} s", path=ms_path
        ) from None
    t1 = time.perf_counter()
    image_path = Path(f"{prefix}-image.fits")
    if proc.returncode != 0 or not image_path.exists():
        tail = " | ".join((proc.stderr or proc.stdout or "").strip().splitlines()[-3:])
        raise ImagingError(f"WSClean failed (exit {proc.returncode}): {tail}", path=ms_path)
    if not cfg.keep_intermediate:
        for suffix in ("-psf.fits", "-model.fits", "-dirty.fits"):
            Path(f"{prefix}{suffix}").unlink(missing_ok=True)
    _fix_header(image_path, info, params)
    beam_path, pb_path = write_pb_products(
        image_path,
        info,
        pb_cutoff=cfg.pb_cutoff,
        dish_diameter_m=cfg.dish_diameter_m,
        fwhm_factor=cfg.beam_fwhm_factor,
        n_freqs=cfg.beam_n_freqs,
    )
    params.update(
        {
            "pb_cutoff": cfg.pb_cutoff,
            "pb_model": "gaussian",
            "pb_fwhm_factor": cfg.beam_fwhm_factor,
            "dish_diameter_m": cfg.dish_diameter_m,
        }
    )
    t2 = time.perf_counter()
    return ImagingResult(
        image_path=image_path,
        pb_image_path=pb_path,
        beam_path=beam_path,
        residual_path=Path(f"{prefix}-residual.fits"),
        size_px=params["size_px"],
        cell_arcsec=params["cell_arcsec"],
        params=params,
        info=info,
        wsclean_seconds=t1 - t0,
        beam_seconds=t2 - t1,
    )
