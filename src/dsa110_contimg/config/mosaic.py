"""Settings of the mosaic builder and orchestrator (TOML table ``[mosaic]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MosaicSettings(BaseModel):
    """Mosaic settings.

    Grouping rule (see :mod:`dsa110_contimg.mosaic.grouping`): registered images, ordered by
    mid-exposure time, are cut into groups of ``images_per_mosaic`` consecutive images, each
    group sharing its first ``overlap`` images with the previous one. Two consecutive images
    belong to the same group only when their mid times differ by at most ``max_gap_seconds``
    and their declination centres by at most ``dec_tolerance_deg``; otherwise the open group is
    closed there: built as a shorter mosaic when it has at least ``min_images`` images, else
    recorded as ``abandoned`` with the reason. No overlap is carried across such a break.

    Parameters
    ----------
    images_per_mosaic : int
        Consecutive images per mosaic (10: about 50 minutes of drift scan).
    overlap : int
        Images shared with the previous mosaic (2: one mosaic per 8 new images).
    cadence_seconds : float
        Nominal interval between consecutive images (309 s for DSA-110); documentation of the
        default gap only.
    max_gap_seconds : float
        Largest difference of mid times between consecutive images of one group
        (default 1.5 x the 309 s cadence, so one missing image breaks the group).
    min_images : int
        Fewest images a group closed early by a gap or a declination change may have to be
        built; smaller ones are abandoned with the reason recorded.
    dec_tolerance_deg : float
        Largest difference of declination centre between images of one group (one strip).
    output_dir : Path, optional
        Where the orchestrator writes mosaics; default ``<state_dir>/mosaics``.
    projection : {"SIN", "CAR"}
        Projection of the output grid, centred on the group.
    min_beam_response : float
        Pixels of an input whose primary-beam response is below this are left out.
    strip_pixels : int
        Output pixels reprojected per step; bounds the working memory besides the two float64
        output accumulators (about 200 bytes per pixel of the step).
    poll_seconds : float
        Sleep of ``contimg mosaic run`` between polls of the images table.
    stale_build_seconds : float
        A group left ``building`` (its orchestrator died) longer than this is built again.
    """

    model_config = ConfigDict(extra="forbid")

    images_per_mosaic: int = Field(10, ge=1)
    overlap: int = Field(2, ge=0)
    cadence_seconds: float = Field(309.0, gt=0)
    max_gap_seconds: float = Field(463.5, gt=0)
    min_images: int = Field(3, ge=1)
    dec_tolerance_deg: float = Field(0.5, ge=0)
    output_dir: Path | None = None
    projection: Literal["SIN", "CAR"] = "SIN"
    min_beam_response: float = Field(0.1, ge=0, lt=1)
    strip_pixels: int = Field(1_000_000, ge=10_000)
    poll_seconds: float = Field(10.0, gt=0)
    stale_build_seconds: float = Field(3600.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> MosaicSettings:
        if self.overlap >= self.images_per_mosaic:
            raise ValueError("overlap must be smaller than images_per_mosaic")
        return self
