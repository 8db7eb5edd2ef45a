"""The state of each stream (table ``stream_state``, migration 0015): running, paused, stopped.

A stream writes its row when its state changes (start, a pause at the disk watermark, the
resume, its end), so ``contimg stream --status`` and the health endpoint, in any process, say
that it is paused and why, instead of showing a queue that simply stopped moving.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from sqlalchemy import select, update

from ..config import Settings, resolve_settings
from .engine import get_engine, write_transaction
from .tables.stream import stream_state

__all__ = ["STREAM_STATES", "describe_streams", "list_stream_states", "set_stream_state"]

#: What a stream can be doing.
STREAM_STATES = ("running", "paused", "stopped")


def set_stream_state(
    input_dir: str,
    state: str,
    reason: str | None = None,
    *,
    now: float | None = None,
    settings: Settings | None = None,
) -> None:
    """Record the state of the stream reading ``input_dir`` (this process, this host).

    Parameters
    ----------
    input_dir : str
        The stream's input directory (one stream per directory).
    state : {"running", "paused", "stopped"}
        Its state now.
    reason : str, optional
        Why (``paused``: the watermark line; ``stopped``: why the last pass paused, if so).
    now : float, optional
        Unix time (default the clock). ``since`` changes only with the state or the reason.
    settings : Settings, optional
        Settings naming the database.

    Raises
    ------
    ValueError
        Unknown state.
    """
    if state not in STREAM_STATES:
        raise ValueError(f"stream state must be one of {STREAM_STATES}, not {state!r}")
    now = time.time() if now is None else float(now)
    who = {"hostname": socket.gethostname(), "pid": os.getpid(), "updated_at": now}
    key = str(input_dir)
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        old = conn.execute(
            select(stream_state.c.state, stream_state.c.reason).where(
                stream_state.c.input_dir == key
            )
        ).first()
        if old is None:
            conn.execute(stream_state.insert().values(
                input_dir=key, state=state, reason=reason, since=now, **who))  # fmt: skip
            return
        values: dict[str, Any] = dict(who, state=state, reason=reason)
        if (old.state, old.reason) != (state, reason):
            values["since"] = now
        conn.execute(update(stream_state).where(stream_state.c.input_dir == key).values(**values))


def list_stream_states(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Return every stream's state row, most recently updated first."""
    with get_engine(resolve_settings(settings)).connect() as conn:
        rows = conn.execute(select(stream_state).order_by(stream_state.c.updated_at.desc()))
        return [dict(r._mapping) for r in rows]


def describe_streams(rows: list[dict[str, Any]]) -> str | None:
    """One line for a person: a paused stream first (its reason), else the latest state.

    Examples
    --------
    >>> describe_streams([{"input_dir": "/in", "state": "running", "reason": None},
    ...                   {"input_dir": "/b", "state": "paused", "reason": "paused: disk low"}])
    'paused: disk low'
    >>> describe_streams([{"input_dir": "/in", "state": "stopped", "reason": "paused: x"}])
    'stopped (its last pass paused: x)'
    >>> describe_streams([]) is None
    True
    """
    if not rows:
        return None
    paused = [r for r in rows if r["state"] == "paused"]
    row = paused[0] if paused else rows[0]
    if row["state"] == "paused":
        return row["reason"] or "paused"
    if row["state"] == "stopped" and row["reason"]:
        return f"stopped (its last pass {row['reason']})"
    return row["state"]
