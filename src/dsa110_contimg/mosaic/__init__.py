"""Mosaics: weighted combinations of consecutive primary-beam-corrected images.

:func:`build_mosaic` builds one mosaic from given files; :class:`MosaicOrchestrator` forms
groups of consecutive registered images (rule in :mod:`~dsa110_contimg.mosaic.grouping`),
builds, registers and measures their mosaics.
"""

from .builder import MosaicInput, MosaicResult, build_mosaic, mosaic_side_paths
from .grouping import Candidate, FormedGroup, cut_groups
from .orchestrator import DEFAULT_PHOTOMETRY_CONFIG, MosaicOrchestrator

__all__ = [
    "DEFAULT_PHOTOMETRY_CONFIG",
    "Candidate",
    "FormedGroup",
    "MosaicInput",
    "MosaicOrchestrator",
    "MosaicResult",
    "build_mosaic",
    "cut_groups",
    "mosaic_side_paths",
]
