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
    """

    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(30.0, gt=0, le=86400)
    max_attempts: int = Field(3, ge=1, le=100)
    retry_backoff_seconds: float = Field(2.0, ge=0, le=86400)
    poll_seconds: float = Field(0.1, gt=0, le=3600)
    heartbeat_seconds: float = Field(5.0, gt=0, le=3600)
