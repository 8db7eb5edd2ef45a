"""The mosaic orchestrator: groups consecutive registered images, builds, registers, measures.

Each :meth:`MosaicOrchestrator.poll`:

1. reads the registered images (``kind = "image"``) newer than the last formed group, ordered
   by mid time, leaving out ``uncalibrated`` and superseded ones
   (:func:`~dsa110_contimg.database.caltables.science_usable`), and cuts them into groups by
   the rule of :mod:`dsa110_contimg.mosaic.grouping` (N consecutive images, ``overlap``
   shared, broken by time gaps and declination changes),
   recording each in ``mosaic_groups`` (one write transaction, so two orchestrators never form
   the same group);
2. builds every ``pending`` group it can claim: checks the members (registered, file present,
   one declination strip), :func:`~dsa110_contimg.mosaic.build_mosaic` with the noise and beam
   images recorded at registration, :func:`~dsa110_contimg.database.mosaics.register_mosaic`;
   a failure marks that group ``failed`` with the reason and the next group goes on;
3. with photometry enabled, queues the mosaic's forced photometry through the one shared
   trigger (:func:`dsa110_contimg.jobs.trigger.trigger_photometry`) and links the job to the
   registry and the group. The photometry rows carry the mosaic's mid MJD (from the
   ``DATE-OBS``/``DATE-END`` the builder writes).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from ..config import Settings, resolve_settings
from ..database.engine import get_engine, write_transaction
from ..database.mosaics import (
    claim_mosaic_group,
    get_mosaic_group,
    group_carry_candidates,
    group_member_inputs,
    insert_mosaic_group,
    last_mosaic_group,
    list_mosaic_groups,
    lock_group_formation,
    mosaic_candidates,
    register_mosaic,
    update_mosaic_group,
)
from ..errors import ConfigError, ContimgError, MosaicError
from .builder import MosaicResult, build_mosaic
from .grouping import Candidate, cut_groups

__all__ = ["DEFAULT_PHOTOMETRY_CONFIG", "MosaicOrchestrator"]

log = logging.getLogger(__name__)

#: An abandoned mosaic group, explained in the line itself: what it means, what to do.
ABANDONED_MESSAGE = (
    "mosaic group %d: %d images, abandoned (%s): these images stay registered, measured and "
    "in the light curves, they are only not mosaicked (too few consecutive images between "
    "breaks); nothing to do unless it happens within a continuous observation"
)

#: Photometry options of the mosaics (the same as the image trigger's).
DEFAULT_PHOTOMETRY_CONFIG: dict[str, Any] = {
    "catalog": "nvss",
    "radius_deg": None,  # the whole footprint
    "normalize": False,
    "max_sources": None,
}


class MosaicOrchestrator:
    """Form groups of consecutive images and turn them into measured mosaics.

    Parameters
    ----------
    settings : Settings, optional
        Settings (``settings.mosaic`` holds the grouping rule and the output directory).
    enable_photometry : bool
        Queue forced photometry of each new mosaic.
    photometry_config : dict, optional
        Overrides of :data:`DEFAULT_PHOTOMETRY_CONFIG` (``catalog``, ``radius_deg``,
        ``normalize``, ``max_sources``).

    Raises
    ------
    ConfigError
        For an unknown photometry option.

    Examples
    --------
    >>> import tempfile
    >>> from dsa110_contimg.config import Settings
    >>> orch = MosaicOrchestrator(Settings(state_dir=tempfile.mkdtemp()))
    >>> orch.poll()
    []
    """

    def __init__(
        self,
        settings: Settings | None = None,
        enable_photometry: bool = False,
        photometry_config: dict[str, Any] | None = None,
    ) -> None:
        self.settings = resolve_settings(settings)
        self.enable_photometry = bool(enable_photometry)
        config = dict(DEFAULT_PHOTOMETRY_CONFIG)
        unknown = set(photometry_config or {}) - set(config)
        if unknown:
            raise ConfigError(f"unknown mosaic photometry option(s) {sorted(unknown)}; "
                              f"known: {sorted(config)}")
        config.update(photometry_config or {})
        self.photometry_config = config

    # -- paths ---------------------------------------------------------------------------

    @property
    def output_dir(self) -> Path:
        """Where mosaics are written (``mosaic.output_dir`` or ``<state_dir>/mosaics``)."""
        cfg = self.settings.mosaic
        return Path(cfg.output_dir) if cfg.output_dir else Path(self.settings.state_dir) / "mosaics"

    def mosaic_path(self, group_id: int, mjd_first: float | None) -> Path:
        """Output file of a group: ``mosaic_g<id>_<UTC of the first member>.fits``."""
        stamp = "unknown"
        if mjd_first is not None:
            from astropy.time import Time

            stamp = Time(mjd_first, format="mjd", scale="utc").strftime("%Y%m%dT%H%M%S")
        return self.output_dir / f"mosaic_g{group_id:05d}_{stamp}.fits"

    # -- group formation -----------------------------------------------------------------

    def form_groups(self) -> list[int]:
        """Record the groups that the images registered so far complete; return their ids.

        ``abandoned`` groups are recorded too (with their reason) and included.
        """
        cfg = self.settings.mosaic
        engine = get_engine(self.settings)
        with write_transaction(engine) as conn:
            lock_group_formation(conn)
            last = last_mosaic_group(conn)
            carry: list[Candidate] = []
            if last is not None:
                if last["complete"] and last["status"] != "abandoned" and cfg.overlap > 0:
                    rows = group_carry_candidates(conn, last["id"])
                    carry = [Candidate(*r) for r in rows][-cfg.overlap:]
            # uncalibrated and superseded images never enter a mosaic
            after = None if last is None else last["mjd_last"]
            new = [Candidate(*r) for r in mosaic_candidates(conn, after_mjd=after)]
            if not new:
                return []
            groups, _open = cut_groups(
                carry, new, size=cfg.images_per_mosaic, overlap=cfg.overlap,
                max_gap_s=cfg.max_gap_seconds, min_images=cfg.min_images,
                dec_tol=cfg.dec_tolerance_deg,
            )
            ids = []
            for g in groups:
                gid = insert_mosaic_group(
                    conn,
                    members=[(m.data_id, m.mjd_mid) for m in g.members],
                    status=g.status,
                    complete=g.complete,
                    dec_deg=g.members[0].dec_deg,
                    reason=g.reason,
                )
                ids.append(gid)
                if g.status == "abandoned":  # explained where it appears (issue 15)
                    log.warning(ABANDONED_MESSAGE, gid, len(g.members), g.reason)
                else:
                    log.info("mosaic group %d: %d images, %s%s", gid, len(g.members), g.status,
                             f" ({g.reason})" if g.reason else "")
        return ids

    # -- building --------------------------------------------------------------------------

    def _member_inputs(self, group_id: int) -> tuple[list[str], list[Path], list, list]:
        rows = group_member_inputs(get_engine(self.settings), group_id)
        ids, paths, beams, noises = [], [], [], []
        for data_id, path, beam_path, noise in rows:
            if path is None:
                raise MosaicError(f"member {data_id} is no longer registered")
            if not Path(path).is_file():
                raise MosaicError(f"member {data_id}: input image is missing", path=path)
            if beam_path is not None and not Path(beam_path).is_file():
                raise MosaicError(f"member {data_id}: primary-beam image {beam_path} is missing",
                                  path=path)
            ids.append(data_id)
            paths.append(Path(path))
            beams.append(beam_path)
            noises.append(noise)
        return ids, paths, beams, noises

    def build_group(self, group_id: int) -> MosaicResult:
        """Build and register the mosaic of one group (already claimed); return the result.

        Raises
        ------
        MosaicError
            An input is missing, unreadable or on another declination strip.
        """
        group = get_mosaic_group(group_id, settings=self.settings)
        if group is None:
            raise MosaicError(f"no mosaic group {group_id}")
        ids, paths, beams, noises = self._member_inputs(group_id)
        out = self.mosaic_path(group_id, group.mjd_first)
        result = build_mosaic(
            paths, out, settings=self.settings, beam_paths=beams, noise_jy=noises,
            dec_tolerance_deg=self.settings.mosaic.dec_tolerance_deg,
        )
        mosaic_id = register_mosaic(result.path, member_data_ids=ids, settings=self.settings)
        update_mosaic_group(
            group_id, status="built", mosaic_path=result.path.resolve().as_posix(),
            mosaic_data_id=mosaic_id, built_at=time.time(), settings=self.settings,
        )
        log.info("mosaic group %d built: %s (%s)", group_id, result.path, mosaic_id)
        return result

    def _trigger_photometry_for_mosaic(self, mosaic_path: str | Path, group_id: int) -> int | None:
        """Queue forced photometry of a group's mosaic; return the job id or None.

        Uses the one shared trigger (sources on the mosaic's footprint, one job item with the
        mosaic's ``data_id``, linked in the registry), then links the job to the group.
        """
        from ..database.products import get_image, register_image
        from ..jobs.trigger import trigger_photometry

        group = get_mosaic_group(group_id, settings=self.settings)
        data_id = group.mosaic_data_id if group is not None else None
        cfg = self.photometry_config
        job_id = trigger_photometry(
            mosaic_path,
            data_id=data_id,
            catalog=cfg["catalog"],
            radius_deg=cfg["radius_deg"],
            max_sources=cfg["max_sources"],
            normalize=bool(cfg["normalize"]),
            settings=self.settings,
        )
        rec = get_image(data_id or mosaic_path, settings=self.settings)
        if rec is not None and rec.kind != "mosaic":
            # the trigger registers "its" image if needed: keep the product a mosaic
            register_image(mosaic_path, data_id=rec.data_id, kind="mosaic", settings=self.settings)
        if job_id is not None:
            update_mosaic_group(group_id, photometry_job_id=int(job_id), settings=self.settings)
            log.info("mosaic group %d: photometry job %d", group_id, job_id)
        return job_id

    def build_pending(self) -> list[int]:
        """Build every pending group this process can claim; return the ids of those built."""
        built = []
        stale = self.settings.mosaic.stale_build_seconds
        for group in list_mosaic_groups(status=("pending", "building"), settings=self.settings):
            if not claim_mosaic_group(group.id, stale_seconds=stale, settings=self.settings):
                continue
            try:
                result = self.build_group(group.id)
            except ContimgError as exc:
                log.error("mosaic group %d failed: %s", group.id, exc)
                update_mosaic_group(group.id, status="failed", reason=str(exc),
                                    settings=self.settings)
                continue
            built.append(group.id)
            if self.enable_photometry:
                try:
                    self._trigger_photometry_for_mosaic(result.path, group.id)
                except ContimgError as exc:
                    log.error("mosaic group %d: photometry not queued: %s", group.id, exc)
                    update_mosaic_group(group.id, reason=f"photometry not queued: {exc}",
                                        settings=self.settings)
        return built

    def poll(self) -> list[int]:
        """Form new groups and build the pending ones; return the ids of the groups built."""
        self.form_groups()
        return self.build_pending()

    def run(self, once: bool = False, stop_event: threading.Event | None = None) -> list[int]:
        """Poll until ``stop_event`` is set (or once); return the ids of all groups built.

        Parameters
        ----------
        once : bool
            Poll a single time (bounded mode for scripts and tests).
        stop_event : threading.Event, optional
            Set it to stop the loop (between polls).
        """
        stop = stop_event or threading.Event()
        built: list[int] = []
        while True:
            try:
                built.extend(self.poll())
            except ContimgError as exc:  # e.g. the database is briefly unreachable
                log.error("mosaic poll failed: %s", exc)
            if once or stop.wait(self.settings.mosaic.poll_seconds):
                return built
