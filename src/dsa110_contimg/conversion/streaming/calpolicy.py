"""Which calibration a group uses, and which solutions are refused: pure functions.

Selection (:func:`choose_caltable`): among the ``valid`` solution sets whose validity window
contains the group's mid-time, the one with the latest transit at or before the mid-time; when
there is none, the one with the earliest transit after it (a science group observed before the
night's first calibrator, calibrated when that transit arrives). Refused sets are never chosen,
so a refused transit leaves the previous valid set in use.

Refusal (:func:`refusal_reasons`): a new solution is refused when its median SNR is below
``calibration.min_snr``, when more than ``max_flagged_fraction`` of its solutions or more than
``max_antennas_flagged_fraction`` of the antennas are flagged, or when it jumps from the
previous valid transit (at most ``jump_max_age_hours`` older): the median over antennas of the
absolute delay change beyond ``max_delay_jump_ns``, or the median per-antenna gain amplitude
ratio beyond ``1 +- max_gain_jump``. Antennas flagged in either set are left out of the jump.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ...config.calibration import CalibrationSettings

__all__ = ["SolutionSummary", "choose_caltable", "refusal_reasons", "solution_jump"]


@dataclass(frozen=True)
class SolutionSummary:
    """What the refusal test needs of a solution set.

    Attributes
    ----------
    transit_mjd : float
    snr_median : float or None
    flagged_fraction : float or None
    antennas_flagged : tuple of int
    n_antennas : int or None
    antenna_delays_ns : sequence of float or None
        Per antenna (NaN: no solution).
    antenna_gain_amps : sequence of float or None
        Per-antenna median gain amplitude (NaN: no solution).
    """

    transit_mjd: float
    snr_median: float | None
    flagged_fraction: float | None
    antennas_flagged: tuple[int, ...] = ()
    n_antennas: int | None = None
    antenna_delays_ns: Sequence[float] | None = None
    antenna_gain_amps: Sequence[float] | None = None


def choose_caltable(mid_mjd: float, candidates: Sequence):
    """Pick the solution set for a group from the candidates covering its mid-time.

    Parameters
    ----------
    mid_mjd : float
        The group's mid-time (MJD).
    candidates : sequence
        Records with ``status``, ``transit_mjd``, ``id`` and ``covers(mjd)`` (for example
        :class:`~dsa110_contimg.database.caltables.CalTableRecord`).

    Returns
    -------
    record or None

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> def rec(i, t, status="valid"):
    ...     return NS(id=i, transit_mjd=t, status=status, covers=lambda m, t=t: abs(m - t) <= 0.5)
    >>> choose_caltable(10.0, [rec(1, 9.8), rec(2, 9.9), rec(3, 10.1)]).id
    2
    >>> choose_caltable(10.0, [rec(2, 9.9, "refused"), rec(1, 9.8)]).id
    1
    >>> choose_caltable(10.0, [rec(3, 10.2), rec(4, 10.1)]).id
    4
    >>> choose_caltable(10.0, [rec(1, 8.0)]) is None
    True
    """
    usable = [c for c in candidates if c.status == "valid" and c.covers(mid_mjd)]
    before = [c for c in usable if c.transit_mjd <= mid_mjd]
    if before:
        return max(before, key=lambda c: (c.transit_mjd, c.id))
    after = [c for c in usable if c.transit_mjd > mid_mjd]
    if after:
        return min(after, key=lambda c: (c.transit_mjd, -c.id))
    return None


def _masked(values: Sequence[float] | None, flagged: Sequence[int]) -> np.ndarray | None:
    if values is None:
        return None
    a = np.asarray(values, dtype=np.float64).copy()
    for i in flagged:
        if 0 <= i < a.size:
            a[i] = np.nan
    return a


def solution_jump(new: SolutionSummary, previous: SolutionSummary) -> dict[str, float]:
    """Median per-antenna change from ``previous`` to ``new``.

    Returns
    -------
    dict
        ``delay_ns``: median |delay difference| (ns); ``gain_ratio``: median amplitude ratio
        new / previous. Missing when not computable (no common antenna with a solution).

    Examples
    --------
    >>> a = SolutionSummary(0.0, 50.0, 0.0, antenna_delays_ns=[1.0, 2.0, 3.0],
    ...                     antenna_gain_amps=[1.0, 1.0, 1.0])
    >>> b = SolutionSummary(1.0, 50.0, 0.0, antenna_delays_ns=[1.5, 2.5, 9.0],
    ...                     antenna_gain_amps=[1.2, 1.2, 1.2], antennas_flagged=(2,))
    >>> solution_jump(b, a)
    {'delay_ns': 0.5, 'gain_ratio': 1.2}
    """
    flagged = tuple(new.antennas_flagged) + tuple(previous.antennas_flagged)
    out: dict[str, float] = {}
    d1 = _masked(new.antenna_delays_ns, flagged)
    d0 = _masked(previous.antenna_delays_ns, flagged)
    if d1 is not None and d0 is not None:
        n = min(d1.size, d0.size)
        diff = np.abs(d1[:n] - d0[:n])
        if np.isfinite(diff).any():
            out["delay_ns"] = round(float(np.nanmedian(diff)), 6)
    a1 = _masked(new.antenna_gain_amps, flagged)
    a0 = _masked(previous.antenna_gain_amps, flagged)
    if a1 is not None and a0 is not None:
        n = min(a1.size, a0.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = a1[:n] / a0[:n]
        ratio = ratio[np.isfinite(ratio) & (ratio > 0)]
        if ratio.size:
            out["gain_ratio"] = round(float(np.median(ratio)), 6)
    return out


def refusal_reasons(
    new: SolutionSummary,
    previous: SolutionSummary | None,
    cfg: CalibrationSettings,
) -> list[str]:
    """Why a new solution must be refused (empty: accept it).

    Parameters
    ----------
    new : SolutionSummary
        The solution just solved.
    previous : SolutionSummary or None
        The latest valid solution before it (any calibrator), for the jump test.
    cfg : CalibrationSettings
        Thresholds.

    Examples
    --------
    >>> from dsa110_contimg.config.calibration import CalibrationSettings
    >>> cfg = CalibrationSettings()
    >>> refusal_reasons(SolutionSummary(0.0, 3.0, 0.1, n_antennas=10), None, cfg)
    ['median SNR 3 < 10']
    >>> refusal_reasons(SolutionSummary(0.0, 80.0, 0.1, (1, 2, 3), 10), None, cfg)
    ['3 of 10 antennas flagged (> 25%)']
    """
    reasons = []
    snr = new.snr_median
    if snr is None or not np.isfinite(snr) or snr < cfg.min_snr:
        known = snr is not None and np.isfinite(snr)
        reasons.append(f"median SNR {snr:.3g} < {cfg.min_snr:g}" if known else "median SNR unknown")
    ff = new.flagged_fraction
    if ff is not None and np.isfinite(ff) and ff > cfg.max_flagged_fraction:
        reasons.append(f"{ff:.0%} of the solutions flagged (> {cfg.max_flagged_fraction:.0%})")
    n_flag = len(set(new.antennas_flagged))
    if new.n_antennas and n_flag / new.n_antennas > cfg.max_antennas_flagged_fraction:
        reasons.append(
            f"{n_flag} of {new.n_antennas} antennas flagged "
            f"(> {cfg.max_antennas_flagged_fraction:.0%})"
        )
    if previous is not None and 0 < (new.transit_mjd - previous.transit_mjd) * 24.0 <= (
        cfg.jump_max_age_hours
    ):
        jump = solution_jump(new, previous)
        d = jump.get("delay_ns")
        if d is not None and d > cfg.max_delay_jump_ns:
            reasons.append(
                f"delays jumped by {d:.2f} ns (median) from the previous transit "
                f"(> {cfg.max_delay_jump_ns:g} ns)"
            )
        g = jump.get("gain_ratio")
        if g is not None and abs(g - 1.0) > cfg.max_gain_jump:
            reasons.append(
                f"gain amplitudes changed by a factor {g:.2f} (median) from the previous transit "
                f"(> {cfg.max_gain_jump:.0%})"
            )
    return reasons
