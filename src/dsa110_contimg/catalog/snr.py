"""Detection signal-to-noise of NVSS sources, one rule per catalog file format.

The master catalog selects normalization references by NVSS SNR (``reference_min_snr``). The
SNR wanted there is a *detection* SNR, flux over the noise of the fit, not flux over the
total error a catalog publishes:

- **VizieR VIII/65 and HEASARC** (``nvss-vizier``, ``nvss-heasarc``): ``e_S1.4`` /
  ``flux_20_cm_error`` are the total rms errors of Condon et al. (1998, AJ 115, 1693, the
  NVSS paper, section on the catalog's flux-density errors): the Gaussian-fit noise term
  (Condon 1997, PASP 109, 166, from the 0.45 mJy/beam image noise, plus confusion) added in
  quadrature to a 3% uncertainty of the flux-density scale. The scale term makes flux / error
  <= 1 / 0.03 ~ 33 for every source (the shared VizieR sample's largest is 33.4), so a SNR
  cut of 50 on published errors selects nothing. Here the scale term is removed in
  quadrature, ``fit = sqrt(e**2 - (0.03 S)**2)``, and the result is floored at the NVSS rms
  (0.45 mJy/beam: for a point source the fitted peak's error equals the image rms, Condon
  1997), because the published errors are rounded to 0.1 mJy and the difference of two
  nearly equal squares is meaningless for bright sources.
- **CATALOG41** (``nvss-catalog41``): raw AIPS fits; the reader's ``flux_err_mjy`` is the
  fit's noise term from the field's ``I RMS`` (no scale term), so SNR = flux / error.
- **lsmtool sky models** (``lsmtool-sky``): no errors at all; SNR = S / 0.45 mJy, the NVSS
  image rms (Condon et al. 1998).
- **Anything else** (a table ingested directly, another reader): flux / error as stored,
  else flux / ``rms_mjy``, else S / 0.45 mJy.

The stored ``flux_err_mjy`` is never changed: it stays the error the survey publishes (see
:mod:`dsa110_contimg.catalog.schema`); only the master catalog's ``snr`` uses these rules.
"""

from __future__ import annotations

import numpy as np

__all__ = ["NVSS_RMS_MJY", "NVSS_SCALE_FRACTION", "SCALE_TERM_FORMATS", "nvss_snr"]

#: NVSS image rms in Stokes I, mJy/beam (Condon et al. 1998).
NVSS_RMS_MJY = 0.45
#: Fractional flux-density-scale uncertainty included in the published NVSS errors.
NVSS_SCALE_FRACTION = 0.03
#: Formats whose flux errors include the scale term.
SCALE_TERM_FORMATS = frozenset({"nvss-vizier", "nvss-heasarc"})

_RULES = {
    "scale": "flux / fit error (published error without the 3% scale term, floored at 0.45 mJy)",
    "noise": "flux / noise-only fit error",
    "rms": "flux / 0.45 mJy (NVSS rms; the file has no errors)",
    "as_stored": "flux / error as stored",
    "local_rms": "flux / local rms",
}


def nvss_snr(
    flux_mjy: np.ndarray,
    flux_err_mjy: np.ndarray,
    format: str,
    *,
    rms_mjy: np.ndarray | None = None,
    nvss_rms_mjy: float = NVSS_RMS_MJY,
) -> tuple[np.ndarray, str]:
    """Return the detection SNR of NVSS sources read with reader ``format``, and the rule used.

    Parameters
    ----------
    flux_mjy, flux_err_mjy : numpy.ndarray
        Flux density and its stored (published) error, mJy.
    format : str
        The reader that produced the catalog (``CatalogInfo.format``).
    rms_mjy : numpy.ndarray, optional
        Local noise, used when a catalog of unknown format has no errors.
    nvss_rms_mjy : float
        The NVSS image rms: the floor of the fit error and the noise of error-less files.

    Returns
    -------
    snr : numpy.ndarray
        NaN where the flux is missing.
    rule : str
        One line saying how it was computed (recorded in the master catalog's summary).

    Examples
    --------
    >>> snr, rule = nvss_snr(np.array([100.0]), np.array([3.6056]), "nvss-vizier")
    >>> round(float(snr[0]), 1)
    50.0
    >>> float(nvss_snr(np.array([9.0]), np.array([np.nan]), "lsmtool-sky")[0][0])
    20.0
    """
    s = np.asarray(flux_mjy, dtype=float)
    e = np.asarray(flux_err_mjy, dtype=float)
    if format in SCALE_TERM_FORMATS:
        fit2 = e**2 - (NVSS_SCALE_FRACTION * s) ** 2
        noise = np.sqrt(np.maximum(np.nan_to_num(fit2, nan=0.0), nvss_rms_mjy**2))
        noise = np.where(np.isfinite(e), noise, nvss_rms_mjy)
        rule = "scale"
    elif format == "lsmtool-sky" or (
        np.all(~np.isfinite(e)) and (rms_mjy is None or np.all(~np.isfinite(rms_mjy)))
    ):
        noise = np.full(s.shape, nvss_rms_mjy)
        rule = "rms"
    elif np.all(~np.isfinite(e)):
        noise = np.asarray(rms_mjy, dtype=float)
        rule = "local_rms"
    else:
        noise = e
        rule = "noise" if format == "nvss-catalog41" else "as_stored"
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, s / noise, np.nan)
    return snr, _RULES[rule]
