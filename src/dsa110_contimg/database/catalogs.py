"""Storage of the catalog store: bulk loads, cone key-range reads, metadata (migration 0002).

``catalog_sources`` is clustered on ``(catalog, hpx, source_id)``; the HEALPix arithmetic,
validation and the exact angular cut live in :mod:`dsa110_contimg.catalog` (``spatial``,
``store``), which calls these functions. A load is one transaction on the raw driver
connection (``executemany`` on SQLite with the secondary index rebuilt once, binary ``COPY``
on PostgreSQL): readers see the old catalog or the new one, never a mixture.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Engine, bindparam, delete, select

from ..errors import CatalogError
from .engine import write_transaction
from .tables.catalog import catalog_meta, catalog_sources, reference_strips

__all__ = [
    "DuplicateIds",
    "catalog_meta_rows",
    "catalog_rows",
    "cone_rows",
    "catalog_build_times",
    "delete_catalog_rows",
    "load_catalog",
    "reference_strip_rows",
    "replace_reference_strips",
    "sources_by_id",
]

_INDEX_NAME = "ix_catalog_sources_catalog_source_id"
_CHUNK_ROWS = 100_000
_META_COLUMNS = (
    "name, format, file_name, file_sha256, row_count, skipped, hpx_nside, ingested_at, columns"
)

#: Progress callback: called with (rows written, total rows).
ProgressCallback = Callable[[int, int], None]


class DuplicateIds(Exception):
    """The unique (catalog, source_id) index refused the load."""


def _is_unique_violation(exc: Exception) -> bool:
    text = str(exc).lower()
    return "unique" in text or "duplicate key" in text


def _is_sqlite(engine: Engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


def load_catalog(
    engine: Engine,
    name: str,
    columns: Sequence[str],
    arrays: Sequence[np.ndarray],
    meta: tuple,
    progress: ProgressCallback | None = None,
) -> None:
    """Replace catalog ``name`` by the rows ``arrays`` (in key order) and its metadata row.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    name : str
        Validated catalog name (written into the statement as a literal).
    columns : sequence of str
        ``catalog_sources`` columns of ``arrays`` (``hpx`` first).
    arrays : sequence of numpy.ndarray
        One array per column, equal lengths.
    meta : tuple
        The ``catalog_meta`` row (``name, format, file_name, file_sha256, row_count, skipped,
        hpx_nside, ingested_at, columns``; JSON as text).
    progress : callable, optional
        Called as ``progress(rows_written, total_rows)``.

    Raises
    ------
    DuplicateIds
        Two rows share a ``source_id`` (nothing is written).
    CatalogError
        Any other failure (nothing is written).
    """
    n = len(arrays[0]) if arrays else 0
    if _is_sqlite(engine):
        # SQLite stores a bound NaN as NULL by itself
        _load_sqlite(engine, name, columns, [a.tolist() for a in arrays], n, meta, progress)
    else:
        _load_postgres(engine, name, columns, arrays, n, meta, progress)


@contextmanager
def _catalog_load(engine: Engine, name: str) -> Iterator:
    """Yield the driver connection for loading catalog ``name``, closed afterwards.

    Any failure other than a catalog error (:class:`DuplicateIds` included) becomes a
    :class:`CatalogError` naming the catalog; both backends' loads use it.
    """
    raw = engine.raw_connection()
    try:
        yield raw.driver_connection
    except Exception as exc:
        if isinstance(exc, CatalogError | DuplicateIds):
            raise
        raise CatalogError(f"could not store catalog {name!r}: {exc}") from exc
    finally:
        raw.close()


def _load_sqlite(engine, name, columns, data, n, meta, progress) -> None:
    with _catalog_load(engine, name) as conn:
        cur = conn.cursor()
        # a large page cache for the load, so pages are written once at commit
        cur.execute("PRAGMA cache_size = -524288")
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("DELETE FROM catalog_sources WHERE catalog = ?", (name,))
            # Bulk load without the secondary index, rebuilt once afterwards (much faster
            # than maintaining it row by row); all inside the one transaction.
            cur.execute(f"DROP INDEX IF EXISTS {_INDEX_NAME}")
            # the catalog name is a validated literal (see _check_name): one bind less per row
            sql = (
                f"INSERT INTO catalog_sources (catalog, {', '.join(columns)}) "
                f"VALUES ('{name}', {', '.join('?' * len(columns))})"
            )
            done = 0
            for start in range(0, max(n, 1), _CHUNK_ROWS):
                stop = min(start + _CHUNK_ROWS, n)
                if stop <= start:
                    break
                cur.executemany(sql, zip(*(col[start:stop] for col in data), strict=True))
                done = stop
                if progress is not None:
                    progress(done, n)
            cur.execute(
                f"CREATE UNIQUE INDEX {_INDEX_NAME} ON catalog_sources (catalog, source_id)"
            )
            cur.execute("DELETE FROM catalog_meta WHERE name = ?", (name,))
            cur.execute(
                f"INSERT INTO catalog_meta ({_META_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                meta,
            )
            cur.execute("COMMIT")
        except BaseException as exc:
            cur.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError) and _is_unique_violation(exc):
                raise DuplicateIds() from None
            raise
        finally:
            cur.execute("PRAGMA cache_size = -65536")
            cur.close()



def _pg_column(arr: np.ndarray) -> tuple[str, list]:
    """Return a binary-COPY column: its PostgreSQL type and values (NaN -> None: NULL)."""
    kind = arr.dtype.kind
    if kind == "f":
        values = arr.tolist()
        for i in np.flatnonzero(~np.isfinite(arr)).tolist():
            values[i] = None
        return "float8", values
    if kind == "b":
        return "bool", arr.tolist()
    if kind in "iu":
        return "int4", arr.tolist()
    return "text", arr.tolist()



def _load_postgres(engine, name, columns, arrays, n, meta, progress) -> None:
    with _catalog_load(engine, name) as conn:
        try:
            with conn.cursor() as cur:
                cur.execute("DELETE FROM catalog_sources WHERE catalog = %s", (name,))
                sql = (
                    f"COPY catalog_sources (catalog, {', '.join(columns)}) "
                    "FROM STDIN (FORMAT BINARY)"
                )
                with cur.copy(sql) as cp:
                    for start in range(0, n, _CHUNK_ROWS):
                        stop = min(start + _CHUNK_ROWS, n)
                        typed = [_pg_column(a[start:stop]) for a in arrays]
                        types = [t for t, _ in typed]
                        types[0] = "int8"  # hpx is BIGINT; other integers are INTEGER
                        cp.set_types(["text", *types])
                        for row in zip(
                            [name] * (stop - start), *(v for _, v in typed), strict=True
                        ):
                            cp.write_row(row)
                        if progress is not None:
                            progress(stop, n)
                cur.execute("DELETE FROM catalog_meta WHERE name = %s", (name,))
                cur.execute(
                    f"INSERT INTO catalog_meta ({_META_COLUMNS}) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    meta,
                )
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            if _is_unique_violation(exc) and "catalog_sources" in str(exc):
                raise DuplicateIds() from None
            raise
        with conn.cursor() as cur:  # fresh statistics for the planner (outside the load)
            cur.execute("ANALYZE catalog_sources")
        conn.commit()



@functools.lru_cache(maxsize=512)
def _cone_sql(n_ranges: int, min_flux: bool, cols: tuple[str, ...], paramstyle: str) -> str:
    """Return the SQL of a cone over ``n_ranges`` key ranges (pure function, memoized).

    SQLite: one range-scan ``SELECT`` per range glued by ``UNION ALL`` (its planner does not
    turn ORs of ranges into index range scans). PostgreSQL: one statement text whatever the
    number of ranges (the ranges are two arrays, joined with ``unnest``), so it is prepared
    once per connection and each range is an index range scan of the nested loop.
    """
    if paramstyle == "qmark":
        where = "catalog = ? AND hpx BETWEEN ? AND ?"
        if min_flux:
            where += " AND flux_mjy >= ?"
        one = f"SELECT {', '.join(cols)} FROM catalog_sources WHERE {where}"
        return " UNION ALL ".join([one] * n_ranges)
    flux = " AND s.flux_mjy >= %(min_flux)s" if min_flux else ""
    return (
        f"SELECT {', '.join('s.' + c for c in cols)} "
        "FROM unnest(%(lo)s::bigint[], %(hi)s::bigint[]) AS r(lo, hi) "
        "JOIN catalog_sources s ON s.catalog = %(catalog)s AND s.hpx BETWEEN r.lo AND r.hi"
        f"{flux}"
    )



def _present_columns(conn, catalog: str, sqlite: bool) -> list[str]:
    """Return the optional columns recorded for a catalog; raise if it is not ingested."""
    p = "?" if sqlite else "%s"
    cur = conn.cursor()
    try:
        cur.execute(f"SELECT columns FROM catalog_meta WHERE name = {p}", (catalog,))
        row = cur.fetchone()
    finally:
        cur.close()
    if row is None:
        raise CatalogError(
            f"catalog {catalog!r} is not ingested (run 'contimg catalog ingest {catalog} FILE')"
        )
    return json.loads(row[0] or "[]")


def cone_rows(
    engine: Engine,
    catalog: str,
    ranges: Sequence[tuple[int, int]],
    min_flux_mjy: float | None,
    choose_columns: Callable[[list[str]], Sequence[str]],
) -> tuple[tuple[str, ...], list[tuple]]:
    """Read the rows of ``catalog`` in HEALPix key ranges (one connection, raw cursor).

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The database.
    catalog : str
        Catalog name.
    ranges : sequence of (int, int)
        Inclusive ``hpx`` ranges covering the cone.
    min_flux_mjy : float, optional
        Keep rows with ``flux_mjy`` at least this.
    choose_columns : callable
        Given the optional columns the catalog holds, return the columns to read.

    Returns
    -------
    tuple of str, list of tuple
        The columns read and the rows (no angular cut: the caller makes it).

    Raises
    ------
    CatalogError
        The catalog is not ingested.
    """
    sqlite = _is_sqlite(engine)
    params: list | dict
    if sqlite:
        params = []
        for lo, hi in ranges:
            params += [catalog, lo, hi]
            if min_flux_mjy is not None:
                params.append(float(min_flux_mjy))
    else:
        params = {
            "lo": [lo for lo, _ in ranges],
            "hi": [hi for _, hi in ranges],
            "catalog": catalog,
            "min_flux": None if min_flux_mjy is None else float(min_flux_mjy),
        }
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        cols = tuple(choose_columns(_present_columns(conn, catalog, sqlite)))
        sql = _cone_sql(
            len(ranges) if sqlite else 0,
            min_flux_mjy is not None,
            cols,
            "qmark" if sqlite else "pyformat",
        )
        rows: list[tuple] = []
        if ranges:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                rows = cur.fetchall()
            finally:
                cur.close()
    finally:
        raw.close()
    return cols, rows


def catalog_rows(
    engine: Engine, catalog: str, choose_columns: Callable[[list[str]], Sequence[str]]
) -> tuple[list[str], list[tuple]]:
    """Read every row of a catalog (storage order); see :func:`cone_rows`."""
    sqlite = _is_sqlite(engine)
    p = "?" if sqlite else "%s"
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        cols = list(choose_columns(_present_columns(conn, catalog, sqlite)))
        cur = conn.cursor()
        try:
            cur.execute(
                f"SELECT {', '.join(cols)} FROM catalog_sources WHERE catalog = {p}", (catalog,)
            )
            rows = cur.fetchall()
        finally:
            cur.close()
    finally:
        raw.close()
    return cols, rows


def sources_by_id(
    engine: Engine, catalog: str, cols: Sequence[str], source_ids: Sequence[str]
) -> list[tuple]:
    """Read the rows (columns ``cols``) of some sources of a catalog; unknown ids are left out."""
    t = catalog_sources
    rows: list[tuple] = []
    ids = [str(s) for s in source_ids]
    stmt = select(*[t.c[c] for c in cols]).where(
        t.c.catalog == catalog, t.c.source_id.in_(bindparam("ids", expanding=True))
    )
    with engine.connect() as conn:
        for start in range(0, len(ids), 500):
            rows += [tuple(r) for r in conn.execute(stmt, {"ids": ids[start : start + 500]})]
    return rows


def catalog_meta_rows(engine: Engine, name: str | None = None) -> list:
    """Return the ``catalog_meta`` rows (of one catalog, or all by name)."""
    stmt = select(catalog_meta).order_by(catalog_meta.c.name)
    if name is not None:
        stmt = stmt.where(catalog_meta.c.name == name)
    with engine.connect() as conn:
        return conn.execute(stmt).all()


def delete_catalog_rows(engine: Engine, name: str) -> int:
    """Delete a catalog's sources and record in one transaction; return the sources removed."""
    with write_transaction(engine) as conn:
        n = conn.execute(delete(catalog_sources).where(catalog_sources.c.catalog == name)).rowcount
        conn.execute(delete(catalog_meta).where(catalog_meta.c.name == name))
    return int(n or 0)


def meta_row(info_fields: dict) -> tuple:
    """Return the ``catalog_meta`` row of a catalog record's fields (JSON columns as text)."""
    return (
        info_fields["name"],
        info_fields["format"],
        info_fields["file_name"],
        info_fields["file_sha256"],
        info_fields["row_count"],
        json.dumps(info_fields["skipped"], sort_keys=True),
        info_fields["hpx_nside"],
        info_fields["ingested_at"],
        json.dumps(list(info_fields["columns"])),
    )


def replace_reference_strips(engine: Engine, rows: Sequence[dict]) -> None:
    """Replace every ``reference_strips`` row by ``rows``, in one transaction."""
    with write_transaction(engine) as conn:
        conn.execute(delete(reference_strips))
        if rows:
            conn.execute(reference_strips.insert(), list(rows))


def catalog_build_times(engine: Engine) -> dict[str, float]:
    """Return when each stored catalog was ingested (or built), by name."""
    with engine.connect() as conn:
        return dict(conn.execute(select(catalog_meta.c.name, catalog_meta.c.ingested_at)).all())


def reference_strip_rows(engine: Engine) -> list:
    """Return the ``reference_strips`` rows, southernmost first (attribute access by column)."""
    with engine.connect() as conn:
        return conn.execute(select(reference_strips).order_by(reference_strips.c.dec_lo_deg)).all()
