"""Settings of calibration and RFI flagging (TOML table ``[calibration]``).

The stream's use of calibration (validity, waiting, refusal, astrometric QA) is described in
``docs/calibration-stream.md``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CalibrationSettings(BaseModel):
    """Calibration and flagging settings.

    Parameters
    ----------
    mode : {"auto", "off", "required"}
        ``off``: every group is imaged as it arrives and recorded ``precalibrated`` (data
        calibrated elsewhere). ``required``: every group is raw: calibrator groups are solved,
        science groups calibrated with valid tables, or wait and are imaged ``uncalibrated``.
        ``auto`` (default): a group is raw when its files say so (UVH5 ``extra_keywords``
        ``contimg_corrupted`` true or ``contimg_calibrated`` false, or the simulator's
        ``<timestamp>_corruptions.json`` beside them); unmarked files are ``precalibrated``.
    min_flux_jy : float
        A listed calibrator is used only when its 20 cm flux is at least this (Jy).
    min_dominance : float
        The calibrator's beam-weighted flux must be at least this many times the rest of the
        catalog flux (beam-weighted) within ``dominance_radius_fwhm`` beam FWHM.
    dominance_radius_fwhm : float
        Radius, in primary-beam FWHM at 1.4 GHz, of the confusion check.
    min_beam_response : float
        The calibrator must be at least this far up the primary beam (power response at
        1.4 GHz) at transit: inside the primary beam.
    catalog : str
        Stored catalog whose sources enter the confusion check (when it is ingested).
    casa_timeout_seconds : float
        Kill a CASA child process after this long (a CalibrationError).
    casa_processes : int
        CASA child processes run side by side on blocks of spectral windows (flagging and the
        solves treat each window on its own, so the result does not depend on it): the
        machine's cores, 2 here. 1: one process.
    tfcrop_correlation : {"ABS_I", "ABS_ALL"}
        What ``tfcrop`` fits: ``ABS_I`` the amplitude of Stokes I (XX + YY: one fit, 25% faster,
        the same recall measured) or ``ABS_ALL`` each polarization.
    loud_antenna_factor : float
        On calibrator groups, an antenna whose noise in the residual from the model (the median
        over its baselines) exceeds this many times the array's median is flagged whole before
        the RFI flagging: a dead antenna still delivering (loud) noise. 0: off.
    calibrator_rflag : bool
        On calibrator groups, also run ``tfcrop``, ``rflag`` and ``extend`` on ``DATA`` before
        the pass on the residual from the model (the recipe first measured; ~2.5x the time).
    tfcrop_timecutoff, tfcrop_freqcutoff : float
        ``flagdata mode='tfcrop'`` cut-offs in sigma (the recipe: 4).
    rflag_timedevscale, rflag_freqdevscale : float
        ``flagdata mode='rflag'`` deviation scales. 5, not the 4 first measured: with the
        residual pass after it, 5 keeps 100% recall and cuts false flags from 1.02% to 0.34%
        (rflag at 4 spills a broadband burst into the neighbouring integrations).
    extend_growtime, extend_growfreq : float
        ``flagdata mode='extend'``: flag a whole channel (integration) when more than this
        percentage of its integrations (channels) is flagged.
    broadcast_baseline_fraction : float
        After the per-baseline flaggers, a (time, channel) flagged on more than this fraction
        of the live baselines is flagged on all of them (RFI reaches every antenna).
    science_tfcrop : bool
        Run ``tfcrop`` on science groups (the cheap path: zeros, autos, the calibrator's
        channel mask, one ``tfcrop`` pass).
    average_max_smearing : float
        A calibrated (or already calibrated) group is averaged in frequency before imaging by
        the largest factor (a divisor of the channels per subband) whose bandwidth smearing at
        the image's edge (half ``imaging.field_of_view_deg`` from the centre) stays below this
        fractional peak loss; calibration is applied in the same pass (``mstransform`` with a
        calibration library), so no full-resolution ``CORRECTED_DATA`` is written. 0: no
        averaging (``applycal``, then WSClean on the full resolution). Groups imaged
        ``uncalibrated`` are not averaged.
    channel_mask_threshold : float
        A channel whose flagged fraction on the calibrator (all data, autocorrelations and dead
        antennas included) exceeds this becomes part of the channel mask applied to the science
        groups that use its tables: persistent RFI, flagged at every integration.
    refant : str
        Reference antenna (CASA antenna selection); empty: the first antenna with the fewest
        flags is chosen.
    solve_channel_width_hz : float
        The K, phase, B and G solves run on a copy of the calibrator group averaged in
        frequency to channels at most this wide (the largest divisor of the channels per window
        that fits): 1.3 MHz (4 of DSA-110's 48 channels per subband) keeps delays of a few ns
        and the bandpass ripple resolved and cuts the solves ~4x. B is applied with linear
        interpolation in frequency. 0: solve at the native resolution.
    minsnr : float
        Solutions below this SNR are flagged by ``gaincal``/``bandpass``.
    max_flagged_antenna_fraction : float
        An antenna whose solutions are flagged beyond this fraction is counted as flagged in the
        solution QA.
    min_antenna_snr_fraction : float
        An antenna whose median gain SNR is below this fraction of the array's median is
        flagged (a dead antenna delivering loud noise).
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
    min_flux_jy: float = Field(1.0, gt=0, le=1e4)
    min_dominance: float = Field(5.0, ge=1, le=1e6)
    dominance_radius_fwhm: float = Field(2.0, gt=0, le=20)
    min_beam_response: float = Field(0.5, gt=0, le=1)
    catalog: str = Field("nvss", pattern=r"^[a-z][a-z0-9_]*$")
    casa_timeout_seconds: float = Field(3600.0, gt=0, le=86400)
    casa_processes: int = Field(2, ge=1, le=64)
    tfcrop_correlation: Literal["ABS_I", "ABS_ALL"] = "ABS_I"
    loud_antenna_factor: float = Field(5.0, ge=0, le=1e6)
    calibrator_rflag: bool = False
    tfcrop_timecutoff: float = Field(4.0, gt=0, le=100)
    tfcrop_freqcutoff: float = Field(4.0, gt=0, le=100)
    rflag_timedevscale: float = Field(5.0, gt=0, le=100)
    rflag_freqdevscale: float = Field(5.0, gt=0, le=100)
    extend_growtime: float = Field(50.0, gt=0, le=100)
    extend_growfreq: float = Field(50.0, gt=0, le=100)
    broadcast_baseline_fraction: float = Field(0.2, gt=0, le=1)
    science_tfcrop: bool = True
    average_max_smearing: float = Field(0.01, ge=0, le=0.1)
    channel_mask_threshold: float = Field(0.9, gt=0, le=1)
    refant: str = Field("", pattern=r"^[A-Za-z0-9_,-]*$")
    solve_channel_width_hz: float = Field(1.5e6, ge=0, le=1e9)
    minsnr: float = Field(3.0, ge=0, le=1e4)
    max_flagged_antenna_fraction: float = Field(0.5, ge=0, le=1)
    min_antenna_snr_fraction: float = Field(0.25, ge=0, le=1)
    validity_hours: float = Field(12.0, gt=0, le=24 * 30)
    wait_seconds: float = Field(1800.0, ge=0, le=86400)
    min_snr: float = Field(10.0, ge=0, le=1e6)
    max_flagged_fraction: float = Field(0.5, ge=0, le=1)
    max_antennas_flagged_fraction: float = Field(0.25, ge=0, le=1)
    max_delay_jump_ns: float = Field(2.0, gt=0, le=1e4)
    max_gain_jump: float = Field(0.3, gt=0, le=100)
    jump_max_age_hours: float = Field(36.0, gt=0, le=24 * 365)
    astrometry_max_offset_beams: float = Field(0.1, gt=0, le=10)
    astrometry_n_sources: int = Field(30, ge=1, le=100_000)
    astrometry_min_snr: float = Field(20.0, gt=0, le=1e6)
