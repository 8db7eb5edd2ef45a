"""Mosaics: weighted combinations of consecutive primary-beam-corrected images.

:func:`build_mosaic` builds one mosaic from given files; :class:`MosaicOrchestrator` forms
groups of consecutive registered images, builds, registers and measures their mosaics.
"""

from .builder import MosaicInput, MosaicResult, build_mosaic, mosaic_side_paths

__all__ = [
    "MosaicInput",
    "MosaicResult",
    "build_mosaic",
    "mosaic_side_paths",
]
