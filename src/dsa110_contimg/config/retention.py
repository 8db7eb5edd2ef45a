"""Settings of disk retention (TOML table ``[retention]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetentionSettings(BaseModel):
    """What is kept on disk, and when the stream pauses for space.

    Parameters
    ----------
    prune_older_than_days : float
        ``contimg prune`` removes the Measurement Sets (and, with ``prune_intermediate``,
        the intermediate images) of stream groups finished at least this long ago.
    prune_intermediate : bool
        Also remove a group's intermediate images (``-image.fits``, ``-beam.fits``,
        ``-residual.fits``, ``-psf``/``-model``/``-dirty``); the registered primary-beam-
        corrected image (``-image-pb.fits``) is always kept.
    min_free_gb : float
        Disk watermark: the stream pauses (a clear log line, no group failed, and
        ``contimg stream --status`` says "paused: disk nearly full ...") while the free space
        of its output directory is below this many GB, and resumes when space returns.
        0 disables it.
    """

    model_config = ConfigDict(extra="forbid")

    prune_older_than_days: float = Field(0.0, ge=0, le=36500)
    prune_intermediate: bool = False
    min_free_gb: float = Field(0.0, ge=0, le=1e6)
