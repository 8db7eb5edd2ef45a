"""The seed roadmap's name for running a batch job in-process (phase 5).

Thin re-export of :func:`dsa110_contimg.jobs.run_batch_photometry_job`::

    from dsa110_contimg.api.job_adapters import run_batch_photometry_job

It runs one job to completion in the calling process (retries included) through the same
queue, fenced writes and registry updates as ``contimg worker``. See ``docs/seed.md``.
"""

from __future__ import annotations

from ..jobs.worker import run_batch_photometry_job

__all__ = ["run_batch_photometry_job"]
