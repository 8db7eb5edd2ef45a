"""Extreme Scattering Event (ESE) candidates: presets and flagging (pure numpy).

An ESE makes a compact source's flux dip by 10-50 % for days to months. A source is flagged
when, in its ESE series (epochs by default, or mosaics), against its own robust baseline
(median of its first ``K`` points):

- the one-sided CUSUM of dip significances (``max_cusum``) reached ``min_cusum``: a sustained
  dip, several epochs below the baseline;
- the deepest point was at least ``min_dip_sigma`` below the baseline (``max_dip_sigma``);
- and that point's fractional depth ``1 - f / baseline`` was at least ``min_depth``.

Presets (:data:`PRESETS`): ``conservative``, ``moderate`` (default) and ``sensitive``; custom
thresholds with :class:`EseThresholds`. The stored candidates (every source that passes the
loosest preset) are kept by :mod:`dsa110_contimg.variability.pipeline.ese`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "CANDIDATE_STATISTICS",
    "LOOSEST",
    "PRESETS",
    "STATUSES",
    "EseThresholds",
    "candidate_values",
    "flag",
    "strictest_presets",
    "thresholds_dict",
]


@dataclass(frozen=True)
class EseThresholds:
    """Thresholds of ESE flagging (all must be met).

    Attributes
    ----------
    min_cusum : float
        Least peak CUSUM of dip significances (sigma).
    min_dip_sigma : float
        Least significance of the deepest point below the baseline.
    min_depth : float
        Least fractional depth of that point (0.05 = 5 %).
    """

    min_cusum: float
    min_dip_sigma: float
    min_depth: float


#: Built-in presets, strictest first.
PRESETS: dict[str, EseThresholds] = {
    "conservative": EseThresholds(min_cusum=40.0, min_dip_sigma=7.0, min_depth=0.10),
    "moderate": EseThresholds(min_cusum=20.0, min_dip_sigma=5.0, min_depth=0.05),
    "sensitive": EseThresholds(min_cusum=10.0, min_dip_sigma=4.0, min_depth=0.02),
}
#: The loosest preset: what is kept as a candidate.
LOOSEST = PRESETS["sensitive"]
#: Statuses of a stored candidate.
STATUSES = ("active", "dismissed", "confirmed")
#: Statistics stored with a candidate.
CANDIDATE_STATISTICS = (
    "eta",
    "v",
    "vs",
    "m",
    "dip_sigma",
    "max_dip_sigma",
    "max_dip_depth",
    "cusum",
    "max_cusum",
)


def flag(metrics: Mapping[str, np.ndarray], thresholds: EseThresholds) -> np.ndarray:
    """Return which sources the thresholds flag.

    Parameters
    ----------
    metrics : mapping
        Arrays ``max_cusum``, ``max_dip_sigma``, ``max_dip_depth`` (e.g. from
        :func:`~dsa110_contimg.variability.metrics.derive`); NaN never flags.
    thresholds : EseThresholds
        The thresholds.

    Examples
    --------
    >>> m = {"max_cusum": np.array([30.0, 5.0]), "max_dip_sigma": np.array([9.0, 9.0]),
    ...      "max_dip_depth": np.array([0.2, 0.2])}
    >>> flag(m, PRESETS["moderate"]).tolist()
    [True, False]
    """
    with np.errstate(invalid="ignore"):
        return (
            (np.asarray(metrics["max_cusum"], dtype=float) >= thresholds.min_cusum)
            & (np.asarray(metrics["max_dip_sigma"], dtype=float) >= thresholds.min_dip_sigma)
            & (np.asarray(metrics["max_dip_depth"], dtype=float) >= thresholds.min_depth)
        )


def strictest_presets(metrics: Mapping[str, np.ndarray]) -> np.ndarray:
    """Return the name of the strictest preset each source passes (``sensitive`` at least).

    Examples
    --------
    >>> m = {"max_cusum": np.array([50.0, 25.0]), "max_dip_sigma": np.array([9.0, 6.0]),
    ...      "max_dip_depth": np.array([0.2, 0.2])}
    >>> strictest_presets(m).tolist()
    ['conservative', 'moderate']
    """
    n = np.asarray(metrics["max_cusum"]).size
    preset = np.full(n, "sensitive", dtype=object)
    for name in reversed(list(PRESETS)):  # loosest first, stricter ones overwrite
        preset[flag(metrics, PRESETS[name])] = name
    return preset


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def candidate_values(
    keys: Sequence[tuple[str, str]], derived: Mapping[str, np.ndarray] | None
) -> dict[tuple[str, str], dict]:
    """Return the stored values of the sources among ``keys`` that pass the loosest preset.

    Parameters
    ----------
    keys : sequence of (catalog, source_id)
        Sources, in the order of ``derived``.
    derived : mapping of arrays, optional
        Output of :func:`~dsa110_contimg.variability.metrics.derive` for ``keys``.

    Returns
    -------
    dict of (catalog, source_id) to dict
        For each flagged source: :data:`CANDIDATE_STATISTICS` (None where not finite),
        ``preset`` (the strictest passed), ``score`` (``max_cusum``), ``n_points``,
        ``first_flagged_mjd`` and ``last_flagged_mjd`` (the dip's first and last point).

    Examples
    --------
    >>> d = {k: np.array([1.0]) for k in CANDIDATE_STATISTICS + ("dip_start_mjd", "dip_end_mjd")}
    >>> d.update(max_cusum=np.array([30.0]), max_dip_sigma=np.array([8.0]),
    ...          max_dip_depth=np.array([0.2]), n_points=np.array([12]))
    >>> v = candidate_values([("nvss", "a")], d)[("nvss", "a")]
    >>> v["preset"], v["score"], v["n_points"]
    ('moderate', 30.0, 12)
    """
    if derived is None or not len(keys):
        return {}
    flagged_idx = np.flatnonzero(flag(derived, LOOSEST))
    flagged = {keys[i]: i for i in flagged_idx.tolist()}
    if not flagged:
        return {}
    idx = np.array(list(flagged.values()), dtype=np.int64)
    sub = {k: np.asarray(derived[k])[idx] for k in ("max_cusum", "max_dip_sigma", "max_dip_depth")}
    preset = strictest_presets(sub)
    out = {}
    for j, (key, i) in enumerate(flagged.items()):
        values = {name: _f(derived[name][i]) for name in CANDIDATE_STATISTICS}
        values.update(
            preset=preset[j],
            score=values["max_cusum"] or 0.0,
            n_points=int(derived["n_points"][i]),
            first_flagged_mjd=_f(derived["dip_start_mjd"][i]),
            last_flagged_mjd=_f(derived["dip_end_mjd"][i]),
        )
        out[key] = values
    return out


def thresholds_dict(th: EseThresholds) -> dict:
    """Return thresholds as a plain dict (for the API).

    Examples
    --------
    >>> thresholds_dict(PRESETS["moderate"])["min_depth"]
    0.05
    """
    return asdict(th)
