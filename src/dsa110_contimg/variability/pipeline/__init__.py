"""The stored path of variability: load, compute, store.

Each function loads from :mod:`dsa110_contimg.database`, computes with the pure functions of
:mod:`dsa110_contimg.variability` and stores the result through :mod:`dsa110_contimg.database`.

What the job worker (:func:`on_photometry_written`), the CLI and the API call. Functions take
``settings=None`` (``Settings()`` from the environment when omitted).
"""

from .distributed import normalize_all_distributed
from .ese import (
    confirm_candidate,
    dismiss_candidate,
    list_candidates,
    reopen_candidate,
    resolve_thresholds,
    update_candidates,
)
from .metrics import (
    get_lightcurve,
    get_metrics,
    recompute_metrics,
    update_metrics_for_image,
    update_metrics_for_images,
)
from .normalize import (
    establish_baselines,
    get_image_normalization,
    list_references,
    normalize_all,
    normalize_image,
    normalize_measurement,
    normalize_one_image,
    on_photometry_written,
    on_photometry_written_many,
    set_references,
)

__all__ = [
    "confirm_candidate",
    "dismiss_candidate",
    "establish_baselines",
    "get_image_normalization",
    "get_lightcurve",
    "get_metrics",
    "list_candidates",
    "list_references",
    "normalize_all",
    "normalize_all_distributed",
    "normalize_image",
    "normalize_measurement",
    "normalize_one_image",
    "on_photometry_written",
    "on_photometry_written_many",
    "recompute_metrics",
    "reopen_candidate",
    "resolve_thresholds",
    "set_references",
    "update_candidates",
    "update_metrics_for_image",
    "update_metrics_for_images",
]
