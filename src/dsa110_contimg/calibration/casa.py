"""Run CASA tasks (``casatasks`` from PyPI) in a child Python process, offline.

``casatools`` bundles its own casacore, which must never share a process with
python-casacore (used by the converter and the imaging code). Every CASA call of the project
therefore goes through :func:`run_casa_tasks`: it writes a small script into a work
directory, runs it with the same Python interpreter and returns the tasks' return values
(JSON). The child is configured by the project, not by ``~/.casa``:

- a ``config.py`` written into ``<workdir>/.casa/`` is passed with ``--configfile`` (and
  ``--nositeconfig``), so nothing is read from or written to the user's ``~/.casa``;
- the measures (``measurespath``/``datapath``) point into the installed ``casadata`` package;
- ``measures_auto_update`` and ``data_auto_update`` are off and the network check is skipped:
  nothing is downloaded at run time;
- the CASA log goes to ``<workdir>/casa-<label>.log``; the child's standard output and error to
  ``<workdir>/<label>.out``.

A failure (an exception in a task, a killed or crashed child, a timeout) raises
:class:`~dsa110_contimg.errors.CalibrationError` naming the Measurement Set and the task, with
the last lines of the log. Importing ``casatools`` prints a harmless "TAI_UTC seems
out-of-date" line (the bundled measures are a snapshot).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from ..errors import CalibrationError, ToolMissingError

__all__ = ["casa_available", "casa_config", "run_casa_tasks"]

log = logging.getLogger(__name__)

_SCRIPT = r'''
import json, sys, time, traceback
calls = json.load(open({calls!r}))
out, seconds = [], []
name = "import casatasks"
try:
    import casatasks
    for name, kwargs in calls:
        t0 = time.perf_counter()
        out.append(getattr(casatasks, name)(**kwargs))
        seconds.append(time.perf_counter() - t0)
except BaseException as exc:
    json.dump({{"error": f"{{type(exc).__name__}}: {{exc}}", "task": name,
               "traceback": traceback.format_exc()}}, open({result!r}, "w"))
    sys.exit(3)

def clean(v):
    import numpy as np
    if isinstance(v, dict):
        return {{str(k): clean(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return [clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return clean(v.tolist())
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        return v.item()
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)

json.dump({{"results": clean(out), "seconds": seconds}}, open({result!r}, "w"))
'''


def casa_available() -> bool:
    """Whether ``casatasks`` and ``casadata`` are installed (without importing them)."""
    return find_spec("casatasks") is not None and find_spec("casadata") is not None


def _casadata_path() -> Path:
    spec = find_spec("casadata")
    if spec is None or spec.origin is None:
        raise ToolMissingError(
            "CASA data (casadata) is not installed: install the 'calibration' extra"
        )
    return Path(spec.origin).parent / "__data__"


def casa_config(workdir: Path, label: str) -> Path:
    """Write the offline CASA configuration for one run and return its path.

    Parameters
    ----------
    workdir : Path
        The run's work directory (the configuration goes into ``workdir/.casa``).
    label : str
        Names the log file ``casa-<label>.log``.
    """
    data = _casadata_path()
    cfgdir = Path(workdir) / ".casa"
    cfgdir.mkdir(parents=True, exist_ok=True)
    cfg = cfgdir / "config.py"
    cfg.write_text(
        "# written by dsa110_contimg.calibration.casa: offline, nothing in the user home\n"
        f"measurespath = {str(data)!r}\n"
        f"datapath = [{str(data)!r}]\n"
        "measures_auto_update = False\n"
        "data_auto_update = False\n"
        "skipnetworkcheck = True\n"
        f"cachedir = {str(cfgdir)!r}\n"
        f"startupfile = {str(cfgdir / 'startup.py')!r}\n"
        f"logfile = {str(Path(workdir).resolve() / f'casa-{label}.log')!r}\n"
        "nologger = True\n"
        "nogui = True\n"
        "log2term = False\n"
        "casaconfig_verbose = 0\n"
    )
    return cfg


def _tail(path: Path, n: int = 15) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    keep = [ln for ln in lines if "SEVERE" in ln or "Error" in ln or "error" in ln][-n:]
    return "\n".join(keep or lines[-n:])


def run_casa_tasks(
    calls: Sequence[tuple[str, dict[str, Any]]],
    *,
    ms: str | Path,
    workdir: str | Path,
    label: str,
    timeout: float = 3600.0,
    seconds: list[float] | None = None,
) -> list[Any]:
    """Run CASA tasks one after the other in one child process.

    Parameters
    ----------
    calls : sequence of (str, dict)
        ``(task name, keyword arguments)``, e.g. ``("flagdata", {"vis": "x.ms", "mode":
        "manual", "autocorr": True})``. Arguments must be JSON-serializable.
    ms : str or Path
        The Measurement Set concerned (named in errors).
    workdir : str or Path
        Directory for the script, the configuration and the logs (created).
    label : str
        Short name of the step (file names ``<label>.py``, ``<label>.out``, ``casa-<label>.log``).
    timeout : float
        Seconds before the child is killed.
    seconds : list, optional
        Filled with the wall time of each task (without the child's start-up).

    Returns
    -------
    list
        The return value of each task (``None`` for most; a dict for ``flagdata`` summaries).

    Raises
    ------
    ToolMissingError
        casatasks/casadata are not installed.
    CalibrationError
        A task raised, the child crashed or timed out; names the MS and the task.
    """
    if not casa_available():
        raise ToolMissingError(
            "CASA (casatasks, casadata) is not installed: install the 'calibration' extra"
        )
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = casa_config(workdir, label)
    calls_path = workdir / f"{label}.calls.json"
    result_path = workdir / f"{label}.result.json"
    script = workdir / f"{label}.py"
    out_path = workdir / f"{label}.out"
    result_path.unlink(missing_ok=True)
    calls_path.write_text(json.dumps([[name, dict(kw)] for name, kw in calls], indent=1))
    script.write_text(_SCRIPT.format(calls=str(calls_path), result=str(result_path)))
    env = dict(os.environ)
    env.pop("CASASITECONFIG", None)
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    names = ", ".join(dict.fromkeys(name for name, _ in calls))
    cmd = [sys.executable, str(script), "--configfile", str(cfg), "--nositeconfig"]
    log.debug("CASA %s on %s: %s", names, ms, cmd)
    with open(out_path, "w") as out:
        try:
            proc = subprocess.run(
                cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise CalibrationError(
                f"CASA {names} timed out after {timeout:.0f} s (log {out_path})", path=ms
            ) from None
    result = None
    if result_path.exists():
        try:
            result = json.loads(result_path.read_text())
        except ValueError:
            result = None
    if proc.returncode != 0 or result is None or "error" in result:
        task = (result or {}).get("task", names)
        err = (result or {}).get("error") or f"exit status {proc.returncode}"
        tail = _tail(workdir / f"casa-{label}.log") or _tail(out_path)
        raise CalibrationError(
            f"CASA task {task} failed: {err}" + (f"\n{tail}" if tail else ""), path=ms
        )
    if seconds is not None:
        seconds[:] = result.get("seconds", [])
    return result["results"]
