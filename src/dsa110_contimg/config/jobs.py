"""Settings of batch jobs and workers (TOML table ``[jobs]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


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
    """

    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = 30.0
    max_attempts: int = 3
    retry_backoff_seconds: float = 2.0
    poll_seconds: float = 0.1
    heartbeat_seconds: float = 5.0
