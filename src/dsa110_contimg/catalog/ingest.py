"""Ingest a catalog file: read it (one reader per format), then store it atomically."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from ..config import Settings, resolve_settings
from .readers import read_catalog
from .store import CatalogInfo, ProgressCallback, ingest_table

__all__ = ["file_sha256", "ingest_catalog"]

log = logging.getLogger(__name__)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def ingest_catalog(
    name: str,
    path: str | Path,
    *,
    format: str | None = None,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
) -> CatalogInfo:
    """Read a published catalog file and store it as catalog ``name`` (replacing it).

    Parameters
    ----------
    name : str
        Catalog name in the store (``nvss``, ``first``, ``vlass``, ``racs`` ...).
    path : str or Path
        The file (see :mod:`dsa110_contimg.catalog.readers` for the formats).
    format : str, optional
        Force a reader instead of detecting it.
    settings : Settings, optional
        Names the database.
    progress : callable, optional
        ``progress(rows_written, total_rows)`` during the load.

    Returns
    -------
    CatalogInfo
        File name, checksum, rows stored and skipped (by reason), format, date.

    Raises
    ------
    CatalogError
        Unreadable file or malformed row (naming file and line); nothing is written.
    """
    settings = resolve_settings(settings)
    path = Path(path)
    result = read_catalog(path, format=format)
    info = ingest_table(
        name,
        result.table,
        settings=settings,
        format=result.format,
        file_name=path.name,
        file_sha256=file_sha256(path),
        skipped=result.skipped,
        progress=progress,
    )
    log.info(
        "ingested %s from %s (%s): %d sources, skipped %s",
        name,
        path.name,
        result.format,
        info.row_count,
        result.skipped or "none",
    )
    return info
