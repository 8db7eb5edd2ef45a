"""Request bodies: every field typed and bounded; NaN, infinities and unknown keys refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BatchRequest",
    "EseStatusRequest",
    "MeasureRequest",
    "NormalizeRequest",
    "Position",
]

#: Hard caps that bound parsing work whatever the settings say (the settings' own, usually
#: smaller, limits are checked by the routes).
_HARD_MAX_IMAGES = 100_000
_HARD_MAX_POSITIONS = 1_000_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=4096)


class Position(_Body):
    """A sky position, optionally naming its catalog source."""

    ra_deg: float = Field(ge=-360.0, le=360.0, description="Right ascension (ICRS), degrees.")
    dec_deg: float = Field(ge=-90.0, le=90.0, description="Declination (ICRS), degrees.")
    source_id: str | None = Field(None, min_length=1, max_length=100)
    catalog: str | None = Field(None, min_length=1, max_length=32)
    flux_mjy: float | None = Field(None, ge=0.0, le=1e9, description="Catalog flux, mJy.")


class _ImageRef(_Body):
    image_path: str | None = Field(
        None, min_length=1, description="FITS path, absolute or relative to a data root."
    )
    data_id: str | None = Field(
        None, min_length=1, max_length=200, description="Registered product."
    )

    @model_validator(mode="after")
    def _one_image(self):
        if (self.image_path is None) == (self.data_id is None):
            raise ValueError("give exactly one of image_path or data_id")
        return self


class MeasureRequest(_ImageRef):
    """``POST /api/photometry/measure``: one image, one position."""

    ra_deg: float = Field(ge=-360.0, le=360.0)
    dec_deg: float = Field(ge=-90.0, le=90.0)


class BatchRequest(_Body):
    """``POST /api/photometry/measure-batch``: images x positions, run as one batch job."""

    image_paths: list[str] = Field(default_factory=list, max_length=_HARD_MAX_IMAGES)
    data_ids: list[str] = Field(default_factory=list, max_length=_HARD_MAX_IMAGES)
    positions: list[Position] = Field(min_length=1, max_length=_HARD_MAX_POSITIONS)
    normalize: bool = False
    method: Literal["peak"] = "peak"

    @model_validator(mode="after")
    def _some_image(self):
        if not self.image_paths and not self.data_ids:
            raise ValueError("give at least one of image_paths or data_ids")
        return self


class NormalizeRequest(_Body):
    """``POST /api/photometry/normalize``: a raw measurement on a registered image."""

    data_id: str = Field(min_length=1, max_length=200, description="The image's data_id.")
    flux_jy: float = Field(ge=-1e6, le=1e6)
    flux_err_jy: float = Field(ge=0.0, le=1e6)


class EseStatusRequest(_Body):
    """Optional body of ``POST /api/ese/candidates/{id}/confirm|dismiss|reopen``."""

    note: str | None = Field(None, max_length=2000)
