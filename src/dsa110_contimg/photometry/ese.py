"""Former home of ESE candidates; kept so that existing imports keep working.

Flagging and presets are :mod:`dsa110_contimg.variability.ese` (pure), the stored candidates
:mod:`dsa110_contimg.variability.pipeline.ese` and :mod:`dsa110_contimg.database.candidates`.
"""

from ..variability.ese import PRESETS, EseThresholds, flag, thresholds_dict
from ..variability.pipeline.ese import (
    confirm_candidate,
    dismiss_candidate,
    list_candidates,
    reopen_candidate,
    resolve_thresholds,
    update_candidates,
)

__all__ = [
    "PRESETS",
    "EseThresholds",
    "confirm_candidate",
    "dismiss_candidate",
    "flag",
    "list_candidates",
    "reopen_candidate",
    "resolve_thresholds",
    "thresholds_dict",
    "update_candidates",
]
