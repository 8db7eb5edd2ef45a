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

__all__ = [
    "STREAM_STATES",
    "describe_streams",
    "list_stream_states",
    "process_alive",
    "set_stream_state",
]

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


def process_alive(hostname: str | None, pid: int | None) -> bool | None:
    """Whether the process ``pid`` of ``hostname`` runs (None: another host, or unknown)."""
    if pid is None or hostname != socket.gethostname():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def list_stream_states(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Return every stream's state row, most recently updated first.

    Each row gains ``alive``: whether the process that wrote it still runs (None when it
    cannot be told: another host). A stream killed outright (SIGKILL, power) leaves its last
    state behind; :func:`describe_streams` then says so.
    """
    with get_engine(resolve_settings(settings)).connect() as conn:
        rows = conn.execute(select(stream_state).order_by(stream_state.c.updated_at.desc()))
        out = [dict(r._mapping) for r in rows]
    for r in out:
        r["alive"] = None if r["state"] == "stopped" else process_alive(r["hostname"], r["pid"])
    return out


def describe_streams(rows: list[dict[str, Any]]) -> str | None:
    """One line for a person: a paused stream first (its reason), else the latest state.

    Examples
    --------
    >>> describe_streams([{"input_dir": "/in", "state": "running", "reason": None},
    ...                   {"input_dir": "/b", "state": "paused", "reason": "paused: disk low"}])
    'paused: disk low'
    >>> describe_streams([{"input_dir": "/in", "state": "stopped", "reason": "paused: x"}])
    'stopped (its last pass paused: x)'
    >>> describe_streams([{"input_dir": "/in", "state": "paused", "reason": "paused: x",
    ...                    "pid": 99, "hostname": "h", "alive": False}])
    'died (process 99 on h is gone; its last state: paused: x)'
    >>> describe_streams([]) is None
    True
    """
    if not rows:
        return None
    paused = [r for r in rows if r["state"] == "paused" and r.get("alive") is not False]
    row = paused[0] if paused else rows[0]
    if row.get("alive") is False:
        last = row["reason"] if row["state"] == "paused" and row["reason"] else row["state"]
        return f"died (process {row['pid']} on {row['hostname']} is gone; its last state: {last})"
    if row["state"] == "paused":
        return row["reason"] or "paused"
    if row["state"] == "stopped" and row["reason"]:
        return f"stopped (its last pass {row['reason']})"
    return row["state"]
