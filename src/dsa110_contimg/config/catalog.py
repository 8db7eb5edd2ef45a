"""Settings of the catalog store and the master cross-match (TOML table ``[catalog]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class CatalogSettings(BaseModel):
    """Catalog store settings.

    Parameters
    ----------
    match_radius_arcsec : float
        Cross-match radius of the master catalog (NVSS to FIRST, VLASS, RACS).
    """

    model_config = ConfigDict(extra="forbid")

    match_radius_arcsec: float = 7.5
