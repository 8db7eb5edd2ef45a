"""Reads of the streaming queue's tables (``stream_groups``, ``stream_files``) for its status.

The queue's own claims and transitions are in
:mod:`dsa110_contimg.conversion.streaming.queue`; this module answers "how is the stream
doing" for the health endpoint, the dashboard and ``contimg stream --status``.
"""

from __future__ import annotations

from sqlalchemy import func, select

from .tables.stream import stream_files, stream_groups

__all__ = ["stream_summary"]

#: Group statuses of a group not finished yet (the stream's lag is the oldest one's age).
UNFINISHED = ("collecting", "pending", "running")


def stream_summary(conn) -> dict:
    """Return the raw figures of the stream's state.

    Returns
    -------
    dict
        ``counts`` ({status: groups}), ``oldest_unfinished_at`` (Unix seconds or None),
        ``last_completed`` and ``last_failed`` ((group_key, finished_at or error) or None),
        ``files_seen`` and ``last_file_at``.
    """
    g = stream_groups.c
    counts = dict(conn.execute(select(g.status, func.count()).group_by(g.status)).all())
    oldest = conn.execute(
        select(func.min(g.first_seen_at)).where(g.status.in_(UNFINISHED))
    ).scalar()
    last_done = conn.execute(
        select(g.group_key, g.finished_at)
        .where(g.status == "completed")
        .order_by(g.finished_at.desc())
        .limit(1)
    ).first()
    last_failed = conn.execute(
        select(g.group_key, g.error)
        .where(g.status == "failed")
        .order_by(g.finished_at.desc())
        .limit(1)
    ).first()
    files = conn.execute(select(func.count(), func.max(stream_files.c.seen_at))).first()
    return {
        "counts": {k: int(v) for k, v in counts.items()},
        "oldest_unfinished_at": oldest,
        "last_completed": tuple(last_done) if last_done else None,
        "last_failed": tuple(last_failed) if last_failed else None,
        "files_seen": int(files[0] or 0),
        "last_file_at": files[1],
    }
