"""Image QA: noise against thermal noise, beam, finite pixels, dynamic range, astrometry.

:func:`assess_image` measures an uncorrected ``<name>-image.fits`` (and its residual when
there is one) and returns a :class:`QaResult`; :func:`record_qa` writes it into the data
registry (``qa_status``, ``qa_metrics``, ``qa_reason``). Images that fail are still measured
by photometry, but flagged, so normalization does not use them for references.

Astrometry (:func:`measure_astrometry`): the brightest isolated catalog sources on the image
are located (the peak within one beam of the catalog position, refined by the flux-weighted
centroid of the pixels above half of it); the median offset from the catalog positions, in
arcseconds and in restoring-beam FWHM, is recorded, and beyond
``calibration.astrometry_max_offset_beams`` the image fails QA (an offset of 0.2 beam lowers a
forced-photometry peak by ~10%).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import Settings, resolve_settings
from ..config.calibration import CalibrationSettings
from ..config.imaging import ImagingSettings
from ..errors import ImagingError
from ..photometry.noise import robust_rms
from .msinfo import MsInfo

__all__ = [
    "AstrometryResult",
    "QaResult",
    "assess_image",
    "expected_thermal_noise_jy",
    "measure_astrometry",
    "record_qa",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QaResult:
    """QA verdict and measurements of one image.

    Attributes
    ----------
    status : {"passed", "failed"}
        The verdict.
    reason : str or None
        Why it failed (``"; "``-joined), None when it passed.
    noise_jy : float
        Robust rms of the residual (or image) in the inner half of the field.
    expected_noise_jy : float or None
        Natural-weighting thermal noise expected from the Measurement Set.
    noise_ratio : float or None
        ``noise_jy / expected_noise_jy``.
    bmaj_arcsec, bmin_arcsec, bpa_deg : float
        Restoring beam.
    finite_fraction : float
        Fraction of finite pixels of the uncorrected image.
    peak_jy : float
        Peak of the uncorrected image.
    dynamic_range : float
        ``peak_jy / noise_jy``.
    astrometric_offset_arcsec, astrometric_offset_beams : float or None
        Median offset of the bright catalog sources found (None: not measured).
    n_astrometric_sources : int
        Sources in that median.
    """

    status: str
    reason: str | None
    noise_jy: float
    expected_noise_jy: float | None
    noise_ratio: float | None
    bmaj_arcsec: float
    bmin_arcsec: float
    bpa_deg: float
    finite_fraction: float
    peak_jy: float
    dynamic_range: float
    astrometric_offset_arcsec: float | None = None
    astrometric_offset_beams: float | None = None
    n_astrometric_sources: int = 0

    def metrics(self) -> dict:
        """Return the measurements as a plain dict (stored as the registry's ``qa_metrics``)."""
        d = asdict(self)
        d.pop("status")
        d.pop("reason")
        return d


def expected_thermal_noise_jy(info: MsInfo, *, sefd_jy: float) -> float | None:
    """Stokes-I thermal noise of a naturally weighted image of a Measurement Set.

    ``SEFD / sqrt(2 * dnu * tau)`` per visibility and polarization, averaged over the
    ``n_cross_vis`` unflagged cross-correlation samples of ``n_pols`` polarizations.

    Examples
    --------
    >>> import numpy as np
    >>> info = MsInfo(path=None, times_mjd_s=np.zeros(1), integration_s=10.0, start_mjd=0.0,
    ...     end_mjd=0.0, freqs_hz=np.array([1.4e9]), channel_width_hz=1e6, phase_ra_deg=0.0,
    ...     phase_dec_deg=0.0, max_baseline_m=1.0, n_cross_vis=100, n_pols=2)
    >>> round(expected_thermal_noise_jy(info, sefd_jy=1000.0), 4)
    0.0158
    """
    n = info.n_cross_vis * max(1, min(info.n_pols, 2))
    if n <= 0 or info.channel_width_hz <= 0 or info.integration_s <= 0:
        return None
    sigma_vis = sefd_jy / math.sqrt(2.0 * info.channel_width_hz * info.integration_s)
    return sigma_vis / math.sqrt(n)


@dataclass(frozen=True)
class AstrometryResult:
    """Median offset of bright catalog sources from their measured positions.

    Attributes
    ----------
    offset_arcsec : float
        Median of the offsets' lengths.
    offset_beams : float
        The same in restoring-beam FWHM (geometric mean of the axes).
    median_dra_arcsec, median_ddec_arcsec : float
        Median offset (measured - catalog) in RA (times cos dec) and Dec.
    n_sources : int
        Sources measured.
    """

    offset_arcsec: float
    offset_beams: float
    median_dra_arcsec: float
    median_ddec_arcsec: float
    n_sources: int


def measure_astrometry(
    image_path: str | Path,
    sources,
    *,
    noise_jy: float,
    n_sources: int = 30,
    min_snr: float = 20.0,
) -> AstrometryResult | None:
    """Measure the median offset of bright catalog sources on an image.

    Parameters
    ----------
    image_path : str or Path
        A FITS image with a restoring beam.
    sources : sequence of mapping
        Catalog sources with ``ra_deg``, ``dec_deg`` and ``flux_mjy`` (for example from
        :func:`~dsa110_contimg.photometry.helpers.query_sources_for_fits`).
    noise_jy : float
        Image rms (a source is used when its measured peak is ``min_snr`` times this).
    n_sources : int
        The brightest isolated sources tried (a source is isolated when no other catalog
        source brighter than a fifth of it lies within two beams).
    min_snr : float
        Faintest measured peak used, in units of ``noise_jy``.

    Returns
    -------
    AstrometryResult or None
        None when no source could be measured.
    """
    from ..photometry.image import read_image

    img = read_image(image_path)
    if img.beam is None or not (noise_jy and np.isfinite(noise_jy) and noise_jy > 0):
        return None
    fwhm_deg = math.sqrt(img.beam.bmaj_deg * img.beam.bmin_deg)
    fwhm_pix = fwhm_deg / img.pixel_scale_deg
    half = max(2, int(math.ceil(fwhm_pix)))
    data = np.asarray(img.data, dtype=np.float64)
    ny, nx = data.shape
    rows = [s for s in sources if s.get("flux_mjy") is not None]
    rows.sort(key=lambda s: -float(s["flux_mjy"]))
    ra = np.array([float(s["ra_deg"]) for s in rows])
    dec = np.array([float(s["dec_deg"]) for s in rows])
    flux = np.array([float(s["flux_mjy"]) for s in rows])
    dra, ddec = [], []
    for i in range(len(rows)):
        if len(dra) >= n_sources:
            break
        sep = np.hypot((ra - ra[i]) * math.cos(math.radians(dec[i])), dec - dec[i])
        near = (sep < 2 * fwhm_deg) & (flux > 0.2 * flux[i])
        near[i] = False
        if near.any():
            continue
        x, y = img.wcs.world_to_pixel_values(ra[i], dec[i])
        xi, yi = int(round(float(x))), int(round(float(y)))
        if not (half <= xi < nx - half and half <= yi < ny - half):
            continue
        box = data[yi - half : yi + half + 1, xi - half : xi + half + 1]
        if not np.isfinite(box).all():
            continue
        j, k = np.unravel_index(int(np.argmax(box)), box.shape)
        peak = box[j, k]
        if peak < min_snr * noise_jy:
            continue
        yy, xx = np.mgrid[0 : box.shape[0], 0 : box.shape[1]]
        r = np.hypot(yy - j, xx - k)
        w = np.where((box >= 0.5 * peak) & (r <= 0.6 * fwhm_pix + 0.5), box, 0.0)
        cy = float((w * yy).sum() / w.sum()) + yi - half
        cx = float((w * xx).sum() / w.sum()) + xi - half
        mra, mdec = img.wcs.pixel_to_world_values(cx, cy)
        d_ra = ((float(mra) - ra[i] + 180.0) % 360.0 - 180.0) * math.cos(math.radians(dec[i]))
        dra.append(d_ra * 3600.0)
        ddec.append((float(mdec) - dec[i]) * 3600.0)
    if not dra:
        return None
    dra_a, ddec_a = np.array(dra), np.array(ddec)
    off = float(np.median(np.hypot(dra_a, ddec_a)))
    return AstrometryResult(
        offset_arcsec=off,
        offset_beams=off / (fwhm_deg * 3600.0),
        median_dra_arcsec=float(np.median(dra_a)),
        median_ddec_arcsec=float(np.median(ddec_a)),
        n_sources=len(dra),
    )


def _plane(path: Path) -> tuple[np.ndarray, object]:
    from astropy.io import fits

    try:
        with fits.open(path) as hdul:
            data = np.asarray(hdul[0].data, dtype=np.float64)
            header = hdul[0].header.copy()
    except (OSError, ValueError) as exc:
        raise ImagingError(f"cannot read the image for QA ({exc})", path=path) from None
    while data.ndim > 2:
        data = data[0]
    return data, header


def assess_image(
    image_path: str | Path,
    *,
    info: MsInfo | None = None,
    residual_path: str | Path | None = None,
    config: ImagingSettings | None = None,
    sources=None,
    astrometry: CalibrationSettings | None = None,
) -> QaResult:
    """Measure the QA quantities of an uncorrected image and give a verdict.

    Parameters
    ----------
    image_path : str or Path
        The uncorrected ``<name>-image.fits``.
    info : MsInfo, optional
        The Measurement Set summary (for the expected thermal noise).
    residual_path : str or Path, optional
        WSClean's residual image: the noise is measured there when given.
    config : ImagingSettings, optional
        Thresholds (``qa_*``) and ``sefd_jy``.
    sources : sequence of mapping, optional
        Catalog sources on the image (``ra_deg``, ``dec_deg``, ``flux_mjy``): the astrometry
        is measured when given (:func:`measure_astrometry`).
    astrometry : CalibrationSettings, optional
        ``astrometry_*`` settings (default ``CalibrationSettings()``).

    Returns
    -------
    QaResult
    """
    cfg = config if config is not None else ImagingSettings()
    image, header = _plane(Path(image_path))
    noise_src = (
        _plane(Path(residual_path))[0] if residual_path and Path(residual_path).exists() else image
    )
    ny, nx = noise_src.shape
    inner = noise_src[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4]
    noise = robust_rms(inner)
    noise = float("nan") if noise is None else noise
    finite = float(np.isfinite(image).mean()) if image.size else 0.0
    peak = float(np.nanmax(image)) if np.isfinite(image).any() else float("nan")
    dyn = peak / noise if noise and np.isfinite(noise) and noise > 0 else float("nan")
    bmaj = float(header.get("BMAJ", float("nan"))) * 3600.0
    bmin = float(header.get("BMIN", float("nan"))) * 3600.0
    bpa = float(header.get("BPA", float("nan")))
    expected = expected_thermal_noise_jy(info, sefd_jy=cfg.sefd_jy) if info is not None else None
    ratio = noise / expected if expected else None
    reasons = []
    if not np.isfinite(noise) or noise <= 0:
        reasons.append("noise could not be measured")
    if ratio is not None and ratio > cfg.qa_max_noise_ratio:
        reasons.append(
            f"noise {noise * 1e3:.3g} mJy is {ratio:.1f} x thermal (max {cfg.qa_max_noise_ratio})"
        )
    if not (np.isfinite(bmaj) and np.isfinite(bmin)) or bmin <= 0:
        reasons.append("no restoring beam")
    else:
        if bmaj / bmin > cfg.qa_max_beam_axis_ratio:
            reasons.append(f"beam axis ratio {bmaj / bmin:.1f} > {cfg.qa_max_beam_axis_ratio}")
        if bmaj > cfg.qa_max_beam_arcsec:
            reasons.append(f"beam major axis {bmaj:.0f} arcsec > {cfg.qa_max_beam_arcsec}")
    if finite < cfg.qa_min_finite_fraction:
        reasons.append(f"finite fraction {finite:.3f} < {cfg.qa_min_finite_fraction}")
    if not np.isfinite(dyn) or dyn < cfg.qa_min_dynamic_range:
        reasons.append(f"dynamic range {dyn:.1f} < {cfg.qa_min_dynamic_range}")
    astro = None
    if sources:
        acfg = astrometry if astrometry is not None else CalibrationSettings()
        astro = measure_astrometry(
            image_path,
            sources,
            noise_jy=noise,
            n_sources=acfg.astrometry_n_sources,
            min_snr=acfg.astrometry_min_snr,
        )
        if astro is not None and astro.offset_beams > acfg.astrometry_max_offset_beams:
            reasons.append(
                f"astrometric offset {astro.offset_arcsec:.1f} arcsec = "
                f"{astro.offset_beams:.2f} beam > {acfg.astrometry_max_offset_beams:g} "
                f"(median of {astro.n_sources} sources)"
            )
    return QaResult(
        status="failed" if reasons else "passed",
        reason="; ".join(reasons) or None,
        noise_jy=noise,
        expected_noise_jy=expected,
        noise_ratio=ratio,
        bmaj_arcsec=bmaj,
        bmin_arcsec=bmin,
        bpa_deg=bpa,
        finite_fraction=finite,
        peak_jy=peak,
        dynamic_range=dyn,
        astrometric_offset_arcsec=astro.offset_arcsec if astro else None,
        astrometric_offset_beams=astro.offset_beams if astro else None,
        n_astrometric_sources=astro.n_sources if astro else 0,
    )


def record_qa(data_id: str, qa: QaResult, *, settings: Settings | None = None) -> None:
    """Write a QA verdict into the data registry (``update_qa``)."""
    from ..database import update_qa

    update_qa(
        data_id,
        qa_status=qa.status,
        qa_metrics=qa.metrics(),
        qa_reason=qa.reason,
        settings=resolve_settings(settings),
    )
    if qa.status != "passed":
        log.warning("image %s failed QA: %s", data_id, qa.reason)
