"""Settings of normalization, variability and ESE detection (TOML table ``[normalize]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NormalizeSettings(BaseModel):
    """Normalization settings.

    Parameters
    ----------
    baseline_epochs : int
        Good epochs over which a reference's baseline flux is established.
    min_references : int
        Fewest usable references for an image to be normalized.
    """

    model_config = ConfigDict(extra="forbid")

    baseline_epochs: int = 10
    min_references: int = 5
