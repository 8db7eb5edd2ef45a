"""RFI flagging with CASA's ``flagdata``: the full recipe for calibrators, a cheap path for science.

Calibrator groups (:func:`flag_calibrator_ms`): autocorrelations and exact zeros (dead
antennas), then ``tfcrop`` (time and frequency cut-offs 4 sigma), ``rflag`` (time and frequency
deviation scales 4) and ``extend`` (a channel or integration mostly flagged is flagged whole,
and every polarization of a flagged point). Measured on the project's corrupted simulations it
finds all strong and weak injected RFI with well under 1% false flags, but costs ~2.5 min for a
16 x 48-channel group, more than a science group can afford.

Science groups (:func:`flag_science_ms`): autocorrelations, zeros, the calibrator's channel
mask (channels flagged on the calibrator stay flagged: persistent narrow-band RFI) and
``tfcrop`` only, then ``extend`` in polarization.

All steps run in one CASA child process (:mod:`dsa110_contimg.calibration.casa`); the flagged
fraction is read from ``flagdata`` summaries before, after each step and at the end.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .casa import run_casa_tasks

__all__ = [
    "FlagSummary",
    "channel_mask_from_summary",
    "flag_calibrator_ms",
    "flag_science_ms",
    "mask_to_spw_selection",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlagSummary:
    """What flagging did to a Measurement Set.

    Attributes
    ----------
    flagged_before, flagged_after : float
        Flagged fraction of all visibilities before and after.
    steps : dict of str to float
        Fraction of all visibilities newly flagged by each step, in order.
    seconds : float
        Wall time (including the CASA start-up).
    channel_fraction : numpy.ndarray, optional
        Flagged fraction of each channel afterwards (all spectral windows in order).
    """

    flagged_before: float
    flagged_after: float
    steps: dict[str, float]
    seconds: float
    channel_fraction: np.ndarray | None = field(default=None, repr=False, compare=False)


def _fraction(summary: dict) -> float:
    return float(summary["flagged"]) / max(float(summary["total"]), 1.0)


def channel_mask_from_summary(summary: dict, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel flagged fraction and the mask of channels flagged beyond ``threshold``.

    Parameters
    ----------
    summary : dict
        A ``flagdata(mode='summary', spwchan=True)`` result.
    threshold : float
        Flagged fraction above which a channel is masked.
    """
    chans = summary.get("spw:channel", {})
    keys = sorted(chans, key=lambda k: tuple(int(x) for x in k.split(":")))
    frac = np.array([chans[k]["flagged"] / max(chans[k]["total"], 1.0) for k in keys])
    return frac, frac > threshold


def mask_to_spw_selection(mask: np.ndarray, chans_per_spw: list[int]) -> str:
    """CASA ``spw`` selection (``"0:3;7,1:0"``) of the masked channels; empty when none."""
    parts, start = [], 0
    for spw, n in enumerate(chans_per_spw):
        sel = np.flatnonzero(mask[start : start + n])
        start += n
        if len(sel):
            parts.append(f"{spw}:" + ";".join(str(int(c)) for c in sel))
    return ",".join(parts)


def _chans_per_spw(ms: Path) -> list[int]:
    from casacore.tables import table

    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        return [int(n) for n in t.getcol("NUM_CHAN")]


def _run(ms: Path, steps: list[tuple[str, dict]], settings, label: str) -> FlagSummary:
    vis = str(ms)
    calls: list[tuple[str, dict]] = [("flagdata", {"vis": vis, "mode": "summary"})]
    for _, kw in steps:
        calls.append(("flagdata", {"vis": vis, "flagbackup": False, **kw}))
        calls.append(("flagdata", {"vis": vis, "mode": "summary"}))
    calls[-1] = ("flagdata", {"vis": vis, "mode": "summary", "spwchan": True})
    workdir = Path(ms).parent / (Path(ms).name + ".cal")
    t0 = time.perf_counter()
    res = run_casa_tasks(calls, ms=ms, workdir=workdir, label=label,
                         timeout=settings.calibration.casa_timeout_seconds)
    seconds = time.perf_counter() - t0
    summaries = [res[0]] + [res[i] for i in range(2, len(res), 2)]
    fr = [_fraction(s) for s in summaries]
    step_frac = {name: fr[i + 1] - fr[i] for i, (name, _) in enumerate(steps)}
    chan_frac, _ = channel_mask_from_summary(summaries[-1], 1.0)
    out = FlagSummary(fr[0], fr[-1], step_frac, seconds, chan_frac)
    log.info("flagged %s: %.2f%% -> %.2f%% in %.0f s (%s)", Path(ms).name, 100 * fr[0],
             100 * fr[-1], seconds, ", ".join(f"{k} {100 * v:.2f}%" for k, v in step_frac.items()))
    return out


def _base_steps() -> list[tuple[str, dict]]:
    return [
        ("autocorr", {"mode": "manual", "autocorr": True}),
        ("zeros", {"mode": "clip", "clipzeros": True, "datacolumn": "data"}),
    ]


def flag_calibrator_ms(ms: Path, settings=None) -> FlagSummary:
    """Flag a calibrator group with the full recipe (autos, zeros, tfcrop, rflag, extend).

    Parameters
    ----------
    ms : Path
        The Measurement Set (its ``FLAG`` column is modified).
    settings : Settings, optional
        ``calibration`` thresholds.

    Returns
    -------
    FlagSummary
    """
    from ..config import resolve_settings

    cs = resolve_settings(settings).calibration
    steps = _base_steps() + [
        ("tfcrop", {"mode": "tfcrop", "datacolumn": "data", "timecutoff": cs.tfcrop_timecutoff,
                    "freqcutoff": cs.tfcrop_freqcutoff, "extendflags": False}),
        ("rflag", {"mode": "rflag", "datacolumn": "data", "timedevscale": cs.rflag_timedevscale,
                   "freqdevscale": cs.rflag_freqdevscale, "extendflags": False}),
        ("extend", {"mode": "extend", "growtime": cs.extend_growtime,
                    "growfreq": cs.extend_growfreq, "extendpols": True, "growaround": False}),
    ]
    return _run(Path(ms), steps, resolve_settings(settings), "flag_calibrator")


def flag_science_ms(ms: Path, settings=None, channel_mask: np.ndarray | None = None) -> FlagSummary:
    """Flag a science group cheaply: autos, zeros, the calibrator's channel mask, tfcrop.

    Parameters
    ----------
    ms : Path
        The Measurement Set (its ``FLAG`` column is modified).
    settings : Settings, optional
        ``calibration`` thresholds (``science_tfcrop`` switches ``tfcrop`` off).
    channel_mask : numpy.ndarray, optional
        Boolean per channel (all spectral windows in order), e.g.
        :attr:`CalSolution.channel_mask`; must match the Measurement Set's channels.

    Returns
    -------
    FlagSummary
    """
    from ..config import resolve_settings
    from ..errors import CalibrationError

    settings = resolve_settings(settings)
    cs = settings.calibration
    ms = Path(ms)
    steps = _base_steps()
    if channel_mask is not None and np.any(channel_mask):
        per_spw = _chans_per_spw(ms)
        mask = np.asarray(channel_mask, dtype=bool)
        if mask.size != sum(per_spw):
            raise CalibrationError(
                f"channel mask has {mask.size} channels, the Measurement Set {sum(per_spw)}",
                path=ms,
            )
        steps.append(("channel_mask", {"mode": "manual",
                                       "spw": mask_to_spw_selection(mask, per_spw)}))
    if cs.science_tfcrop:
        steps.append(("tfcrop", {"mode": "tfcrop", "datacolumn": "data",
                                 "timecutoff": cs.tfcrop_timecutoff,
                                 "freqcutoff": cs.tfcrop_freqcutoff, "extendflags": False}))
        steps.append(("extend", {"mode": "extend", "growtime": cs.extend_growtime,
                                 "growfreq": cs.extend_growfreq, "extendpols": True,
                                 "growaround": False}))
    return _run(ms, steps, settings, "flag_science")
