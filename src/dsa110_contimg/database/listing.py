"""The explorer's copies of the per-source tables, refreshed behind their writers (migration 0023).

``sources`` and ``source_metrics`` are rewritten for every source of every image; the
explorer's lists need an index per sort key, which would make each rewrite touch some twenty
indexes. So the lists read copies that carry those indexes (``source_list``,
``metric_list``), and the tables carry their primary keys only. Every writer of the tables
calls :func:`enqueue` with the sources it changed, inside its transaction (the queue row
commits or rolls back with the change); :func:`refresh_listing` copies the queued sources'
rows over and empties the queue.

When the copies are refreshed: ``write_transaction`` refreshes them right after a transaction
that enqueued commits, in a transaction of its own, so that a list read after any write sees
it, unless the writer deferred the refresh (:func:`defer`): the job worker's ingest pass,
whose caller refreshes right after the pass and its ESE alerts
(``variability.pipeline.on_photometry_written_many``). The queue is durable: a refresh that
did not happen (a crash in between) is done by the next one, whichever writer runs it.

Examples
--------
>>> import tempfile
>>> from dsa110_contimg.config import Settings
>>> from dsa110_contimg.database import get_engine, write_transaction
>>> engine = get_engine(Settings(state_dir=tempfile.mkdtemp()))
>>> with write_transaction(engine) as conn:
...     refresh_listing(conn)
0
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection

from .errors import STORE_ERRORS
from .rawsql import PgArray, execute_pg_arrays, executemany_raw, fetch_raw
from .tables import LISTED_METRICS, source_list

__all__ = [
    "defer",
    "enqueue",
    "forget",
    "pending",
    "refresh_after_commit",
    "refresh_listing",
    "suspended",
]

log = logging.getLogger(__name__)

_PENDING = "contimg.listing.pending"  # keys enqueued in this transaction
_DEFERRED = "contimg.listing.deferred"  # the writer refreshes later itself
_SUSPENDED = "contimg.listing.suspended"  # schema migrations: nothing queued
_QUEUED = "contimg.listing.queued"  # (transaction, sources it queued)
_LOCK = 0x6C697374  # pg_advisory_xact_lock key of refreshes ("list")
_SOURCE_COLUMNS = tuple(c.name for c in source_list.columns)
_METRIC_COLUMNS = ("catalog", "source_id", "series", *LISTED_METRICS)
#: (copy, table, columns, primary key, columns that seldom change) of each copy
_COPIES = (
    ("source_list", "sources", _SOURCE_COLUMNS, ("catalog", "source_id"),
     ("ra_deg", "dec_deg", "hpx", "catalog_flux_mjy")),
    ("metric_list", "source_metrics", _METRIC_COLUMNS, ("catalog", "source_id", "series"), ()),
)  # fmt: skip


def enqueue(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    """Queue sources whose ``sources`` or ``source_metrics`` rows the transaction changed."""
    if conn.info.get(_SUSPENDED):
        return
    txn, queued = conn.info.get(_QUEUED, (None, set()))
    if txn is not conn.get_transaction():  # another transaction's bookkeeping: start afresh
        txn, queued = conn.get_transaction(), set()
    keys = sorted(set(keys) - queued)  # each source once per transaction
    if not keys:
        return
    queued.update(keys)
    conn.info[_QUEUED] = (txn, queued)
    if conn.dialect.name == "postgresql":
        execute_pg_arrays(
            conn,
            "INSERT INTO listing_queue (catalog, source_id) SELECT * FROM unnest(%(c)s, %(s)s)",
            {"c": PgArray([k[0] for k in keys], "text"),
             "s": PgArray([k[1] for k in keys], "text")},
        )  # fmt: skip
    else:
        executemany_raw(conn, "INSERT INTO listing_queue (catalog, source_id) VALUES (?, ?)", keys)
    conn.info[_PENDING] = True


@contextlib.contextmanager
def suspended(conn: Connection) -> Iterator[None]:
    """Queue nothing on ``conn`` meanwhile (the schema migrations).

    Their backfills (0008, 0012) run this package's writers on a schema older than the queue;
    0023 copies the tables whole.
    """
    conn.info[_SUSPENDED] = True
    try:
        yield
    finally:
        conn.info.pop(_SUSPENDED, None)


def defer(conn: Connection) -> None:
    """Leave this transaction's queued sources for the caller's own :func:`refresh_listing`."""
    conn.info[_DEFERRED] = True


def pending(conn: Connection) -> int:
    """Return the number of queued (not yet copied) entries."""
    return int(fetch_raw(conn, "SELECT count(*) FROM listing_queue")[0][0])


def refresh_listing(conn: Connection) -> int:
    """Copy the queued sources' rows to ``source_list`` and ``metric_list``; empty the queue.

    Inside the caller's write transaction. A source's copies become what its rows hold now
    (removed if they are gone), so the order of refreshes does not matter; on
    PostgreSQL refreshes are serialized by an advisory lock (two could otherwise both copy a
    source). Returns the number of sources copied.
    """
    pg = conn.dialect.name == "postgresql"
    conn.info.pop(_QUEUED, None)  # a source written again after this is queued again
    if pg:
        execute_pg_arrays(conn, "SELECT pg_advisory_xact_lock(%(k)s)", {"k": _LOCK})
        rows = execute_pg_arrays(
            conn, "DELETE FROM listing_queue RETURNING catalog, source_id", {}
        )
    else:
        rows = fetch_raw(conn, "SELECT id, catalog, source_id FROM listing_queue")
        if rows:
            last = max(r[0] for r in rows)
            executemany_raw(conn, "DELETE FROM listing_queue WHERE id <= ?", [(last,)])
            rows = [r[1:] for r in rows]
    keys = sorted({(r[0], r[1]) for r in rows})
    if not keys:
        return 0
    if not pg:
        fetch_raw(conn, "CREATE TEMP TABLE IF NOT EXISTS listing_keys (catalog TEXT, "
                        "source_id TEXT, PRIMARY KEY (catalog, source_id)) WITHOUT ROWID")
        fetch_raw(conn, "DELETE FROM temp.listing_keys")
        executemany_raw(conn, "INSERT INTO temp.listing_keys VALUES (?, ?)", keys)
    for table, source, columns, key, stable in _COPIES:
        cols = ", ".join(columns)
        # an upsert of the columns that change with every measurement, then the seldom
        # changing ones where they did (an index of a column an UPDATE sets is rewritten on
        # SQLite even when the value is the same), then the copies of rows that are gone
        upsert = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET " + ", ".join(
            f"{c} = excluded.{c}" for c in columns if c not in key and c not in stable
        )
        differs = " OR ".join(
            f"{table}.{c} IS {'DISTINCT FROM' if pg else 'NOT'} r.{c}" for c in stable
        )
        moved = f"UPDATE {table} SET {', '.join(f'{c} = r.{c}' for c in stable)} FROM "
        gone = "NOT EXISTS (SELECT 1 FROM {s} t WHERE {m})".format(
            s=source, m=" AND ".join(f"t.{c} = {table}.{c}" for c in key)
        )
        if pg:
            arrays = {"c": PgArray([k[0] for k in keys], "text"),
                      "s": PgArray([k[1] for k in keys], "text")}  # fmt: skip
            # one primary-key probe per source (LATERAL), never a scan of the table
            execute_pg_arrays(
                conn,
                f"INSERT INTO {table} ({cols}) SELECT r.* FROM unnest(%(c)s, %(s)s) AS k(c, s) "
                f"CROSS JOIN LATERAL (SELECT {cols} FROM {source} "
                f"WHERE catalog = k.c AND source_id = k.s) r {upsert}",
                arrays,
            )
            if stable:
                execute_pg_arrays(
                    conn,
                    f"{moved}unnest(%(c)s, %(s)s) AS k(c, s) JOIN {source} r "
                    f"ON r.catalog = k.c AND r.source_id = k.s WHERE {table}.catalog = k.c "
                    f"AND {table}.source_id = k.s AND ({differs})",
                    arrays,
                )
            execute_pg_arrays(
                conn,
                f"DELETE FROM {table} USING unnest(%(c)s, %(s)s) AS k(c, s) "
                f"WHERE {table}.catalog = k.c AND {table}.source_id = k.s AND {gone}",
                arrays,
            )
        else:
            # SQLite: the keys in a temporary table, one statement per step (2.6x faster than
            # one statement per source for an image of 10,000)
            picked = ", ".join(f"r.{c}" for c in columns)
            fetch_raw(
                conn,
                f"INSERT INTO {table} ({cols}) SELECT {picked} FROM temp.listing_keys k "
                f"JOIN {source} r ON r.catalog = k.catalog AND r.source_id = k.source_id "
                f"WHERE true {upsert}",
            )
            if stable:
                fetch_raw(
                    conn,
                    f"{moved}temp.listing_keys k JOIN {source} r ON r.catalog = k.catalog "
                    f"AND r.source_id = k.source_id WHERE {table}.catalog = k.catalog "
                    f"AND {table}.source_id = k.source_id AND ({differs})",
                )
            fetch_raw(
                conn,
                f"DELETE FROM {table} WHERE (catalog, source_id) IN "
                f"(SELECT catalog, source_id FROM temp.listing_keys) AND {gone}",
            )
    return len(keys)


def refresh_after_commit(conn: Connection) -> None:
    """Refresh the copies if the transaction queued sources (``write_transaction``, after commit).

    Not when the writer deferred the refresh. A failure is logged, not raised: the writer's
    own change is committed, and the queue keeps the sources for the next refresh.
    """
    queued = conn.info.pop(_PENDING, False)
    deferred = conn.info.pop(_DEFERRED, False)
    if not queued or deferred:
        return
    try:
        with conn.begin():
            refresh_listing(conn)
    except STORE_ERRORS as exc:
        log.warning(
            "the source list's copies were not refreshed (%s); the next refresh will", exc
        )


def forget(conn: Connection) -> None:
    """Drop this transaction's queue bookkeeping (a rolled-back transaction queued nothing)."""
    for key in (_PENDING, _DEFERRED, _QUEUED):
        conn.info.pop(key, None)
