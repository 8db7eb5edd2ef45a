"""Settings of the streaming converter (TOML table ``[stream]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StreamSettings(BaseModel):
    """Streaming converter settings.

    Parameters
    ----------
    n_subbands : int
        Subband files that make a complete group.
    group_timeout_seconds : float
        How long a group may wait for missing subbands before it is failed.
    """

    model_config = ConfigDict(extra="forbid")

    n_subbands: int = 16
    group_timeout_seconds: float = 600.0
