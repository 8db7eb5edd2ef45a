"""The streaming converter: watch, queue, convert, image, QA, register, trigger photometry.

:class:`Streamer` owns the watcher of one input directory. Each pass of its loop records the
new, settled subband files (each checked first: a truncated, non-HDF5 or foreign file fails its
group with the reason), fails or releases groups that waited too long for subbands, and then
processes pending groups one at a time: UVH5 -> Measurement Set -> WSClean image -> primary-beam
products -> ``register_image`` -> QA into the registry -> ``trigger_photometry_for_image``. An
error in one group (any :class:`~dsa110_contimg.errors.ContimgError`, or an unexpected
exception, logged with its traceback) fails that group and the loop goes on.

:func:`run_stream` is the function behind ``contimg stream``; bounded modes (``once``,
``max_groups``) serve tests, benchmarks and the demo.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import Settings, resolve_settings
from ...errors import ConfigError, ContimgError, StreamError
from . import queue
from .files import check_uvh5_file, parse_subband_name
from .watcher import DirectoryWatcher

__all__ = ["GroupOutcome", "StreamOptions", "Streamer", "check_normalize_available", "run_stream"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StreamOptions:
    """What the stream does after imaging.

    Attributes
    ----------
    enable_photometry : bool
        Create a batch photometry job for every registered image.
    photometry_catalog : str
        Catalog whose sources are measured.
    photometry_radius_deg : float or None
        Search radius around the image centre (None: the whole footprint).
    photometry_normalize : bool
        Normalize the measurements (needs the normalization stage).
    photometry_max_sources : int or None
        At most this many (brightest) sources per image.
    enable_mosaic : bool
        Poll the mosaic orchestrator after each completed group.
    warn_no_worker : bool
        Warn when photometry jobs wait and no worker is alive (``contimg stream`` alone).
    """

    enable_photometry: bool = False
    photometry_catalog: str = "nvss"
    photometry_radius_deg: float | None = None
    photometry_normalize: bool = False
    photometry_max_sources: int | None = None
    enable_mosaic: bool = False
    warn_no_worker: bool = True

    def photometry_config(self) -> dict[str, Any]:
        """Return the options as the mosaic orchestrator's ``photometry_config``."""
        return {
            "catalog": self.photometry_catalog,
            "radius_deg": self.photometry_radius_deg,
            "normalize": self.photometry_normalize,
            "max_sources": self.photometry_max_sources,
        }


@dataclass(frozen=True)
class GroupOutcome:
    """The result of processing one group.

    Attributes
    ----------
    group_id : int
    group_key : str
    status : {"completed", "failed", "waiting"}
    error : str or None
    data_id : str or None
        Registry id of the image.
    image_path : Path or None
        The registered primary-beam-corrected image.
    job_id : int or None
        Photometry job.
    qa_status : str or None
    timings : dict
        Seconds per stage (``wait``, ``read``, ``convert``, ``image``, ``beam``, ``db``,
        ``photometry``, ``total``).
    """

    group_id: int
    group_key: str
    status: str
    error: str | None = None
    data_id: str | None = None
    image_path: Path | None = None
    job_id: int | None = None
    qa_status: str | None = None
    timings: dict = field(default_factory=dict)
    calibration_status: str | None = None


def check_normalize_available() -> None:
    """Refuse ``normalize=True`` when the normalization stage is not installed.

    Raises
    ------
    ConfigError
        Normalization (``dsa110_contimg.variability.pipeline.on_photometry_written``) is missing.
    """
    try:
        from ...variability.pipeline import on_photometry_written  # noqa: F401
    except ImportError as exc:  # a broken installation: say what failed to import
        raise ConfigError(
            "--photometry-normalize needs the normalization stage "
            f"(dsa110_contimg.variability.pipeline), which failed to import: {exc}"
        ) from exc


class Streamer:
    """Stream one input directory into images in ``output_dir``.

    Parameters
    ----------
    input_dir : str or Path
        Where the telescope writes ``<timestamp>_sbNN.hdf5``.
    output_dir : str or Path
        Where Measurement Sets (``ms/``) and images (``images/``) go.
    options : StreamOptions, optional
        Photometry and mosaic options.
    settings : Settings, optional
        Settings (``stream``, ``imaging``, the database).
    """

    def __init__(
        self,
        input_dir: str | Path,
        output_dir: str | Path,
        *,
        options: StreamOptions | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.settings = resolve_settings(settings)
        self.options = options if options is not None else StreamOptions()
        self.input_dir = Path(input_dir).resolve()
        if not self.input_dir.is_dir():
            raise ConfigError("input directory does not exist", path=self.input_dir)
        self.output_dir = Path(output_dir).resolve()
        (self.output_dir / "images").mkdir(parents=True, exist_ok=True)
        (self.output_dir / "ms").mkdir(parents=True, exist_ok=True)
        if self.options.photometry_normalize and self.options.enable_photometry:
            check_normalize_available()
        self._known: set[str] | None = None
        self._watcher: DirectoryWatcher | None = None
        self._orchestrator = None
        self._last_worker_check = 0.0
        from .calibration import CalibrationStep

        self.calibration = CalibrationStep(self.settings, self.output_dir)

    # --- intake ---------------------------------------------------------------------------
    def ingest(self) -> int:
        """Record the new settled files; return how many were recorded."""
        cfg = self.settings.stream
        if self._known is None:
            self._known = queue.known_paths(self.input_dir, settings=self.settings)
        if self._watcher is None:
            self._watcher = DirectoryWatcher(
                self.input_dir,
                pattern=cfg.file_pattern,
                settle_seconds=cfg.file_settle_seconds,
                use_watchdog=False,
            )
        n = 0
        for path in self._watcher.ready_files(self._known):
            self._known.add(str(path))
            name = parse_subband_name(path)
            if name is None:
                log.warning("ignoring %s: not named <timestamp>_sbNN.hdf5", path)
                continue
            error = None
            if name.subband >= cfg.n_subbands:
                error = f"subband {name.subband} outside 0..{cfg.n_subbands - 1}"
            else:
                try:
                    check_uvh5_file(path)
                except StreamError as exc:
                    error = exc.message
                    log.error("%s", exc)
            status, _ = queue.record_file(
                path, name, input_dir=self.input_dir, error=error, settings=self.settings
            )
            n += status != "known"
        return n

    # --- one group ------------------------------------------------------------------------
    def process_group(self, group: queue.GroupRecord) -> GroupOutcome:
        """Convert, image, register, QA and trigger photometry for one claimed group."""
        from ...imaging.qa import assess_image, record_qa
        from ...imaging.wsclean import image_ms
        from ..uvh5_to_ms import convert_group

        s = self.settings
        t_start = time.perf_counter()
        timings: dict[str, float] = {
            "wait": max(0.0, (group.started_at or time.time()) - group.first_seen_at)
        }
        files = [p for _, p in queue.group_files(group.id, settings=s)]
        name = group.group_key
        ms_path = self.output_dir / "ms" / f"{name}.ms"
        conv = convert_group(files, ms_path)
        timings["read"] = conv.read_seconds
        timings["convert"] = conv.convert_seconds
        queue.update_group(group.id, ms_path=str(ms_path), settings=s)
        cal = self.calibration.prepare(group, ms_path, files)  # flag, solve, apply; or wait
        timings.update({f"cal_{k}": v for k, v in cal.timings.items()})
        if cal.status == "waiting":
            if not s.stream.keep_ms:
                shutil.rmtree(ms_path, ignore_errors=True)
            return GroupOutcome(group.id, name, "waiting", cal.reason, timings=timings)
        img = image_ms(
            cal.image_ms or ms_path,
            self.output_dir / "images" / cal.image_name(name),
            settings=s,
            data_column=cal.data_column,
        )
        timings["image"] = img.wsclean_seconds
        timings["beam"] = img.beam_seconds
        t0 = time.perf_counter()
        qa = assess_image(
            img.image_path,
            info=img.info,
            residual_path=img.residual_path,
            config=s.imaging,
            sources=self.calibration.astrometry_sources(
                img.image_path, self.options.photometry_catalog
            ),
            astrometry=s.calibration,
        )
        qa = self.calibration.adjust_qa(qa, cal)
        timings["qa"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        from ...database import register_image

        params = dict(img.params, stream_group=name, n_subbands=conv.n_files)
        if cal.average_factor > 1:
            params["average_factor"] = cal.average_factor
        data_id = register_image(
            img.pb_image_path, beam_path=img.beam_path, imaging_params=params, settings=s
        )
        record_qa(data_id, qa, settings=s)
        self.calibration.record(group, data_id, cal, (img.pb_image_path, img.image_path))
        queue.update_group(
            group.id,
            image_path=str(img.pb_image_path),
            data_id=data_id,
            qa_status=qa.status,
            settings=s,
        )
        timings["db"] = time.perf_counter() - t0
        if not s.stream.keep_ms:
            shutil.rmtree(ms_path, ignore_errors=True)
            if cal.image_ms is not None:
                shutil.rmtree(cal.image_ms, ignore_errors=True)
        job_id = None
        note = group.error  # e.g. processed without some subbands
        if self.options.enable_photometry:
            t0 = time.perf_counter()
            try:
                from .trigger import trigger_photometry_for_image

                o = self.options
                job_id = trigger_photometry_for_image(
                    img.pb_image_path,
                    group.id,
                    s,
                    normalize=o.photometry_normalize,
                    catalog=o.photometry_catalog,
                    radius_deg=o.photometry_radius_deg,
                    max_sources=o.photometry_max_sources,
                    data_id=data_id,
                )
            except (ContimgError, ImportError) as exc:
                # the image is registered either way: record why it has no photometry job
                note = f"photometry not triggered: {exc}"
                log.error("group %s: %s", name, note)
            timings["photometry"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        queue.finish_group(
            group.id,
            status="completed",
            error=note,
            timings=timings,
            settings=s,
            photometry_job_id=job_id,
        )
        log.info(
            "group %s completed: %s (QA %s, job %s) in %.1f s",
            name,
            img.pb_image_path.name,
            qa.status,
            job_id,
            timings["total"],
        )
        return GroupOutcome(
            group.id,
            name,
            "completed",
            note,
            data_id,
            img.pb_image_path,
            job_id,
            qa.status,
            timings,
            cal.status,
        )

    def _run_group(self, group: queue.GroupRecord) -> GroupOutcome:
        t0 = time.perf_counter()
        try:
            outcome = self.process_group(group)
        except ContimgError as exc:
            error = str(exc)
            log.error("group %s failed: %s", group.group_key, error)
        except Exception as exc:  # noqa: BLE001 - no error may stop the stream; logged with traceback
            error = f"unexpected {type(exc).__name__}: {exc}"
            log.exception("group %s failed unexpectedly", group.group_key)
        else:
            if outcome.status == "completed":
                self._after_group(outcome)
            return outcome
        timings = {"total": time.perf_counter() - t0}
        queue.finish_group(
            group.id, status="failed", error=error, timings=timings, settings=self.settings
        )
        return GroupOutcome(group.id, group.group_key, "failed", error, timings=timings)

    def _after_group(self, outcome: GroupOutcome) -> None:
        if not self.options.enable_mosaic:
            return
        orch = self._mosaic()
        if orch is None:
            return
        try:
            built = orch.poll()
            if built:
                log.info("mosaic groups built: %s", built)
        except ContimgError as exc:
            log.error("mosaic orchestrator: %s", exc)

    def _mosaic(self):
        if self._orchestrator is None:
            try:
                from ...mosaic import MosaicOrchestrator
            except ImportError:
                log.info("mosaic orchestrator not available: --enable-mosaic skipped")
                self._orchestrator = False
                return None
            self._orchestrator = MosaicOrchestrator(
                self.settings,
                enable_photometry=self.options.enable_photometry,
                photometry_config=self.options.photometry_config(),
            )
        return self._orchestrator or None

    def _warn_if_no_worker(self) -> None:
        if not (self.options.enable_photometry and self.options.warn_no_worker):
            return
        now = time.time()
        if now - self._last_worker_check < 60.0:
            return
        self._last_worker_check = now
        try:
            from ...jobs.records import alive_workers, count_waiting_items
        except ImportError:
            return
        waiting = count_waiting_items(settings=self.settings)
        if waiting and not alive_workers(settings=self.settings):
            log.warning(
                "%d photometry items wait and no worker is alive: start 'contimg worker' "
                "(or use 'contimg run')",
                waiting,
            )

    # --- the loop -------------------------------------------------------------------------
    def step(
        self, *, max_groups: int | None = None, stop_event: threading.Event | None = None
    ) -> list[GroupOutcome]:
        """One pass: ingest, time-outs, then pending groups (at most ``max_groups``)."""
        self.ingest()
        queue.check_timeouts(settings=self.settings)
        out = []
        while max_groups is None or len(out) < max_groups:
            if stop_event is not None and stop_event.is_set():
                break
            self.calibration.release()  # groups waiting for a calibrator
            group = queue.claim_next_group(settings=self.settings)
            if group is None:
                break
            out.append(self._run_group(group))
            self.ingest()  # files that arrived meanwhile
        self._warn_if_no_worker()
        return out

    def run(
        self,
        *,
        once: bool = False,
        max_groups: int | None = None,
        stop_event: threading.Event | None = None,
    ) -> list[GroupOutcome]:
        """Run the loop.

        Parameters
        ----------
        once : bool
            One pass over what is in the directory, then return.
        max_groups : int, optional
            Return after processing this many groups.
        stop_event : threading.Event, optional
            Set it to stop (after the group in progress).

        Returns
        -------
        list of GroupOutcome
            The groups processed by this call, and those that failed without being processed
            (a bad file, a time-out waiting for subbands): ``max_groups`` counts both, so a
            bounded run ends even when every group fails its file check.
        """
        run_start = time.time()
        queue.recover_running(settings=self.settings)
        cfg = self.settings.stream
        stop_event = stop_event if stop_event is not None else threading.Event()
        events = None
        if not once:
            events = DirectoryWatcher(
                self.input_dir, pattern=cfg.file_pattern, use_watchdog=cfg.use_watchdog
            )
            log.info(
                "streaming %s -> %s (%s)",
                self.input_dir,
                self.output_dir,
                "watchdog + polling" if events.using_watchdog else "polling",
            )
        done: list[GroupOutcome] = []
        stall_state: dict[str, bool] = {}
        if once:  # files that just landed: wait until what is there has settled (issue 15)
            self.wait_until_settled(stop_event)
        try:
            while not stop_event.is_set():
                left = None if max_groups is None else max_groups - len(done)
                if self._paused_for_disk():  # issue 15: disk watermark, no group failed
                    if once:
                        break
                    events.wait(cfg.poll_interval_seconds)
                    continue
                done += self.step(max_groups=left, stop_event=stop_event)
                done += self._failed_unprocessed(run_start, done)
                self._check_stall(stall_state)  # issue 15: alert on a stalled stream
                if once or (max_groups is not None and len(done) >= max_groups):
                    break
                events.wait(cfg.poll_interval_seconds)
        finally:
            if events is not None:
                events.close()
        return done

    def _failed_unprocessed(self, since: float, done: list[GroupOutcome]) -> list[GroupOutcome]:
        """Return groups failed at intake or by time-out since ``since``, not in ``done``."""
        seen = {o.group_id for o in done}
        return [
            GroupOutcome(g.id, g.group_key, "failed", g.error)
            for g in queue.failed_since(
                self.input_dir, since, exclude=seen, settings=self.settings
            )
        ]

    def _paused_for_disk(self) -> bool:
        from .retention import disk_low

        reason = disk_low(self.output_dir, self.settings, getattr(self, "free_bytes", None))
        if reason != getattr(self, "paused", None):
            (log.warning if reason else log.info)(reason or "disk space back: stream resumed")
        self.paused = reason
        return reason is not None

    def _check_stall(self, state: dict[str, bool]) -> None:
        cfg = self.settings.alerts
        if cfg.webhook_url or cfg.smtp_host:
            from ...alerts import check_stream_stall

            check_stream_stall(queue.stream_status(self.settings), state=state,
                               settings=self.settings)  # fmt: skip

    def wait_until_settled(self, stop_event: threading.Event | None = None) -> None:
        """Wait until the new files in the input directory have settled (``--once``).

        Without this a ``--once`` pass right after files land would ingest nothing and leave
        their group ``collecting``. Files still growing keep the wait going, for at most
        ``group_timeout_seconds``.
        """
        cfg = self.settings.stream
        stop_event = stop_event if stop_event is not None else threading.Event()
        known = queue.known_paths(self.input_dir, settings=self.settings)
        watcher = DirectoryWatcher(
            self.input_dir, pattern=cfg.file_pattern, settle_seconds=cfg.file_settle_seconds,
            use_watchdog=False,
        )  # fmt: skip
        end = time.monotonic() + cfg.group_timeout_seconds
        try:
            while not stop_event.is_set() and time.monotonic() < end:
                wait = watcher.seconds_until_settled(known)
                if wait <= 0:
                    return
                log.info("waiting %.1f s for files still being written to settle", wait)
                stop_event.wait(min(wait + 0.05, max(0.0, end - time.monotonic())))
        finally:
            watcher.close()

    def close(self) -> None:
        """Release the watcher."""
        if self._watcher is not None:
            self._watcher.close()


def run_stream(
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    options: StreamOptions | None = None,
    settings: Settings | None = None,
    max_groups: int | None = None,
    once: bool = False,
    stop_event: threading.Event | None = None,
) -> list[GroupOutcome]:
    """Stream a directory (the function behind ``contimg stream``).

    Parameters
    ----------
    input_dir, output_dir : str or Path
        Subband files in; Measurement Sets and images out.
    options : StreamOptions, optional
        Photometry and mosaic options.
    settings : Settings, optional
        Settings.
    max_groups : int, optional
        Stop after this many groups.
    once : bool
        One pass over what is there, then stop.
    stop_event : threading.Event, optional
        Set to stop.

    Returns
    -------
    list of GroupOutcome
    """
    streamer = Streamer(input_dir, output_dir, options=options, settings=settings)
    try:
        return streamer.run(once=once, max_groups=max_groups, stop_event=stop_event)
    finally:
        streamer.close()
