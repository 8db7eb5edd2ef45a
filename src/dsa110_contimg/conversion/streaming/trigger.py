"""Automatic photometry of a new image: a thin wrapper over the one shared trigger."""

from __future__ import annotations

import logging
from pathlib import Path

from ...config import Settings, resolve_settings

__all__ = ["trigger_photometry_for_image"]

log = logging.getLogger(__name__)


def trigger_photometry_for_image(
    image_path: str | Path,
    group_id: int | str | None,
    settings: Settings | None = None,
    *,
    normalize: bool = False,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    max_sources: int | None = None,
    data_id: str | None = None,
) -> int | None:
    """Create the batch photometry job of a freshly imaged group.

    Queries the catalog sources on the image (``radius_deg=None``: the whole footprint),
    creates the batch job with the image's ``data_id`` and links it in the registry, through
    :func:`dsa110_contimg.jobs.trigger.trigger_photometry` (the trigger the mosaic
    orchestrator uses too); the job id is also recorded on the stream group.

    Parameters
    ----------
    image_path : str or Path
        The registered primary-beam-corrected image.
    group_id : int or str or None
        The stream group (id or key) the image came from.
    settings : Settings, optional
        Settings naming the database.
    normalize, catalog, radius_deg, max_sources, data_id
        Passed to the shared trigger.

    Returns
    -------
    int or None
        The job id, or None when no catalog source falls on the image.
    """
    from ...jobs.trigger import trigger_photometry

    settings = resolve_settings(settings)
    job_id = trigger_photometry(
        str(image_path),
        data_id=data_id,
        catalog=catalog,
        radius_deg=radius_deg,
        max_sources=max_sources,
        normalize=normalize,
        settings=settings,
    )
    if group_id is not None and job_id is not None:
        from .queue import get_group, update_group

        g = get_group(group_id, settings=settings)
        if g is not None:
            update_group(g.id, photometry_job_id=int(job_id), settings=settings)
    if job_id is not None:  # none: the trigger said why (no catalog source on the image)
        log.info("photometry job %s for %s (group %s)", job_id, Path(image_path).name, group_id)
    return job_id
