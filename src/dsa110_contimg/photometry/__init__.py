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

#: Names of the stored variability path kept here for existing code; loaded on first use so
#: that ``import dsa110_contimg.photometry`` (measuring) does not load the database layer.
_LAZY = {
    "establish_baselines": "normalize",
    "normalize_all": "normalize",
    "normalize_image": "normalize",
    "normalize_measurement": "normalize",
    "on_photometry_written": "normalize",
    "get_lightcurve": "metrics",
    "get_metrics": "metrics",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        mod = importlib.import_module(f"..variability.pipeline.{_LAZY[name]}", __name__)
        value = getattr(mod, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
