"""The catalog store: atomic bulk ingest and millisecond cone searches, SQLite and PostgreSQL.

Sources live in ``catalog_sources`` (see :mod:`dsa110_contimg.database.tables.catalog`),
clustered on ``(catalog, hpx, source_id)`` where ``hpx`` is the RING HEALPix pixel of
:mod:`~dsa110_contimg.catalog.spatial`. A cone search reads the few key ranges that cover the
cone (one ``SELECT`` per range, glued with ``UNION ALL`` so each is an index range scan),
makes the exact angular cut in numpy, sorts by flux and only then applies ``max_sources``.

An ingest is one transaction: the catalog's old rows are deleted, the new ones bulk-loaded
(``executemany`` on the raw SQLite connection, ``COPY`` on PostgreSQL) in key order, and the
``catalog_meta`` row replaced; any error rolls everything back, so readers see the old
catalog or the new one, never a mixture. The statements themselves live in
:mod:`dsa110_contimg.database.catalogs`; this module validates, computes the keys and ranges,
and makes the exact cut.
"""

from __future__ import annotations

import json
import logging
import math
import re
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
    from ..database.catalogs import DuplicateIds, load_catalog, meta_row

    try:
        load_catalog(engine, name, columns, arrays, meta_row(info.as_dict()), progress)
    except DuplicateIds:
        raise _duplicate_error(ids) from None
    log.info("catalog %s: %d sources stored in %.1f s", name, n, time.perf_counter() - t0)
    return info


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
    from ..database.catalogs import cone_rows

    ranges = cone_ranges(ra_deg, dec_deg, radius_deg)
    cols, rows = cone_rows(
        _engine(settings),
        catalog,
        ranges,
        min_flux_mjy,
        lambda present: _selected_columns(present, master, all_columns),
    )
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
    from ..database.catalogs import catalog_rows

    settings = resolve_settings(settings)
    master = catalog == MASTER_CATALOG
    cols, rows = catalog_rows(
        _engine(settings), catalog, lambda present: _selected_columns(present, master)
    )
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
    from ..database.catalogs import sources_by_id

    settings = resolve_settings(settings)
    info = catalog_info(catalog, settings=settings)
    cols = _selected_columns(info.columns, catalog == MASTER_CATALOG)
    rows = sources_by_id(_engine(settings), catalog, cols, source_ids)
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
    from ..database.catalogs import catalog_meta_rows

    settings = resolve_settings(settings)
    return [_info_from_row(r) for r in catalog_meta_rows(_engine(settings))]


def catalog_info(name: str, *, settings: Settings | None = None) -> CatalogInfo:
    """Return the record of one catalog.

    Raises
    ------
    CatalogError
        The catalog is not ingested.
    """
    from ..database.catalogs import catalog_meta_rows

    settings = resolve_settings(settings)
    rows = catalog_meta_rows(_engine(settings), name)
    if not rows:
        raise CatalogError(f"catalog {name!r} is not ingested")
    return _info_from_row(rows[0])


def delete_catalog(name: str, *, settings: Settings | None = None) -> int:
    """Delete a catalog and its record; return the number of sources removed."""
    from ..database.catalogs import delete_catalog_rows

    return delete_catalog_rows(_engine(resolve_settings(settings)), name)
