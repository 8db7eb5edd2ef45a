"""The stream queue in the products database (tables ``stream_groups`` and ``stream_files``).

Groups move ``collecting`` -> ``pending`` -> ``running`` -> ``completed`` | ``failed``. Every
state change is one transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL row locks), every file
path is unique, so after a crash the streamer resumes where it was: files already recorded are
not queued again, a group that was ``running`` goes back to ``pending`` (at most
``stream.max_attempts`` times) and a ``completed`` or ``failed`` group is never processed again.
This module decides; the statements are :mod:`dsa110_contimg.database.stream_groups`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ...config import Settings, resolve_settings
from ...database import get_engine, write_transaction
from ...database import stream_groups as db
from .files import SubbandName

__all__ = [
    "GROUP_STATUSES",
    "GroupRecord",
    "check_timeouts",
    "claim_next_group",
    "failed_since",
    "finish_group",
    "get_group",
    "group_files",
    "known_paths",
    "list_groups",
    "record_file",
    "recover_running",
    "stream_status",
]

log = logging.getLogger(__name__)

#: ``waiting``: a raw group with no valid calibration, waiting for a calibrator (migration 0007).
GROUP_STATUSES = ("collecting", "pending", "running", "waiting", "completed", "failed")


@dataclass(frozen=True)
class GroupRecord:
    """One row of ``stream_groups``."""

    id: int
    group_key: str
    group_time: float
    input_dir: str
    status: str
    n_files: int
    expected_files: int
    first_seen_at: float
    last_file_at: float
    pending_at: float | None
    started_at: float | None
    finished_at: float | None
    attempts: int
    error: str | None
    ms_path: str | None
    image_path: str | None
    data_id: str | None
    qa_status: str | None
    photometry_job_id: int | None
    timings: str | None
    updated_at: float
    calibration_status: str | None = None
    caltable_id: int | None = None
    cal_wait_until: float | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> GroupRecord:
        """Build from a result row mapping."""
        return cls(**{k: row[k] for k in cls.__dataclass_fields__ if k in row})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, with ``timings`` decoded."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["timings"] = json.loads(self.timings) if self.timings else None
        return d


def _engine(settings: Settings | None):
    return get_engine(resolve_settings(settings))


def known_paths(input_dir: str | Path, *, settings: Settings | None = None) -> set[str]:
    """Paths of the files already recorded from ``input_dir``."""
    prefix = str(Path(input_dir).resolve()).rstrip("/") + "/"
    return db.paths_under(_engine(settings), prefix)


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")


def record_file(
    path: str | Path,
    name: SubbandName,
    *,
    input_dir: str | Path,
    error: str | None = None,
    settings: Settings | None = None,
) -> tuple[str, int | None]:
    """Record a checked subband file and attach it to its group.

    Parameters
    ----------
    path : str or Path
        The file.
    name : SubbandName
        Its parsed name.
    input_dir : str or Path
        The watched directory.
    error : str, optional
        Why the file is unusable (then its group fails with that reason).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    tuple
        ``(file status, group id)``: status ``queued``, ``invalid``, ``duplicate``, ``late``,
        or ``known`` when the path was already recorded.
    """
    settings = resolve_settings(settings)
    cfg = settings.stream
    path = str(Path(path).resolve())
    now = time.time()
    engine = get_engine(settings)
    size = Path(path).stat().st_size if Path(path).exists() else None
    with write_transaction(engine) as conn:
        if db.file_recorded(conn, path):
            return "known", None
        g = db.nearest_group(conn, name.time_unix, cfg.group_tolerance_seconds)
        if g is None:
            gid = db.insert_group(
                conn,
                {
                    "group_key": _iso(name.time_unix),
                    "group_time": name.time_unix,
                    "input_dir": str(Path(input_dir).resolve()),
                    "status": "collecting",
                    "n_files": 0,
                    "expected_files": cfg.n_subbands,
                    "first_seen_at": now,
                    "last_file_at": now,
                    "attempts": 0,
                    "updated_at": now,
                },
            )
            g = {
                "id": gid,
                "status": "collecting",
                "n_files": 0,
                "expected_files": cfg.n_subbands,
                "group_key": _iso(name.time_unix),
            }
        gid = g["id"]
        status = "queued"
        if g["status"] != "collecting":
            status = "late"
        elif error is not None:
            status = "invalid"
        elif db.queued_file_exists(conn, gid, name.subband):
            status = "duplicate"
        db.insert_file(
            conn,
            {
                "path": path,
                "group_id": gid,
                "subband": name.subband,
                "timestamp": name.timestamp,
                "size_bytes": size,
                "status": status,
                "error": error,
                "seen_at": now,
            },
        )
        if status == "invalid":
            db.update_group(
                conn,
                gid,
                status="failed",
                error=f"subband {name.subband:02d}: {error}",
                finished_at=now,
                updated_at=now,
                last_file_at=now,
            )
            log.error("group %s failed: %s", g["group_key"], error)
        elif status == "queued":
            n = g["n_files"] + 1
            values = {"n_files": n, "last_file_at": now, "updated_at": now}
            if n >= g["expected_files"]:
                values.update(status="pending", pending_at=now)
            db.update_group(conn, gid, **values)
        else:
            log.info(
                "%s file %s (group %s is %s): not queued", status, path, g["group_key"], g["status"]
            )
    return status, gid


def check_timeouts(*, settings: Settings | None = None, now: float | None = None) -> list[int]:
    """Fail (or, when configured, release) groups that waited too long for subbands.

    Returns
    -------
    list of int
        Ids of the groups that changed state.
    """
    settings = resolve_settings(settings)
    cfg = settings.stream
    now = time.time() if now is None else now
    changed = []
    engine = get_engine(settings)
    with write_transaction(engine) as conn:
        rows = db.group_rows_in(
            conn, "collecting", first_seen_before=now - cfg.group_timeout_seconds
        )
        for g in rows:
            have = sorted(db.queued_subbands(conn, g["id"]))
            missing = [i for i in range(g["expected_files"]) if i not in have]
            if cfg.process_incomplete and len(have) >= cfg.min_subbands:
                values = {
                    "status": "pending",
                    "pending_at": now,
                    "error": f"processed without subbands {_fmt(missing)}",
                }
                log.warning(
                    "group %s: processing without subbands %s", g["group_key"], _fmt(missing)
                )
            else:
                values = {
                    "status": "failed",
                    "finished_at": now,
                    "error": (
                        f"timed out after {cfg.group_timeout_seconds:g} s waiting for subbands "
                        f"{_fmt(missing)} ({len(have)} of {g['expected_files']} received)"
                    ),
                }
                log.error("group %s failed: %s", g["group_key"], values["error"])
            db.update_group(conn, g["id"], updated_at=now, **values)
            changed.append(g["id"])
    return changed


def _fmt(subbands: list[int]) -> str:
    return ", ".join(f"sb{i:02d}" for i in subbands) or "none"


def recover_running(*, settings: Settings | None = None) -> list[int]:
    """After a restart: put groups left ``running`` back to ``pending`` (or fail them).

    A group whose attempts reached ``stream.max_attempts`` is failed instead, so a group that
    crashes the process cannot loop forever.
    """
    settings = resolve_settings(settings)
    now = time.time()
    out = []
    with write_transaction(get_engine(settings)) as conn:
        rows = db.group_rows_in(conn, "running")
        for g in rows:
            if g["attempts"] >= settings.stream.max_attempts:
                values = {
                    "status": "failed",
                    "finished_at": now,
                    "error": f"interrupted {g['attempts']} times while processing",
                }
            else:
                values = {"status": "pending"}
            db.update_group(conn, g["id"], updated_at=now, **values)
            log.warning("group %s was running at restart: now %s", g["group_key"], values["status"])
            out.append(g["id"])
    return out


def claim_next_group(*, settings: Settings | None = None) -> GroupRecord | None:
    """Atomically take the oldest pending group (``running``, attempts + 1), or None."""
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    now = time.time()
    with write_transaction(engine) as conn:
        gid = db.oldest_pending_group_id(conn)
        if gid is None:
            return None
        g = db.start_group(conn, gid, now)
    return GroupRecord.from_row(g)


def group_files(group_id: int, *, settings: Settings | None = None) -> list[tuple[int, str]]:
    """``(subband, path)`` of the queued files of a group, by subband."""
    return db.queued_files(_engine(settings), group_id)


def finish_group(
    group_id: int,
    *,
    status: str,
    error: str | None = None,
    timings: Mapping[str, float] | None = None,
    settings: Settings | None = None,
    **values: Any,
) -> None:
    """Record the end (``completed`` / ``failed``) or progress of a group."""
    if status not in GROUP_STATUSES:
        raise ValueError(f"unknown group status {status!r}")
    now = time.time()
    vals = dict(values, status=status, updated_at=now)
    if status in ("completed", "failed"):
        vals["finished_at"] = now
    if error is not None:
        vals["error"] = error
    if timings is not None:
        vals["timings"] = json.dumps({k: round(float(v), 4) for k, v in timings.items()})
    with write_transaction(_engine(settings)) as conn:
        db.update_group(conn, group_id, **vals)


def update_group(group_id: int, *, settings: Settings | None = None, **values: Any) -> None:
    """Set columns of a group row (progress: ms_path, image_path, data_id, ...)."""
    values["updated_at"] = time.time()
    with write_transaction(_engine(settings)) as conn:
        db.update_group(conn, group_id, **values)


def failed_since(
    input_dir: str | Path,
    since: float,
    *,
    exclude: set[int] | None = None,
    settings: Settings | None = None,
) -> list[GroupRecord]:
    """Return groups of ``input_dir`` failed since ``since`` (bad file, time-out), oldest first.

    Bounded stream modes count these with the groups they processed, so that a run whose
    groups all failed their file check still ends.
    """
    exclude = exclude or set()
    found = db.failed_group_rows(_engine(settings), str(Path(input_dir).resolve()), since)
    rows = [GroupRecord.from_row(r) for r in found]
    return [g for g in rows if g.id not in exclude]


def get_group(
    group_id_or_key: int | str, *, settings: Settings | None = None
) -> GroupRecord | None:
    """Return a group by id or key (ISO timestamp), or None."""
    row = db.group_row(_engine(settings), group_id_or_key)
    return GroupRecord.from_row(row) if row else None


def list_groups(
    *, status: str | None = None, limit: int = 100, settings: Settings | None = None
) -> list[GroupRecord]:
    """Return groups, newest first, optionally of one status."""
    rows = db.group_rows(_engine(settings), status=status, limit=limit)
    return [GroupRecord.from_row(r) for r in rows]


def stream_status(settings: Settings | None = None) -> dict[str, Any]:
    """State of the stream for the health endpoint and ``contimg stream --status``.

    Returns
    -------
    dict
        ``counts`` per group status, ``lag_seconds`` (age of the oldest group not yet
        finished, 0 when none), ``last_completed_at`` / ``last_completed_group``,
        ``last_failed_group`` and ``last_error``, ``last_file_at``, ``files_seen``,
        ``state`` (``"paused: disk nearly full, ... below the watermark ..."``, ``running``,
        ``stopped``; None before any stream ran) and ``streams`` (each stream's state row,
        ``database.stream_state``).

    Examples
    --------
    >>> import tempfile
    >>> from dsa110_contimg.config import Settings
    >>> stream_status(Settings(state_dir=tempfile.mkdtemp()))["counts"]["pending"]
    0
    """
    from ...database.stream import stream_summary

    now = time.time()
    with _engine(settings).connect() as conn:
        st = stream_summary(conn)
    counts, oldest = st["counts"], st["oldest_unfinished_at"]
    last_done, last_failed = st["last_completed"], st["last_failed"]
    return {
        "counts": {s: int(counts.get(s, 0)) for s in GROUP_STATUSES},
        "lag_seconds": round(now - oldest, 3) if oldest is not None else 0.0,
        "last_completed_group": last_done[0] if last_done else None,
        "last_completed_at": last_done[1] if last_done else None,
        "last_failed_group": last_failed[0] if last_failed else None,
        "last_error": last_failed[1] if last_failed else None,
        "files_seen": st["files_seen"],
        "last_file_at": st["last_file_at"],
        **_stream_state_fields(settings),
    }


def _stream_state_fields(settings: Settings | None) -> dict[str, Any]:
    """``state`` (one line: paused and why, running, stopped) and ``streams`` (every row)."""
    from ...database.stream_state import describe_streams, list_stream_states

    rows = list_stream_states(settings)
    return {"state": describe_streams(rows), "streams": rows}
