"""Batch photometry jobs: creation, the crash-safe worker, executors, the shared trigger.

Create a job with :func:`create_batch_photometry_job` (or :func:`trigger_photometry` for the
catalog sources on one image); run it with a :class:`Worker` (``contimg worker``) or in this
process with :func:`run_batch_photometry_job`.
"""

from .create import METHODS, create_batch_photometry_job
from .records import (
    ItemRecord,
    JobRecord,
    WorkerRecord,
    alive_workers,
    cancel_job,
    count_waiting_items,
    get_job,
    job_items,
    list_jobs,
    list_workers,
    retry_job,
)
from .trigger import trigger_photometry
from .worker import Worker, WorkerStats, run_batch_photometry_job

__all__ = [
    "METHODS",
    "ItemRecord",
    "JobRecord",
    "Worker",
    "WorkerRecord",
    "WorkerStats",
    "alive_workers",
    "cancel_job",
    "count_waiting_items",
    "create_batch_photometry_job",
    "get_job",
    "job_items",
    "list_jobs",
    "list_workers",
    "retry_job",
    "run_batch_photometry_job",
    "trigger_photometry",
]
