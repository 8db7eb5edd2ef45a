"""The eta-V diagnostic: where a source lies against the field's distribution of eta and V.

As in the VAST pipeline (Rowlinson et al. 2019, A&C 27, 111): for sources with at least two
points, ``log10(eta)`` and ``log10(V)`` are each close to normally distributed for the steady
majority; a source above ``mean + n_sigma * std`` in both is a variability candidate. The
mean and std here are robust (median and 1.4826 x MAD), so the variable sources themselves do
not inflate the threshold. Definitions of eta and V: ``docs/variability.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["EtaVThresholds", "eta_v_thresholds"]


@dataclass(frozen=True)
class EtaVThresholds:
    """Thresholds of the eta-V plot at ``n_sigma``.

    Attributes
    ----------
    n_sigma : float
        The chosen significance.
    eta, v : float or None
        Thresholds (linear units); None with fewer than 3 sources.
    log_eta_mean, log_eta_std, log_v_mean, log_v_std : float or None
        Robust centre and width of ``log10(eta)`` and ``log10(V)``.
    n_sources : int
        Sources with finite, positive eta and V.
    n_above : int
        Sources above both thresholds.
    """

    n_sigma: float
    eta: float | None
    v: float | None
    log_eta_mean: float | None
    log_eta_std: float | None
    log_v_mean: float | None
    log_v_std: float | None
    n_sources: int
    n_above: int

    def to_dict(self) -> dict:
        """Return the thresholds as a plain dict (for JSON)."""
        return asdict(self)


def _robust(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    return med, float(1.4826 * np.median(np.abs(x - med)))


def eta_v_thresholds(eta, v, *, n_sigma: float = 3.0) -> EtaVThresholds:
    """Return the eta and V thresholds at ``n_sigma`` above the field's log-normal core.

    Parameters
    ----------
    eta, v : array_like
        The sources' eta and V (non-positive or non-finite values are ignored).
    n_sigma : float
        Significance of the thresholds.

    Returns
    -------
    EtaVThresholds

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> eta = 10 ** rng.normal(0.0, 0.3, 10000)
    >>> v = 10 ** rng.normal(-2.0, 0.2, 10000)
    >>> th = eta_v_thresholds(eta, v, n_sigma=2)
    >>> round(float(np.log10(th.eta)), 1), round(float(np.log10(th.v)), 1)
    (0.6, -1.6)
    """
    eta = np.asarray(eta, dtype=float)
    v = np.asarray(v, dtype=float)
    ok = np.isfinite(eta) & np.isfinite(v) & (eta > 0) & (v > 0)
    n = int(ok.sum())
    if n < 3:
        return EtaVThresholds(n_sigma, None, None, None, None, None, None, n, 0)
    le, lv = np.log10(eta[ok]), np.log10(v[ok])
    me, se = _robust(le)
    mv, sv = _robust(lv)
    te, tv = me + n_sigma * se, mv + n_sigma * sv
    above = int(((le > te) & (lv > tv)).sum())
    return EtaVThresholds(n_sigma, 10**te, 10**tv, me, se, mv, sv, n, above)
