"""Disk retention: prune what finished stream groups leave behind; the free-space watermark.

Each group leaves a Measurement Set (deleted right after imaging unless ``[stream] keep_ms``)
and several images (~24 MB); only the primary-beam-corrected image is registered and measured.
:func:`prune` removes the rest for groups finished long enough ago; :func:`disk_low` tells the
stream to pause while its output disk is nearly full.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ...config import Settings, resolve_settings
from ...database import get_engine
from ...database.tables.stream import stream_groups

__all__ = ["PruneReport", "disk_low", "prune"]

log = logging.getLogger(__name__)

#: Intermediate images next to ``<prefix>-image-pb.fits`` (which is kept).
INTERMEDIATE_SUFFIXES = ("-image.fits", "-beam.fits", "-residual.fits", "-psf.fits",
                         "-model.fits", "-dirty.fits")  # fmt: skip


@dataclass
class PruneReport:
    """What :func:`prune` removed (or would remove, with ``dry_run``)."""

    paths: list[Path] = field(default_factory=list)
    bytes: int = 0
    groups: int = 0


def _size(p: Path) -> int:
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return p.stat().st_size


def prune(
    *,
    older_than_days: float | None = None,
    intermediate: bool | None = None,
    dry_run: bool = False,
    now: float | None = None,
    settings: Settings | None = None,
) -> PruneReport:
    """Remove Measurement Sets (and intermediate images) of finished stream groups.

    Parameters
    ----------
    older_than_days : float, optional
        Only groups finished at least this long ago (default ``retention.prune_older_than_days``).
    intermediate : bool, optional
        Also intermediate images (default ``retention.prune_intermediate``).
    dry_run : bool
        Report only.
    now : float, optional
        Current Unix time (injected by tests).
    """
    settings = resolve_settings(settings)
    cfg = settings.retention
    days = cfg.prune_older_than_days if older_than_days is None else older_than_days
    inter = cfg.prune_intermediate if intermediate is None else intermediate
    now = time.time() if now is None else now
    with get_engine(settings).connect() as conn:
        rows = conn.execute(
            select(stream_groups.c.ms_path, stream_groups.c.image_path).where(
                stream_groups.c.status == "completed",
                stream_groups.c.finished_at <= now - days * 86400.0,
            )
        ).all()
    report = PruneReport()
    for ms_path, image_path in rows:
        targets: list[Path] = []
        if ms_path:
            ms = Path(ms_path)
            # with the frequency-averaged copy the calibrated group was imaged from
            targets += [ms, *sorted(ms.parent.glob(f"{ms.stem}.avg*.ms"))]
        if inter and image_path and str(image_path).endswith("-image-pb.fits"):
            prefix = str(image_path)[: -len("-image-pb.fits")]
            targets += [Path(prefix + s) for s in INTERMEDIATE_SUFFIXES]
        found = [t for t in targets if t.exists()]
        if not found:
            continue
        report.groups += 1
        for t in found:
            report.bytes += _size(t)
            report.paths.append(t)
            if not dry_run:
                shutil.rmtree(t) if t.is_dir() else t.unlink()
    log.info("%s %d path(s) of %d group(s), %.1f MB", "would remove" if dry_run else "removed",
             len(report.paths), report.groups, report.bytes / 1e6)  # fmt: skip
    return report


def disk_low(
    path: Path,
    settings: Settings | None = None,
    free_bytes: Callable[[Path], int] | None = None,
) -> str | None:
    """Why the stream must pause for disk space (None when there is enough, or no watermark).

    ``free_bytes`` may be injected (tests); default :func:`shutil.disk_usage`.
    """
    settings = resolve_settings(settings)
    limit = settings.retention.min_free_gb * 1e9
    if limit <= 0:
        return None
    probe = path if path.exists() else path.parent
    free = free_bytes(probe) if free_bytes is not None else shutil.disk_usage(probe).free
    if free >= limit:
        return None
    return (f"paused: {free / 1e9:.2f} GB free on {probe}, below the watermark "
            f"retention.min_free_gb = {settings.retention.min_free_gb:g}; run 'contimg prune' "
            "or free space, the stream resumes by itself")  # fmt: skip
