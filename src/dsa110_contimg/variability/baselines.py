"""Baselines and the errors used for variability: the two robust estimates every series shares.

Pure numpy. A reference source's baseline (normalization) and each source's own baseline
(dip significance, ESE) are both the median of its first ``K`` good points with the
uncertainty of :func:`robust_baseline`.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["robust_baseline", "variability_errors"]

#: 1.4826 * MAD estimates a Gaussian sigma; sqrt(pi/2) is the median's efficiency loss.
_MAD_TO_SIGMA = 1.4826
_MEDIAN_ERR = 1.2533


def robust_baseline(flux: np.ndarray, err: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the median of points along the last axis and its uncertainty (NaN = missing).

    The uncertainty is sqrt(pi/2) times the larger of the rms measurement error and the
    robust scatter (1.4826 MAD), over sqrt(n). Used for reference baselines and for each
    source's own baseline alike.

    Examples
    --------
    >>> b, e = robust_baseline(np.array([1.0, 1.2, 0.9, 1.0]), np.array([0.1] * 4))
    >>> float(b), round(float(e), 4)
    (1.0, 0.0627)
    """
    flux = np.asarray(flux, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    n = np.sum(np.isfinite(flux), axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            med = np.nanmedian(flux, axis=-1)
            mad = np.nanmedian(np.abs(flux - np.expand_dims(med, -1)), axis=-1)
            rms_err = np.sqrt(np.nanmean(np.where(np.isfinite(flux), err, np.nan) ** 2, axis=-1))
        sig = np.maximum(rms_err, _MAD_TO_SIGMA * mad)
        return med, _MEDIAN_ERR * sig / np.sqrt(n)


def variability_errors(err: np.ndarray, *, confusion_noise: float = 0.0) -> np.ndarray:
    """Return the errors used for variability from measurement errors.

    The local rms behind a forced-photometry error contains the static confusion noise of the
    field, which is the same at every epoch and so cancels in epoch-to-epoch differences.
    ``confusion_noise`` (the static part, same units) is removed in quadrature, never going
    below half the measurement error; with 0 the errors are unchanged (conservative).

    Examples
    --------
    >>> variability_errors(np.array([5.0]), confusion_noise=3.0)
    array([4.])
    """
    err = np.asarray(err, dtype=np.float64)
    if confusion_noise <= 0:
        return err
    return np.sqrt(np.maximum(err**2 - confusion_noise**2, 0.25 * err**2))
