"""Settings of the calibration stage (TOML table ``[calibration]``).

issue-13a owns the solve/flag settings of this section; the stream's use of calibration
(validity, waiting, refusal, astrometric QA) is described in ``docs/calibration-stream.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CalibrationSettings(BaseModel):
    """Calibration settings.

    Parameters
    ----------
    mode : {"auto", "off", "required"}
        ``off``: every group is imaged as it arrives and recorded ``precalibrated`` (data
        calibrated elsewhere). ``required``: every group is raw: calibrator groups are solved,
        science groups calibrated with valid tables, or wait and are imaged ``uncalibrated``.
        ``auto`` (default): a group is raw when its UVH5 files say so (``extra_keywords``
        ``contimg_corrupted`` true or ``contimg_calibrated`` false, as the simulator's
        ``--corrupt`` writes); files without such a marker are ``precalibrated``.
    validity_hours : float
        A solution set may be applied to groups whose mid-time is within this many hours of
        its calibrator's transit.
    wait_seconds : float
        How long (wall clock, since the group was first considered) a raw science group with no
        valid solution waits for the next calibrator before it is imaged ``uncalibrated``.
        0: image it uncalibrated at once (it is re-calibrated when a transit arrives).
    min_snr : float
        A solution set whose median gain SNR is below this is refused.
    max_flagged_fraction : float
        A solution set with more than this fraction of its solutions flagged is refused.
    max_antennas_flagged_fraction : float
        A solution set with more than this fraction of the antennas flagged is refused.
    max_delay_jump_ns : float
        A solution set whose median per-antenna delay differs from the previous valid transit's
        by more than this is refused.
    max_gain_jump : float
        A solution set whose median per-antenna gain amplitude ratio to the previous valid
        transit's differs from 1 by more than this is refused.
    jump_max_age_hours : float
        The jump tests compare with the previous valid transit only when it is at most this
        many hours older (older ones may differ for good reasons).
    astrometry_max_offset_beams : float
        An image whose median offset of bright catalog sources (measured minus catalog
        position) exceeds this many restoring-beam FWHM is QA-flagged (0.2 beam lowers a forced
        peak by ~10%).
    astrometry_n_sources : int
        At most this many of the brightest catalog sources in the inner field are measured.
    astrometry_min_snr : float
        A source enters the astrometric median only if its measured peak has at least this SNR.
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "off", "required"] = "auto"
    validity_hours: float = Field(12.0, gt=0)
    wait_seconds: float = Field(1800.0, ge=0)
    min_snr: float = Field(10.0, ge=0)
    max_flagged_fraction: float = Field(0.5, ge=0, le=1)
    max_antennas_flagged_fraction: float = Field(0.25, ge=0, le=1)
    max_delay_jump_ns: float = Field(2.0, gt=0)
    max_gain_jump: float = Field(0.3, gt=0)
    jump_max_age_hours: float = Field(36.0, gt=0)
    astrometry_max_offset_beams: float = Field(0.1, gt=0)
    astrometry_n_sources: int = Field(30, ge=1)
    astrometry_min_snr: float = Field(20.0, gt=0)
