"""Keeping the photometry rows in light-curve order (``contimg db cluster``).

New rows are appended per image (what the normalization reads right after they are written);
light curves read per source. On PostgreSQL ``CLUSTER`` rewrites ``photometry_rows`` in
``(source_key, image_key)`` order, so a light curve of ~800 points reads ~13 pages instead of
one per point (docs/architecture.md, "Photometry storage"). Source keys are handed out as
sources are first seen, i.e. by declination strip: clustering by source key is clustering by
strip, then source. It takes an exclusive lock on the table (3.5 s per 10^6 rows measured):
run it in a quiet hour, e.g. when the telescope leaves a strip.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

__all__ = ["cluster_photometry"]


def cluster_photometry(engine: Engine) -> bool:
    """Rewrite the photometry rows in (source, image) order; False where there is nothing to do.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.

    Returns
    -------
    bool
        True when the rows were rewritten (PostgreSQL); False on SQLite, whose rows stay in id
        order (a light curve there is read through the unique ``(source_key, image_key)``
        index, one page per point beyond the cache).
    """
    if engine.dialect.name == "sqlite":
        return False
    with engine.begin() as conn:
        conn.execute(text("CLUSTER photometry_rows USING uq_photometry_rows_source_key_image_key"))
        conn.execute(text("ANALYZE photometry_rows"))
    return True
