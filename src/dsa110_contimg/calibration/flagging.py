"""RFI flagging with CASA's ``flagdata``: calibrator and science groups, one pass over the data.

Calibrator groups (:func:`flag_calibrator_ms`): the residual from the calibrator model
(``DATA - median_t(DATA / MODEL_DATA) * MODEL_DATA``) is written first; then autocorrelations
and exact zeros (dead antennas), ``tfcrop`` (time and frequency cut-offs 4 sigma) and
``extend`` (a channel or integration mostly flagged is flagged whole, and every polarization of
a flagged point) on that residual, and the broadcast of flags found on most baselines. The
recipe first measured (``tfcrop``, ``rflag``, ``extend`` on ``DATA``, then the residual pass)
found the same RFI on a 16 x 48-channel group of the full array (100% of strong and weak, 0.001%
false flags) at ~2.5 times the cost; ``calibration.calibrator_rflag`` brings it back.

Science groups (:func:`flag_science_ms`): autocorrelations, zeros, the calibrator's channel
mask (channels flagged on the calibrator stay flagged: persistent narrow-band RFI), one
``tfcrop`` and ``extend``, and the broadcast. ``tfcrop`` runs on Stokes I
(``calibration.tfcrop_correlation = "ABS_I"``, the sum of XX and YY): one fit instead of one per
polarization, 25% less time, the same recall on the simulations.

All steps of a group run in ONE ``flagdata`` call (``mode='list'``): each chunk of data is read
once and passes the agents in order, with a summary after each step (the per-step fractions of
:class:`FlagSummary`). The call runs in a CASA child process (:mod:`~.casa`), one per block of
spectral windows when the Measurement Set has several (``calibration.casa_processes``,
:mod:`~dsa110_contimg.calibration.parallel`): each window is flagged on its own, so the blocks
give the flags one process would.
"""

from __future__ import annotations

import dataclasses
import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .casa import run_casa_tasks
from .parallel import run_blocks, spw_blocks

__all__ = [
    "FlagSummary",
    "channel_mask_from_summary",
    "flag_calibrator_ms",
    "flag_science_ms",
    "mask_to_spw_selection",
    "restrict_spw_selection",
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


def _spw_ids(block: str) -> set[int]:
    """Window ids of a block selection (``"8~15"`` or ``"3"``)."""
    lo, _, hi = block.partition("~")
    return set(range(int(lo), int(hi or lo) + 1))


def restrict_spw_selection(selection: str, ids: set[int]) -> str:
    """Keep the parts of a ``"0:3;7,1:0"`` selection whose window is in ``ids``.

    Examples
    --------
    >>> restrict_spw_selection("0:3;7,1:0,9:2", {8, 9})
    '9:2'
    >>> restrict_spw_selection("0:3", {1})
    ''
    """
    return ",".join(p for p in selection.split(",") if int(p.split(":")[0]) in ids)


def _sum_summaries(parts: list[dict]) -> dict:
    """One ``flagdata`` summary from the summaries of disjoint blocks of windows."""
    if len(parts) == 1:
        return parts[0]
    out: dict = {"flagged": sum(float(p["flagged"]) for p in parts),
                 "total": sum(float(p["total"]) for p in parts)}
    chans: dict = {}
    for p in parts:
        chans.update(p.get("spw:channel", {}))
    if chans:
        out["spw:channel"] = chans
    return out


def _chans_per_spw(ms: Path) -> list[int]:
    from casacore.tables import table

    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        return [int(n) for n in t.getcol("NUM_CHAN")]


def _run(ms: Path, steps: list[tuple[str, dict]], settings, label: str) -> FlagSummary:
    """Run flagdata steps; a ``("broadcast", {})`` step splits them into two CASA runs."""
    if any(name == "broadcast" for name, _ in steps):
        i = next(k for k, (name, _) in enumerate(steps) if name == "broadcast")
        t0 = time.perf_counter()
        first = _run(ms, steps[:i], settings, label + "_1")
        added = broadcast_flags(ms, settings.calibration.broadcast_baseline_fraction)
        rest = steps[i + 1 :]
        if rest:
            second = _run(ms, rest, settings, label + "_2")
        else:
            second = FlagSummary(first.flagged_after + added, first.flagged_after + added, {},
                                 0.0, first.channel_fraction)
        return FlagSummary(
            first.flagged_before, second.flagged_after,
            {**first.steps, "broadcast": added, **second.steps},
            time.perf_counter() - t0, second.channel_fraction,
        )
    vis = str(ms)
    per_spw = _chans_per_spw(ms)
    blocks = spw_blocks(len(per_spw), settings.calibration.casa_processes)
    workdir = Path(ms).parent / (Path(ms).name + ".cal")

    def flag_block(i: int, spw: str) -> list:
        # all steps in ONE flagdata pass over the data (mode='list': each chunk goes through
        # the agents in order, a summary after each), one CASA process per block of windows
        sel = {"spw": spw} if spw else {}
        summary = {"mode": "summary", **sel}
        cmds: list[dict] = [{**summary, "name": "before"}]
        for name, kw in steps:
            kw = {**sel, **kw}
            if spw and kw.get("spw") and kw["spw"] != spw:
                kw["spw"] = restrict_spw_selection(kw["spw"], _spw_ids(spw))
            if kw.get("spw") != "" or not spw:
                cmds.append(kw)
            cmds.append({**summary, "name": name})
        cmds[-1]["spwchan"] = True
        (res,) = run_casa_tasks(
            [("flagdata", {"vis": vis, "mode": "list", "inpfile": [_command(c) for c in cmds],
                           "flagbackup": False})],
            ms=ms, workdir=workdir, label=label if len(blocks) == 1 else f"{label}_{i}",
            timeout=settings.calibration.casa_timeout_seconds)
        return [res[f"report{j}"] for j in range(len(steps) + 1)]

    t0 = time.perf_counter()
    results = run_blocks(blocks, flag_block)
    seconds = time.perf_counter() - t0
    summaries = [_sum_summaries([res[j] for res in results]) for j in range(len(steps) + 1)]
    fr = [_fraction(s) for s in summaries]
    step_frac = {name: fr[i + 1] - fr[i] for i, (name, _) in enumerate(steps)}
    chan_frac, _ = channel_mask_from_summary(summaries[-1], 1.0)
    out = FlagSummary(fr[0], fr[-1], step_frac, seconds, chan_frac)
    log.info("flagged %s: %.2f%% -> %.2f%% in %.0f s (%s)", Path(ms).name, 100 * fr[0],
             100 * fr[-1], seconds, ", ".join(f"{k} {100 * v:.2f}%" for k, v in step_frac.items()))
    return out


def _command(kw: dict) -> str:
    """One ``flagdata`` list-mode command (``mode='tfcrop' timecutoff=4.0 ...``).

    Examples
    --------
    >>> _command({"mode": "clip", "clipzeros": True, "spw": "0:3;7"})
    "mode='clip' clipzeros=True spw='0:3;7'"
    """
    return " ".join(f"{k}={v!r}" for k, v in kw.items())


def _base_steps() -> list[tuple[str, dict]]:
    return [
        ("autocorr", {"mode": "manual", "autocorr": True}),
        ("zeros", {"mode": "clip", "clipzeros": True, "datacolumn": "data"}),
    ]


def _tfcrop(cs, datacolumn: str = "data") -> tuple[str, dict]:
    return ("tfcrop", {"mode": "tfcrop", "datacolumn": datacolumn,
                       "correlation": cs.tfcrop_correlation,
                       "timecutoff": cs.tfcrop_timecutoff, "freqcutoff": cs.tfcrop_freqcutoff,
                       "extendflags": False})


def _extend(cs) -> tuple[str, dict]:
    return ("extend", {"mode": "extend", "growtime": cs.extend_growtime,
                       "growfreq": cs.extend_growfreq, "extendpols": True, "growaround": False})


def flag_calibrator_ms(ms: Path, settings=None, *, match=None) -> FlagSummary:
    """Flag a calibrator group.

    With ``MODEL_DATA`` (call :func:`~dsa110_contimg.calibration.predict_model` first, or pass
    ``match``): the residual from the calibrator is written (:func:`write_model_residual`),
    then one ``flagdata`` pass flags autocorrelations and zeros and runs ``tfcrop`` and
    ``extend`` on the residual, where RFI stands out as on a blank field (on ``DATA`` a bright
    calibrator hides weak RFI); finally flags found on most baselines are broadcast to all
    (:func:`broadcast_flags`). ``calibration.calibrator_rflag`` adds the recipe first measured
    on ``DATA`` (``tfcrop``, ``rflag``, ``extend``) before the residual pass: it found nothing
    more on the project's simulations and costs ~3 min for a 16 x 48-channel group. Without a
    model, that ``DATA`` recipe is the only pass.

    Parameters
    ----------
    ms : Path
        The Measurement Set (its ``FLAG`` column is modified).
    settings : Settings, optional
        ``calibration`` thresholds.
    match : CalibratorMatch, optional
        Predict ``MODEL_DATA`` for this calibrator first when the MS has none.

    Returns
    -------
    FlagSummary
        Steps [``loud_antennas``,] ``autocorr``, ``zeros``, [``tfcrop``, ``rflag``,
        ``extend``,] ``residual_tfcrop``, ``residual_extend`` (with a model), then
        ``broadcast``.
    """
    from casacore.tables import table

    from ..config import resolve_settings

    settings = resolve_settings(settings)
    cs = settings.calibration
    ms = Path(ms)
    t0 = time.perf_counter()
    from .model import require_equal_windows

    require_equal_windows(ms)
    with table(str(ms), ack=False) as t:
        has_model = "MODEL_DATA" in t.colnames()
    if not has_model and match is not None:
        from .model import predict_model

        predict_model(ms, match, settings)
        has_model = True
    steps = _base_steps()
    if cs.calibrator_rflag or not has_model:
        steps += [
            _tfcrop(cs),
            ("rflag", {"mode": "rflag", "datacolumn": "data",
                       "timedevscale": cs.rflag_timedevscale,
                       "freqdevscale": cs.rflag_freqdevscale, "extendflags": False}),
            _extend(cs),
        ]
    loud = write_model_residual(ms, cs.loud_antenna_factor) if has_model else None
    if loud is not None:
        steps += [("residual_tfcrop", _tfcrop(cs, "corrected")[1]),
                  ("residual_extend", _extend(cs)[1])]
    out = _run(ms, [*steps, ("broadcast", {})], settings, "flag_calibrator")
    if loud:
        with table(str(ms), ack=False) as t:
            a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        frac = float(np.mean(np.isin(a1, loud) | np.isin(a2, loud)))
        out = dataclasses.replace(out, flagged_before=max(0.0, out.flagged_before - frac),
                                  steps={"loud_antennas": frac, **out.steps})
    return dataclasses.replace(out, seconds=time.perf_counter() - t0)


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
        steps += [_tfcrop(cs), _extend(cs)]
    steps.append(("broadcast", {}))
    return _run(ms, steps, settings, "flag_science")


def broadcast_flags(ms: Path, min_baseline_fraction: float) -> float:
    """Flag a (time, channel) on every baseline when enough baselines are flagged there.

    RFI reaches every antenna: a weak narrow-band signal or a broadband burst that the
    per-baseline flaggers (``tfcrop``/``rflag``) find on only part of the baselines (its phase
    adds to or cancels a bright calibrator's visibility) is flagged everywhere once it is found
    on more than ``min_baseline_fraction`` of the live cross-correlations. Random false flags
    (~0.1%) essentially never reach that fraction. Runs with python-casacore (no CASA).

    Returns
    -------
    float
        Fraction of all visibilities newly flagged.
    """
    from casacore.tables import table

    added = 0.0
    with table(str(ms), readonly=False, ack=False) as main:
        n_all = 0
        dds = np.unique(main.getcol("DATA_DESC_ID"))
        for d in dds:
            # one data description at a time: windows may differ in their number of channels
            t = main.query(f"DATA_DESC_ID=={int(d)}") if len(dds) > 1 else main
            flag = t.getcol("FLAG")  # (nrow, nchan, npol)
            n_all += flag.size
            a1, a2, tm = t.getcol("ANTENNA1"), t.getcol("ANTENNA2"), t.getcol("TIME")
            any_pol = flag.any(axis=-1)
            cross = a1 != a2
            # baselines whose data are not wholly flagged (dead antennas do not vote)
            live = cross & ~any_pol.all(axis=-1)
            _, group = np.unique(tm, return_inverse=True)
            group = group.ravel()
            n_groups = group.max() + 1
            nlive = np.bincount(group[live], minlength=n_groups).astype(float)
            nflag = np.zeros((n_groups, flag.shape[1]))
            np.add.at(nflag, group[live], any_pol[live])
            hot = nflag > min_baseline_fraction * np.maximum(nlive, 1)[:, None]
            new = hot[group] & ~any_pol & cross[:, None]
            added += float(new.sum() * flag.shape[2])
            if new.any():
                flag |= new[:, :, None]
                t.putcol("FLAG", flag)
    added /= max(n_all, 1)
    return added


def _median_time(x: np.ndarray) -> np.ndarray:
    """``nanmedian`` over axis 1, with ``median`` (several times faster) where nothing is NaN.

    NumPy's ``nanmedian`` along a short axis goes through masked arrays; most baselines have
    no flagged point, and for them the plain median is the same number.
    """
    nan = np.isnan(x).any(axis=tuple(range(1, x.ndim)))
    out = np.empty((x.shape[0], *x.shape[2:]), dtype=x.dtype)
    if (~nan).any():
        out[~nan] = np.median(x[~nan], axis=1)
    if nan.any():
        out[nan] = np.nanmedian(x[nan], axis=1)
    return out


def write_model_residual(ms: Path, loud_antenna_factor: float = 0.0) -> list[int] | None:
    """Write ``CORRECTED_DATA = DATA - median_t(DATA / MODEL_DATA) * MODEL_DATA``.

    On a calibrator the visibility amplitudes are dominated by the calibrator, and RFI with a
    random phase changes them by ``|R| cos(phi)``: amplitude-based flaggers miss much of a weak
    signal. The instrumental gains are nearly constant over a 5-minute group, so per baseline
    and channel the ratio ``DATA / MODEL_DATA`` is nearly constant in time; its median over
    time (robust to RFI in a minority of integrations) times the model removes the
    calibrator, and the residual is noise plus RFI, which ``tfcrop`` finds as on a blank
    field. This is a flagging aid only (not a gain solution): ``applycal`` overwrites
    ``CORRECTED_DATA`` later. Runs with python-casacore, one subband-sized block of channels at
    a time.

    The residual also shows antennas that deliver loud noise (a dead antenna whose receiver
    still produces noise): with ``loud_antenna_factor`` > 0, an antenna whose residual rms
    (the median over its baselines) exceeds that many times the median over the antennas is
    flagged whole, here, before any RFI flagging. On ``DATA`` ``rflag`` found them; without
    them flagged the K solve of the whole array fails (delays of hundreds of ns).

    Parameters
    ----------
    ms : Path
        The Measurement Set (``CORRECTED_DATA`` written, ``FLAG`` of loud antennas set).
    loud_antenna_factor : float
        0: no antenna flagged.

    Returns
    -------
    list of int or None
        The antennas (rows of ``ANTENNA``) flagged as loud; None when the MS has no
        ``MODEL_DATA`` (nothing written).
    """
    from casacore.tables import makearrcoldesc, table

    with table(str(ms), readonly=False, ack=False) as t:
        if "MODEL_DATA" not in t.colnames():
            return None
        if "CORRECTED_DATA" not in t.colnames():
            shape = t.getcell("DATA", 0).shape
            t.addcols(makearrcoldesc("CORRECTED_DATA", 0j, valuetype="complex", ndim=2,
                                     shape=list(shape)))
        a1, a2 = t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        tm, dd = t.getcol("TIME"), t.getcol("DATA_DESC_ID")
        _, bl = np.unique(np.stack([a1, a2, dd]), axis=1, return_inverse=True)
        bl = bl.ravel()
        order = np.lexsort((tm, bl))
        starts = np.flatnonzero(np.r_[True, np.diff(bl[order]) != 0])
        counts = np.diff(np.r_[starts, len(order)])
        nchan = t.getcell("DATA", 0).shape[0]
        levels = []  # per block of channels: median |residual| of each baseline
        step = 64
        for c0 in range(0, nchan, step):
            c1 = min(nchan, c0 + step)
            blc, trc = [c0, 0], [c1 - 1, -1]
            data = t.getcolslice("DATA", blc, trc)
            model = t.getcolslice("MODEL_DATA", blc, trc)
            flag = t.getcolslice("FLAG", blc, trc)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.where((np.abs(model) > 0) & ~flag, data / model, np.nan)
            ds, rs = data[order], ratio[order]
            med = np.empty_like(ds)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-flagged baselines
                if np.all(counts == counts[0]):  # every baseline has every integration
                    r = rs.reshape(len(counts), counts[0], *rs.shape[1:])
                    m = _median_time(r.real) + 1j * _median_time(r.imag)
                    med[:] = np.repeat(np.nan_to_num(m), counts[0], axis=0)
                else:
                    for s, n in zip(starts, counts, strict=True):
                        r = rs[s : s + n]
                        m = np.nanmedian(r.real, axis=0) + 1j * np.nanmedian(r.imag, axis=0)
                        med[s : s + n] = np.nan_to_num(m)[None]
            r_ord = ds - med * model[order]  # baseline-major, time-ordered
            resid = np.empty_like(data)
            resid[order] = r_ord
            t.putcolslice("CORRECTED_DATA", resid.astype(np.complex64), blc, trc)
            if loud_antenna_factor > 0:
                ar = np.abs(r_ord)
                if np.all(counts == counts[0]):
                    levels.append(np.median(ar.reshape(len(counts), -1), axis=1))
                else:
                    levels.append([float(np.median(ar[s0 : s0 + n]))
                                   for s0, n in zip(starts, counts, strict=True)])
        loud: list[int] = []
        if levels:
            # robust to RFI (a few channels) and to the block: median over the blocks
            level = np.median(np.asarray(levels), axis=0)
            first = order[starts]
            loud = _loud_antennas(a1[first], a2[first], level, loud_antenna_factor)
        if loud:
            rows = np.flatnonzero(np.isin(a1, loud) | np.isin(a2, loud))
            flags = t.getcol("FLAG", startrow=0, nrow=t.nrows())
            flags[rows] = True
            t.putcol("FLAG", flags)
            log.warning("%s: antennas %s flagged: residual noise above %g times the array's "
                        "(dead antennas delivering loud noise)", Path(ms).name, loud,
                        loud_antenna_factor)
    return loud


def _loud_antennas(a1: np.ndarray, a2: np.ndarray, level: np.ndarray,
                   factor: float) -> list[int]:
    """Antennas whose median baseline noise ``level`` exceeds ``factor`` x the antennas' median.

    ``a1``, ``a2``, ``level``: one entry per baseline (autocorrelations are ignored).

    Examples
    --------
    >>> import itertools
    >>> pairs = np.array(list(itertools.combinations(range(6), 2)))
    >>> level = np.where((pairs == 5).any(axis=1), 30.0, 1.0)  # antenna 5: 30x the noise
    >>> _loud_antennas(pairs[:, 0], pairs[:, 1], level, 5.0)
    [5]
    """
    cross = a1 != a2
    if factor <= 0 or not cross.any():
        return []
    b1, b2, lv = a1[cross], a2[cross], level[cross]
    ants = np.unique(np.concatenate([b1, b2]))
    per_ant = np.array([np.median(lv[(b1 == a) | (b2 == a)]) for a in ants])
    live = per_ant > 0  # an antenna of zeros is no reference
    if not live.any():
        return []
    ref = float(np.median(per_ant[live]))
    return [int(a) for a, v in zip(ants, per_ant, strict=True) if v > factor * ref]
