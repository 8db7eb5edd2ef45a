"""Calibration and RFI flagging of DSA-110 Measurement Sets (CASA tasks in a child process)."""

from .calibrators import (
    Calibrator,
    CalibratorMatch,
    calibrator_flux_jy,
    find_calibrator,
    load_calibrators,
)

__all__ = [
    "Calibrator",
    "CalibratorMatch",
    "calibrator_flux_jy",
    "find_calibrator",
    "load_calibrators",
]
