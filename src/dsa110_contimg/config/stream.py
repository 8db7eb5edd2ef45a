"""Settings of the streaming converter (TOML table ``[stream]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class StreamSettings(BaseModel):
    """Streaming converter settings.

    Parameters
    ----------
    n_subbands : int
        Subband files that make a complete group.
    group_timeout_seconds : float
        How long a group may wait for missing subbands (since its first file was seen) before
        it is failed, or processed with what it has when ``process_incomplete`` is set.
    process_incomplete : bool
        After the timeout, image a group with the subbands it has (at least
        ``min_subbands``) instead of failing it.
    min_subbands : int
        Fewest subbands an incomplete group may be processed with.
    group_tolerance_seconds : float
        Files whose timestamps differ by at most this belong to the same group (each of the
        telescope's nodes names its file by the time it opened it, seconds apart; groups are
        ~309 s apart, and DSA-110's own pipeline groups within 60 s).
    file_settle_seconds : float
        A file is checked only when its size and modification time have not changed for this
        long (it may still be being written).
    poll_interval_seconds : float
        Directory scan interval (also the fallback when watchdog is unavailable).
    use_watchdog : bool
        Wake up on file-system events (watchdog) in addition to polling.
    max_attempts : int
        A group that was running when the process died is retried up to this many times.
    keep_ms : bool
        Keep the Measurement Set after imaging (otherwise it is deleted once the image is
        registered).
    file_pattern : str
        Glob of the subband files in the input directory.
    """

    model_config = ConfigDict(extra="forbid")

    n_subbands: int = Field(16, ge=1, le=1024)
    group_timeout_seconds: float = Field(600.0, ge=0, le=7 * 86400)
    process_incomplete: bool = False
    min_subbands: int = Field(12, ge=1, le=1024)
    group_tolerance_seconds: float = Field(60.0, ge=0, le=3600)
    file_settle_seconds: float = Field(2.0, ge=0, le=3600)
    poll_interval_seconds: float = Field(2.0, gt=0, le=3600)
    use_watchdog: bool = True
    max_attempts: int = Field(2, ge=1, le=100)
    keep_ms: bool = False
    file_pattern: str = "*_sb[0-9][0-9].hdf5"

    @model_validator(mode="after")
    def _check(self) -> StreamSettings:
        if self.min_subbands > self.n_subbands:
            raise ValueError("min_subbands must not exceed n_subbands")
        return self
