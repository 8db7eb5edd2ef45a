"""The seed roadmap's name for the data registry's photometry fields (phases 4-5).

Thin re-exports of :mod:`dsa110_contimg.database.registry`::

    from dsa110_contimg.database.data_registry import (
        get_photometry_status, link_photometry_to_data, update_photometry_status,
    )

A job's status reaches the registry by itself (the worker moves the record ``pending ->
running -> completed/failed`` in the same transaction as the item); these functions are for
reading it and for linking or setting it by hand. See ``docs/seed.md``.
"""

from __future__ import annotations

from .registry import (
    PHOTOMETRY_STATUSES,
    get_photometry_status,
    link_photometry_to_data,
    update_photometry_status,
)

__all__ = [
    "PHOTOMETRY_STATUSES",
    "get_photometry_status",
    "link_photometry_to_data",
    "update_photometry_status",
]
