"""Running an external imager so that it never outlives the pipeline.

WSClean runs in its own session (a Ctrl-C meant for the pipeline does not interrupt the
image in progress) but is tied to its parent: on Linux the child asks the kernel for SIGKILL
when the parent dies (``prctl(PR_SET_PDEATHSIG)``), so a ``contimg stream`` killed during
imaging leaves no orphan writing into the group's folder. A pid file next to the outputs
(``<prefix>.pid``: pid and the process's start time) lets a restarted stream stop a stale
imager that survived anyway (another OS, or a process started before this code) before it
images the group again.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

__all__ = ["run_tied", "stop_stale"]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _tie_to_parent(parent_pid: int) -> None:
    """``preexec_fn``: SIGKILL when the parent dies; exit now if it already died."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died between fork and prctl
        os._exit(1)


def _start_time(pid: int) -> str | None:
    """Return the process's start time in clock ticks since boot (``/proc/PID/stat`` #22)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None


def _alive(pid: int, started: str | None) -> bool:
    st = _start_time(pid)
    if st is None or (started is not None and st != started):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def stop_stale(pidfile: Path, *, wait_s: float = 30.0) -> bool:
    """Kill the process a pid file names if it still runs (same pid *and* start time).

    Parameters
    ----------
    pidfile : Path
        ``<prefix>.pid`` written by :func:`run_tied`.
    wait_s : float
        Longest wait for the process to be gone after SIGKILL.

    Returns
    -------
    bool
        Whether a stale process was found and killed.
    """
    try:
        pid_text, _, started = pidfile.read_text().strip().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        pidfile.unlink(missing_ok=True)
        return False
    killed = False
    if _alive(pid, started or None):
        log.warning("stopping a stale imager (pid %d) still writing next to %s", pid, pidfile)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # its own session: the group is the pid
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        end = time.monotonic() + wait_s
        while _alive(pid, started or None) and time.monotonic() < end:
            time.sleep(0.05)
        killed = True
    pidfile.unlink(missing_ok=True)
    return killed


def run_tied(
    argv: Sequence[str], *, cwd: Path, timeout: float, pidfile: Path | None = None
) -> subprocess.CompletedProcess:
    """Run a program in its own session, killed with its parent; capture its output.

    Parameters
    ----------
    argv : sequence of str
        The command.
    cwd : Path
        Working directory.
    timeout : float
        Seconds before the whole process group is killed and ``TimeoutExpired`` raised.
    pidfile : Path, optional
        Where to record ``"<pid> <start time>"`` while it runs (see :func:`stop_stale`).

    Raises
    ------
    subprocess.TimeoutExpired
        It ran longer than ``timeout``.
    """
    parent = os.getpid()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: _tie_to_parent(parent),  # noqa: PLW0108 - runs in the child
    )
    if pidfile is not None:
        pidfile.write_text(f"{proc.pid} {_start_time(proc.pid) or ''}\n")
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:  # timeout, KeyboardInterrupt: never leave it running
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.communicate()
        raise
    finally:
        if pidfile is not None:
            pidfile.unlink(missing_ok=True)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
