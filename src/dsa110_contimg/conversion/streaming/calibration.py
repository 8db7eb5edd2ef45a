"""The stream's calibration step: solve on calibrator groups, calibrate, wait or image raw.

Called from one place in :meth:`Streamer.process_group
<dsa110_contimg.conversion.streaming.streamer.Streamer.process_group>`, between conversion and
imaging (:meth:`CalibrationStep.prepare`) and after registration (:meth:`CalibrationStep.record`).
The science (CASA in a subprocess: flagging, model, solve, apply) is the calibration stage's
(:mod:`dsa110_contimg.calibration`); this module decides what happens to each group and keeps
the state in the database (:mod:`dsa110_contimg.database.caltables`).

A group is *raw* (needs calibration) when ``calibration.mode`` is ``required``, or ``auto`` and
its UVH5 files are the correlator's own (uncalibrated) or carry a corruption marker
(:func:`group_is_raw`); files that say they are calibrated (clean simulations, a user's own
calibrated data) are imaged from ``DATA`` as today and recorded ``precalibrated``. For a raw group:

1. A calibrator group (``find_calibrator`` finds a listed calibrator transiting in it) gets its
   model predicted, is flagged with the full recipe (which also searches the residual from the
   model) and K, B, G are solved. The solution is compared with
   the thresholds and the previous valid transit (:func:`~.calpolicy.refusal_reasons`) and
   registered ``valid`` or ``refused`` with the reasons. A valid set queues again every
   completed ``uncalibrated`` group inside its window (re-calibration).
2. Every raw group then picks the solution set (:func:`~.calpolicy.choose_caltable`), is flagged
   by the cheap science path (with the calibrator's channel mask), calibrated into
   ``CORRECTED_DATA`` and imaged from it: ``calibrated``.
3. With no set to use, the group *waits* (status ``waiting``) up to ``calibration.wait_seconds``
   for the next calibrator; after that it is flagged and imaged from ``DATA``: ``uncalibrated``,
   QA-failed with the reason, measured, and left out of references, variability, ESEs and mosaics.
4. A group queued again for re-calibration is imaged under a new name; the new product
   supersedes the old one, which stays registered with its photometry, marked ``superseded_by``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...config import Settings
from ...database import caltables as db
from ...errors import CalibrationError

__all__ = [
    "CalibrationPlan",
    "CalibrationStep",
    "antenna_summary",
    "group_is_raw",
    "group_mid_mjd",
    "write_calibration_header",
]

log = logging.getLogger(__name__)

#: Half the duration of a DSA-110 group (309 s of 12.885 s integrations): a group's mid-time
#: from its timestamp, for decisions taken before its Measurement Set exists.
HALF_GROUP_SECONDS = 154.6

#: UVH5 ``extra_keywords`` that mark a file raw (``auto`` mode): key -> value meaning "raw".
RAW_MARKERS = {"contimg_corrupted": True, "corrupted": True, "contimg_calibrated": False}


def group_mid_mjd(group_time: float) -> float:
    """Mid-time MJD of a group from its timestamp (Unix seconds)."""
    return db.unix_to_mjd(group_time + HALF_GROUP_SECONDS)


def _truthy(v: Any) -> bool | None:
    if isinstance(v, bytes):
        v = v.decode()
    if isinstance(v, str):
        low = v.strip().lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        return None
    try:
        return bool(np.asarray(v).item())
    except (TypeError, ValueError):
        return None


def group_is_raw(paths: Sequence[str | Path], mode: str) -> bool:
    """Whether a group's visibilities need calibration.

    ``off``: never. ``required``: always. ``auto`` decides from the files, first rule that
    applies:

    1. the simulator's corruption truth ``<timestamp>_corruptions.json`` lies beside the files
       (``contimg simulate --corrupt``), or a file's ``Header/extra_keywords`` holds a marker of
       :data:`RAW_MARKERS`: raw;
    2. a file says it is calibrated (``extra_keywords['contimg_calibrated'] = True``, as the
       simulator writes for clean groups, or ``vis_units = "Jy"``): already calibrated;
    3. a file in the correlator's layout (``extra_keywords['phase_center_dec']``, no or
       ``uncalib`` ``vis_units``): raw, since the correlator writes uncalibrated visibilities;
    4. otherwise (our older simulated layout): already calibrated.
    """
    if mode == "off":
        return False
    if mode == "required":
        return True
    import h5py

    correlator = False
    for p in paths:
        p = Path(p)
        stem = p.name.split("_sb")[0]
        if (p.parent / f"{stem}_corruptions.json").exists():
            return True
        try:
            with h5py.File(p, "r") as f:
                header = f["Header"]
                kw = header.get("extra_keywords")
                if kw is not None:
                    for key, raw_value in RAW_MARKERS.items():
                        if key in kw and _truthy(kw[key][()]) is raw_value:
                            return True
                    if "contimg_calibrated" in kw and _truthy(kw["contimg_calibrated"][()]):
                        return False
                units = header["vis_units"][()] if "vis_units" in header else None
                if isinstance(units, bytes):
                    units = units.decode()
                if units is not None and str(units).strip().lower() == "jy":
                    return False
                if kw is not None and "phase_center_dec" in kw:
                    correlator = True
        except (OSError, KeyError):
            continue
    return correlator


def antenna_summary(tables: dict[str, Path]) -> tuple[list[float] | None, list[float] | None]:
    """Per-antenna delay (ns, mean over polarizations) and median gain amplitude of a set.

    Read with python-casacore from the K and G tables (a CASA calibration table is a casacore
    table: ``ANTENNA1``, ``FPARAM``/``CPARAM``, ``FLAG``). NaN for antennas without an
    unflagged solution; None when a table cannot be read.
    """

    def _per_antenna(path: Path, column: str, reduce):
        from casacore.tables import table

        try:
            with table(str(path), ack=False) as t:
                ant = np.asarray(t.getcol("ANTENNA1"))
                val = np.asarray(t.getcol(column))
                flag = np.asarray(t.getcol("FLAG"), dtype=bool)
        except (RuntimeError, OSError) as exc:
            log.warning("cannot read %s: %s", path, exc)
            return None
        val = np.where(flag, np.nan, reduce(val))
        n = int(ant.max()) + 1 if ant.size else 0
        out = []
        for a in range(n):
            sel = val[ant == a]
            sel = sel[np.isfinite(sel)]
            out.append(float(np.median(sel)) if sel.size else float("nan"))
        return out

    delays = _per_antenna(tables["K"], "FPARAM", np.real) if "K" in tables else None
    amps = _per_antenna(tables["G"], "CPARAM", np.abs) if "G" in tables else None
    return delays, amps


def write_calibration_header(paths: Sequence[Path], status: str, caltable=None) -> None:
    """Write the calibration provenance into FITS headers (``CALSTAT``, ``CALID``, ...)."""
    from astropy.io import fits

    for path in paths:
        if path is None or not Path(path).exists():
            continue
        with fits.open(path, mode="update") as hdul:
            h = hdul[0].header
            h["CALSTAT"] = (status, "calibrated / precalibrated / uncalibrated")
            if caltable is not None:
                h["CALID"] = (caltable.id, "contimg caltables id of the solutions applied")
                h["CALNAME"] = (caltable.calibrator, "calibrator of the solutions")
                h["CALMJD"] = (caltable.transit_mjd, "[d] MJD UTC of the calibrator transit")
                for kind, p in sorted(caltable.tables.items()):
                    h[f"CALTAB{kind}"] = (p.name, f"{kind} table applied")


@dataclass
class CalibrationPlan:
    """What the calibration step decided for one group.

    Attributes
    ----------
    status : {"calibrated", "precalibrated", "uncalibrated", "waiting"}
    caltable : CalTableRecord or None
        The solution set applied.
    solved : CalTableRecord or None
        The set solved on this group (a calibrator group), valid or refused.
    reason : str or None
        Why the group is uncalibrated or waits.
    data_column : str or None
        The column to image (``CORRECTED_DATA`` once calibrated; None: WSClean's default).
    image_ms : Path or None
        The Measurement Set to image when it is not the converted one: the calibrated group
        averaged in frequency (``calibration.average_max_smearing``); removed with the group's
        MS unless ``stream.keep_ms``.
    average_factor : int
        Channels averaged into one before imaging (1: none).
    supersedes : str or None
        ``data_id`` of the uncalibrated image this group's new image replaces.
    timings : dict
        Seconds per step (``flag``, ``solve``, ``apply``).
    flag_summary : object or None
        The flagging summary (``FlagSummary``).
    """

    status: str
    caltable: Any = None
    solved: Any = None
    reason: str | None = None
    data_column: str | None = None
    supersedes: str | None = None
    timings: dict = field(default_factory=dict)
    flag_summary: Any = None
    image_ms: Path | None = None
    average_factor: int = 1

    def image_name(self, name: str) -> str:
        """Image prefix: a re-calibration gets a new name so the old product stays."""
        if self.supersedes and self.caltable is not None:
            return f"{name}-recal{self.caltable.id}"
        return name


def _core():
    try:
        from ... import calibration
    except ImportError as exc:
        raise CalibrationError(
            f"the calibration stage (dsa110_contimg.calibration) is not available ({exc})"
        ) from None
    return calibration


class CalibrationStep:
    """The stream's calibration decisions for one :class:`Streamer`.

    Parameters
    ----------
    settings : Settings
        ``calibration`` section and the database.
    output_dir : Path
        The stream's output directory (solutions go under ``caltables/<group>``).
    """

    def __init__(self, settings: Settings, output_dir: Path) -> None:
        self.settings = settings
        self.cfg = settings.calibration
        self.caldir = Path(output_dir) / "caltables"

    # --- before imaging -------------------------------------------------------------------
    def prepare(self, group, ms_path: Path, files: Sequence[str], *, now: float | None = None):
        """Decide and do the calibration of a converted group; return the plan.

        ``waiting`` plans have already put the group in the ``waiting`` state.
        """
        from ...imaging.msinfo import read_ms_info

        if not group_is_raw(files, self.cfg.mode):
            if self.cfg.average_max_smearing <= 0:  # no averaging: nothing to read
                return CalibrationPlan("precalibrated")
            # already calibrated: averaged in frequency (within the smearing budget) as is
            t0 = time.perf_counter()
            image_ms, factor = self._average(ms_path, read_ms_info(ms_path), None)
            timings = {"average": time.perf_counter() - t0} if factor > 1 else {}
            return CalibrationPlan("precalibrated", image_ms=image_ms, average_factor=factor,
                                   timings=timings)

        now = time.time() if now is None else float(now)
        info = read_ms_info(ms_path)
        mid = 0.5 * (info.start_mjd + info.end_mjd)
        supersedes = group.data_id if group.calibration_status == "uncalibrated" else None
        timings: dict[str, float] = {}
        cal = _core()
        solved = None
        match = cal.find_calibrator(info.phase_dec_deg, info.start_mjd, info.end_mjd, self.settings)
        if match is not None:
            # solved before (a group released from waiting, or retried after a crash): reuse
            solved = db.caltable_for_group(group.group_key, settings=self.settings)
            if solved is None:
                solved = self._solve(cal, group, ms_path, match, timings)
        chosen = None
        if solved is not None and solved.status == "valid":
            chosen = solved
        else:
            from .calpolicy import choose_caltable

            chosen = choose_caltable(mid, db.caltables_covering(mid, settings=self.settings))
        if chosen is None:
            # a group released from waiting (its time is up) never waits again
            waited = group.cal_wait_until is not None
            if not waited and self.cfg.wait_seconds > 0 and supersedes is None:
                until = now + self.cfg.wait_seconds
                hms = time.strftime("%H:%M:%S", time.gmtime(until))
                reason = (
                    f"waiting for a calibrator until {hms} UTC: no valid calibration solution "
                    f"within {self.cfg.validity_hours:g} h"
                )
                db.set_group_waiting(group.id, until, reason=reason, settings=self.settings)
                log.info("group %s: %s", group.group_key, reason)
                return CalibrationPlan("waiting", solved=solved, reason=reason, timings=timings)
        if "flag" not in timings:  # not flagged by the calibrator recipe just now
            t0 = time.perf_counter()
            mask = None
            if chosen is not None and chosen.channel_mask_path:
                try:
                    mask = np.load(chosen.channel_mask_path)
                except OSError as exc:
                    log.warning("channel mask of solution %d unreadable: %s", chosen.id, exc)
            summary = cal.flag_science_ms(ms_path, self.settings, channel_mask=mask)
            timings["flag"] = time.perf_counter() - t0
        else:
            summary = None  # the calibrator group was flagged by the full recipe
        if chosen is None:
            reason = (
                f"uncalibrated: no valid calibration solution within {self.cfg.validity_hours:g} h"
                " of the group"
            )
            log.warning(
                "group %s: %s; it is imaged from uncalibrated data and imaged again when a valid "
                "solution covering it is registered (the next calibrator transit)",
                group.group_key,
                reason,
            )
            return CalibrationPlan(
                "uncalibrated", solved=solved, reason=reason, timings=timings, flag_summary=summary
            )
        t0 = time.perf_counter()
        # calibrate and average in one pass: no full-resolution CORRECTED_DATA written
        image_ms, factor = self._average(ms_path, info, chosen.tables)
        data_column = None
        if image_ms is None:
            cal.apply_calibration(ms_path, chosen.tables, self.settings)
            data_column = "CORRECTED_DATA"
        timings["apply"] = time.perf_counter() - t0
        log.info(
            "group %s calibrated with solution %d (%s, transit MJD %.4f)%s",
            group.group_key,
            chosen.id,
            chosen.calibrator,
            chosen.transit_mjd,
            f", averaged {factor} channels into one" if factor > 1 else "",
        )
        return CalibrationPlan(
            "calibrated",
            caltable=chosen,
            solved=solved,
            data_column=data_column,
            supersedes=supersedes,
            timings=timings,
            flag_summary=summary,
            image_ms=image_ms,
            average_factor=factor,
        )

    def _average(self, ms_path: Path, info, tables) -> tuple[Path | None, int]:
        """Average (and calibrate with ``tables``) into ``<ms>.avg<factor>.ms``; (None, 1): no."""
        factor = self.average_factor(info)
        if factor <= 1:
            return None, 1
        from ...calibration.average import average_channels

        out = ms_path.with_name(f"{ms_path.stem}.avg{factor}.ms")
        average_channels(ms_path, out, factor, tables=tables,
                         timeout=self.cfg.casa_timeout_seconds)
        return out, factor

    def average_factor(self, info) -> int:
        """Channels to average before imaging within ``calibration.average_max_smearing``."""
        budget = self.cfg.average_max_smearing
        if budget <= 0 or info.n_spws <= 0:
            return 1
        from ...calibration.average import max_average_factor

        n_chan = len(info.freqs_hz) // info.n_spws
        edge = self.settings.imaging.field_of_view_deg / 2
        return max_average_factor(n_chan, abs(info.channel_width_hz), edge,
                                  info.max_baseline_m, budget)

    def _solve(self, cal, group, ms_path: Path, match, timings: dict):
        """Flag, model and solve a calibrator group; register the set (valid or refused)."""
        workdir = self.caldir / group.group_key
        workdir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        # the model first: the flagging then also searches the residual from the calibrator
        cal.predict_model(ms_path, match, self.settings)
        t1 = time.perf_counter()
        cal.flag_calibrator_ms(ms_path, self.settings)
        t2 = time.perf_counter()
        sol = cal.solve_calibrator(ms_path, match, workdir, self.settings)
        timings["model"] = t1 - t0
        timings["flag"] = t2 - t1
        timings["solve"] = time.perf_counter() - t2
        return self.register_solution(sol, group.group_key, ms_path, workdir)

    def register_solution(self, sol, group_key: str, ms_path: Path, workdir: Path):
        """Judge a solved set against the policy, register it; alert when it is refused.

        Parameters
        ----------
        sol : dsa110_contimg.calibration.CalSolution
            The solution of the calibrator group.
        group_key : str
            The calibrator group.
        ms_path, workdir : Path
            Its Measurement Set and the folder of its tables (the channel mask goes there).

        Returns
        -------
        CalTableRecord
            The registered set, ``valid`` or ``refused``. A refused set sends a
            ``calibration_refused`` alert (:func:`~dsa110_contimg.alerts.send_alert`): the
            previous valid set stays in use, and a person should look at the transit.
        """
        from .calpolicy import SolutionSummary, refusal_reasons

        tables = {k: Path(v) for k, v in sol.tables.items()}
        mask_path = None
        if sol.channel_mask is not None:
            mask_path = workdir / "channel_mask.npy"
            np.save(mask_path, np.asarray(sol.channel_mask))
        delays, amps = antenna_summary(tables)
        qa = sol.qa
        new = SolutionSummary(
            transit_mjd=sol.transit_mjd,
            snr_median=qa.snr_median,
            flagged_fraction=qa.flagged_fraction,
            antennas_flagged=tuple(qa.antennas_flagged),
            n_antennas=qa.n_antennas,
            antenna_delays_ns=delays,
            antenna_gain_amps=amps,
        )
        prev = db.previous_valid_caltable(sol.transit_mjd, settings=self.settings)
        prev_summary = None
        if prev is not None:
            prev_summary = SolutionSummary(
                prev.transit_mjd,
                prev.snr_median,
                prev.flagged_fraction,
                prev.antennas_flagged,
                prev.n_antennas,
                prev.antenna_delays_ns,
                prev.antenna_gain_amps,
            )
        reasons = refusal_reasons(new, prev_summary, self.cfg)
        name = sol.calibrator if isinstance(sol.calibrator, str) else sol.calibrator.name
        rec = db.register_caltable(
            calibrator=name,
            transit_mjd=sol.transit_mjd,
            validity_hours=self.cfg.validity_hours,
            tables=tables,
            status="refused" if reasons else "valid",
            reason="; ".join(reasons) or None,
            snr_median=qa.snr_median,
            flagged_fraction=qa.flagged_fraction,
            antennas_flagged=qa.antennas_flagged,
            n_antennas=qa.n_antennas,
            delay_scatter_ns=qa.delay_scatter_ns,
            antenna_delays_ns=delays,
            antenna_gain_amps=amps,
            channel_mask_path=mask_path,
            group_key=group_key,
            ms_path=ms_path,
            settings=self.settings,
        )
        if rec.status == "valid":
            db.groups_to_recalibrate(rec, group_mid_mjd=group_mid_mjd, settings=self.settings)
        else:
            from ...alerts import send_alert

            send_alert(
                "calibration_refused",
                f"calibration solution {rec.id} of {name} (transit MJD {rec.transit_mjd:.4f}, "
                f"group {group_key}) refused: {rec.reason}; groups keep using the previous "
                "valid solution (or wait, then go uncalibrated)",
                {"id": rec.id, "calibrator": name, "transit_mjd": rec.transit_mjd,
                 "group_key": group_key, "reason": rec.reason, "snr_median": rec.snr_median,
                 "flagged_fraction": rec.flagged_fraction,
                 "antennas_flagged": list(rec.antennas_flagged)},  # fmt: skip
                settings=self.settings,
            )
        return rec

    # --- after imaging --------------------------------------------------------------------
    def astrometry_sources(self, image_path: Path, catalog: str) -> list[dict] | None:
        """Catalog sources on an image for the astrometric QA (None: catalog not available)."""
        from ...errors import ContimgError
        from ...photometry.helpers import query_sources_for_fits

        try:
            return query_sources_for_fits(image_path, catalog, settings=self.settings)
        except ContimgError as exc:
            log.info("astrometric QA skipped for %s: %s", Path(image_path).name, exc)
            return None

    def adjust_qa(self, qa, plan: CalibrationPlan):
        """Fail the QA of an ``uncalibrated`` image with the reason (kept with the others)."""
        if plan.status != "uncalibrated":
            return qa
        reason = "; ".join(r for r in (plan.reason, qa.reason) if r)
        return dataclasses.replace(qa, status="failed", reason=reason)

    def record(self, group, data_id: str, plan: CalibrationPlan, image_paths) -> None:
        """Record the calibration of a registered image: DB, FITS header, supersession."""
        s = self.settings
        write_calibration_header(image_paths, plan.status, plan.caltable)
        cid = plan.caltable.id if plan.caltable is not None else None
        db.set_image_calibration(data_id, plan.status, cid, settings=s)
        if plan.supersedes and plan.supersedes != data_id:
            db.supersede_product(plan.supersedes, data_id, settings=s)
        from . import queue

        queue.update_group(group.id, calibration_status=plan.status, caltable_id=cid, settings=s)

    def release(self, *, now: float | None = None) -> list[tuple[int, str]]:
        """Send waiting groups back to the queue (a calibrator arrived, or they waited enough)."""
        if self.cfg.mode == "off":
            return []
        out = db.release_waiting_groups(
            group_mid_mjd=group_mid_mjd, settings=self.settings, now=now
        )
        for gid, why in out:
            log.info("waiting group %d released (%s)", gid, why)
        return out
