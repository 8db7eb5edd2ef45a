"""What a reader returns, and the checks every reader applies before returning it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
from astropy.table import Table

from ..ids import position_source_ids
from ..schema import FLOAT_COLUMNS
from ._table import RawTable

__all__ = ["ReadResult", "build_result", "flag_strings", "round_to_published", "survey_jname"]


@dataclass
class ReadResult:
    """Sources read from one catalog file, in the store's unit convention.

    Attributes
    ----------
    table : astropy.table.Table
        Standard columns (:mod:`dsa110_contimg.catalog.schema`).
    format : str
        The reader that read it.
    skipped : dict of str to int
        Rows left out, by reason (``empty_island``, ``duplicate``, ``sidelobe`` ...).
    rows_read : int
        Data rows in the file.
    """

    table: Table
    format: str
    skipped: dict[str, int] = field(default_factory=dict)
    rows_read: int = 0


_JNAME = re.compile(r"J?(\d{6}(?:\.\d+)?[+-]\d{6}(?:\.\d+)?)")


def survey_jname(names: np.ndarray) -> np.ndarray:
    """Normalize survey names to ``J``-prefixed names (``'060002-314014'`` -> ``'J060002-314014'``).

    Names that contain no ``hhmmss+ddmmss`` pattern are returned unchanged (stripped).

    Examples
    --------
    >>> survey_jname(np.array(["060002-314014", "NVSS J131726+445655", "RACS-DR1 J1+2"])).tolist()
    ['J060002-314014', 'J131726+445655', 'RACS-DR1 J1+2']
    """
    out = []
    for name in names.tolist():
        m = _JNAME.search(name)
        out.append("J" + m.group(1) if m else name.strip())
    return np.array(out, dtype=str) if out else np.array([], dtype="U1")


def build_result(
    raw: RawTable,
    fmt: str,
    columns: dict[str, np.ndarray],
    *,
    keep: np.ndarray | None = None,
    skipped: dict[str, int] | None = None,
    ra_decimals: int = 2,
    dec_decimals: int = 1,
    priority: np.ndarray | None = None,
    published_decimals: tuple[int, int] | None = None,
) -> ReadResult:
    """Check positions, make missing ids, drop duplicates and return a :class:`ReadResult`.

    Parameters
    ----------
    raw : RawTable
        The file's rows (for error messages).
    fmt : str
        Reader name.
    columns : dict
        ``ra_deg``, ``dec_deg``, optional ``source_id`` (survey names; '' where missing) and
        any standard column, one value per file row.
    keep : numpy.ndarray of bool, optional
        Rows the survey's own flags keep (the others are already counted in ``skipped``).
    skipped : dict, optional
        Counts of rows left out so far.
    ra_decimals, dec_decimals : int
        Precision of position-derived ids (the catalog's own naming precision).
    priority : numpy.ndarray, optional
        Among rows with the same id, the one with the smallest priority is kept
        (default: the first).
    published_decimals : (int, int), optional
        Decimals of the seconds of RA (time) and Dec (arc) of the survey's published
        sexagesimal positions. Positions are rounded to them before an id is derived, so a
        file with full-precision degrees names a source exactly like a file with the
        published strings (truncating different roundings of one position can differ).

    Raises
    ------
    CatalogError
        A kept row has no valid position (names the line).
    """
    n = len(raw)
    skipped = dict(skipped or {})
    keep = np.ones(n, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    ra = np.asarray(columns["ra_deg"], dtype=float)
    dec = np.asarray(columns["dec_deg"], dtype=float)
    bad = keep & ~(np.isfinite(ra) & np.isfinite(dec) & (np.abs(dec) <= 90.0))
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise raw.error(i, f"invalid position ra={ra[i]!r} dec={dec[i]!r}")
    idx = np.flatnonzero(keep)
    ids = columns.get("source_id")
    ids = np.full(n, "", dtype="U1") if ids is None else np.asarray(ids, dtype=str)
    ids = ids[idx]
    missing = ids == ""
    if np.any(missing):
        r_id, d_id = ra[idx][missing], dec[idx][missing]
        if published_decimals is not None:
            r_id, d_id = round_to_published(r_id, d_id, *published_decimals)
        made = position_source_ids(r_id, d_id, ra_decimals=ra_decimals, dec_decimals=dec_decimals)
        ids = ids.astype(f"U{max(ids.dtype.itemsize // 4, max((len(m) for m in made), default=1))}")
        ids[missing] = made
    # one row per id: the preferred one (smallest priority, then file order)
    pri = np.zeros(idx.size) if priority is None else np.asarray(priority, dtype=float)[idx]
    order = np.lexsort((np.arange(idx.size), pri, ids))
    sorted_ids = ids[order]
    first = np.ones(idx.size, dtype=bool)
    first[1:] = sorted_ids[1:] != sorted_ids[:-1]
    chosen = np.sort(order[first])
    n_dup = idx.size - chosen.size
    if n_dup:
        skipped["duplicate_id"] = skipped.get("duplicate_id", 0) + int(n_dup)
    rows = idx[chosen]
    out = {"source_id": ids[chosen], "ra_deg": np.mod(ra[rows], 360.0), "dec_deg": dec[rows]}
    for name in FLOAT_COLUMNS:
        if name in columns:
            out[name] = np.asarray(columns[name], dtype=float)[rows]
    if "flags" in columns:
        out["flags"] = np.asarray(columns["flags"], dtype=str)[rows]
    return ReadResult(table=Table(out), format=fmt, skipped=skipped, rows_read=n)


def round_to_published(
    ra_deg: np.ndarray, dec_deg: np.ndarray, ra_s_decimals: int, dec_as_decimals: int
) -> tuple[np.ndarray, np.ndarray]:
    """Round positions as a survey's sexagesimal strings do (seconds of time / of arc).

    Examples
    --------
    >>> r, d = round_to_published(np.array([90.00833332]), np.array([-31.6706]), 2, 1)
    >>> round(float(r[0] * 240), 6), round(float(d[0] * 3600), 6)
    (21602.0, -114014.2)
    """
    ra_s = np.round(np.mod(ra_deg, 360.0) * 240.0, ra_s_decimals)
    dec_as = np.sign(dec_deg) * np.round(np.abs(dec_deg) * 3600.0, dec_as_decimals)
    return np.mod(ra_s / 240.0, 360.0), dec_as / 3600.0


def flag_strings(pairs: list[tuple[str, np.ndarray]], n: int) -> np.ndarray:
    """Join ``name=value`` flags per row, leaving out blank values.

    Examples
    --------
    >>> flag_strings([("S_Code", np.array(["S", ""])), ("limit", np.array(["", "<"]))], 2).tolist()
    ['S_Code=S', 'limit=<']
    """
    parts = []
    for name, values in pairs:
        v = np.asarray(values).astype(str)
        parts.append(np.where(v == "", "", np.char.add(name + "=", v)))
    out = []
    for i in range(n):
        out.append(",".join(p[i] for p in parts if p[i]))
    return np.array(out, dtype=str) if out else np.array([], dtype="U1")
