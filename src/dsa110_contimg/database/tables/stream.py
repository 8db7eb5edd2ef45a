"""Tables of the stream area (migration 0003): the streaming converter's queue.

``stream_groups`` holds one row per observation group (the subband files sharing a
timestamp within a tolerance) with its state: ``collecting`` (files arriving) -> ``pending``
(all subbands, or processing what it has after the timeout when so configured) -> ``running``
-> ``completed`` | ``failed`` (with the reason). ``stream_files`` holds one row per file ever
seen (unique path), so no file is queued twice, even across restarts. ``stream_state``
(migration 0015) holds one row per stream (its input directory): ``running``, ``paused`` (with
the reason, e.g. the disk watermark) or ``stopped``, so ``contimg stream --status`` in another
process sees it. Bookkeeping times are Unix seconds.
"""

from sqlalchemy import BigInteger, Column, Float, ForeignKey, Index, Integer, String, Table, Text

from ._meta import metadata

__all__ = ["stream_files", "stream_groups", "stream_state"]

stream_groups = Table(
    "stream_groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_key", String(64), nullable=False, unique=True),  # canonical ISO timestamp
    Column("group_time", Float, nullable=False),  # the timestamp as Unix seconds
    Column("input_dir", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("n_files", Integer, nullable=False, server_default="0"),
    Column("expected_files", Integer, nullable=False),
    Column("first_seen_at", Float, nullable=False),
    Column("last_file_at", Float, nullable=False),
    Column("pending_at", Float),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("error", Text),
    Column("ms_path", Text),
    Column("image_path", Text),  # the registered primary-beam-corrected image
    Column("data_id", String(200)),
    Column("qa_status", String(16)),
    Column("photometry_job_id", Integer),
    Column("timings", Text),  # JSON: seconds per stage
    Column("updated_at", Float, nullable=False),
    # migration 0007: the group's calibration (see database/caltables.py)
    Column("calibration_status", String(16)),
    Column("caltable_id", Integer),
    Column("cal_wait_until", Float),  # status "waiting": wait for a calibrator until then
    Index(None, "status"),
    Index(None, "group_time"),
)

stream_files = Table(
    "stream_files",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", Text, nullable=False, unique=True),
    Column("group_id", Integer, ForeignKey("stream_groups.id", ondelete="CASCADE")),
    Column("subband", Integer),
    Column("timestamp", String(64)),
    Column("size_bytes", BigInteger),
    # queued (part of its group) | invalid (unreadable; its group failed) | late (group done)
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("seen_at", Float, nullable=False),
    Index(None, "group_id"),
)

stream_state = Table(
    "stream_state",
    metadata,
    Column("input_dir", String(1024), primary_key=True),
    Column("state", String(16), nullable=False),  # running | paused | stopped
    Column("reason", Text),  # why paused (stopped: why the last pass paused, if it did)
    Column("since", Float, nullable=False),  # when the state last changed
    Column("hostname", String(255)),
    Column("pid", Integer),
    Column("updated_at", Float, nullable=False),
)
