"""ESE candidates of stored metrics: keep the flagged sources, list them, set their status.

The flagging (presets, thresholds) is :mod:`dsa110_contimg.variability.ese`; the
``ese_candidates`` table keeps every source that passes the loosest preset, with its
statistics, the strictest preset it passes, when it was first and last flagged, a status
(``active``, ``dismissed``, ``confirmed``) and a note; listing with a preset (or custom
thresholds) filters on the stored statistics.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np
from astropy.table import Table

from ...config import Settings, resolve_settings
from ...database import candidates as store
from ...database import get_engine, write_transaction
from ...errors import ConfigError, NotFoundError
from ..ese import PRESETS, STATUSES, EseThresholds, candidate_values, flag, thresholds_dict

__all__ = [
    "PRESETS",
    "EseThresholds",
    "confirm_candidate",
    "dismiss_candidate",
    "flag",
    "list_candidates",
    "log_updated_candidates",
    "reopen_candidate",
    "resolve_thresholds",
    "thresholds_dict",
    "update_candidates",
]

log = logging.getLogger(__name__)


def resolve_thresholds(
    preset: str | EseThresholds | None = None, *, settings: Settings | None = None
) -> EseThresholds:
    """Return the thresholds of a preset name (default: ``normalize.ese_preset``) or custom ones.

    Raises
    ------
    ConfigError
        Unknown preset name.
    """
    if isinstance(preset, EseThresholds):
        return preset
    if preset is None:
        preset = resolve_settings(settings).normalize.ese_preset
    try:
        return PRESETS[preset]
    except KeyError:
        raise ConfigError(
            f"unknown ESE preset {preset!r}; expected one of {', '.join(PRESETS)}"
        ) from None


def update_candidates(
    conn,
    keys: Sequence[tuple[str, str]],
    series: str,
    derived: Mapping[str, np.ndarray] | None,
    *,
    recompute_keys: Sequence[tuple[str, str]] | None = None,
) -> int:
    """Insert or refresh the candidates among ``keys`` (inside the caller's transaction).

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection in a write transaction.
    keys : sequence of (catalog, source_id)
        Sources whose metrics ``derived`` were just computed (same order).
    series : str
        The ESE series.
    derived : mapping of arrays, optional
        Output of :func:`~dsa110_contimg.variability.metrics.derive` for ``keys``.
    recompute_keys : sequence, optional
        After a recomputation: sources whose *active* candidates no longer passing the loosest
        preset are removed (dismissed and confirmed ones are kept).

    Returns
    -------
    int
        Candidates inserted or updated.
    """
    values = candidate_values(keys, derived)
    return store.store_candidates(
        conn, series, values, now=time.time(), recompute_keys=recompute_keys
    )


def list_candidates(
    *,
    preset: str | EseThresholds | None = None,
    status: str | None = None,
    settings: Settings | None = None,
) -> Table:
    """Return ESE candidates passing a preset (or custom thresholds), best score first.

    Parameters
    ----------
    preset : str or EseThresholds, optional
        Preset name or thresholds (default ``normalize.ese_preset``).
    status : str, optional
        Only candidates with this status (``active``, ``dismissed``, ``confirmed``).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    astropy.table.Table
        One row per candidate with the columns of ``ese_candidates``.
    """
    settings = resolve_settings(settings)
    th = resolve_thresholds(preset, settings=settings)
    if status is not None and status not in STATUSES:
        raise ConfigError(
            f"unknown candidate status {status!r}; expected one of {', '.join(STATUSES)}"
        )
    with get_engine(settings).connect() as conn:
        rows = store.list_candidate_rows(conn, status=status)
    columns = store.candidate_columns()
    names = [n for n, _ in columns]
    dtypes = [d for _, d in columns]
    if rows:
        m = {
            k: np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
            for k in ("max_cusum", "max_dip_sigma", "max_dip_depth")
        }
        keep = flag(m, th)
        rows = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
    if not rows:
        return Table(names=names, dtype=dtypes)
    return Table(rows=[[r[n] for n in names] for r in rows], names=names, dtype=dtypes)


#: Candidates named one by one by :func:`log_updated_candidates`; the rest are counted.
LOGGED_CANDIDATES = 10


def log_updated_candidates(since: float, *, settings: Settings | None = None) -> list[dict]:
    """Log the stored score of each candidate created or refreshed since ``since``.

    A candidate's score (``score``: the peak CUSUM of its dip, ``max_cusum``) follows its light
    curve: the line logged when it is first flagged gives the score of that moment, and each
    new epoch refreshes it. After a run (a worker's, ``--once``) this gives the score as
    stored, the one ``contimg ese list``, the API and the web UI show, so the log's last word
    on a candidate and the table agree.

    Parameters
    ----------
    since : float
        Unix time the run started.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    list of dict
        The candidates' rows, best score first.
    """
    with get_engine(resolve_settings(settings)).connect() as conn:
        rows = store.candidates_updated_since(conn, since)
    for r in rows[:LOGGED_CANDIDATES]:
        log.info(
            "ESE candidate %s:%s (id %d, %s series, %s): score %.1f over %d points, %s preset, "
            "as stored ('contimg ese list' and the web UI show this score)",
            r["catalog"],
            r["source_id"],
            r["id"],
            r["series"],
            r["status"],
            r["score"],
            r["n_points"] or 0,
            r["preset"],
        )
    if len(rows) > LOGGED_CANDIDATES:
        log.info(
            "... and %d more ESE candidates updated ('contimg ese list')",
            len(rows) - LOGGED_CANDIDATES,
        )
    return rows


def _set_status(cid: int, status: str, note: str | None, settings: Settings | None) -> dict:
    settings = resolve_settings(settings)
    values = {"status": status, "updated_at": time.time()}
    if note is not None:
        values["note"] = note
    with write_transaction(get_engine(settings)) as conn:
        row = store.set_candidate_status(conn, cid, values)
        if row is None:
            raise NotFoundError(f"no ESE candidate with id {cid}")
    return row


def dismiss_candidate(
    cid: int, *, note: str | None = None, settings: Settings | None = None
) -> dict:
    """Mark a candidate dismissed; return it.

    It is kept, and later epochs do not make it active again (:func:`reopen_candidate` does).
    """
    return _set_status(cid, "dismissed", note, settings)


def reopen_candidate(
    cid: int, *, note: str | None = None, settings: Settings | None = None
) -> dict:
    """Make a dismissed or confirmed candidate active again; return it.

    For a dismissal made by mistake or a confirmation withdrawn: later epochs then update it
    as any active candidate.
    """
    return _set_status(cid, "active", note, settings)


def confirm_candidate(
    cid: int, *, note: str | None = None, settings: Settings | None = None
) -> dict:
    """Mark a candidate confirmed; return it."""
    return _set_status(cid, "confirmed", note, settings)
