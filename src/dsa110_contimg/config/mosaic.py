"""Settings of the mosaic orchestrator (TOML table ``[mosaic]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class MosaicSettings(BaseModel):
    """Mosaic settings.

    Parameters
    ----------
    images_per_mosaic : int
        Consecutive images per mosaic.
    overlap : int
        Images shared with the previous mosaic.
    """

    model_config = ConfigDict(extra="forbid")

    images_per_mosaic: int = 10
    overlap: int = 2
