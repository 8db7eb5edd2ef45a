"""The seed roadmap's name for batch-job creation (phase 2/3).

Thin re-export of :func:`dsa110_contimg.jobs.create_batch_photometry_job` (no web framework
needed to import it)::

    from dsa110_contimg.api.batch_jobs import create_batch_photometry_job

Over HTTP the same job is created by ``POST /api/photometry/measure-batch``. See
``docs/seed.md``.
"""

from __future__ import annotations

from ..jobs.create import create_batch_photometry_job

__all__ = ["create_batch_photometry_job"]
