"""Copy a database into another (``contimg db copy --to postgresql+psycopg://...``).

For a user who outgrows the embedded SQLite default: every table of the schema (products,
registry, photometry, catalogs, jobs, stream queue, mosaics, normalization and whatever later
migrations add) is streamed in primary-key order into an empty database of the target URL
(migrated to the same head first), with ``COPY`` on PostgreSQL and batched inserts otherwise;
identity sequences are moved past the copied ids; then both sides are read again in the same
order and compared row for row, the views (``photometry``) included.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import REAL, Engine, Integer, Table, func, select, text

from ..errors import DatabaseError
from .tables import metadata, views

__all__ = ["CopiedTable", "copy_database", "verify_copy"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopiedTable:
    """One table copied: its rows and the SHA-256 of their canonical form (both sides)."""

    name: str
    rows: int
    digest: str


def _order(table: Table):
    pk = list(table.primary_key.columns)
    return pk or list(table.columns)


def _batches(engine: Engine, table: Table, batch_rows: int) -> Iterator[list[tuple]]:
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=batch_rows).execute(
            select(*table.columns).order_by(*_order(table))
        )
        for part in result.partitions(batch_rows):
            yield [tuple(r) for r in part]


def _canonical(value) -> bytes:
    if value is None:
        return b"\x00N"
    if isinstance(value, bool):
        return b"\x01" + (b"1" if value else b"0")
    if isinstance(value, float):
        return b"\x02" + value.hex().encode()
    if isinstance(value, int):
        return b"\x03" + str(value).encode()
    if isinstance(value, bytes | memoryview):
        return b"\x04" + bytes(value)
    return b"\x05" + str(value).encode()


def _float4(value):
    return value if value is None else float(np.float32(value))


def _digest(engine: Engine, table: Table, batch_rows: int) -> tuple[int, str]:
    """Return the row count and digest of a table; float4 columns compared as float32.

    An SQLite database holds them as doubles, PostgreSQL as float4 (``tables/photometry.py``).
    """
    f4 = [isinstance(c.type, REAL) or c.info.get("float4", False) for c in table.columns]
    h = hashlib.sha256()
    n = 0
    for rows in _batches(engine, table, batch_rows):
        for r in rows:
            h.update(
                b"\x1e".join(_canonical(_float4(v) if f else v) for v, f in zip(r, f4, strict=True))
                + b"\x1d"
            )
        n += len(rows)
    return n, h.hexdigest()


def _write(target: Engine, table: Table, rows: list[tuple]) -> None:
    cols = [c.name for c in table.columns]
    with target.begin() as conn:
        if conn.dialect.name == "postgresql":
            dbapi = conn.connection.dbapi_connection
            with dbapi.cursor() as cur:
                with cur.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as cp:
                    for r in rows:
                        cp.write_row(r)
        else:
            conn.execute(table.insert(), [dict(zip(cols, r, strict=True)) for r in rows])


def _reset_sequences(target: Engine, table: Table) -> None:
    if target.dialect.name != "postgresql":
        return
    for col in table.primary_key.columns:
        if isinstance(col.type, Integer) and col.autoincrement in (True, "auto"):
            with target.begin() as conn:
                seq = conn.execute(
                    text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": col.name}
                ).scalar()
                if seq is None:
                    continue
                top = conn.execute(select(func.max(col))).scalar()
                if top is not None:
                    conn.execute(text("SELECT setval(:s, :v)"), {"s": seq, "v": int(top)})


def copy_database(
    source: Engine,
    target: Engine,
    *,
    batch_rows: int = 50_000,
    progress: Callable[[str, int], None] | None = None,
) -> list[CopiedTable]:
    """Copy every table of the schema from ``source`` into the empty ``target``; verify it.

    Parameters
    ----------
    source, target : sqlalchemy.Engine
        Both at the head migration (:func:`~dsa110_contimg.database.get_engine` does that).
    batch_rows : int
        Rows read and written per batch.
    progress : callable, optional
        Called as ``progress(table, rows_copied)`` after each batch.

    Returns
    -------
    list of CopiedTable
        Per table, in dependency order, as verified on both sides.

    Raises
    ------
    DatabaseError
        The target already holds rows, or the copy does not match the source.
    """
    tables = list(metadata.sorted_tables)
    with target.connect() as conn:
        full = [
            t.name for t in tables if conn.execute(select(func.count()).select_from(t)).scalar()
        ]
    if full:
        raise DatabaseError(f"the target database is not empty (tables {', '.join(full)})")
    for table in tables:
        n = 0
        for rows in _batches(source, table, batch_rows):
            _write(target, table, rows)
            n += len(rows)
            if progress is not None:
                progress(table.name, n)
        _reset_sequences(target, table)
        log.info("copied %s: %d rows", table.name, n)
    return verify_copy(source, target, batch_rows=batch_rows)


def verify_copy(source: Engine, target: Engine, *, batch_rows: int = 50_000) -> list[CopiedTable]:
    """Compare every table of two databases row for row (primary-key order, exact values).

    The views (``photometry``: what every reader sees of the photometry base tables) are
    compared first, in id order, then the tables.

    Raises
    ------
    DatabaseError
        A table differs (row count or any value).
    """
    out = []
    for table in [*views.sorted_tables, *metadata.sorted_tables]:
        a = _digest(source, table, batch_rows)
        b = _digest(target, table, batch_rows)
        if a != b:
            raise DatabaseError(
                f"table {table.name} differs after the copy: {a[0]} rows -> {b[0]} rows"
                + ("" if a[0] != b[0] else " (same count, different values)")
            )
        out.append(CopiedTable(table.name, a[0], a[1]))
    return out
