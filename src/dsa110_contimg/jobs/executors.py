"""Where tasks run: local processes (default), threads (in-process runs), or a Dask cluster.

Every executor has the same small surface: ``submit(fn, *args) -> future``, ``wait(futures,
timeout) -> set of done futures``, ``reset()`` after a broken pool, ``shutdown()``. Tasks
compute and *return* measurements; only the worker process writes the database.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Collection
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from ..errors import JobError

__all__ = ["DaskExecutor", "ProcessExecutor", "ThreadExecutor", "make_executor"]

log = logging.getLogger(__name__)


def _warm() -> int:
    """Import the measurement code in a fresh process (so the first real task is fast)."""
    from ..photometry import measure_many  # noqa: F401

    return multiprocessing.current_process().pid or 0


def _noop() -> None:
    """Do nothing (probes whether a pool still accepts work)."""


def _exit_with_parent(parent_pid: int) -> None:
    """Pool-process initializer: ignore stop signals; exit as soon as the worker is gone.

    SIGINT and SIGTERM are ignored: they are sent to the whole process group by Ctrl-C,
    systemd and ``timeout``, and the worker decides what happens to the items in flight
    (finish them, or give them back and kill this process). A worker killed with SIGKILL cannot
    stop its pool; without the watch its task processes would live on as orphans.
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="contimg-parent-watch", daemon=True).start()


class ThreadExecutor:
    """Run tasks on threads of the worker process (``run_batch_photometry_job``).

    Parameters
    ----------
    concurrency : int
        Threads.
    """

    def __init__(self, concurrency: int = 1) -> None:
        self._pool = cf.ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="contimg-task"
        )

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        """Start ``fn(*args)``."""
        return self._pool.submit(fn, *args)

    def wait(self, futures: Collection[Any], timeout: float) -> set:
        """Wait up to ``timeout`` seconds for one of ``futures``; return the done ones."""
        done, _ = cf.wait(list(futures), timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return set(done)

    def reset(self) -> None:
        """Nothing to rebuild for threads."""

    def shutdown(self, kill: bool = False) -> None:
        """Stop the threads (after the running tasks end; threads cannot be killed)."""
        self._pool.shutdown(wait=not kill, cancel_futures=True)


class ProcessExecutor(ThreadExecutor):
    """Run tasks in a pool of local processes (``spawn``ed, warmed up at start).

    Parameters
    ----------
    concurrency : int
        Processes.
    """

    def __init__(self, concurrency: int = 1) -> None:
        self._n = max(1, int(concurrency))
        self._pool = self._new_pool()

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        pool = cf.ProcessPoolExecutor(
            max_workers=self._n,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_exit_with_parent,
            initargs=(os.getpid(),),
        )
        for _ in range(self._n):
            pool.submit(_warm)
        return pool

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        """Start ``fn(*args)`` in a task process (on a new pool if the old one broke)."""
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            self.reset()
            return self._pool.submit(fn, *args)

    def shutdown(self, kill: bool = False) -> None:
        """Stop the pool: wait for running tasks, or with ``kill`` kill the task processes."""
        if not kill:
            self._pool.shutdown(wait=True, cancel_futures=True)
            return
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        for p in procs:
            try:
                p.kill()  # they ignore SIGTERM on purpose
            except (OSError, ValueError, AttributeError):
                pass
        self._pool.shutdown(wait=True, cancel_futures=True)

    def reset(self) -> None:
        """Replace the pool if it is broken (a task process died); otherwise do nothing."""
        try:
            self._pool.submit(_noop)
        except BrokenProcessPool:
            log.warning("a task process died; starting a new process pool")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()


class DaskExecutor:
    """Run tasks on a Dask distributed cluster.

    Parameters
    ----------
    address : str
        Scheduler address (``tcp://host:8786``, or a ``LocalCluster``'s ``scheduler_address``).

    Raises
    ------
    ImportError
        ``distributed`` is not installed (extra ``dask``).
    JobError
        The scheduler cannot be reached.
    """

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "Dask execution needs the 'dask' extra: pip install 'dsa110-contimg[dask]'"
            ) from exc
        try:
            self._client = Client(address, set_as_default=False, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise JobError(f"cannot reach the Dask scheduler at {address} ({exc})") from None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Start ``fn(*args)`` on the cluster."""
        return self._client.submit(fn, *args, pure=False)

    def wait(self, futures: Collection[Any], timeout: float) -> set:
        """Wait up to ``timeout`` seconds for one of ``futures``; return the done ones."""
        from distributed import wait

        try:
            with self._client.as_current():
                wait(list(futures), timeout=timeout, return_when="FIRST_COMPLETED")
        except TimeoutError:
            pass  # nothing finished in time: the caller polls again
        return {f for f in futures if f.done()}

    def reset(self) -> None:
        """Dask reschedules lost tasks itself."""

    def shutdown(self, kill: bool = False) -> None:
        """Close the client (the cluster keeps running; lost tasks are simply dropped)."""
        self._client.close()


def make_executor(
    *, concurrency: int = 1, dask_scheduler: str | None = None, in_process: bool = False
):
    """Return the executor for a worker.

    Parameters
    ----------
    concurrency : int
        Tasks run at once (processes or threads).
    dask_scheduler : str, optional
        Run on this Dask scheduler instead.
    in_process : bool
        Use threads of this process (no process start-up).
    """
    if dask_scheduler:
        return DaskExecutor(dask_scheduler)
    if in_process:
        return ThreadExecutor(concurrency)
    return ProcessExecutor(concurrency)
