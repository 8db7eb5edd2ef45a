"""``contimg run``: the streamer, a photometry worker and the mosaic orchestrator, supervised.

Unbounded, the three run on threads of one process until SIGINT/SIGTERM (or ``stop_event``):
a thread that dies of an unexpected error is logged and restarted after a pause. Bounded
(``once`` / ``max_groups``), they run one after the other so that the result is deterministic:
stream the groups, drain the photometry queue, build the mosaics that are due, drain again.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ...config import Settings, resolve_settings
from .streamer import GroupOutcome, Streamer, StreamOptions

__all__ = ["PipelineResult", "run_pipeline"]

log = logging.getLogger(__name__)


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` did.

    Attributes
    ----------
    groups : list of GroupOutcome
        Groups processed by the streamer.
    photometry_items : int
        Photometry items the worker completed.
    mosaic_groups : list of int
        Mosaic groups built.
    """

    groups: list[GroupOutcome] = field(default_factory=list)
    photometry_items: int = 0
    mosaic_groups: list[int] = field(default_factory=list)


def _orchestrator(settings: Settings, options: StreamOptions):
    try:
        from ...mosaic import MosaicOrchestrator
    except ImportError:
        log.info("mosaic orchestrator not available: running without mosaics")
        return None
    return MosaicOrchestrator(
        settings,
        enable_photometry=options.enable_photometry,
        photometry_config=options.photometry_config(),
    )


def _supervised(
    name: str, target: Callable[[], object], stop: threading.Event, restart_seconds: float = 5.0
) -> threading.Thread:
    def loop() -> None:
        while not stop.is_set():
            try:
                target()
                return
            except Exception:  # noqa: BLE001 - the supervisor logs and restarts its thread
                log.exception(
                    "%s stopped with an error; restarting in %.0f s", name, restart_seconds
                )
                stop.wait(restart_seconds)

    t = threading.Thread(target=loop, name=name, daemon=True)
    t.start()
    return t


def run_pipeline(
    input_dir: str | Path,
    output_dir: str | Path,
    *,
    options: StreamOptions | None = None,
    settings: Settings | None = None,
    once: bool = False,
    max_groups: int | None = None,
    enable_mosaic: bool = True,
    worker_concurrency: int = 1,
    stop_event: threading.Event | None = None,
    handle_signals: bool = True,
) -> PipelineResult:
    """Run the main job: stream + photometry worker + mosaic orchestrator.

    Parameters
    ----------
    input_dir, output_dir : str or Path
        Subband files in; Measurement Sets, images and mosaics out.
    options : StreamOptions, optional
        Photometry options (default: photometry on, normalized).
    settings : Settings, optional
        Settings.
    once, max_groups
        Bounded mode: stream what is there (or this many groups), drain the photometry queue,
        build due mosaics, drain again, return.
    enable_mosaic : bool
        Run the mosaic orchestrator (skipped with a log line if the stage is unavailable).
    worker_concurrency : int
        Items the worker measures at once.
    stop_event : threading.Event, optional
        Set to stop (unbounded mode).
    handle_signals : bool
        In the main thread, SIGINT/SIGTERM set ``stop_event`` (restored on return).

    Returns
    -------
    PipelineResult
    """
    from ...jobs import Worker

    settings = resolve_settings(settings)
    options = (
        options
        if options is not None
        else StreamOptions(enable_photometry=True, photometry_normalize=True)
    )
    options = StreamOptions(**{**options.__dict__, "enable_mosaic": False, "warn_no_worker": False})
    streamer = Streamer(input_dir, output_dir, options=options, settings=settings)
    orchestrator = _orchestrator(settings, options) if enable_mosaic else None
    result = PipelineResult()
    bounded = once or max_groups is not None
    stop = stop_event if stop_event is not None else threading.Event()

    if bounded:
        try:
            result.groups = streamer.run(once=once, max_groups=max_groups, stop_event=stop)
        finally:
            streamer.close()
        worker = Worker(settings, concurrency=worker_concurrency)
        result.photometry_items += worker.run(once=True).completed
        if orchestrator is not None and not stop.is_set():
            result.mosaic_groups = orchestrator.run(once=True)
            if result.mosaic_groups:
                result.photometry_items += (
                    Worker(settings, concurrency=worker_concurrency).run(once=True).completed
                )
        return result

    previous = {}
    if handle_signals and threading.current_thread() is threading.main_thread():

        def _on_signal(signum, _frame) -> None:  # noqa: ANN001
            log.info("signal %d: stopping after the work in progress (again to force)", signum)
            stop.set()
            for sig, handler in previous.items():  # a second Ctrl-C interrupts at once
                signal.signal(sig, handler)

        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _on_signal)
    worker = Worker(settings, concurrency=worker_concurrency)
    threads = []
    try:

        def stream_target() -> None:
            result.groups.extend(streamer.run(stop_event=stop))

        def worker_target() -> None:
            result.photometry_items += worker.run(once=False).completed

        threads.append(_supervised("stream", stream_target, stop))
        threads.append(_supervised("worker", worker_target, stop))
        if orchestrator is not None:
            threads.append(
                _supervised(
                    "mosaic",
                    lambda: result.mosaic_groups.extend(orchestrator.run(stop_event=stop)),
                    stop,
                )
            )
        log.info(
            "contimg run: stream, worker%s started; Ctrl-C stops",
            " and mosaic orchestrator" if orchestrator is not None else "",
        )
        while not stop.is_set() and any(t.is_alive() for t in threads):
            stop.wait(0.5)
    finally:
        stop.set()
        worker.stop()
        deadline = time.monotonic() + 60.0
        for t in threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))
        streamer.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info(
        "contimg run stopped: %d groups, %d photometry items, %d mosaics",
        len(result.groups),
        result.photometry_items,
        len(result.mosaic_groups),
    )
    return result
