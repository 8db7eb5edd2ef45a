"""Former home of the light-curve arithmetic; kept so that existing imports keep working.

Now :mod:`dsa110_contimg.variability` (``metrics``, ``epochs``, ``baselines``), pure numpy.
"""

from ..variability.baselines import robust_baseline, variability_errors
from ..variability.epochs import combine_epochs
from ..variability.metrics import (
    OPEN_SLOTS,
    STATE_FLOAT_KEYS,
    advance,
    derive,
    new_state,
    run_series,
)

__all__ = [
    "OPEN_SLOTS",
    "STATE_FLOAT_KEYS",
    "advance",
    "combine_epochs",
    "derive",
    "new_state",
    "robust_baseline",
    "run_series",
    "variability_errors",
]
