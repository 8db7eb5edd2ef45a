"""Re-normalization of the whole history as a Dask graph (``normalize --all --dask-scheduler``).

The same passes as :func:`~.normalize.normalize_all`, with the computing spread over Dask
workers and the writing kept in this process (one writer, as everywhere in the pipeline):

1. baselines of candidate references are established (here, small);
2. the images, in blocks of consecutive images (DSA-110 holds a declination for weeks, so a
   block is one declination strip), are normalized by tasks that read the references' rows
   on them (one statement per block) and return the factors; each block is stored in one
   transaction (a few statements: the factors, applied to the rows at read time by the view
   ``photometry``, no measurement row rewritten) as soon as it arrives, in the serial order;
3. the metric states of the sources, in blocks of :data:`SOURCES_PER_TASK` sources
   (sorted keys, as the serial path), are rebuilt by tasks and stored the same way;
4. variable references are dropped; passes 2-4 repeat (at most three times) while any is.

Tasks run exactly the functions of the serial path on the same stored inputs, so the result
is identical to :func:`~.normalize.normalize_all`, bit for bit (a test). Everything is a
recomputation from stored photometry and every block commits on its own: running it again,
after an interruption or not, converges to the same database (idempotent, restartable).
"""

from __future__ import annotations

import functools
import logging
import pickle
from collections.abc import Callable, Sequence

from ...config import Settings, resolve_settings
from ...database import get_engine, write_transaction
from ...database import metrics as mstore
from ...database import normalization as store
from ...database.block_reads import set_block_reads
from ...database.metric_blocks import image_table
from .metrics import compute_metrics, store_metrics
from .normalize import (
    active_baselines,
    compute_images,
    drop_variable_references,
    establish_baselines,
    pass_scope,
    status_counts,
    store_images,
)

__all__ = ["IMAGES_PER_TASK", "SOURCES_PER_TASK", "normalize_all_distributed"]

#: Images per normalization task (~0.2 s of a worker's CPU each).
IMAGES_PER_TASK = 100
#: Sources per metric task: ~1.5 s of a worker's CPU per 1 000 points per source; small
#: enough that two workers share the blocks evenly (10 tasks at 10^7 rows, 100 at 10^8).
SOURCES_PER_TASK = 1000

log = logging.getLogger(__name__)


def _task_settings(kwargs: dict) -> Settings:
    """Return the task's settings: one object per worker process and database.

    Its engine (cached on the settings: a connection pool, the schema checked once) then
    serves every task; a new one per task cost ~0.17 s (engine, connection, migration check)
    of a 0.4 s task.
    """
    return _settings_from(pickle.dumps(kwargs))


@functools.lru_cache(maxsize=8)  # per worker process: the tasks' settings, by value
def _settings_from(key: bytes) -> Settings:
    return Settings(**pickle.loads(key))  # noqa: S301 - our own kwargs, pickled just above


def _normalize_block(kwargs: dict, data_ids: Sequence[str], baselines: dict | None = None) -> list:
    """Task: compute the normalization of some images (read-only).

    ``baselines`` (:func:`~.normalize.active_baselines`, unchanged during a pass) are read
    once by the caller and broadcast, rather than read by every task.
    """
    settings = _task_settings(kwargs)
    with get_engine(settings).connect() as conn:
        set_block_reads(conn)
        if baselines is None:
            baselines = active_baselines(conn)
        return compute_images(conn, list(data_ids), settings, baselines)


def _metrics_block(kwargs: dict, keys: Sequence[tuple[str, str]], images=None):
    """Task: rebuild the metric states of a block of sources (read-only).

    ``images`` (:func:`~dsa110_contimg.database.metric_blocks.image_table`, unchanged while
    the metrics are rebuilt) is read once by the caller and broadcast, rather than read by
    every task (at 10^8 rows 150,000 products joined to the registry, 100 times).
    """
    settings = _task_settings(kwargs)
    with get_engine(settings).connect() as conn:
        set_block_reads(conn)
        return compute_metrics(conn, list(keys), settings, images)


def _client(scheduler: str | None, n_workers: int | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - the extra is part of 'all'
        from ...errors import ConfigError

        raise ConfigError(
            "Dask re-normalization needs the 'dask' extra: pip install 'dsa110-contimg[dask]'"
        ) from None
    if scheduler:
        return Client(scheduler), None
    cluster = LocalCluster(
        n_workers=n_workers or 1, threads_per_worker=1, processes=True, dashboard_address=None
    )
    return Client(cluster), cluster


def normalize_all_distributed(
    *,
    reestablish: bool = False,
    scheduler: str | None = None,
    n_workers: int | None = None,
    images_per_task: int = IMAGES_PER_TASK,
    sources_per_task: int = SOURCES_PER_TASK,
    progress: Callable[[str, int, int], None] | None = None,
    settings: Settings | None = None,
) -> dict:
    """Normalize every stored image again and rebuild all metrics, on a Dask cluster.

    Parameters
    ----------
    reestablish : bool
        Re-establish every reference baseline first.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); default a local cluster
        of ``n_workers`` processes.
    n_workers : int, optional
        Workers of the local cluster (default 1).
    images_per_task, sources_per_task : int
        Block sizes of the normalization and metric tasks.
    progress : callable, optional
        Called as ``progress(stage, done, total)`` after each stored block.
    settings : Settings, optional
        Settings naming the database (handed to the tasks).

    Returns
    -------
    dict
        As :func:`~.normalize.normalize_all`, plus ``tasks``.
    """
    settings = resolve_settings(settings)
    engine = get_engine(settings)
    kwargs = settings.child_kwargs()
    established = establish_baselines(force=reestablish, settings=settings)
    client, cluster = _client(scheduler, n_workers)
    dropped: list = []
    n_tasks = 0
    status: dict[str, str] = {}
    scope = keys = None  # the first pass: every product, every source
    try:
        for _ in range(3):
            with engine.connect() as conn:
                ids = store.products_in_order(conn)
                # one future for the whole mapping: scattering a dict makes one future per
                # reference (15,000 at 10^8), each task then carrying 15,000 of them
                (baselines,) = client.scatter([active_baselines(conn)], broadcast=True)
            todo = ids if scope is None else [d for d in ids if d in scope]
            blocks = [todo[i : i + images_per_task] for i in range(0, len(todo), images_per_task)]
            futures = [
                client.submit(_normalize_block, kwargs, b, baselines, pure=False) for b in blocks
            ]
            for j, fut in enumerate(futures):  # stored in the serial order as they arrive
                outcomes = fut.result()
                with write_transaction(engine) as conn:
                    for rec in store_images(conn, outcomes):
                        status[rec.data_id] = rec.status
                if progress is not None:
                    progress("normalize", j + 1, len(futures))
            with engine.connect() as conn:  # after this pass's factors are stored
                if keys is None:
                    keys = sorted(set(mstore.photometry_keys(conn)))
                (images,) = client.scatter([image_table(conn)], broadcast=True)
            chunks = [keys[i : i + sources_per_task] for i in range(0, len(keys), sources_per_task)]
            mfut = [client.submit(_metrics_block, kwargs, c, images, pure=False) for c in chunks]
            for j, fut in enumerate(mfut):
                oc = fut.result()
                with write_transaction(engine) as conn:
                    store_metrics(conn, oc, settings)
                if progress is not None:
                    progress("metrics", j + 1, len(mfut))
            n_tasks += len(futures) + len(mfut)
            with write_transaction(engine) as conn:
                new = drop_variable_references(conn, settings)
            dropped += new
            if not new:
                break
            # the next pass redoes only what the dropped references touched
            with engine.connect() as conn:
                scope, keys = pass_scope(conn, new)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    store.vacuum_factors(engine)
    counts = status_counts(status)
    return {
        "images": len(ids),
        **counts,
        "established": len(established),
        "dropped": len(dropped),
        "tasks": n_tasks,
    }
