"""Settings of calibration and RFI flagging (TOML table ``[calibration]``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class CalibrationSettings(BaseModel):
    """Calibration and flagging settings.

    Parameters
    ----------
    mode : str
        ``auto``: calibrate when valid tables exist (else the group is imaged uncalibrated);
        ``off``: never calibrate (input taken as already calibrated); ``required``: a group
        without valid tables is not imaged uncalibrated.
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
        channel mask, ``tfcrop`` only).
    channel_mask_threshold : float
        A channel whose flagged fraction on the calibrator (all data, autocorrelations and dead
        antennas included) exceeds this becomes part of the channel mask applied to the science
        groups that use its tables: persistent RFI, flagged at every integration.
    refant : str
        Reference antenna (CASA antenna selection); empty: the first antenna with the fewest
        flags is chosen.
    minsnr : float
        Solutions below this SNR are flagged by ``gaincal``/``bandpass``.
    max_flagged_antenna_fraction : float
        An antenna whose solutions are flagged beyond this fraction is counted as flagged in the
        solution QA.
    min_antenna_snr_fraction : float
        An antenna whose median gain SNR is below this fraction of the array's median is
        flagged (a dead antenna delivering loud noise).
    """

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "off", "required"] = "auto"
    min_flux_jy: float = 1.0
    min_dominance: float = 5.0
    dominance_radius_fwhm: float = 2.0
    min_beam_response: float = 0.5
    catalog: str = "nvss"
    casa_timeout_seconds: float = 3600.0
    tfcrop_timecutoff: float = 4.0
    tfcrop_freqcutoff: float = 4.0
    rflag_timedevscale: float = 5.0
    rflag_freqdevscale: float = 5.0
    extend_growtime: float = 50.0
    extend_growfreq: float = 50.0
    broadcast_baseline_fraction: float = 0.2
    science_tfcrop: bool = True
    channel_mask_threshold: float = 0.9
    refant: str = ""
    minsnr: float = 3.0
    max_flagged_antenna_fraction: float = 0.5
    min_antenna_snr_fraction: float = 0.25
