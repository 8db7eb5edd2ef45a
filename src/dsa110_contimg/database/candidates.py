"""Storage of ESE candidates (``ese_candidates``, migration 0005).

The flagging is in :mod:`dsa110_contimg.variability.ese`; this module keeps its outcome:
one row per (source, series) that passed the loosest preset, with a status a person sets.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Float, Integer, bindparam, delete, func, select, update

from .tables import ese_candidates

__all__ = ["candidate_columns", "list_candidate_rows", "set_candidate_status", "store_candidates"]

log = logging.getLogger(__name__)
_CHUNK = 500


def store_candidates(
    conn: Connection,
    series: str,
    values: Mapping[tuple[str, str], dict],
    *,
    now: float,
    recompute_keys: Sequence[tuple[str, str]] | None = None,
) -> int:
    """Insert or refresh flagged sources (inside the caller's write transaction).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection in a write transaction.
    series : str
        The ESE series.
    values : mapping of (catalog, source_id) to dict
        Stored values of each flagged source (``variability.ese.candidate_values``).
    now : float
        Unix time of the update.
    recompute_keys : sequence, optional
        After a recomputation: sources whose *active* candidates no longer flagged are removed
        (dismissed and confirmed ones are kept).

    Returns
    -------
    int
        Candidates inserted or updated.
    """
    if recompute_keys is not None:
        rk = set(recompute_keys)
        existing = conn.execute(
            select(ese_candidates.c.id, ese_candidates.c.catalog, ese_candidates.c.source_id).where(
                ese_candidates.c.series == series, ese_candidates.c.status == "active"
            )
        ).all()
        gone = [
            r.id
            for r in existing
            if (r.catalog, r.source_id) in rk and (r.catalog, r.source_id) not in values
        ]
        if gone:
            conn.execute(delete(ese_candidates).where(ese_candidates.c.id.in_(gone)))
    if not values:
        return 0
    old = {}
    sids = sorted({k[1] for k in values})
    for i in range(0, len(sids), _CHUNK):
        for r in conn.execute(
            select(ese_candidates.c.id, ese_candidates.c.catalog, ese_candidates.c.source_id).where(
                ese_candidates.c.series == series,
                ese_candidates.c.source_id.in_(sids[i : i + _CHUNK]),
            )
        ):
            old[(r.catalog, r.source_id)] = r.id
    updates, inserts = [], []
    for key, v in values.items():
        v = dict(v, updated_at=now)
        if key in old:
            updates.append({"b_id": old[key], **v})
        else:
            inserts.append(
                dict(v, catalog=key[0], source_id=key[1], series=series, status="active",
                     note=None, created_at=now)
            )  # fmt: skip
            log.info(
                "ESE candidate %s:%s (%s, score %.1f)", key[0], key[1], v["preset"], v["score"]
            )
    if updates:
        cols = [c for c in updates[0] if c != "b_id"]
        conn.execute(
            update(ese_candidates)
            .where(ese_candidates.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in cols}),
            updates,
        )
    if inserts:
        conn.execute(ese_candidates.insert(), inserts)
    return len(values)


def candidate_columns() -> list[tuple[str, type]]:
    """(name, Python type) of each ``ese_candidates`` column, in table order."""

    def kind(col) -> type:
        if isinstance(col.type, Float):
            return float
        if isinstance(col.type, Integer):
            return int
        return object

    return [(c.name, kind(c)) for c in ese_candidates.columns]


def list_candidate_rows(conn: Connection, *, status: str | None = None) -> list[dict]:
    """Return every candidate (optionally of one status), best score first."""
    stmt = select(ese_candidates).order_by(ese_candidates.c.score.desc(), ese_candidates.c.id)
    if status is not None:
        stmt = stmt.where(ese_candidates.c.status == status)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def set_candidate_status(conn: Connection, cid: int, values: Mapping) -> dict | None:
    """Update a candidate's status (and note); return its row, or None when there is none."""
    res = conn.execute(
        update(ese_candidates).where(ese_candidates.c.id == int(cid)).values(**values)
    )
    if res.rowcount == 0:
        return None
    row = conn.execute(select(ese_candidates).where(ese_candidates.c.id == int(cid))).one()
    from .sources import refresh_source_states  # the per-source table's ESE state

    refresh_source_states(conn, [(row.catalog, row.source_id)])
    return dict(row._mapping)


def newest_candidate_id(conn: Connection) -> int:
    """Return the largest candidate id (0 when there is none)."""
    return int(conn.execute(select(func.coalesce(func.max(ese_candidates.c.id), 0))).scalar_one())


def candidates_after(conn: Connection, cid: int) -> list[dict]:
    """Return the candidates created after the one with id ``cid``, by id."""
    c = ese_candidates.c
    stmt = select(ese_candidates).where(c.id > int(cid)).order_by(c.id)
    return [dict(r._mapping) for r in conn.execute(stmt)]
