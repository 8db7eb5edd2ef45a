"""The one shared trigger: measure the catalog sources on a new image (stream, mosaics, CLI)."""

from __future__ import annotations

import logging
from pathlib import Path

from ..config import Settings, resolve_settings
from ..database.registry import link_photometry_to_data
from .create import create_batch_photometry_job
from .records import job_items

__all__ = ["trigger_photometry"]

log = logging.getLogger(__name__)

#: An image without catalog sources, explained in the line itself: what it means, what to do.
NO_SOURCES_MESSAGE = (
    "no %s sources on %s: no photometry job created. The catalog store holds no %s source in "
    "this image's field (a field outside the ingested catalog's area, e.g. a calibrator's); "
    "the image stays registered without photometry. To measure it, ingest a catalog that "
    "covers it ('contimg catalog ingest') and run 'contimg images add' on it"
)


def trigger_photometry(
    fits_path: str | Path,
    *,
    data_id: str | None = None,
    catalog: str = "nvss",
    radius_deg: float | None = None,
    max_sources: int | None = None,
    normalize: bool = False,
    settings: Settings | None = None,
) -> int | None:
    """Queue forced photometry of a catalog's sources on one image.

    Queries the sources on the image
    (:func:`~dsa110_contimg.photometry.helpers.query_sources_for_fits`), creates a batch job
    with one item carrying the image's ``data_id`` (registering the image first if needed)
    and links the job in the data registry.

    Parameters
    ----------
    fits_path : str or Path
        The image (or mosaic).
    data_id : str, optional
        Its ``data_id`` (default: the registered one, or the default id when registering).
    catalog : str
        Catalog to measure.
    radius_deg : float, optional
        Search radius around the field centre (None: the whole image footprint).
    max_sources : int, optional
        Brightest sources kept.
    normalize : bool
        Normalize the image after measuring it.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int or None
        The job id, or None (with a warning in the log) when no source lies on the image.

    Raises
    ------
    CatalogError
        The catalog is unknown or not ingested.
    InvalidImageError
        The image cannot be read.
    """
    from ..photometry.helpers import query_sources_for_fits

    settings = resolve_settings(settings)
    sources = query_sources_for_fits(
        fits_path,
        catalog=catalog,
        radius_deg=radius_deg,
        max_sources=max_sources,
        settings=settings,
    )
    if not sources:
        log.warning(NO_SOURCES_MESSAGE, catalog, fits_path, catalog)
        return None
    # registers the image unless it is registered already (then its data_id is reused)
    job_id = create_batch_photometry_job(
        [fits_path], sources, normalize=normalize, data_id=data_id, settings=settings
    )
    data_id = job_items(job_id, settings=settings)[0].data_id
    if data_id is not None:
        link_photometry_to_data(data_id, job_id, settings=settings)
    log.info(
        "photometry job %d queued for %s (%d %s sources)", job_id, data_id, len(sources), catalog
    )
    return job_id
