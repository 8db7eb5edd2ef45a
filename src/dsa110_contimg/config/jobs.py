"""Settings of batch jobs and workers (TOML table ``[jobs]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JobSettings(BaseModel):
    """Batch job and worker settings.

    Parameters
    ----------
    lease_seconds : float
        How long a claimed job or item stays leased without a heartbeat before another worker
        may reclaim it (also ``CONTIMG_JOB_LEASE_SECONDS``).
    max_attempts : int
        Attempts per item before it is failed for good.
    retry_backoff_seconds : float
        Delay before the first retry; doubled at each further attempt.
    poll_seconds : float
        Longest sleep of an idle worker between looks for new work.
    heartbeat_seconds : float
        Interval between worker heartbeats.
    write_retries : int
        Further tries of a result write that failed (database or disk full, database
        unreachable) before the item is given back to the queue, uncharged, for a later try.
    write_backoff_seconds : float
        Delay before the first write retry; doubled at each further one.
    stop_grace_seconds : float
        After the first stop signal, how long a worker waits for the items in flight to finish
        and be stored; items still running then are given back uncharged (a second signal
        gives them back at once).
    fold_items : int
        Most finished items whose normalization, metrics and ESE update the worker runs as one
        pass (``variability.pipeline.on_photometry_written_many``). The worker folds what it
        has finished when no further item is ready to claim, or when this many are waiting:
        one item at a time in steady operation (an image every five minutes), a new epoch's
        worth at once when catching up a backlog. 1 runs the pass after every item.
    """

    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(30.0, gt=0, le=86400)
    max_attempts: int = Field(3, ge=1, le=100)
    retry_backoff_seconds: float = Field(2.0, ge=0, le=86400)
    poll_seconds: float = Field(0.1, gt=0, le=3600)
    heartbeat_seconds: float = Field(5.0, gt=0, le=3600)
    write_retries: int = Field(3, ge=0, le=100)
    write_backoff_seconds: float = Field(0.5, ge=0, le=3600)
    stop_grace_seconds: float = Field(300.0, ge=0, le=86400)
    fold_items: int = Field(16, ge=1, le=10000)
