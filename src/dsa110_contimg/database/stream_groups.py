"""The stream queue in the products database: ``stream_groups`` and ``stream_files``.

The statements of the streaming converter's queue; its logic (which file joins which group,
when a group is complete, timed out or interrupted) is in
:mod:`dsa110_contimg.conversion.streaming.queue`. Writers take a ``conn`` inside the caller's
write transaction (:func:`~dsa110_contimg.database.engine.write_transaction`); readers that
stand alone take the engine. Rows are returned as mappings of ``stream_groups`` columns.
The stream's status figures are read by :mod:`dsa110_contimg.database.stream`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, insert, select, update

from .tables.stream import stream_files, stream_groups

__all__ = [
    "failed_group_rows",
    "file_recorded",
    "group_row",
    "group_rows",
    "group_rows_in",
    "insert_file",
    "insert_group",
    "nearest_group",
    "oldest_pending_group_id",
    "paths_under",
    "pruneable_outputs",
    "queued_file_exists",
    "queued_files",
    "queued_subbands",
    "start_group",
    "update_group",
]


# -- standalone reads ---------------------------------------------------------------------------


def paths_under(engine: Engine, prefix: str) -> set[str]:
    """Return the recorded file paths that start with ``prefix``."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(stream_files.c.path).where(stream_files.c.path.startswith(prefix))
        )
        return {r[0] for r in rows}


def queued_files(engine: Engine, group_id: int) -> list[tuple[int, str]]:
    """Return ``(subband, path)`` of the queued files of a group, by subband."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(stream_files.c.subband, stream_files.c.path)
            .where(and_(stream_files.c.group_id == group_id, stream_files.c.status == "queued"))
            .order_by(stream_files.c.subband)
        )
        return [(int(r[0]), r[1]) for r in rows]


def failed_group_rows(engine: Engine, input_dir: str, since: float) -> list[Mapping[str, Any]]:
    """Return the groups of ``input_dir`` failed at or after ``since``, oldest first."""
    stmt = (
        select(stream_groups)
        .where(
            and_(
                stream_groups.c.input_dir == input_dir,
                stream_groups.c.status == "failed",
                stream_groups.c.finished_at >= since,
            )
        )
        .order_by(stream_groups.c.group_time)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def group_row(engine: Engine, group_id_or_key: int | str) -> Mapping[str, Any] | None:
    """Return a group by id (int) or key (ISO timestamp, str), or None."""
    col = stream_groups.c.id if isinstance(group_id_or_key, int) else stream_groups.c.group_key
    with engine.connect() as conn:
        return conn.execute(select(stream_groups).where(col == group_id_or_key)).mappings().first()


def group_rows(engine: Engine, *, status: str | None = None, limit: int = 100) -> list[Mapping]:
    """Return groups, newest first, optionally of one status."""
    stmt = select(stream_groups).order_by(stream_groups.c.group_time.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(stream_groups.c.status == status)
    with engine.connect() as conn:
        return list(conn.execute(stmt).mappings())


def pruneable_outputs(
    engine: Engine, finished_before: float
) -> list[tuple[str | None, str | None]]:
    """Return ``(ms_path, image_path)`` of the groups completed at or before ``finished_before``."""
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                select(stream_groups.c.ms_path, stream_groups.c.image_path).where(
                    stream_groups.c.status == "completed",
                    stream_groups.c.finished_at <= finished_before,
                )
            ).all()
        ]


# -- inside a write transaction -----------------------------------------------------------------


def file_recorded(conn: Connection, path: str) -> bool:
    """Return whether ``path`` is recorded already."""
    return (
        conn.execute(select(stream_files.c.id).where(stream_files.c.path == path)).first()
        is not None
    )


def nearest_group(conn: Connection, time_unix: float, tolerance: float) -> Mapping | None:
    """Return the group whose time is nearest ``time_unix`` within ``tolerance`` s, or None."""
    return (
        conn.execute(
            select(stream_groups)
            .where(stream_groups.c.group_time.between(time_unix - tolerance, time_unix + tolerance))
            .order_by(func.abs(stream_groups.c.group_time - time_unix))
            .limit(1)
        )
        .mappings()
        .first()
    )


def insert_group(conn: Connection, values: Mapping[str, Any]) -> int:
    """Insert a ``stream_groups`` row; return its id."""
    return conn.execute(insert(stream_groups).values(**values)).inserted_primary_key[0]


def queued_file_exists(conn: Connection, group_id: int, subband: int) -> bool:
    """Return whether a group already has a queued file of ``subband``."""
    hit = conn.execute(
        select(stream_files.c.id).where(
            and_(
                stream_files.c.group_id == group_id,
                stream_files.c.subband == subband,
                stream_files.c.status == "queued",
            )
        )
    ).first()
    return hit is not None


def insert_file(conn: Connection, values: Mapping[str, Any]) -> None:
    """Insert a ``stream_files`` row."""
    conn.execute(insert(stream_files).values(**values))


def update_group(conn: Connection, group_id: int, **values: Any) -> None:
    """Set columns of a group."""
    conn.execute(update(stream_groups).where(stream_groups.c.id == group_id).values(**values))


def group_rows_in(
    conn: Connection, status: str, *, first_seen_before: float | None = None
) -> list[Mapping[str, Any]]:
    """Return the groups in ``status`` (first seen at or before ``first_seen_before``)."""
    cond = stream_groups.c.status == status
    if first_seen_before is not None:
        cond = and_(cond, stream_groups.c.first_seen_at <= first_seen_before)
    return list(conn.execute(select(stream_groups).where(cond)).mappings().all())


def queued_subbands(conn: Connection, group_id: int) -> list[int]:
    """Return the subbands of a group's queued files (unordered)."""
    return [
        r[0]
        for r in conn.execute(
            select(stream_files.c.subband).where(
                and_(stream_files.c.group_id == group_id, stream_files.c.status == "queued")
            )
        )
    ]


def oldest_pending_group_id(conn: Connection) -> int | None:
    """Return the oldest pending group's id, locked on PostgreSQL (skipping locked rows)."""
    stmt = (
        select(stream_groups.c.id)
        .where(stream_groups.c.status == "pending")
        .order_by(stream_groups.c.group_time)
        .limit(1)
    )
    if conn.dialect.name != "sqlite":
        stmt = stmt.with_for_update(skip_locked=True)
    row = conn.execute(stmt).first()
    return None if row is None else row[0]


def start_group(conn: Connection, group_id: int, now: float) -> Mapping[str, Any]:
    """Mark a group ``running`` (counting the attempt); return its row after the change."""
    conn.execute(
        update(stream_groups)
        .where(stream_groups.c.id == group_id)
        .values(
            status="running",
            started_at=now,
            updated_at=now,
            attempts=stream_groups.c.attempts + 1,
        )
    )
    return (
        conn.execute(select(stream_groups).where(stream_groups.c.id == group_id)).mappings().one()
    )
