"""Former home of light curves and metrics; kept so that existing imports keep working.

The stored path is :mod:`dsa110_contimg.variability.pipeline.metrics`, the arithmetic
:mod:`dsa110_contimg.variability.metrics` and :mod:`dsa110_contimg.variability.series`, the
storage :mod:`dsa110_contimg.database.metrics`. New code imports from those.
"""

from ..variability.pipeline.metrics import (
    SERIES,
    get_lightcurve,
    get_metrics,
    recompute_metrics,
    update_metrics_for_image,
)

__all__ = [
    "SERIES",
    "get_lightcurve",
    "get_metrics",
    "recompute_metrics",
    "update_metrics_for_image",
]
