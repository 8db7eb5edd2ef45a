"""How the Dask re-normalization's tasks read their blocks on PostgreSQL (session settings).

A task's connection only reads, and the machine's cores are the tasks': the server should
spend little on each block and run one process per task. :func:`set_block_reads` sets that
for the task's transaction; :func:`bitmap_scans` makes the statements that read a block's
rows by a list of keys read each heap page once. Nothing on SQLite.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import Connection

from .rawsql import fetch_raw

__all__ = ["BITMAP_ONLY", "BLOCK_READ_SETTINGS", "bitmap_scans", "set_block_reads"]


#: What :func:`set_block_reads` sets, and why (PostgreSQL's names).
BLOCK_READ_SETTINGS = {
    # one server process per task: the cores are the tasks' (two workers on two cores)
    "max_parallel_workers_per_gather": "0",
    # the statements are simple scans: compiling them costs more than it saves
    "jit": "off",
}


def set_block_reads(conn: Connection) -> None:
    """Set, for the rest of the transaction, how a read-only task reads its block (PostgreSQL).

    :data:`BLOCK_READ_SETTINGS` (``SET LOCAL``: the pooled connection is left as it was at the
    end of the transaction). Nothing on SQLite. For the Dask re-normalization's tasks, whose
    connection only reads: not for a transaction that also writes.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        A connection in the transaction the block is read in.
    """
    if conn.dialect.name == "sqlite":
        return
    fetch_raw(
        conn,
        "SELECT "
        + ", ".join(f"set_config('{k}', '{v}', true)" for k, v in BLOCK_READ_SETTINGS.items()),
    )


#: Plan types :func:`bitmap_scans` turns off for its block.
BITMAP_ONLY = ("enable_indexscan", "enable_seqscan")


@contextlib.contextmanager
def bitmap_scans(conn: Connection):
    """Within the block, let PostgreSQL read a table by an index through its bitmap only.

    For a statement that reads many rows by a list of keys (a block's sources' rows by
    ``source_key = ANY(...)``, 1 % of the table at 10^8): through the bitmap each heap page is
    read once, in the table's order. A plain index scan, which the planner picks when the
    index's correlation looks good, reads a page per row (at 10^8 rows, 10^6 buffer misses
    per block); a sequential scan, which it picks without statistics (a table written since
    it was last analyzed, as ``photometry_factors`` during a first re-normalization: it then
    expected 67 % of the rows for 1,000 keys), reads the whole table for every block. The
    settings are restored afterwards (the caller's transaction goes on as before). Nothing
    on SQLite.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        The connection (inside its transaction).
    """
    if conn.dialect.name == "sqlite":
        yield
        return
    # evaluated left to right: the values before, then set
    row = fetch_raw(
        conn,
        "SELECT "
        + ", ".join(f"current_setting('{k}')" for k in BITMAP_ONLY)
        + ", "
        + ", ".join(f"set_config('{k}', 'off', true)" for k in BITMAP_ONLY),
    )[0]
    before = row[: len(BITMAP_ONLY)]
    try:
        yield
    finally:
        fetch_raw(
            conn,
            "SELECT " + ", ".join(f"set_config('{k}', ?, true)" for k in BITMAP_ONLY),
            before,
        )
