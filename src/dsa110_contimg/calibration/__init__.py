"""Calibration and RFI flagging of DSA-110 Measurement Sets.

The stage's public interface (the stream and ``contimg calibrate`` use exactly this):

- :class:`Calibrator`, :func:`load_calibrators`, :func:`calibrator_flux_jy`: the bundled VLA
  calibrator list and its flux scale (Perley & Butler 2017 for the primaries);
- :class:`CalibratorMatch`, :func:`find_calibrator`: is a calibrator transiting in the beam
  during a group, bright and dominant enough?
- :class:`FlagSummary`, :func:`flag_calibrator_ms` (tfcrop + rflag + extend),
  :func:`flag_science_ms` (the cheap path);
- :func:`predict_model`: ``MODEL_DATA`` = the calibrator through the primary beam;
- :class:`SolutionQA`, :class:`CalSolution`, :func:`solve_calibrator` (K, B, G),
  :func:`apply_calibration` (``CORRECTED_DATA``).

CASA (``casatasks``) runs only in child processes (:mod:`.casa`): importing this package
never imports CASA.
"""

from .calibrators import (
    Calibrator,
    CalibratorMatch,
    calibrator_flux_jy,
    find_calibrator,
    get_calibrator,
    load_calibrators,
)
from .flagging import FlagSummary, flag_calibrator_ms, flag_science_ms
from .model import predict_model
from .solve import CalSolution, SolutionQA, apply_calibration, solve_calibrator

__all__ = [
    "CalSolution",
    "Calibrator",
    "CalibratorMatch",
    "FlagSummary",
    "SolutionQA",
    "apply_calibration",
    "calibrator_flux_jy",
    "find_calibrator",
    "flag_calibrator_ms",
    "flag_science_ms",
    "get_calibrator",
    "load_calibrators",
    "predict_model",
    "solve_calibrator",
]
