"""Calibration in the products database: solution sets, image calibration state, supersession.

A solution set (the K, B and G tables of one calibrator transit) is a product: registered by
:func:`register_caltable` with its calibrator, transit, validity window, QA and status
(``valid`` or ``refused`` with the reason). Which set a group uses is decided by
:func:`dsa110_contimg.conversion.streaming.calpolicy.choose_caltable` from
:func:`caltables_covering`.

Every image records its ``calibration_status`` and the set applied (:func:`set_image_calibration`).
When an ``uncalibrated`` image is re-calibrated, the new product replaces it:
:func:`supersede_product` records ``superseded_by`` on the old one, whose file, registry row and
photometry stay stored. :func:`science_usable` is the one SQL condition with which consumers
(normalization, variability, ESE, mosaics) leave out uncalibrated and superseded products.

The stream's side (groups waiting for a calibrator, groups queued again for re-calibration) is
here too, so that all SQL of the calibration state lives in one module.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from ..config import Settings, resolve_settings
from ..errors import DatabaseError, NotFoundError
from .engine import get_engine, write_transaction
from .tables.calibration import CALIBRATION_STATUSES, CALTABLE_STATUSES, caltables
from .tables.products import data_registry
from .tables.stream import stream_groups

__all__ = [
    "CALIBRATION_STATUSES",
    "CALTABLE_STATUSES",
    "CalTableRecord",
    "exclusion_reason",
    "calibration_summary",
    "caltable_for_group",
    "caltables_covering",
    "count_caltables",
    "excluded_from_science",
    "get_caltable",
    "groups_to_recalibrate",
    "image_calibration",
    "list_caltables",
    "previous_valid_caltable",
    "products_using_caltable",
    "register_caltable",
    "release_waiting_groups",
    "science_usable",
    "set_group_waiting",
    "set_image_calibration",
    "supersede_product",
    "unix_to_mjd",
]

log = logging.getLogger(__name__)

_MJD_UNIX_EPOCH = 40587.0


def unix_to_mjd(t: float) -> float:
    """Unix seconds (UTC) -> MJD (UTC).

    Examples
    --------
    >>> unix_to_mjd(0.0)
    40587.0
    """
    return _MJD_UNIX_EPOCH + float(t) / 86400.0


def _json_list(values: Sequence[float] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(
        [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]
    )


def _from_json_list(text: str | None) -> tuple[float, ...] | None:
    if not text:
        return None
    return tuple(float("nan") if v is None else float(v) for v in json.loads(text))


@dataclass(frozen=True)
class CalTableRecord:
    """One registered calibration solution set (a row of ``caltables``).

    Attributes
    ----------
    id : int
    calibrator : str
        Calibrator name (as in the bundled list).
    transit_mjd : float
        The calibrator's transit (MJD, UTC).
    valid_from_mjd, valid_until_mjd : float
        Validity window (transit -+ ``calibration.validity_hours``).
    group_key : str or None
        The stream group the set was solved on.
    ms_path : str or None
        The calibrator Measurement Set.
    k_path, b_path, g_path : str or None
        Delay, bandpass and gain tables.
    channel_mask_path : str or None
        ``.npy`` of the channels flagged on the calibrator (the science groups' cheap flagging).
    snr_median, flagged_fraction, delay_scatter_ns : float or None
        Solution QA.
    antennas_flagged : tuple of int
        Antennas without solutions.
    n_antennas : int or None
    antenna_delays_ns, antenna_gain_amps : tuple of float or None
        Per-antenna delay and gain amplitude (for the jump test of the next transit).
    status : {"valid", "refused"}
    reason : str or None
        Why a set was refused.
    created_at : float
        Registration time (Unix seconds).
    """

    id: int
    calibrator: str
    transit_mjd: float
    valid_from_mjd: float
    valid_until_mjd: float
    group_key: str | None
    ms_path: str | None
    k_path: str | None
    b_path: str | None
    g_path: str | None
    channel_mask_path: str | None
    snr_median: float | None
    flagged_fraction: float | None
    antennas_flagged: tuple[int, ...]
    n_antennas: int | None
    delay_scatter_ns: float | None
    antenna_delays_ns: tuple[float, ...] | None
    antenna_gain_amps: tuple[float, ...] | None
    status: str
    reason: str | None
    created_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CalTableRecord:
        """Build the record from a row of ``caltables``."""
        values = {k: row[k] for k in cls.__dataclass_fields__}
        values["antennas_flagged"] = tuple(
            int(a) for a in json.loads(row["antennas_flagged"] or "[]")
        )
        values["antenna_delays_ns"] = _from_json_list(row["antenna_delays_ns"])
        values["antenna_gain_amps"] = _from_json_list(row["antenna_gain_amps"])
        return cls(**values)

    @property
    def tables(self) -> dict[str, Path]:
        """The tables as ``{"K": path, "B": path, "G": path}`` (those recorded)."""
        pairs = (("K", self.k_path), ("B", self.b_path), ("G", self.g_path))
        return {k: Path(p) for k, p in pairs if p}

    def covers(self, mjd: float) -> bool:
        """Whether ``mjd`` is inside the validity window."""
        return self.valid_from_mjd <= mjd <= self.valid_until_mjd

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON (per-antenna arrays left out; NaN -> None)."""
        d = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in ("antenna_delays_ns", "antenna_gain_amps")
        }
        d["antennas_flagged"] = list(self.antennas_flagged)
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        return d


def register_caltable(
    *,
    calibrator: str,
    transit_mjd: float,
    validity_hours: float,
    tables: Mapping[str, str | Path],
    status: str = "valid",
    reason: str | None = None,
    snr_median: float | None = None,
    flagged_fraction: float | None = None,
    antennas_flagged: Sequence[int] = (),
    n_antennas: int | None = None,
    delay_scatter_ns: float | None = None,
    antenna_delays_ns: Sequence[float] | None = None,
    antenna_gain_amps: Sequence[float] | None = None,
    channel_mask_path: str | Path | None = None,
    group_key: str | None = None,
    ms_path: str | Path | None = None,
    settings: Settings | None = None,
    now: float | None = None,
) -> CalTableRecord:
    """Register a solution set; return its record.

    Parameters
    ----------
    calibrator : str
        The calibrator's name.
    transit_mjd : float
        Its transit (MJD, UTC).
    validity_hours : float
        Half-width of the validity window.
    tables : mapping
        ``{"K": path, "B": path, "G": path}`` (paths stored resolved).
    status : {"valid", "refused"}
        A refused set is recorded (with ``reason``) but never applied.
    reason : str, optional
        Why it was refused.
    snr_median, flagged_fraction, antennas_flagged, n_antennas, delay_scatter_ns
        Solution QA.
    antenna_delays_ns, antenna_gain_amps : sequence of float, optional
        Per-antenna summaries (NaN for antennas without a solution).
    channel_mask_path, group_key, ms_path : optional
        Channel mask file, calibrator group and Measurement Set.
    settings : Settings, optional
        Settings naming the database.
    now : float, optional
        Registration time (Unix seconds; default the clock).

    Raises
    ------
    DatabaseError
        Unknown status, or a refused set without a reason.
    """
    if status not in CALTABLE_STATUSES:
        raise DatabaseError(f"caltable status must be one of {CALTABLE_STATUSES}, not {status!r}")
    if status == "refused" and not reason:
        raise DatabaseError("a refused solution set needs the reason")
    unknown = set(tables) - {"K", "B", "G"}
    if unknown:
        raise DatabaseError(f"unknown calibration table kinds {sorted(unknown)} (K, B, G)")
    half = float(validity_hours) / 24.0

    def _p(p):
        return Path(p).expanduser().resolve().as_posix() if p else None

    values = {
        "calibrator": calibrator,
        "transit_mjd": float(transit_mjd),
        "valid_from_mjd": float(transit_mjd) - half,
        "valid_until_mjd": float(transit_mjd) + half,
        "group_key": group_key,
        "ms_path": _p(ms_path),
        "k_path": _p(tables.get("K")),
        "b_path": _p(tables.get("B")),
        "g_path": _p(tables.get("G")),
        "channel_mask_path": _p(channel_mask_path),
        "snr_median": _finite(snr_median),
        "flagged_fraction": _finite(flagged_fraction),
        "antennas_flagged": json.dumps(sorted(int(a) for a in antennas_flagged)),
        "n_antennas": n_antennas,
        "delay_scatter_ns": _finite(delay_scatter_ns),
        "antenna_delays_ns": _json_list(antenna_delays_ns),
        "antenna_gain_amps": _json_list(antenna_gain_amps),
        "status": status,
        "reason": reason,
        "created_at": time.time() if now is None else float(now),
    }
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        new_id = conn.execute(caltables.insert().values(**values)).inserted_primary_key[0]
        row = conn.execute(select(caltables).where(caltables.c.id == new_id)).mappings().one()
    rec = CalTableRecord.from_row(row)
    if status == "refused":
        log.warning(
            "calibration solution %d (%s, transit MJD %.5f) refused: %s. It is kept but never "
            "applied: groups use the previous valid solution within its window (or wait, then "
            "go uncalibrated); nothing to do for one transit, look at the array if it recurs",
            rec.id,
            calibrator,
            transit_mjd,
            reason,
        )
    else:
        log.info(
            "calibration solution %d registered (%s, transit MJD %.5f, valid MJD %.3f-%.3f)",
            rec.id,
            calibrator,
            transit_mjd,
            rec.valid_from_mjd,
            rec.valid_until_mjd,
        )
    return rec


def _finite(v: float | None) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def get_caltable(caltable_id: int, *, settings: Settings | None = None) -> CalTableRecord | None:
    """Return a solution set by id, or None."""
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = (
            conn.execute(select(caltables).where(caltables.c.id == int(caltable_id)))
            .mappings()
            .first()
        )
    return CalTableRecord.from_row(row) if row is not None else None


def _filtered(stmt, status, calibrator, mjd_min, mjd_max):
    if status is not None:
        stmt = stmt.where(caltables.c.status == status)
    if calibrator is not None:
        stmt = stmt.where(caltables.c.calibrator == calibrator)
    if mjd_min is not None:
        stmt = stmt.where(caltables.c.transit_mjd >= mjd_min)
    if mjd_max is not None:
        stmt = stmt.where(caltables.c.transit_mjd <= mjd_max)
    return stmt


def list_caltables(
    *,
    status: str | None = None,
    calibrator: str | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    limit: int | None = 100,
    offset: int = 0,
    settings: Settings | None = None,
) -> list[CalTableRecord]:
    """Return solution sets, latest transit first.

    Parameters
    ----------
    status : {"valid", "refused"}, optional
    calibrator : str, optional
    mjd_min, mjd_max : float, optional
        Transit range (inclusive).
    limit : int, optional
        Most records (None: all).
    offset : int
        Records skipped (paging).
    settings : Settings, optional
    """
    stmt = _filtered(select(caltables), status, calibrator, mjd_min, mjd_max)
    stmt = stmt.order_by(caltables.c.transit_mjd.desc(), caltables.c.id.desc()).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [CalTableRecord.from_row(r) for r in conn.execute(stmt).mappings()]


def count_caltables(
    *,
    status: str | None = None,
    calibrator: str | None = None,
    mjd_min: float | None = None,
    mjd_max: float | None = None,
    settings: Settings | None = None,
) -> int:
    """How many solution sets match the filters of :func:`list_caltables`."""
    stmt = _filtered(
        select(func.count()).select_from(caltables), status, calibrator, mjd_min, mjd_max
    )
    with get_engine(resolve_settings(settings)).connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def caltables_covering(
    mjd: float, *, status: str | None = "valid", settings: Settings | None = None
) -> list[CalTableRecord]:
    """Solution sets whose validity window contains ``mjd``, by transit."""
    stmt = select(caltables).where(
        caltables.c.valid_from_mjd <= mjd, caltables.c.valid_until_mjd >= mjd
    )
    if status is not None:
        stmt = stmt.where(caltables.c.status == status)
    stmt = stmt.order_by(caltables.c.transit_mjd, caltables.c.id)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [CalTableRecord.from_row(r) for r in conn.execute(stmt).mappings()]


def caltable_for_group(
    group_key: str, *, settings: Settings | None = None
) -> CalTableRecord | None:
    """Return the latest solution set solved on a stream group, or None."""
    stmt = (
        select(caltables)
        .where(caltables.c.group_key == group_key)
        .order_by(caltables.c.id.desc())
        .limit(1)
    )
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return CalTableRecord.from_row(row) if row is not None else None


def previous_valid_caltable(
    transit_mjd: float, *, settings: Settings | None = None
) -> CalTableRecord | None:
    """Return the latest valid solution set with a transit before ``transit_mjd``."""
    stmt = (
        select(caltables)
        .where(caltables.c.status == "valid", caltables.c.transit_mjd < transit_mjd)
        .order_by(caltables.c.transit_mjd.desc(), caltables.c.id.desc())
        .limit(1)
    )
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = conn.execute(stmt).mappings().first()
    return CalTableRecord.from_row(row) if row is not None else None


# --------------------------------------------------------------------------------------------
# products


def set_image_calibration(
    data_id: str,
    status: str,
    caltable_id: int | None = None,
    *,
    settings: Settings | None = None,
) -> None:
    """Record a product's calibration status and the solution set applied.

    Raises
    ------
    DatabaseError
        Unknown status, or ``calibrated`` without a solution set.
    NotFoundError
        No registry record has this ``data_id``.
    """
    if status not in CALIBRATION_STATUSES:
        raise DatabaseError(
            f"calibration_status must be one of {CALIBRATION_STATUSES}, not {status!r}"
        )
    if status == "calibrated" and caltable_id is None:
        raise DatabaseError(f"{data_id}: a calibrated product needs the solution set applied")
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        done = conn.execute(
            update(data_registry)
            .where(data_registry.c.data_id == data_id)
            .values(calibration_status=status, caltable_id=caltable_id, updated_at=time.time())
        ).rowcount
    if not done:
        raise NotFoundError(f"no registered product with data_id {data_id!r}")


def image_calibration(data_id: str, *, settings: Settings | None = None) -> dict[str, Any] | None:
    """``{"calibration_status", "caltable_id", "superseded_by", "superseded_at"}`` or None.

    A product registered before calibration existed reads as ``precalibrated``.
    """
    r = data_registry.c
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = conn.execute(
            select(r.calibration_status, r.caltable_id, r.superseded_by, r.superseded_at).where(
                r.data_id == data_id
            )
        ).first()
    if row is None:
        return None
    return {
        "calibration_status": row.calibration_status or "precalibrated",
        "caltable_id": row.caltable_id,
        "superseded_by": row.superseded_by,
        "superseded_at": row.superseded_at,
    }


def supersede_product(
    old_data_id: str,
    new_data_id: str,
    *,
    settings: Settings | None = None,
    now: float | None = None,
) -> None:
    """Record that ``new_data_id`` replaces ``old_data_id`` (a re-calibrated image).

    The old product keeps its file, registry row and photometry; it is only marked, and
    :func:`science_usable` leaves it out from then on.

    Raises
    ------
    NotFoundError
        Either product is not registered.
    DatabaseError
        A product would replace itself, or the old one is already replaced by another.
    """
    if old_data_id == new_data_id:
        raise DatabaseError(f"{old_data_id}: a product cannot supersede itself")
    when = time.time() if now is None else float(now)
    r = data_registry.c
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        rows = {
            x.data_id: x
            for x in conn.execute(
                select(r.data_id, r.superseded_by).where(r.data_id.in_([old_data_id, new_data_id]))
            )
        }
        for d in (old_data_id, new_data_id):
            if d not in rows:
                raise NotFoundError(f"no registered product with data_id {d!r}")
        current = rows[old_data_id].superseded_by
        if current is not None and current != new_data_id:
            raise DatabaseError(f"{old_data_id} is already superseded by {current}")
        conn.execute(
            update(data_registry)
            .where(r.data_id == old_data_id)
            .values(superseded_by=new_data_id, superseded_at=when, updated_at=when)
        )
    log.info("%s superseded by %s", old_data_id, new_data_id)


def science_usable(registry=data_registry):
    """Return the SQL condition: the product may serve references, variability, ESEs, mosaics.

    True for products that are not ``uncalibrated`` and not superseded (NULL status: registered
    before calibration existed, read as ``precalibrated``). Use it in a query that joins
    ``data_registry`` (outer joins: a missing registry row counts as usable).
    """
    return and_(
        or_(
            registry.c.calibration_status.is_(None),
            registry.c.calibration_status != "uncalibrated",
        ),
        registry.c.superseded_by.is_(None),
    )


def excluded_from_science(conn, data_id: str) -> str | None:
    """Return why a product may not serve references, variability or ESEs, or None.

    ``"uncalibrated"`` or ``"superseded by <data_id>"``; None for a usable product (or one
    without a registry row). Runs on the caller's connection.
    """
    r = data_registry.c
    row = conn.execute(
        select(r.calibration_status, r.superseded_by).where(r.data_id == data_id)
    ).first()
    return None if row is None else exclusion_reason(row.calibration_status, row.superseded_by)


def exclusion_reason(calibration_status: str | None, superseded_by: str | None) -> str | None:
    """Why a product with this registry state is excluded from science (or None)."""
    if superseded_by is not None:
        return f"superseded by {superseded_by}"
    if calibration_status == "uncalibrated":
        return "uncalibrated"
    return None


# --------------------------------------------------------------------------------------------
# the stream's groups


def set_group_waiting(
    group_id: int, until: float, *, reason: str, settings: Settings | None = None
) -> None:
    """Put a claimed stream group in ``waiting`` (for a calibrator) until ``until`` (Unix s)."""
    now = time.time()
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        conn.execute(
            update(stream_groups)
            .where(stream_groups.c.id == group_id)
            .values(status="waiting", cal_wait_until=until, error=reason, updated_at=now)
        )


def release_waiting_groups(
    *,
    group_mid_mjd,
    settings: Settings | None = None,
    now: float | None = None,
) -> list[tuple[int, str]]:
    """Send ``waiting`` groups back to ``pending`` when a valid set covers them or time is up.

    Parameters
    ----------
    group_mid_mjd : callable
        ``group_time (Unix s) -> mid-time MJD`` of a group.
    settings : Settings, optional
    now : float, optional
        The clock (Unix seconds).

    Returns
    -------
    list of (int, str)
        ``(group id, why)`` with why ``"calibrator"`` (a valid set covers it) or
        ``"timeout"`` (it will be imaged uncalibrated).
    """
    settings = resolve_settings(settings)
    now = time.time() if now is None else float(now)
    out = []
    with write_transaction(get_engine(settings)) as conn:
        rows = conn.execute(
            select(stream_groups.c.id, stream_groups.c.group_time, stream_groups.c.cal_wait_until)
            .where(stream_groups.c.status == "waiting")
            .order_by(stream_groups.c.group_time)
        ).all()
        for gid, gtime, until in rows:
            mid = group_mid_mjd(gtime)
            covered = conn.execute(
                select(caltables.c.id)
                .where(
                    caltables.c.status == "valid",
                    caltables.c.valid_from_mjd <= mid,
                    caltables.c.valid_until_mjd >= mid,
                )
                .limit(1)
            ).first()
            if covered is not None:
                why = "calibrator"
            elif until is None or now >= until:
                why = "timeout"
            else:
                continue
            conn.execute(
                update(stream_groups)
                .where(stream_groups.c.id == gid)
                .values(status="pending", pending_at=now, updated_at=now)
            )
            out.append((int(gid), why))
    return out


def groups_to_recalibrate(
    caltable: CalTableRecord,
    *,
    group_mid_mjd,
    settings: Settings | None = None,
) -> list[int]:
    """Queue again the completed ``uncalibrated`` groups inside a new valid set's window.

    Each such group goes back to ``pending`` keeping its ``data_id`` (the image to supersede);
    the stream re-calibrates and re-images it.

    Returns
    -------
    list of int
        Ids of the groups queued.
    """
    if caltable.status != "valid":
        return []
    settings = resolve_settings(settings)
    now = time.time()
    out = []
    with write_transaction(get_engine(settings)) as conn:
        rows = conn.execute(
            select(stream_groups.c.id, stream_groups.c.group_time).where(
                stream_groups.c.status == "completed",
                stream_groups.c.calibration_status == "uncalibrated",
                stream_groups.c.data_id.is_not(None),
            )
        ).all()
        for gid, gtime in rows:
            if not caltable.covers(group_mid_mjd(gtime)):
                continue
            conn.execute(
                update(stream_groups)
                .where(stream_groups.c.id == gid)
                .values(status="pending", pending_at=now, attempts=0, updated_at=now)
            )
            out.append(int(gid))
    if out:
        log.info(
            "solution %d (%s): %d uncalibrated group(s) queued for re-calibration",
            caltable.id,
            caltable.calibrator,
            len(out),
        )
    return out


# --------------------------------------------------------------------------------------------
# read side (CLI, API, dashboard)


def products_using_caltable(
    caltable_id: int, *, limit: int | None = 100, settings: Settings | None = None
) -> tuple[list[dict[str, Any]], int]:
    """Products calibrated with a solution set: ``([{data_id, path, superseded_by}], total)``."""
    r = data_registry.c
    stmt = select(r.data_id, r.path, r.superseded_by).where(r.caltable_id == int(caltable_id))
    with get_engine(resolve_settings(settings)).connect() as conn:
        total = int(
            conn.execute(
                select(func.count())
                .select_from(data_registry)
                .where(r.caltable_id == int(caltable_id))
            ).scalar_one()
        )
        if limit is not None:
            stmt = stmt.limit(limit)
        rows = [dict(x._mapping) for x in conn.execute(stmt.order_by(r.created_at, r.data_id))]
    return rows, total


def calibration_summary(*, settings: Settings | None = None) -> dict[str, Any]:
    """Summarize what an operator checks first: latest valid and refused sets, images per status.

    Returns
    -------
    dict
        ``latest_valid`` and ``latest_refused`` (solution-set dicts or None), ``caltables``
        (count per status), ``images`` (count per calibration status, unmarked products counted
        as ``precalibrated``), ``superseded`` (products replaced by a re-calibration) and
        ``waiting_groups`` (stream groups waiting for a calibrator).
    """
    settings = resolve_settings(settings)
    latest = {}
    for status in CALTABLE_STATUSES:
        recs = list_caltables(status=status, limit=1, settings=settings)
        latest[status] = recs[0].to_dict() if recs else None
    r = data_registry.c
    with get_engine(settings).connect() as conn:
        by_status = dict(
            conn.execute(
                select(caltables.c.status, func.count()).group_by(caltables.c.status)
            ).all()
        )
        images = {s: 0 for s in CALIBRATION_STATUSES}
        for status, n in conn.execute(
            select(r.calibration_status, func.count())
            .where(r.data_type == "image")
            .group_by(r.calibration_status)
        ).all():
            images[status or "precalibrated"] += int(n)
        superseded = int(
            conn.execute(
                select(func.count()).select_from(data_registry).where(r.superseded_by.is_not(None))
            ).scalar_one()
        )
        waiting = int(
            conn.execute(
                select(func.count())
                .select_from(stream_groups)
                .where(stream_groups.c.status == "waiting")
            ).scalar_one()
        )
    return {
        "latest_valid": latest["valid"],
        "latest_refused": latest["refused"],
        "caltables": {s: int(by_status.get(s, 0)) for s in CALTABLE_STATUSES},
        "images": images,
        "superseded": superseded,
        "waiting_groups": waiting,
    }
