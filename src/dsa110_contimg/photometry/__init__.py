"""Forced photometry: read images, measure fluxes at fixed positions, inject sources."""

from .beam import local_jacobian, pixel_covariance, sky_covariance
from .forced import (
    FLAGS,
    ForcedOptions,
    ForcedPhotometryResult,
    measure_forced_peak,
    measure_image,
    measure_many,
    result_rows,
)
from .image import Beam, FitsImage, observation_times, read_image
from .inject import inject_source, render_point_sources
from .noise import clipped_rms, local_rms
from .normalize import (
    establish_baselines,
    normalize_all,
    normalize_image,
    normalize_measurement,
    on_photometry_written,
)
from .variability import get_lightcurve, get_metrics

__all__ = [
    "establish_baselines",
    "get_lightcurve",
    "get_metrics",
    "normalize_all",
    "normalize_image",
    "normalize_measurement",
    "on_photometry_written",
    "FLAGS",
    "Beam",
    "FitsImage",
    "ForcedOptions",
    "ForcedPhotometryResult",
    "clipped_rms",
    "inject_source",
    "local_jacobian",
    "local_rms",
    "measure_forced_peak",
    "measure_image",
    "measure_many",
    "observation_times",
    "pixel_covariance",
    "read_image",
    "render_point_sources",
    "result_rows",
    "sky_covariance",
]
