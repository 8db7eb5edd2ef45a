"""Basic image QA: noise against thermal noise, beam shape, finite pixels, dynamic range.

:func:`assess_image` measures an uncorrected ``<name>-image.fits`` (and its residual when
there is one) and returns a :class:`QaResult`; :func:`record_qa` writes it into the data
registry (``qa_status``, ``qa_metrics``, ``qa_reason``). Images that fail are still measured
by photometry, but flagged, so normalization does not use them for references.
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..config import Settings, resolve_settings
from ..config.imaging import ImagingSettings
from ..errors import ImagingError
from ..photometry.noise import robust_rms
from .msinfo import MsInfo

__all__ = ["QaResult", "assess_image", "expected_thermal_noise_jy", "record_qa"]

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
