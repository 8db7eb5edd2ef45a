"""The seed roadmap's name for the streaming converter's photometry hook (phase 2).

Thin re-exports, so that code written against the roadmap imports unchanged::

    from dsa110_contimg.conversion.streaming.streaming_converter import (
        trigger_photometry_for_image,
    )

The implementation lives in :mod:`dsa110_contimg.conversion.streaming.trigger` (the trigger)
and :mod:`dsa110_contimg.conversion.streaming.streamer` (the streaming loop, ``run_stream``);
``contimg stream --enable-photometry`` runs both. See ``docs/seed.md``.
"""

from __future__ import annotations

from .runner import run_pipeline
from .streamer import StreamOptions, run_stream
from .trigger import trigger_photometry_for_image

__all__ = ["StreamOptions", "run_pipeline", "run_stream", "trigger_photometry_for_image"]
