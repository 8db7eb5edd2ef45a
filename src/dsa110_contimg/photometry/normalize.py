"""Former home of normalization; kept so that existing imports keep working.

The arithmetic is :mod:`dsa110_contimg.variability.normalization` (pure functions over
arrays), the storage :mod:`dsa110_contimg.database.normalization`, and the stored path
(:func:`normalize_all`, :func:`on_photometry_written`, ...)
:mod:`dsa110_contimg.variability.pipeline.normalize`. New code imports from those.
"""

from ..database.normalization import clean_measurements
from ..database.rawsql import fetch_raw
from ..variability.normalization import (
    NVSS_ALIASES,
    ImageNormalization,
    apply_factor,
    canonical_catalog,
    correction_factor,
    leave_one_out,
    normalize_arrays,
)
from ..variability.pipeline.normalize import (
    establish_baselines,
    get_image_normalization,
    list_references,
    normalize_all,
    normalize_image,
    normalize_measurement,
    on_photometry_written,
    set_references,
)

__all__ = [
    "NVSS_ALIASES",
    "ImageNormalization",
    "apply_factor",
    "canonical_catalog",
    "clean_measurements",
    "correction_factor",
    "establish_baselines",
    "fetch_raw",
    "get_image_normalization",
    "leave_one_out",
    "list_references",
    "normalize_all",
    "normalize_arrays",
    "normalize_image",
    "normalize_measurement",
    "on_photometry_written",
    "set_references",
]
