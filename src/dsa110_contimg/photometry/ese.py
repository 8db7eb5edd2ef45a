"""Extreme Scattering Event (ESE) candidates: presets, flagging, and the candidates table.

An ESE makes a compact source's flux dip by 10-50 % for days to months. A source is flagged
when, in its ESE series (``normalize.ese_series``: epochs by default, or mosaics), against its
own robust baseline (median of its first ``K`` points):

- the one-sided CUSUM of dip significances (``max_cusum``) reached ``min_cusum``: a sustained
  dip, several epochs below the baseline;
- the deepest point was at least ``min_dip_sigma`` below the baseline (``max_dip_sigma``);
- and that point's fractional depth ``1 - f / baseline`` was at least ``min_depth``.

Presets (:data:`PRESETS`): ``conservative``, ``moderate`` (default) and ``sensitive``; custom
thresholds with :class:`EseThresholds`. The ``ese_candidates`` table keeps every source that
passes the loosest preset, with its statistics, the strictest preset it passes, when it was
first and last flagged, a status (``active``, ``dismissed``, ``confirmed``) and a note; listing
with a preset (or custom thresholds) filters on the stored statistics.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from astropy.table import Table
from sqlalchemy import bindparam, delete, select, update

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database.sources import refresh_source_states
from ..database.tables import ese_candidates
from ..errors import ConfigError, NotFoundError

__all__ = [
    "PRESETS",
    "EseThresholds",
    "confirm_candidate",
    "dismiss_candidate",
    "reopen_candidate",
    "flag",
    "list_candidates",
    "resolve_thresholds",
    "update_candidates",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EseThresholds:
    """Thresholds of ESE flagging (all must be met).

    Attributes
    ----------
    min_cusum : float
        Least peak CUSUM of dip significances (sigma).
    min_dip_sigma : float
        Least significance of the deepest point below the baseline.
    min_depth : float
        Least fractional depth of that point (0.05 = 5 %).
    """

    min_cusum: float
    min_dip_sigma: float
    min_depth: float


#: Built-in presets, strictest first.
PRESETS: dict[str, EseThresholds] = {
    "conservative": EseThresholds(min_cusum=40.0, min_dip_sigma=7.0, min_depth=0.10),
    "moderate": EseThresholds(min_cusum=20.0, min_dip_sigma=5.0, min_depth=0.05),
    "sensitive": EseThresholds(min_cusum=10.0, min_dip_sigma=4.0, min_depth=0.02),
}
_LOOSEST = PRESETS["sensitive"]
_STATUSES = ("active", "dismissed", "confirmed")


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


def flag(metrics: Mapping[str, np.ndarray], thresholds: EseThresholds) -> np.ndarray:
    """Return which sources the thresholds flag.

    Parameters
    ----------
    metrics : mapping
        Arrays ``max_cusum``, ``max_dip_sigma``, ``max_dip_depth`` (e.g. from
        :func:`~dsa110_contimg.photometry.lightcurve.derive`); NaN never flags.
    thresholds : EseThresholds
        The thresholds.

    Examples
    --------
    >>> m = {"max_cusum": np.array([30.0, 5.0]), "max_dip_sigma": np.array([9.0, 9.0]),
    ...      "max_dip_depth": np.array([0.2, 0.2])}
    >>> flag(m, PRESETS["moderate"]).tolist()
    [True, False]
    """
    with np.errstate(invalid="ignore"):
        return (
            (np.asarray(metrics["max_cusum"], dtype=float) >= thresholds.min_cusum)
            & (np.asarray(metrics["max_dip_sigma"], dtype=float) >= thresholds.min_dip_sigma)
            & (np.asarray(metrics["max_dip_depth"], dtype=float) >= thresholds.min_depth)
        )


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def update_candidates(
    conn,
    keys: Sequence[tuple[str, str]],
    series: str,
    derived: Mapping[str, np.ndarray] | None,
    *,
    settings: Settings,
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
        Output of :func:`~dsa110_contimg.photometry.lightcurve.derive` for ``keys``.
    settings : Settings
        The settings.
    recompute_keys : sequence, optional
        After a recomputation: sources whose *active* candidates no longer passing the loosest
        preset are removed (dismissed and confirmed ones are kept).

    Returns
    -------
    int
        Candidates inserted or updated.
    """
    now = time.time()
    flagged_idx = (
        np.flatnonzero(flag(derived, _LOOSEST))
        if derived is not None and len(keys)
        else np.array([], int)
    )
    flagged = {keys[i]: i for i in flagged_idx.tolist()}
    if recompute_keys is not None:
        rk = set(recompute_keys)
        existing = conn.execute(
            select(ese_candidates.c.id, ese_candidates.c.catalog, ese_candidates.c.source_id).where(
                ese_candidates.c.series == series, ese_candidates.c.status == "active"
            )
        ).all()
        gone = [
            r.id
            for r in existing
            if (r.catalog, r.source_id) in rk and (r.catalog, r.source_id) not in flagged
        ]
        if gone:
            conn.execute(delete(ese_candidates).where(ese_candidates.c.id.in_(gone)))
    if not flagged:
        return 0
    fk = list(flagged)
    old = {}
    sids = sorted({k[1] for k in fk})
    for i in range(0, len(sids), 500):
        for r in conn.execute(
            select(ese_candidates).where(
                ese_candidates.c.series == series, ese_candidates.c.source_id.in_(sids[i : i + 500])
            )
        ):
            old[(r.catalog, r.source_id)] = r
    idx = np.array(list(flagged.values()), dtype=np.int64)
    sub = {k: np.asarray(derived[k])[idx] for k in ("max_cusum", "max_dip_sigma", "max_dip_depth")}
    preset = np.full(idx.size, "sensitive", dtype=object)
    for name in reversed(list(PRESETS)):  # loosest first, stricter ones overwrite
        preset[flag(sub, PRESETS[name])] = name
    stat_names = (
        "eta",
        "v",
        "vs",
        "m",
        "dip_sigma",
        "max_dip_sigma",
        "max_dip_depth",
        "cusum",
        "max_cusum",
    )
    updates, inserts = [], []
    for j, (key, i) in enumerate(flagged.items()):
        values = {name: _f(derived[name][i]) for name in stat_names}
        values.update(
            preset=preset[j],
            score=values["max_cusum"] or 0.0,
            n_points=int(derived["n_points"][i]),
            first_flagged_mjd=_f(derived["dip_start_mjd"][i]),
            last_flagged_mjd=_f(derived["dip_end_mjd"][i]),
            updated_at=now,
        )
        if key in old:
            updates.append({"b_id": old[key].id, **values})
        else:
            inserts.append(
                dict(values, catalog=key[0], source_id=key[1], series=series, status="active",
                     note=None, created_at=now)
            )  # fmt: skip
            log.info(
                "ESE candidate %s:%s (%s, score %.1f)", key[0], key[1], preset[j], values["score"]
            )
    if updates:
        cols = [c for c in updates[0] if c != "b_id"]
        conn.execute(
            update(ese_candidates)
            .where(ese_candidates.c.id == bindparam("b_id"))
            .values({c: bindparam(c) for c in cols}),
            updates,
        )
    if inserts:
        conn.execute(ese_candidates.insert(), inserts)
    return len(flagged)


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
    if status is not None and status not in _STATUSES:
        raise ConfigError(
            f"unknown candidate status {status!r}; expected one of {', '.join(_STATUSES)}"
        )
    stmt = select(ese_candidates).order_by(ese_candidates.c.score.desc(), ese_candidates.c.id)
    if status is not None:
        stmt = stmt.where(ese_candidates.c.status == status)
    with get_engine(settings).connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(stmt)]
    names = [c.name for c in ese_candidates.columns]
    if rows:
        m = {
            k: np.array([np.nan if r[k] is None else r[k] for r in rows], dtype=float)
            for k in ("max_cusum", "max_dip_sigma", "max_dip_depth")
        }
        keep = flag(m, th)
        rows = [r for r, k in zip(rows, keep.tolist(), strict=True) if k]
    if not rows:
        return Table(names=names, dtype=[_dtype(c) for c in ese_candidates.columns])
    return Table(
        rows=[[r[n] for n in names] for r in rows],
        names=names,
        dtype=[_dtype(c) for c in ese_candidates.columns],
    )


def _dtype(col):
    from sqlalchemy import Float, Integer

    if isinstance(col.type, Float):
        return float
    if isinstance(col.type, Integer):
        return int
    return object


def _set_status(cid: int, status: str, note: str | None, settings: Settings | None) -> dict:
    settings = resolve_settings(settings)
    values = {"status": status, "updated_at": time.time()}
    if note is not None:
        values["note"] = note
    with write_transaction(get_engine(settings)) as conn:
        res = conn.execute(
            update(ese_candidates).where(ese_candidates.c.id == int(cid)).values(**values)
        )
        if res.rowcount == 0:
            raise NotFoundError(f"no ESE candidate with id {cid}")
        row = conn.execute(select(ese_candidates).where(ese_candidates.c.id == int(cid))).one()
        refresh_source_states(conn, [(row.catalog, row.source_id)])
    return dict(row._mapping)


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


def thresholds_dict(th: EseThresholds) -> dict:
    """Return thresholds as a plain dict (for the API)."""
    return asdict(th)
