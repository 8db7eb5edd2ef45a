"""Variability: what is done with the measurements, as pure functions over arrays.

Normalization against reference sources (:mod:`.normalization`, :mod:`.references`),
baselines (:mod:`.baselines`), epochs and light-curve series (:mod:`.epochs`,
:mod:`.series`), constant-time variability metrics (:mod:`.metrics`) and Extreme Scattering
Event flagging (:mod:`.ese`). These modules import numpy, scipy and astropy only: arrays in,
arrays (or frozen result records) out, tested without a database.

Their storage lives in :mod:`dsa110_contimg.database` (``normalization``, ``metrics``,
``candidates``, ``lightcurves``); :mod:`dsa110_contimg.variability.pipeline` joins the two
(load, compute, store) and is what the worker, the CLI and the API call. Importing this
package does not import :mod:`.pipeline` (nor SQLAlchemy).
"""

from .baselines import robust_baseline, variability_errors
from .epochs import combine_epochs
from .ese import PRESETS, EseThresholds, candidate_values, flag, strictest_presets
from .metrics import (
    OPEN_SLOTS,
    STATE_FLOAT_KEYS,
    advance,
    derive,
    fold_points,
    new_state,
    run_series,
)
from .normalization import (
    NVSS_ALIASES,
    ImageNormalization,
    NormalizedImage,
    apply_factor,
    canonical_catalog,
    correction_factor,
    leave_one_out,
    normalize_arrays,
    normalize_image_arrays,
)
from .references import ReferenceTest, assess_references, covering_circle, reference_baselines
from .series import SERIES, SeriesPoints, lightcurve_table, series_for_kind, series_points

__all__ = [
    "NVSS_ALIASES",
    "OPEN_SLOTS",
    "PRESETS",
    "SERIES",
    "STATE_FLOAT_KEYS",
    "EseThresholds",
    "ImageNormalization",
    "NormalizedImage",
    "ReferenceTest",
    "SeriesPoints",
    "advance",
    "apply_factor",
    "assess_references",
    "candidate_values",
    "canonical_catalog",
    "combine_epochs",
    "correction_factor",
    "covering_circle",
    "derive",
    "flag",
    "fold_points",
    "leave_one_out",
    "lightcurve_table",
    "new_state",
    "normalize_arrays",
    "normalize_image_arrays",
    "reference_baselines",
    "robust_baseline",
    "run_series",
    "series_for_kind",
    "series_points",
    "strictest_presets",
    "variability_errors",
]
