"""The raw driver cursor, for the hot paths that move thousands of rows per call.

Plain tuples avoid the per-row cost of SQLAlchemy result objects (10 000 rows per image).
Statements use ``?`` placeholders, turned into ``%s`` on PostgreSQL. Only modules of
:mod:`dsa110_contimg.database` use this.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

__all__ = ["executemany_raw", "fetch_raw", "placeholder"]


def placeholder(conn: Connection) -> str:
    """Return the driver's parameter placeholder (``?`` on SQLite, ``%s`` on PostgreSQL)."""
    return "?" if conn.dialect.name == "sqlite" else "%s"


def fetch_raw(conn: Connection, sql: str, params: Sequence = ()) -> list[tuple]:
    """Run a SELECT on the driver cursor of ``conn`` (inside its transaction); return tuples.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection (its transaction, if any, is used).
    sql : str
        The statement, with ``?`` placeholders.
    params : sequence
        Parameters.

    Returns
    -------
    list of tuple
        The rows.
    """
    if conn.dialect.name != "sqlite":
        sql = sql.replace("?", "%s")
    cur = conn.connection.dbapi_connection.cursor()
    try:
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
