"""Reading a block of sources' whole photometry as numpy columns (the metric rebuild's input).

The rebuild of every source's metrics (``contimg photometry normalize --all``) reads each
source's history once. On PostgreSQL a block of
sources is read with one statement per table on the base tables (``photometry_rows`` by
``source_key``: the rows' clustering order), each column arriving as one binary string that
numpy reads without a Python object per measurement; the per-image values (MJD,
normalization factor, kind, QA) are joined in numpy by ``image_key``. Elsewhere (SQLite, or a
database older than migration 0016, which migrations may rebuild metrics on) the rows are
read through the relation ``photometry``. What the view ``photometry`` computes
per row (``coalesce`` of the row's own value and its image's/source's, the normalized flux
from the factors) is returned as its inputs; the caller applies the factors with the same
arithmetic (:func:`dsa110_contimg.variability.normalization.apply_factor`), so the points are
those the view gives, to the last bit.

The same read yields the per-source table's rows (counts, MJD range, last flags), which the
rebuild then writes without reading the photometry a second time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Connection, inspect

from .block_reads import bitmap_scans
from .caltables import exclusion_reason
from .rawsql import PgArray, execute_pg_arrays, fetch_raw

__all__ = ["BlockRows", "ImageTable", "block_rows", "image_table", "source_groups"]

_CHUNK = 500

#: Names of a row's float columns (:data:`_ROW_COLS`) in :func:`_rows_pg`'s result.
_NULL_BITS = ("mjd", "flux", "err", "nf", "ne", "ra", "dec", "cflux")


@dataclass(frozen=True)
class BlockRows:
    """Every measurement of a block of sources (one element per row), and its image's values.

    Attributes
    ----------
    keys : list of (catalog, source_id)
        The block's sources, sorted; ``key_index`` points into it.
    key_index : numpy.ndarray of int
        Each row's source.
    mjd : numpy.ndarray
        The row's MJD, else its image's (NaN when both are NULL; ``mjd_null`` then True).
    flux, err : numpy.ndarray
        Raw flux and error (``flux_null``/``err_null``: NULL).
    own_nf, own_ne : numpy.ndarray
        The row's own stored normalized flux and error (``own_nf_null``/``own_ne_null``:
        none, the factors apply).
    factor, factor_err : numpy.ndarray
        The factor that applies to the row: its own (a reference's leave-one-out factor)
        where it has one, else its image's; NaN where none (not normalized).
    clean : numpy.ndarray of bool
        Empty flags.
    science : numpy.ndarray of bool
        The image's QA did not fail and it may serve variability (calibrated, current).
    image : numpy.ndarray of object
        Each row's product ``data_id``.
    image_rank : numpy.ndarray of int
        The rank of that ``data_id`` among the products' (ordered as the strings are).
    mosaic : numpy.ndarray of bool
        The product is a registered mosaic.
    ra, dec, catalog_flux : numpy.ndarray
        The view's position and catalog flux (row's own, else the source's; NaN for NULL).
    flags : numpy.ndarray of object
        Each row's flags (``""`` for clean rows).
    """

    keys: list[tuple[str, str]]
    key_index: np.ndarray
    mjd: np.ndarray
    mjd_null: np.ndarray
    flux: np.ndarray
    flux_null: np.ndarray
    err: np.ndarray
    err_null: np.ndarray
    own_nf: np.ndarray
    own_nf_null: np.ndarray
    own_ne: np.ndarray
    own_ne_null: np.ndarray
    factor: np.ndarray
    factor_err: np.ndarray
    clean: np.ndarray
    science: np.ndarray
    image: np.ndarray
    image_rank: np.ndarray
    mosaic: np.ndarray
    ra: np.ndarray
    dec: np.ndarray
    catalog_flux: np.ndarray
    catalog_flux_null: np.ndarray
    flags: np.ndarray

    def __len__(self) -> int:
        return len(self.key_index)


def _in(n: int) -> str:
    return ", ".join(["?"] * n)


def _source_table(conn: Connection, keys: list[tuple[str, str]]):
    """source_key, ra, dec, catalog flux of each key (-1 / NaN when unknown)."""
    index = {k: i for i, k in enumerate(keys)}
    sk = np.full(len(keys), -1, dtype=np.int64)
    ra, dec, cf = (np.full(len(keys), np.nan) for _ in range(3))
    cf_null = np.ones(len(keys), dtype=bool)
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        sql = (
            "SELECT catalog, source_id, source_key, ra_deg, dec_deg, catalog_flux_mjy "
            f"FROM photometry_sources WHERE (catalog, source_id) IN "
            f"(VALUES {', '.join(['(?, ?)'] * len(part))})"
        )
        for r in fetch_raw(conn, sql, [v for k in part for v in k]):
            j = index[(r[0], r[1])]
            sk[j], ra[j], dec[j] = r[2], r[3], r[4]
            if r[5] is not None:
                cf[j], cf_null[j] = r[5], False
    return sk, ra, dec, cf, cf_null


@dataclass(frozen=True)
class ImageTable:
    """Every product's per-image values, sorted by ``image_key``: what a block's rows join.

    Read once (:func:`image_table`) and handed to every block of a rebuild
    (:func:`block_rows`): the products do not change while metrics are rebuilt, and at 10^8
    rows they are 150,000 rows that each of 100 blocks would otherwise read and join again.

    Attributes
    ----------
    key : numpy.ndarray of int
        ``image_key``, sorted.
    data_id : numpy.ndarray of object
        The product's ``data_id``.
    mjd, factor, factor_err : numpy.ndarray
        Its MJD, normalization factor and error (NaN for NULL).
    mosaic : numpy.ndarray of bool
        A registered mosaic.
    science : numpy.ndarray of bool
        Its QA did not fail and it may serve variability (calibrated, current).
    rank : numpy.ndarray of int
        The rank of ``data_id`` among the products' (ordered as the strings are).
    """

    key: np.ndarray
    data_id: np.ndarray
    mjd: np.ndarray
    factor: np.ndarray
    factor_err: np.ndarray
    mosaic: np.ndarray
    science: np.ndarray
    rank: np.ndarray


def _compact(conn: Connection) -> bool:
    """Return whether the database has the compact photometry tables (PostgreSQL, 0016 on)."""
    return conn.dialect.name == "postgresql" and inspect(conn).has_table("photometry_rows")


def image_table(conn: Connection, keys: np.ndarray | None = None) -> ImageTable | None:
    """Read the products' :class:`ImageTable` (one statement); None where it is not used.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection (read only).
    keys : numpy.ndarray of int, optional
        Only these ``image_key`` (a block read alone: its light curves' products, not every
        product of the survey). ``rank`` then orders these products' ``data_id`` among
        themselves, which orders their points as the ranks among all products do.

    Returns
    -------
    ImageTable or None
        None on SQLite and on databases before migration 0016, which :func:`block_rows`
        reads through the view ``photometry`` instead.
    """
    if not _compact(conn):
        return None
    sql = (
        "SELECT p.image_key, p.data_id, p.mjd, p.norm_factor, p.norm_factor_err, i.kind, "
        "d.qa_status, d.calibration_status, d.superseded_by FROM photometry_products p "
        "LEFT JOIN images i ON i.data_id = p.data_id "
        "LEFT JOIN data_registry d ON d.data_id = p.data_id "
    )
    if keys is None:
        rows = fetch_raw(conn, sql + "ORDER BY p.image_key")
    else:
        rows = execute_pg_arrays(
            conn,
            sql + "WHERE p.image_key = ANY(%(k)s) ORDER BY p.image_key",
            {"k": PgArray(np.unique(keys).tolist(), "int4")},
        )
    cols = list(zip(*rows, strict=True)) if rows else [()] * 9
    science = np.array(
        [q != "failed" and exclusion_reason(c, s) is None
         for q, c, s in zip(cols[6], cols[7], cols[8], strict=True)], dtype=bool,
    )  # fmt: skip
    return ImageTable(
        np.array(cols[0], dtype=np.int64),
        np.array(cols[1], dtype=object),
        np.array(cols[2], dtype=np.float64),
        np.array(cols[3], dtype=np.float64),
        np.array(cols[4], dtype=np.float64),
        np.array([k == "mosaic" for k in cols[5]], dtype=bool),
        science,
        np.argsort(np.argsort(np.array(cols[1], dtype=str), kind="stable")),
    )


#: A row whose values are all in the fast read: clean, flux and error known, and the columns
#: the compact layout keeps per image or per source NULL (as every row the pipeline writes).
_PLAIN = (
    "r.flags = '' AND r.flux_jy IS NOT NULL AND r.flux_err_jy IS NOT NULL AND r.mjd IS NULL "
    "AND r.normalized_flux_jy IS NULL AND r.normalized_flux_err_jy IS NULL "
    "AND r.ra_deg IS NULL AND r.dec_deg IS NULL AND r.catalog_flux_mjy IS NULL"
)
_ROW_COLS = ("mjd", "flux_jy", "flux_err_jy", "normalized_flux_jy", "normalized_flux_err_jy",
             "ra_deg", "dec_deg", "catalog_flux_mjy")  # fmt: skip


def _rows_pg(conn: Connection, source_keys: np.ndarray) -> dict[str, np.ndarray]:
    """Read the rows of ``source_keys`` in one statement, the plain ones with no Python per row.

    One scan (by ``source_key``; the caller reads through the bitmap of the rows' unique index,
    :func:`~.block_reads.bitmap_scans`) evaluates :data:`_PLAIN` once per row (a subquery kept
    apart by ``OFFSET 0``). The plain rows (~99 %) arrive as four columns, each aggregated into
    the concatenation of its binary send format (``string_agg(float8send(x), '')``) and read
    with :func:`numpy.frombuffer`: no other expression per row for the server. The others
    (flagged, NULL flux or error, a value of their own in a per-image column) arrive as arrays
    of every column. All aggregates of one scan see the rows in the same order. Rows: the plain
    ones in the order of the table, then the others. Each float column comes with its NULL mask
    (``*_null``), and ``flags``.
    """
    where = f"r.source_key = ANY(ARRAY[{','.join(str(int(k)) for k in source_keys)}]::int4[])"
    plain = ", ".join(
        f"string_agg({send}(q.{c}), '') FILTER (WHERE q.plain)"
        for send, c in (("int4send", "source_key"), ("int4send", "image_key"),
                        ("float8send", "flux_jy"), ("float8send", "flux_err_jy"))
    )  # fmt: skip
    other = ", ".join(
        f"array_agg(q.{c}) FILTER (WHERE NOT q.plain)"
        for c in ("source_key", "image_key", *_ROW_COLS, "flags")
    )
    row = fetch_raw(
        conn,
        f"SELECT {plain}, {other} FROM (SELECT r.source_key, r.image_key, "
        f"{', '.join('r.' + c for c in _ROW_COLS)}, r.flags, ({_PLAIN}) AS plain "
        f"FROM photometry_rows r WHERE {where} OFFSET 0) q",
        binary=True,  # 20 bytes a row as bytes, not hex text
    )[0]
    sk, ik, flux, err = (
        np.frombuffer(bytes(v or b""), dtype=t).astype(np.int64 if t == ">i4" else np.float64)
        for v, t in zip(row[:4], (">i4", ">i4", ">f8", ">f8"), strict=True)
    )
    n = len(sk)
    nan, no, yes = np.full(n, np.nan), np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    cols = {"sk": sk, "ik": ik, "flags": np.full(n, "", dtype=object)}
    for name, vals in zip(_NULL_BITS, (nan, flux, err, nan, nan, nan, nan, nan), strict=True):
        cols[name], cols[name + "_null"] = vals, (no if name in ("flux", "err") else yes)
    if row[4]:  # the other rows
        c = row[4:]
        cols["sk"] = np.concatenate([sk, np.array(c[0], dtype=np.int64)])
        cols["ik"] = np.concatenate([ik, np.array(c[1], dtype=np.int64)])
        for j, name in enumerate(_NULL_BITS):
            cols[name] = np.concatenate([cols[name], np.array(c[2 + j], dtype=np.float64)])
            cols[name + "_null"] = np.concatenate(
                [cols[name + "_null"], np.array([v is None for v in c[2 + j]], dtype=bool)]
            )
        cols["flags"] = np.concatenate([cols["flags"], np.array(c[10], dtype=object)])
    return cols


def _block_rows_view(conn: Connection, keys: list[tuple[str, str]]) -> BlockRows:
    """:func:`block_rows` through the relation ``photometry`` (SQLite; databases before 0016).

    The view (or, before migration 0016, the table) gives each row's values; they are
    returned as the rows' own, with no factor to apply.
    """
    index = {k: i for i, k in enumerate(keys)}
    cols = ("mjd", "flux_jy", "flux_err_jy", "normalized_flux_jy", "normalized_flux_err_jy",
            "ra_deg", "dec_deg", "catalog_flux_mjy")  # fmt: skip
    rows: list = []
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        rows += fetch_raw(
            conn,
            f"SELECT catalog, source_id, {', '.join(cols)}, flags, data_id FROM photometry "
            f"WHERE (catalog, source_id) IN (VALUES {', '.join(['(?, ?)'] * len(part))})",
            [v for k in part for v in k],
        )
    c = list(zip(*rows, strict=True)) if rows else [()] * (len(cols) + 4)
    vals = [np.array(col, dtype=np.float64) for col in c[2:10]]
    null = [np.array([v is None for v in col], dtype=bool) for col in c[2:10]]
    data_ids = sorted(set(c[11]))
    kind: dict = {}
    science: dict = {}
    for i in range(0, len(data_ids), _CHUNK):
        part = data_ids[i : i + _CHUNK]
        kind.update(fetch_raw(conn, f"SELECT data_id, kind FROM images WHERE data_id IN "
                                    f"({_in(len(part))})", part))  # fmt: skip
        for d, q, cal, sup in fetch_raw(
            conn,
            "SELECT data_id, qa_status, calibration_status, superseded_by FROM data_registry "
            f"WHERE data_id IN ({_in(len(part))})",
            part,
        ):
            science[d] = q != "failed" and exclusion_reason(cal, sup) is None
    n = len(rows)
    nan = np.full(n, np.nan)
    return BlockRows(
        keys,
        np.array([index[k] for k in zip(c[0], c[1], strict=True)], dtype=np.int64),
        vals[0], null[0], vals[1], null[1], vals[2], null[2], vals[3], null[3],
        vals[4], null[4], nan, nan,
        np.array([f == "" for f in c[10]], dtype=bool),
        np.array([science.get(d, True) for d in c[11]], dtype=bool),
        np.array(c[11], dtype=object),
        np.unique(np.array(c[11], dtype=str), return_inverse=True)[1].reshape(-1),
        np.array([kind.get(d) == "mosaic" for d in c[11]], dtype=bool),
        vals[5], vals[6], vals[7], null[7],
        np.array([f or "" for f in c[10]], dtype=object),
    )  # fmt: skip


def _factors(conn: Connection, source_keys: np.ndarray):
    """(source_key, image_key, factor, factor_err) of the sources' references' factors."""
    arr = ",".join(str(int(k)) for k in source_keys)
    row = fetch_raw(
        conn,
        "SELECT string_agg(int4send(source_key), ''), string_agg(int4send(image_key), ''), "
        "string_agg(float8send(coalesce(factor, 'NaN')), ''), "
        "string_agg(float8send(coalesce(factor_err, 'NaN')), '') FROM photometry_factors "
        f"WHERE source_key = ANY(ARRAY[{arr}]::int4[])",
        binary=True,
    )[0]
    return tuple(
        np.frombuffer(bytes(v or b""), dtype=t).astype(np.int64 if t == ">i4" else np.float64)
        for v, t in zip(row, (">i4", ">i4", ">f8", ">f8"), strict=True)
    )


def _all_found(sorted_keys: np.ndarray, at: np.ndarray, keys: np.ndarray) -> bool:
    """Whether every one of ``keys`` is in ``sorted_keys`` (``at``: their searchsorted)."""
    return bool(np.all(at < sorted_keys.size)) and bool(
        np.array_equal(sorted_keys[np.minimum(at, sorted_keys.size - 1)], keys)
    )


def _pair(sk: np.ndarray, ik: np.ndarray) -> np.ndarray:
    return (np.asarray(sk, dtype=np.int64) << 32) | np.asarray(ik, dtype=np.int64)


def block_rows(
    conn: Connection, keys: Sequence[tuple[str, str]], images: ImageTable | None = None
) -> BlockRows:
    """Return every stored measurement of the sources ``keys`` (see :class:`BlockRows`).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection (read only).
    keys : sequence of (catalog, source_id)
        The sources (a block of the rebuild).
    images : ImageTable, optional
        :func:`image_table`, read once for many blocks; read here when omitted, or when a
        row's image is not in it (stored after it was read). Ignored where the rows are read
        through the view (SQLite, databases before 0016).
    """
    keys = sorted(set(keys))
    if not _compact(conn):
        return _block_rows_view(conn, keys)
    sk, s_ra, s_dec, s_cf, s_cf_null = _source_table(conn, keys)
    wanted = np.sort(sk[sk >= 0])
    with bitmap_scans(conn):  # rows and factors: a source's are spread over the table
        cols = _rows_pg(conn, wanted)
        fsk, fik, ff, ffe = _factors(conn, wanted)
    n = len(cols["sk"])
    isnull = {name: cols[name + "_null"] for name in _NULL_BITS}
    # source of each row (index into keys)
    order = np.argsort(sk)
    key_index = order[np.searchsorted(sk[order], cols["sk"])]
    # the image's values
    prod = image_table(conn, cols["ik"]) if images is None else images
    pi = np.searchsorted(prod.key, cols["ik"])
    if n and images is not None and not _all_found(prod.key, pi, cols["ik"]):
        prod = image_table(conn)  # products stored since ``images`` was read
        pi = np.searchsorted(prod.key, cols["ik"])
    img_mjd = prod.mjd[pi] if n else np.zeros(0)
    mjd = np.where(isnull["mjd"], img_mjd, cols["mjd"])
    mjd_null = isnull["mjd"] & np.isnan(img_mjd)
    factor = prod.factor[pi] if n else np.zeros(0)
    factor_err = prod.factor_err[pi] if n else np.zeros(0)
    if fsk.size and n:
        fp = _pair(fsk, fik)
        fo = np.argsort(fp)
        rp = _pair(cols["sk"], cols["ik"])
        at = np.clip(np.searchsorted(fp[fo], rp), 0, fp.size - 1)
        hit = fp[fo][at] == rp
        factor = np.where(hit, ff[fo][at], factor)
        factor_err = np.where(hit, ffe[fo][at], factor_err)
    flags = cols["flags"]
    ra = np.where(isnull["ra"], s_ra[key_index] if n else 0.0, cols["ra"])
    dec = np.where(isnull["dec"], s_dec[key_index] if n else 0.0, cols["dec"])
    cf_null = isnull["cflux"] & (s_cf_null[key_index] if n else True)
    cflux = np.where(isnull["cflux"], s_cf[key_index] if n else 0.0, cols["cflux"])
    return BlockRows(
        keys, key_index, mjd, mjd_null,
        cols["flux"], isnull["flux"], cols["err"], isnull["err"],
        cols["nf"], isnull["nf"], cols["ne"], isnull["ne"],
        factor, factor_err, flags == "",
        prod.science[pi] if n else np.zeros(0, dtype=bool),
        prod.data_id[pi] if n else np.zeros(0, dtype=object),
        prod.rank[pi] if n else np.zeros(0, dtype=np.int64),
        prod.mosaic[pi] if n else np.zeros(0, dtype=bool),
        ra, dec, cflux, cf_null, flags,
    )  # fmt: skip


def source_groups(rows: BlockRows) -> list[tuple]:
    """Return the per-source table's values of the block's sources, from their rows.

    What :func:`~dsa110_contimg.database.sources.rebuild_sources` computes from the stored
    photometry, as tuples ``(catalog, source_id, ra, dec, catalog_flux, n_measurements,
    n_clean, first_mjd, last_mjd, last_flags)``: position of the latest row (rows in MJD
    order, unknown MJDs last), the largest catalog flux, counts, MJD range and the flags of
    the latest measurement; sources without rows are left out.
    """
    n = len(rows)
    if not n:
        return []
    mjd_sort = np.where(rows.mjd_null, np.inf, rows.mjd)
    order = np.lexsort((np.arange(n), rows.mjd_null, mjd_sort, rows.key_index))
    ki = rows.key_index[order]
    present, start, counts = np.unique(ki, return_index=True, return_counts=True)
    last = order[start + counts - 1]
    n_clean = np.bincount(ki, weights=rows.clean[order], minlength=len(rows.keys))
    has_mjd = ~rows.mjd_null[order]
    first_mjd, last_mjd, last_flags = {}, {}, {}
    # latest row with a known MJD per source (the first row's flags when none has one)
    known_idx = np.flatnonzero(has_mjd)
    kk = ki[known_idx]
    if kk.size:
        u, s0, c0 = np.unique(kk, return_index=True, return_counts=True)
        lo = order[known_idx[s0]]
        hi = order[known_idx[s0 + c0 - 1]]
        for j, a, b in zip(u.tolist(), lo.tolist(), hi.tolist(), strict=True):
            first_mjd[j], last_mjd[j], last_flags[j] = rows.mjd[a], rows.mjd[b], rows.flags[b]
    cf = np.where(rows.catalog_flux_null, -np.inf, rows.catalog_flux)
    best_cf = np.full(len(rows.keys), -np.inf)
    np.maximum.at(best_cf, rows.key_index, cf)
    out = []
    for j, s, c, lr in zip(present.tolist(), start.tolist(), counts.tolist(), last.tolist(),
                           strict=True):  # fmt: skip
        first_row = order[s]
        out.append((
            rows.keys[j][0], rows.keys[j][1], float(rows.ra[lr]), float(rows.dec[lr]),
            None if best_cf[j] == -np.inf else float(best_cf[j]), int(c), int(n_clean[j]),
            first_mjd.get(j), last_mjd.get(j), last_flags.get(j, rows.flags[first_row] or ""),
        ))  # fmt: skip
    return out
