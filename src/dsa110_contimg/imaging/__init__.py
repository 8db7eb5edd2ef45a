"""Imaging: WSClean, the drift-scan primary beam, the corrected image, QA."""

from .beam import drift_beam, pb_paths, write_pb_products
from .msinfo import MsInfo, read_ms_info
from .primary_beam import beam_fwhm_rad, gaussian_beam, pointing_icrs
from .qa import QaResult, assess_image, expected_thermal_noise_jy, record_qa
from .wsclean import ImagingResult, find_wsclean, image_geometry, image_ms, wsclean_command

__all__ = [
    "ImagingResult",
    "MsInfo",
    "QaResult",
    "assess_image",
    "beam_fwhm_rad",
    "drift_beam",
    "expected_thermal_noise_jy",
    "find_wsclean",
    "gaussian_beam",
    "image_geometry",
    "image_ms",
    "pb_paths",
    "pointing_icrs",
    "read_ms_info",
    "record_qa",
    "wsclean_command",
    "write_pb_products",
]
