"""Settings of forced photometry (TOML table ``[photometry]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class PhotometrySettings(BaseModel):
    """Forced-photometry settings.

    Parameters
    ----------
    default_catalog : str
        Catalog whose sources are measured on each new image.
    """

    model_config = ConfigDict(extra="forbid")

    default_catalog: str = "nvss"
