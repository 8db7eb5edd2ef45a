"""Solve for delays, bandpass and gains on a calibrator transit, and apply them (CASA).

The recipe (measured on the project's own corrupted simulations, see ``docs/calibration.md``):

1. ``gaincal gaintype='K' solint='inf'``: one delay per antenna and polarization;
2. ``gaincal calmode='p' solint='int'``: phase per integration (through K), so that the
   bandpass solve is not smeared by the phase drift;
3. ``bandpass solint='inf' solnorm=True`` (through K and the phases);
4. ``gaincal calmode='ap' solint='int'``: amplitude and phase per integration (through K, B).

``MODEL_DATA`` must hold the calibrator through the primary beam
(:func:`~dsa110_contimg.calibration.model.predict_model`). The tables ``K``, ``B`` and ``G``
(and the intermediate phase table) are written into a work directory, each chain of four
solves run by one CASA child process per block of spectral windows
(``calibration.casa_processes``; no solve combines windows, so the blocks' tables, joined by
:func:`~dsa110_contimg.calibration.parallel.merge_caltables`, are those of one process);
their QA (SNR, flagged fraction, flagged antennas, delay scatter) is read back with
python-casacore.
:func:`apply_calibration` runs ``applycal`` (nearest for K and B, linear for G,
``calwt=False``) into ``CORRECTED_DATA``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import CalibrationError
from .casa import run_casa_tasks
from .parallel import merge_caltables, run_blocks, spw_blocks

__all__ = [
    "CalSolution",
    "SolutionQA",
    "apply_calibration",
    "choose_refant",
    "solution_qa",
    "solve_calibrator",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SolutionQA:
    """Quality of a calibration solution.

    Attributes
    ----------
    snr_median : float
        Median SNR of the unflagged amplitude+phase gain (G) solutions.
    flagged_fraction : float
        Fraction of the G solutions flagged (low SNR, no data).
    antennas_flagged : tuple of int
        Antenna indices (rows of the ``ANTENNA`` table) whose G solutions are flagged beyond
        ``calibration.max_flagged_antenna_fraction``.
    delay_scatter_ns : float
        Standard deviation of the unflagged delays (ns).
    n_antennas : int
        Antennas with solutions (flagged or not).
    """

    snr_median: float
    flagged_fraction: float
    antennas_flagged: tuple[int, ...]
    delay_scatter_ns: float
    n_antennas: int


@dataclass(frozen=True)
class CalSolution:
    """Calibration tables solved on one calibrator transit.

    Attributes
    ----------
    tables : dict of str to Path
        ``"K"`` (delays), ``"B"`` (bandpass), ``"G"`` (amplitude+phase gains).
    calibrator : str
        The calibrator's J2000 name.
    transit_mjd : float
        Its transit time.
    qa : SolutionQA
    channel_mask : numpy.ndarray or None
        Channels flagged on the calibrator beyond ``calibration.channel_mask_threshold``
        (persistent RFI), for :func:`~dsa110_contimg.calibration.flag_science_ms`.
    refant : str
        The reference antenna used.
    seconds : dict of str to float
        Wall time per step.
    """

    tables: dict[str, Path]
    calibrator: str
    transit_mjd: float
    qa: SolutionQA
    channel_mask: np.ndarray | None
    refant: str = ""
    seconds: dict[str, float] = field(default_factory=dict, compare=False)


def choose_refant(ms: Path) -> str:
    """Name of the antenna with the most unflagged cross-correlation data (ties: the first)."""
    from casacore.tables import table, taql

    ms = Path(ms)
    with table(str(ms) + "/ANTENNA", ack=False) as t:
        names = list(t.getcol("NAME"))
    counts = np.zeros(len(names))
    with table(str(ms), ack=False) as t:  # noqa: F841 - used by TaQL as $t
        sub = taql(
            "select ANTENNA1, ANTENNA2, ntrue(not FLAG) as N from $t where ANTENNA1 != ANTENNA2"
        )
        a1, a2, n = sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2"), sub.getcol("N")
    np.add.at(counts, a1, n)
    np.add.at(counts, a2, n)
    if counts.max() <= 0:
        raise CalibrationError("every visibility is flagged: nothing to calibrate on", path=ms)
    return str(names[int(np.argmax(counts))])


def _n_spw(ms: Path) -> int:
    from casacore.tables import table

    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        return int(t.nrows())


def _solve_average_factor(ms: Path, max_width_hz: float) -> int:
    """Largest divisor of the channels per window keeping averaged channels <= max_width_hz."""
    from casacore.tables import table

    if max_width_hz <= 0:
        return 1
    with table(str(ms) + "/SPECTRAL_WINDOW", ack=False) as t:
        nchan = [int(n) for n in t.getcol("NUM_CHAN")]
        width = max(float(np.max(np.abs(t.getcell("CHAN_WIDTH", i)))) for i in range(t.nrows()))
    best = 1
    for f in range(2, min(nchan) + 1):
        if all(n % f == 0 for n in nchan) and f * width <= max_width_hz * (1 + 1e-9):
            best = f
    return best


def _average_for_solve(ms: Path, out: Path, factor: int, workdir: Path, timeout: float) -> None:
    """Average DATA and MODEL_DATA (and flags) of ``ms`` by ``factor`` channels into ``out``."""
    from casacore.tables import table

    with table(str(ms), readonly=False, ack=False) as t:
        if "CORRECTED_DATA" in t.colnames():
            t.removecols("CORRECTED_DATA")  # the flagging's residual: not needed any more
    if out.exists():
        shutil.rmtree(out)
    run_casa_tasks([("mstransform", {"vis": str(ms), "outputvis": str(out), "datacolumn": "all",
                                     "chanaverage": True, "chanbin": int(factor)})],
                   ms=ms, workdir=workdir, label="solve_average", timeout=timeout)


def _antennas_with_data(ms: Path) -> np.ndarray:
    from casacore.tables import table, taql

    with table(str(ms), ack=False) as t:  # noqa: F841 - used by TaQL as $t
        sub = taql("select distinct ANTENNA1, ANTENNA2 from $t where ANTENNA1 != ANTENNA2")
        return np.unique(np.concatenate([sub.getcol("ANTENNA1"), sub.getcol("ANTENNA2")]))


def flag_weak_antennas(gtable: Path, antennas: np.ndarray, min_snr_fraction: float) -> list[int]:
    """Flag, in a G table, antennas whose median SNR is below a fraction of the array's.

    A dead antenna that delivers loud noise still gets solutions above ``minsnr`` from a
    bright calibrator; its SNR is nevertheless far below the others'. Its solutions are flagged
    so that ``applycal`` flags its data.

    Returns
    -------
    list of int
        The antennas flagged.
    """
    from casacore.tables import table

    with table(str(gtable), readonly=False, ack=False) as t:
        flag, snr, ant = t.getcol("FLAG"), t.getcol("SNR"), t.getcol("ANTENNA1")
        med = {int(a): float(np.median(snr[(ant == a)[:, None, None] & ~flag] if
                                       (~flag[ant == a]).any() else [0.0]))
               for a in antennas}
        ref = np.median(list(med.values())) if med else 0.0
        weak = [a for a, v in med.items() if 0 < v < min_snr_fraction * ref]
        if weak:
            flag[np.isin(ant, weak)] = True
            t.putcol("FLAG", flag)
    return weak


def solution_qa(tables: Mapping[str, Path], max_flagged_fraction: float = 0.5,
                antennas: np.ndarray | None = None) -> SolutionQA:
    """Read the QA figures of K and G tables.

    Parameters
    ----------
    tables : mapping
        At least ``"G"``; ``"K"`` for the delay scatter.
    max_flagged_fraction : float
        An antenna with more of its G solutions flagged is listed in ``antennas_flagged``.
    antennas : numpy.ndarray, optional
        The antennas that have data (default: every antenna in the table).
    """
    from casacore.tables import table

    with table(str(tables["G"]), ack=False) as t:
        flag = t.getcol("FLAG")  # (nrow, nchan, npol)
        snr = t.getcol("SNR")
        ant = t.getcol("ANTENNA1")
    ants = np.unique(ant) if antennas is None else np.asarray(antennas)
    used = np.isin(ant, ants)
    flag, snr, ant = flag[used], snr[used], ant[used]
    ok = ~flag
    bad = []
    for a in ants:
        sel = ant == a
        if not sel.any() or flag[sel].mean() > max_flagged_fraction:
            bad.append(int(a))
    scatter = float("nan")
    if "K" in tables:
        with table(str(tables["K"]), ack=False) as t:
            kf, kflag, kant = t.getcol("FPARAM"), t.getcol("FLAG"), t.getcol("ANTENNA1")
        good = ~kflag & ~np.isin(kant, bad)[:, None, None] & np.isin(kant, ants)[:, None, None]
        if good.any():
            scatter = float(np.std(kf[good]))
    return SolutionQA(
        snr_median=float(np.median(snr[ok])) if ok.any() else 0.0,
        flagged_fraction=float(flag.mean()),
        antennas_flagged=tuple(bad),
        delay_scatter_ns=scatter,
        n_antennas=int(len(ants)),
    )


def solve_calibrator(ms: Path, match, workdir: Path, settings=None) -> CalSolution:
    """Solve K, B and G on a calibrator group (flagged, with ``MODEL_DATA`` predicted).

    Parameters
    ----------
    ms : Path
        The calibrator group's Measurement Set.
    match : CalibratorMatch
        The calibrator (recorded in the solution).
    workdir : Path
        Directory for the tables and CASA logs (created; existing tables are replaced).
    settings : Settings, optional
        ``calibration`` (refant, minsnr, QA and channel-mask thresholds).

    Returns
    -------
    CalSolution

    Raises
    ------
    CalibrationError
        A CASA task failed or wrote no table.
    """
    from ..config import resolve_settings
    from .flagging import channel_mask_from_summary

    settings = resolve_settings(settings)
    cs = settings.calibration
    ms = Path(ms)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    refant = cs.refant or choose_refant(ms)
    stem = ms.name.removesuffix(".ms")
    tabs = {k: workdir / f"{stem}.{k}" for k in ("K", "Gp", "B", "G")}
    for p in tabs.values():
        if p.exists():
            shutil.rmtree(p)
    seconds: dict[str, float] = {}
    factor = _solve_average_factor(ms, cs.solve_channel_width_hz)
    solve_ms = ms
    if factor > 1:
        # the solves on channels averaged to <= solve_channel_width_hz: the same solutions
        # (delays, a smooth bandpass, per-window gains) for a fraction of the time
        t0 = time.perf_counter()
        solve_ms = workdir / f"{stem}.avg{factor}.ms"
        _average_for_solve(ms, solve_ms, factor, workdir, cs.casa_timeout_seconds)
        seconds["average"] = time.perf_counter() - t0
    vis = str(solve_ms)
    blocks = spw_blocks(_n_spw(ms), cs.casa_processes)

    def chain(part: dict[str, Path], spw: str) -> list[tuple[str, str, dict]]:
        common = {"vis": vis, "refant": refant, "minsnr": cs.minsnr, "spw": spw}
        return [
            ("K", "gaincal", {**common, "caltable": str(part["K"]), "gaintype": "K",
                              "solint": "inf", "combine": "scan"}),
            ("Gp", "gaincal", {**common, "caltable": str(part["Gp"]), "gaintype": "G",
                               "calmode": "p", "solint": "int", "gaintable": [str(part["K"])]}),
            ("B", "bandpass", {**common, "caltable": str(part["B"]), "bandtype": "B",
                               "solint": "inf", "combine": "scan", "solnorm": True,
                               "gaintable": [str(part["K"]), str(part["Gp"])]}),
            ("G", "gaincal", {**common, "caltable": str(part["G"]), "gaintype": "G",
                              "calmode": "ap", "solint": "int",
                              "gaintable": [str(part["K"]), str(part["B"])]}),
        ]

    def solve_block(i: int, spw: str) -> tuple[dict[str, Path], list[float]]:
        # one child process per block of spectral windows runs the whole chain
        part = tabs if len(blocks) == 1 else {k: Path(f"{p}.part{i}") for k, p in tabs.items()}
        for p in part.values():
            if p.exists():
                shutil.rmtree(p)
        steps = chain(part, spw)
        label = "solve" if len(blocks) == 1 else f"solve_{i}"
        secs: list[float] = []
        try:
            run_casa_tasks([(task, kw) for _, task, kw in steps], ms=ms, workdir=workdir,
                           label=label, timeout=cs.casa_timeout_seconds, seconds=secs)
        except CalibrationError as exc:
            raise CalibrationError(f"{exc.message} (spectral windows {spw or 'all'})",
                                   path=ms) from None
        for key, task, _ in steps:
            if not part[key].exists():
                raise CalibrationError(
                    f"CASA {task} ({key}) wrote no table for spectral windows {spw or 'all'} "
                    f"(no unflagged data or no solution; log {workdir / f'casa-{label}.log'})",
                    path=ms)
        return part, secs

    done = run_blocks(blocks, solve_block)
    keys = ("K", "Gp", "B", "G")
    # each step's time: the slowest block's (the blocks run side by side)
    seconds.update({k: max(secs[j] if j < len(secs) else 0.0 for _, secs in done)
                    for j, k in enumerate(keys)})
    if solve_ms != ms:
        shutil.rmtree(solve_ms, ignore_errors=True)
    if len(blocks) > 1:
        t0 = time.perf_counter()
        for k in keys:
            merge_caltables([part[k] for part, _ in done], tabs[k])
        seconds["merge"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    (summary,) = run_casa_tasks(
        [("flagdata", {"vis": str(ms), "mode": "summary", "spwchan": True})],
        ms=ms, workdir=workdir, label="solve_summary", timeout=cs.casa_timeout_seconds)
    _, mask = channel_mask_from_summary(summary, cs.channel_mask_threshold)
    seconds["summary"] = time.perf_counter() - t0
    tables = {k: tabs[k] for k in ("K", "B", "G")}
    antennas = _antennas_with_data(ms)
    weak = flag_weak_antennas(tabs["G"], antennas, cs.min_antenna_snr_fraction)
    if weak:
        log.warning("%s: antennas %s flagged (SNR below %.0f%% of the array's)", ms.name, weak,
                    100 * cs.min_antenna_snr_fraction)
    qa = solution_qa(tables, cs.max_flagged_antenna_fraction, antennas)
    log.info("solved %s on %s: refant %s, SNR %.0f, %.1f%% flagged, antennas flagged %s, "
             "delay scatter %.2f ns", ms.name, match.calibrator.name, refant, qa.snr_median,
             100 * qa.flagged_fraction, list(qa.antennas_flagged), qa.delay_scatter_ns)
    return CalSolution(tables, match.calibrator.name, float(match.transit_mjd), qa,
                       mask if mask.any() else None, refant, seconds)


def apply_calibration(ms: Path, tables: Mapping[str, Path], settings=None) -> None:
    """Apply K, B and G tables to a Measurement Set (``CORRECTED_DATA``).

    ``applycal`` with interpolation ``nearest`` in time for K and B (B ``linear`` in frequency:
    it may be solved on averaged channels), ``linear`` for G (outside the table's time range
    CASA uses the nearest solution), ``calwt=False``, no flag backup.

    Parameters
    ----------
    ms : Path
        The Measurement Set (gets ``CORRECTED_DATA``).
    tables : mapping
        ``{"K": path, "B": path, "G": path}`` (any subset, applied in K, B, G order).
    settings : Settings, optional
        ``calibration.casa_timeout_seconds``.

    Raises
    ------
    CalibrationError
        A table is missing or applycal failed.
    """
    from ..config import resolve_settings

    settings = resolve_settings(settings)
    ms = Path(ms)
    order = [k for k in ("K", "B", "G") if k in tables]
    if not order:
        raise CalibrationError("no calibration table to apply", path=ms)
    for k in order:
        if not Path(tables[k]).exists():
            raise CalibrationError(f"calibration table {k} not found: {tables[k]}", path=ms)
    interp = {"K": "nearest", "B": "nearest,linear", "G": "linear"}
    workdir = ms.parent / (ms.name + ".cal")
    run_casa_tasks(
        [("applycal", {"vis": str(ms), "gaintable": [str(tables[k]) for k in order],
                       "interp": [interp[k] for k in order], "calwt": False,
                       "flagbackup": False, "applymode": "calflag"})],
        ms=ms, workdir=workdir, label="applycal",
        timeout=settings.calibration.casa_timeout_seconds,
    )
