"""The catalog store: atomic bulk ingest and millisecond cone searches, SQLite and PostgreSQL.

Sources live in ``catalog_sources`` (see :mod:`dsa110_contimg.database.tables.catalog`),
clustered on ``(catalog, hpx, source_id)`` where ``hpx`` is the RING HEALPix pixel of
:mod:`~dsa110_contimg.catalog.spatial`. A cone search reads the few key ranges that cover the
cone (one ``SELECT`` per range, glued with ``UNION ALL`` so each is an index range scan),
makes the exact angular cut in numpy, sorts by flux and only then applies ``max_sources``.

An ingest is one transaction: the catalog's old rows are deleted, the new ones bulk-loaded
(``executemany`` on the raw SQLite connection, ``COPY`` on PostgreSQL) in key order, and the
``catalog_meta`` row replaced; any error rolls everything back, so readers see the old
catalog or the new one, never a mixture.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..config import Settings, resolve_settings
from ..errors import CatalogError
from .schema import FLOAT_COLUMNS, MASTER_COLUMNS, standardize
from .spatial import HPX_NSIDE, angular_separation_deg, cone_ranges, healpix_ring_index

__all__ = [
    "CatalogInfo",
    "MASTER_CATALOG",
    "catalog_info",
    "delete_catalog",
    "get_sources",
    "ingest_table",
    "list_catalogs",
    "query_nvss_sources",
    "query_sources",
    "read_all_sources",
]

log = logging.getLogger(__name__)

#: Name of the cross-matched master catalog.
MASTER_CATALOG = "master"

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,31}$")
_INDEX_NAME = "ix_catalog_sources_catalog_source_id"
_CHUNK_ROWS = 100_000

#: Progress callback: called with (rows written, total rows).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class CatalogInfo:
    """What is recorded about one ingested catalog.

    Attributes
    ----------
    name : str
        Catalog name (``nvss``, ``first``, ``vlass``, ``racs``, ``master``, ...).
    format : str
        Reader that produced it (``nvss-heasarc``, ``table``, ``master``, ...).
    file_name : str or None
        Base name of the ingested file.
    file_sha256 : str or None
        SHA-256 checksum of the ingested file.
    row_count : int
        Stored sources.
    skipped : dict of str to int
        Rows not stored, by reason.
    hpx_nside : int
        HEALPix resolution of the spatial index.
    ingested_at : float
        Unix time of the ingest.
    columns : tuple of str
        Optional standard columns that hold values in this catalog (the others are all
        NULL and are not returned by queries).
    """

    name: str
    format: str
    file_name: str | None
    file_sha256: str | None
    row_count: int
    skipped: dict[str, int] = field(default_factory=dict)
    hpx_nside: int = HPX_NSIDE
    ingested_at: float = 0.0
    columns: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """Return the record as a JSON-ready dict."""
        return {
            "name": self.name,
            "format": self.format,
            "file_name": self.file_name,
            "file_sha256": self.file_sha256,
            "row_count": self.row_count,
            "skipped": dict(self.skipped),
            "hpx_nside": self.hpx_nside,
            "ingested_at": self.ingested_at,
            "columns": list(self.columns),
        }


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise CatalogError(
            f"invalid catalog name {name!r}: use 1-32 lower-case letters, digits, '_', '-' or '.'"
        )
    return name


def _engine(settings: Settings):
    from ..database import get_engine

    return get_engine(settings)


def _is_sqlite(engine) -> bool:
    return engine.url.get_backend_name() == "sqlite"


# --------------------------------------------------------------------------- ingest


def _validate(table: Table, master: bool) -> tuple[Table, np.ndarray]:
    try:
        std = standardize(table, master=master)
    except KeyError as exc:
        raise CatalogError(f"the table lacks a required column: {exc}") from None
    ra, dec = std["ra_deg"], std["dec_deg"]
    bad = ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise CatalogError(f"row {i}: invalid position ra={ra[i]!r} dec={dec[i]!r}")
    ids = np.asarray(std["source_id"], dtype=str)
    if np.any(ids == ""):
        raise CatalogError(f"row {int(np.flatnonzero(ids == '')[0])}: empty source_id")
    if ids.dtype.itemsize // 4 > 100 and np.any(np.char.str_len(ids) > 100):
        raise CatalogError("a source_id is longer than 100 characters")
    std["ra_deg"] = np.mod(ra, 360.0)
    return std, ids


def _duplicate_error(ids: np.ndarray) -> CatalogError:
    uniq, counts = np.unique(ids, return_counts=True)
    dup = uniq[counts > 1][:5].tolist()
    return CatalogError(f"duplicate source_id values {dup}")


def ingest_table(
    name: str,
    table: Table,
    *,
    settings: Settings | None = None,
    format: str = "table",
    file_name: str | None = None,
    file_sha256: str | None = None,
    skipped: dict[str, int] | None = None,
    progress: ProgressCallback | None = None,
) -> CatalogInfo:
    """Store a table as catalog ``name``, replacing any previous version atomically.

    Parameters
    ----------
    name : str
        Catalog name (lower case).
    table : astropy.table.Table
        Sources with at least ``source_id``, ``ra_deg``, ``dec_deg`` and ideally
        ``flux_mjy``; see :mod:`dsa110_contimg.catalog.schema` for the other columns.
    settings : Settings, optional
        Names the database.
    format, file_name, file_sha256, skipped
        Provenance recorded in ``catalog_meta`` (set by :func:`ingest_catalog`).
    progress : callable, optional
        Called as ``progress(rows_written, total_rows)`` while loading.

    Returns
    -------
    CatalogInfo
        The new catalog record.

    Raises
    ------
    CatalogError
        Invalid name, positions or duplicate ids; nothing is written.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from dsa110_contimg.config import Settings
    >>> s = Settings(state_dir=getfixture("tmp_path"))
    >>> t = Table({"source_id": ["a"], "ra_deg": [10.0], "dec_deg": [20.0], "flux_mjy": [5.0]})
    >>> ingest_table("demo", t, settings=s).row_count
    1
    """
    settings = resolve_settings(settings)
    _check_name(name)
    master = name == MASTER_CATALOG
    std, ids = _validate(table, master)
    hpx = healpix_ring_index(std["ra_deg"], std["dec_deg"])
    # key order (ties within one pixel are rare at this nside and cost nothing)
    order = np.argsort(hpx, kind="stable")
    engine = _engine(settings)
    sqlite = _is_sqlite(engine)
    # Only the columns that hold something are loaded (the rest default to NULL).
    columns = ["hpx", "source_id", "ra_deg", "dec_deg"]
    arrays: list[np.ndarray] = [
        hpx[order],
        ids[order],
        np.asarray(std["ra_deg"], dtype=np.float64)[order],
        np.asarray(std["dec_deg"], dtype=np.float64)[order],
    ]
    for col in FLOAT_COLUMNS:
        arr = np.asarray(std[col], dtype=np.float64)
        if not np.isfinite(arr).any():
            continue
        columns.append(col)
        arrays.append(arr[order])
    flags = np.asarray(std["flags"])
    if np.any(flags != ""):
        columns.append("flags")
        arrays.append(flags[order])
    if master:
        for col, kind in MASTER_COLUMNS.items():
            columns.append(col)
            dtype = {"b": bool, "i": np.int64, "f": np.float64}[kind]
            arrays.append(np.asarray(std[col]).astype(dtype)[order])
    n = len(std)
    info = CatalogInfo(
        name=name,
        format=format,
        file_name=file_name,
        file_sha256=file_sha256,
        row_count=n,
        skipped=dict(skipped or {}),
        hpx_nside=HPX_NSIDE,
        ingested_at=time.time(),
        columns=tuple(c for c in columns if c in FLOAT_COLUMNS or c == "flags"),
    )
    t0 = time.perf_counter()
    try:
        if sqlite:
            # SQLite stores a bound NaN as NULL by itself
            data = [a.tolist() for a in arrays]
            _load_sqlite(engine, name, columns, data, n, info, progress)
        else:
            _load_postgres(engine, name, columns, arrays, n, info, progress)
    except _DuplicateIds:
        raise _duplicate_error(ids) from None
    log.info("catalog %s: %d sources stored in %.1f s", name, n, time.perf_counter() - t0)
    return info


class _DuplicateIds(Exception):
    """The unique (catalog, source_id) index refused the load."""


def _is_unique_violation(exc: Exception) -> bool:
    text = str(exc).lower()
    return "unique" in text or "duplicate key" in text


def _meta_params(info: CatalogInfo) -> tuple:
    return (
        info.name,
        info.format,
        info.file_name,
        info.file_sha256,
        info.row_count,
        json.dumps(info.skipped, sort_keys=True),
        info.hpx_nside,
        info.ingested_at,
        json.dumps(list(info.columns)),
    )


_META_COLUMNS = (
    "name, format, file_name, file_sha256, row_count, skipped, hpx_nside, ingested_at, columns"
)


def _load_sqlite(engine, name, columns, data, n, info, progress) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
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
                _meta_params(info),
            )
            cur.execute("COMMIT")
        except BaseException as exc:
            cur.execute("ROLLBACK")
            if isinstance(exc, sqlite3.IntegrityError) and _is_unique_violation(exc):
                raise _DuplicateIds() from None
            raise
        finally:
            cur.execute("PRAGMA cache_size = -65536")
            cur.close()
    except Exception as exc:
        if isinstance(exc, CatalogError | _DuplicateIds):
            raise
        raise CatalogError(f"could not store catalog {name!r}: {exc}") from exc
    finally:
        raw.close()


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


def _load_postgres(engine, name, columns, arrays, n, info, progress) -> None:
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
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
                    _meta_params(info),
                )
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            if _is_unique_violation(exc) and "catalog_sources" in str(exc):
                raise _DuplicateIds() from None
            raise
        with conn.cursor() as cur:  # fresh statistics for the planner (outside the load)
            cur.execute("ANALYZE catalog_sources")
        conn.commit()
    except Exception as exc:
        if isinstance(exc, CatalogError | _DuplicateIds):
            raise
        raise CatalogError(f"could not store catalog {name!r}: {exc}") from exc
    finally:
        raw.close()


# --------------------------------------------------------------------------- queries


#: Columns a cone search returns by default: what a photometry job needs. The catalog's other
#: columns (shapes, position errors, peak, rms) are fetched only with ``all_columns=True``:
#: every value fetched costs ~0.15 us, and a 1.75 deg NVSS cone holds ~600 rows.
CONE_COLUMNS: tuple[str, ...] = ("flux_err_mjy",)


def _selected_columns(
    present: Sequence[str], master: bool, all_columns: bool = True
) -> list[str]:
    """Columns a query reads: the key ones, ``flux_mjy``, what the catalog holds, master's."""
    cols = ["source_id", "ra_deg", "dec_deg", "flux_mjy"]
    wanted = FLOAT_COLUMNS[1:] if all_columns else CONE_COLUMNS
    cols += [c for c in wanted if c in present]
    if "flags" in present:
        cols.append("flags")
    if master:
        cols += list(MASTER_COLUMNS)
    return cols


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


def _result_columns(
    catalog: str, cols: Sequence[str], rows: Sequence[tuple]
) -> dict[str, np.ndarray]:
    """Turn fetched rows into arrays (NULL -> NaN; flags '' when absent)."""
    n = len(rows)
    values = list(zip(*rows, strict=True)) if n else [()] * len(cols)
    out: dict[str, np.ndarray] = {}
    for name, vals in zip(cols, values, strict=True):
        if name in ("source_id", "flags"):
            out[name] = np.array(vals, dtype=str) if n else np.array([], dtype=str)
        elif MASTER_COLUMNS.get(name) == "b":
            out[name] = np.nan_to_num(np.array(vals, dtype=float), nan=0.0) != 0
        elif MASTER_COLUMNS.get(name) == "i":
            out[name] = np.nan_to_num(np.array(vals, dtype=float), nan=0.0).astype(np.int64)
        else:
            out[name] = np.array(vals, dtype=float)
    out["catalog"] = np.full(n, catalog, dtype=f"U{max(len(catalog), 1)}")
    if "flags" not in out:
        out["flags"] = np.full(n, "", dtype="U1")
    return out


def _output_names(cols: Sequence[str]) -> list[str]:
    names = ["source_id", "catalog", "ra_deg", "dec_deg", "flux_mjy"]
    names += [c for c in cols if c in FLOAT_COLUMNS[1:]]
    names.append("flags")
    names += [c for c in cols if c in MASTER_COLUMNS]
    return names


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


def query_sources(
    catalog: str,
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    min_flux_mjy: float | None = None,
    max_sources: int | None = None,
    *,
    all_columns: bool = False,
    settings: Settings | None = None,
) -> Table:
    """Return the sources of a catalog within a cone, brightest first.

    Parameters
    ----------
    catalog : str
        Catalog name (``nvss``, ``first``, ``vlass``, ``racs``, ``master``, ...).
    ra_deg, dec_deg : float
        Cone centre (J2000, degrees).
    radius_deg : float
        Cone radius in degrees (exact great-circle cut).
    min_flux_mjy : float, optional
        Keep sources with ``flux_mjy`` at least this.
    max_sources : int, optional
        Keep at most this many (the brightest), applied after the exact cut.
    all_columns : bool
        Return every stored column of the catalog (shapes, position errors, peak, rms), not
        only those a photometry job needs.
    settings : Settings, optional
        Names the database.

    Returns
    -------
    astropy.table.Table
        ``source_id, catalog, ra_deg, dec_deg, flux_mjy, flux_err_mjy, flags`` (with
        ``all_columns``, the other standard columns of
        :mod:`~dsa110_contimg.catalog.schema` too), ``sep_deg`` (distance from the centre) and,
        for ``master``, ``is_reference, spectral_index, resolved_flag, confusion_flag``...;
        sorted by ``flux_mjy`` descending (sources without a flux last).

    Raises
    ------
    CatalogError
        The catalog is not ingested, or the arguments are invalid.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from dsa110_contimg.config import Settings
    >>> s = Settings(state_dir=getfixture("tmp_path"))
    >>> t = Table({"source_id": ["a", "b"], "ra_deg": [359.9, 0.1], "dec_deg": [0.0, 0.0],
    ...            "flux_mjy": [1.0, 2.0]})
    >>> _ = ingest_table("demo", t, settings=s)
    >>> query_sources("demo", 0.0, 0.0, 0.5, settings=s)["source_id"].tolist()
    ['b', 'a']
    """
    settings = resolve_settings(settings)
    ra_deg, dec_deg, radius_deg = float(ra_deg), float(dec_deg), float(radius_deg)
    if not (math.isfinite(ra_deg) and math.isfinite(dec_deg) and abs(dec_deg) <= 90.0):
        raise CatalogError(f"invalid cone centre ({ra_deg}, {dec_deg})")
    if not (math.isfinite(radius_deg) and radius_deg >= 0.0):
        raise CatalogError(f"invalid cone radius {radius_deg}")
    if max_sources is not None and int(max_sources) < 0:
        raise CatalogError(f"invalid max_sources {max_sources}")
    master = catalog == MASTER_CATALOG
    engine = _engine(settings)
    sqlite = _is_sqlite(engine)
    ranges = cone_ranges(ra_deg, dec_deg, radius_deg)
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
        cols = tuple(
            _selected_columns(_present_columns(conn, catalog, sqlite), master, all_columns)
        )
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
    out = _result_columns(catalog, cols, rows)
    sep = angular_separation_deg(out["ra_deg"], out["dec_deg"], ra_deg, dec_deg)
    keep = np.flatnonzero(sep <= radius_deg)
    keep = keep[np.argsort(-out["flux_mjy"][keep], kind="stable")]
    if max_sources is not None:
        keep = keep[: int(max_sources)]
    out["sep_deg"] = sep
    names = [*_output_names(cols), "sep_deg"]
    return Table([out[k][keep] for k in names], names=names, copy=False)


def query_nvss_sources(
    ra_deg: float,
    dec_deg: float,
    radius_deg: float,
    min_flux_mjy: float | None = None,
    max_sources: int | None = None,
    *,
    all_columns: bool = False,
    settings: Settings | None = None,
) -> Table:
    """Cone search of the ``nvss`` catalog (see :func:`query_sources`)."""
    return query_sources(
        "nvss", ra_deg, dec_deg, radius_deg, min_flux_mjy, max_sources,
        all_columns=all_columns, settings=settings,
    )


def read_all_sources(catalog: str, *, settings: Settings | None = None) -> Table:
    """Return every source of a catalog (standard columns, storage order).

    Raises
    ------
    CatalogError
        The catalog is not ingested.
    """
    settings = resolve_settings(settings)
    engine = _engine(settings)
    sqlite = _is_sqlite(engine)
    p = "?" if sqlite else "%s"
    raw = engine.raw_connection()
    try:
        conn = raw.driver_connection
        cols = _selected_columns(_present_columns(conn, catalog, sqlite), catalog == MASTER_CATALOG)
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
    out = _result_columns(catalog, cols, rows)
    names = _output_names(cols)
    return Table([out[k] for k in names], names=names, copy=False)


def get_sources(
    catalog: str, source_ids: Sequence[str], *, settings: Settings | None = None
) -> Table:
    """Return the stored rows of some sources of a catalog (unknown ids are left out).

    Parameters
    ----------
    catalog : str
        Catalog name.
    source_ids : sequence of str
        Ids to look up.
    settings : Settings, optional
        Names the database.
    """
    from sqlalchemy import bindparam, select

    from ..database.tables.catalog import catalog_sources as t

    settings = resolve_settings(settings)
    info = catalog_info(catalog, settings=settings)
    cols = _selected_columns(info.columns, catalog == MASTER_CATALOG)
    rows: list[tuple] = []
    ids = [str(s) for s in source_ids]
    stmt = select(*[t.c[c] for c in cols]).where(
        t.c.catalog == catalog, t.c.source_id.in_(bindparam("ids", expanding=True))
    )
    with _engine(settings).connect() as conn:
        for start in range(0, len(ids), 500):
            rows += [tuple(r) for r in conn.execute(stmt, {"ids": ids[start : start + 500]})]
    out = _result_columns(catalog, cols, rows)
    names = _output_names(cols)
    return Table([out[k] for k in names], names=names, copy=False)


# --------------------------------------------------------------------------- metadata


def _info_from_row(row) -> CatalogInfo:
    return CatalogInfo(
        name=row.name,
        format=row.format,
        file_name=row.file_name,
        file_sha256=row.file_sha256,
        row_count=int(row.row_count),
        skipped=json.loads(row.skipped or "{}"),
        hpx_nside=int(row.hpx_nside),
        ingested_at=float(row.ingested_at),
        columns=tuple(json.loads(row.columns or "[]")),
    )


def list_catalogs(*, settings: Settings | None = None) -> list[CatalogInfo]:
    """Return the records of every ingested catalog, by name."""
    from sqlalchemy import select

    from ..database.tables.catalog import catalog_meta

    settings = resolve_settings(settings)
    with _engine(settings).connect() as conn:
        rows = conn.execute(select(catalog_meta).order_by(catalog_meta.c.name)).all()
    return [_info_from_row(r) for r in rows]


def catalog_info(name: str, *, settings: Settings | None = None) -> CatalogInfo:
    """Return the record of one catalog.

    Raises
    ------
    CatalogError
        The catalog is not ingested.
    """
    from sqlalchemy import select

    from ..database.tables.catalog import catalog_meta

    settings = resolve_settings(settings)
    with _engine(settings).connect() as conn:
        row = conn.execute(select(catalog_meta).where(catalog_meta.c.name == name)).first()
    if row is None:
        raise CatalogError(f"catalog {name!r} is not ingested")
    return _info_from_row(row)


def delete_catalog(name: str, *, settings: Settings | None = None) -> int:
    """Delete a catalog and its record; return the number of sources removed."""
    from sqlalchemy import delete

    from ..database import write_transaction
    from ..database.tables.catalog import catalog_meta, catalog_sources

    settings = resolve_settings(settings)
    with write_transaction(_engine(settings)) as conn:
        n = conn.execute(delete(catalog_sources).where(catalog_sources.c.catalog == name)).rowcount
        conn.execute(delete(catalog_meta).where(catalog_meta.c.name == name))
    return int(n or 0)
