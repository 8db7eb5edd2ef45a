"""Settings of imaging with WSClean (TOML table ``[imaging]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ImagingSettings(BaseModel):
    """Imaging settings.

    Parameters
    ----------
    wsclean_path : str
        The ``wsclean`` executable (looked up on ``PATH`` when called).
    """

    model_config = ConfigDict(extra="forbid")

    wsclean_path: str = "wsclean"
