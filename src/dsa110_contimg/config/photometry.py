"""Settings of forced photometry (TOML table ``[photometry]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class PhotometrySettings(BaseModel):
    """Forced-photometry settings.

    Parameters
    ----------
    default_catalog : str
        Catalog whose sources are measured on each new image, unless a command's
        ``--photometry-catalog`` names another (flags > environment > TOML).
    """

    model_config = ConfigDict(extra="forbid")

    default_catalog: str = Field("nvss", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
