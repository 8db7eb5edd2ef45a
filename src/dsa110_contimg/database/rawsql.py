"""The raw driver cursor, for the hot paths that move thousands of rows per call.

Plain tuples avoid the per-row cost of SQLAlchemy result objects (10 000 rows per image).
Statements use ``?`` placeholders, turned into ``%s`` on PostgreSQL. Only modules of
:mod:`dsa110_contimg.database` use this.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from sqlalchemy import Connection

__all__ = [
    "PgArray",
    "execute_pg_arrays",
    "executemany_raw",
    "fetch_raw",
    "placeholder",
    "register_pg_arrays",
]


def placeholder(conn: Connection) -> str:
    """Return the driver's parameter placeholder (``?`` on SQLite, ``%s`` on PostgreSQL)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def fetch_raw(
    conn: Connection, sql: str, params: Sequence = (), *, binary: bool = False
) -> list[tuple]:
    """Run a SELECT on the driver cursor of ``conn`` (inside its transaction); return tuples.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection (its transaction, if any, is used).
    sql : str
        The statement, with ``?`` placeholders.
    params : sequence
        Parameters.
    binary : bool
        PostgreSQL: the results in the binary format (a ``bytea`` as its bytes, not hex
        text the server encodes and the driver decodes: for large binary aggregates).

    Returns
    -------
    list of tuple
        The rows.
    """
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if binary and conn.dialect.name != "sqlite":
            cur.execute(sql, tuple(params), binary=True)
        else:
            cur.execute(sql, tuple(params))
        return cur.fetchall()
    finally:
        cur.close()


def executemany_raw(conn: Connection, sql: str, rows: Iterable[Sequence]) -> None:
    """Run one statement for many parameter rows on the driver cursor (``?`` placeholders)."""
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()


# --------------------------------------------------------------------------------------------
# PostgreSQL array parameters in the binary format

#: element type -> (element oid, array oid)
_PG_OIDS = {
    "float8": (701, 1022),
    "int4": (23, 1007),
    "int8": (20, 1016),
    "text": (25, 1009),
    "bytea": (17, 1001),
}
_NUMERIC = {"float8": ">f8", "int4": ">i4", "int8": ">i8"}


class PgArray:
    """A one-dimensional PostgreSQL array parameter, encoded once in the binary format.

    psycopg dumps a Python list element by element (in Python, as text): ~1 us per element,
    which for the per-image statements (625 rows x 24 columns) cost more than the statements
    themselves. Numeric columns here are encoded by numpy in one pass (the exact IEEE bits:
    nothing is rounded), strings and bytes with one ``join``.

    Parameters
    ----------
    values : sequence
        The elements; None is NULL (NaN stays a float NaN).
    pgtype : str
        ``float8``, ``int4``, ``int8``, ``text`` or ``bytea``.
    """

    __slots__ = ("data", "oid")

    def __init__(self, values: Sequence, pgtype: str) -> None:
        elem, self.oid = _PG_OIDS[pgtype]
        values = list(values)
        n = len(values)
        null = [v is None for v in values]
        has_null = any(null)
        head = struct.pack(">iii", 1 if n else 0, int(has_null), elem)
        if n:
            head += struct.pack(">ii", n, 1)
        if pgtype in _NUMERIC:
            vals = [0 if v is None else v for v in values] if has_null else values
            body = _numeric_body(vals, np.asarray(null) if has_null else None, pgtype)
        else:
            enc = [
                None if v is None else (v.encode() if isinstance(v, str) else bytes(v))
                for v in values
            ]
            body = b"".join(
                b"\xff\xff\xff\xff" if b is None else struct.pack(">i", len(b)) + b for b in enc
            )
        self.data = head + body


    @classmethod
    def numeric(cls, values: np.ndarray, pgtype: str) -> PgArray:
        """Encode numpy values as a ``float8``/``int4``/``int8`` array, non-finite ones NULL.

        The elements are encoded without a Python loop (the per-image metric rows: ~20
        columns of thousands of values).
        """
        arr = np.asarray(values, dtype=np.float64)
        null = ~np.isfinite(arr)
        has_null = bool(null.any())
        out = cls.__new__(cls)
        elem, out.oid = _PG_OIDS[pgtype]
        n = arr.size
        head = struct.pack(">iii", 1 if n else 0, int(has_null), elem)
        if n:
            head += struct.pack(">ii", n, 1)
        vals = np.where(null, 0.0, arr) if has_null else arr
        out.data = head + _numeric_body(vals, null if has_null else None, pgtype)
        return out


def _numeric_body(values, null: np.ndarray | None, pgtype: str) -> bytes:
    """Encode the elements of a numeric array in the binary format (``null``: NULL ones)."""
    n = len(values)
    width = np.dtype(_NUMERIC[pgtype]).itemsize
    rec = np.zeros(n, dtype=[("len", ">i4"), ("v", _NUMERIC[pgtype])])
    rec["len"] = width
    rec["v"] = values
    if null is None:
        return rec.tobytes()
    rec["len"][null] = -1
    keep = np.ones((n, 4 + width), dtype=bool)
    keep[null, 4:] = False  # a NULL element is its length (-1) alone
    return rec.view(np.uint8).reshape(n, 4 + width)[keep].tobytes()


@functools.cache
def _pg_array_dumper() -> type:
    """Return the psycopg dumper of :class:`PgArray` (psycopg imported on first use only)."""
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class _Dumper(Dumper):
        format = Format.BINARY

        def dump(self, obj):
            return obj.data

        def upgrade(self, obj, format):
            d = _Dumper(PgArray)
            d.oid = obj.oid  # the array type of this parameter
            return d

        def get_key(self, obj, format):
            return (PgArray, obj.oid)

    return _Dumper


def register_pg_arrays(conn: Connection) -> None:
    """Let :class:`PgArray` values be parameters of SQLAlchemy statements on ``conn``.

    Registers the dumper on the driver connection (a type adaptation of this module's own
    class: nothing else changes for that connection).
    """
    conn.connection.dbapi_connection.adapters.register_dumper(PgArray, _pg_array_dumper())


def execute_pg_arrays(conn: Connection, sql: str, params: Mapping) -> list[tuple]:
    """Run one statement on PostgreSQL's driver cursor with :class:`PgArray` parameters.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A PostgreSQL connection (its transaction is used).
    sql : str
        The statement, with psycopg's named placeholders (``%(name)s``).
    params : mapping
        Parameters; :class:`PgArray` values travel in the binary format.

    Returns
    -------
    list of tuple
        The rows of a statement that returns some, else ``[]``.
    """
    cur = conn.connection.dbapi_connection.cursor()
    try:
        cur.adapters.register_dumper(PgArray, _pg_array_dumper())
        cur.execute(sql, dict(params))
        return cur.fetchall() if cur.description is not None else []
    finally:
        cur.close()
