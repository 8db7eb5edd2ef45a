"""Mosaics in the products database: registration, members, and the orchestrator's groups.

A mosaic is registered like an image (``images`` with ``kind = "mosaic"`` and the data registry,
through :func:`~dsa110_contimg.database.products.register_image`), plus a ``mosaics`` row (maps,
common beam, time span) and its ``mosaic_members``. The orchestrator's groups of consecutive
images live in ``mosaic_groups`` / ``mosaic_group_members``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, text, update

from ..config import Settings, resolve_settings
from ..errors import DatabaseError, InvalidImageError
from .caltables import science_usable
from .engine import get_engine, write_transaction
from .products import register_image, upsert
from .tables.mosaic import mosaic_group_members, mosaic_groups, mosaic_members, mosaics
from .tables.products import data_registry, images

__all__ = [
    "GROUP_STATUSES",
    "MosaicGroupRecord",
    "MosaicRecord",
    "mosaic_member_ids",
    "claim_mosaic_group",
    "group_carry_candidates",
    "group_member_inputs",
    "last_mosaic_group",
    "lock_group_formation",
    "mosaic_candidates",
    "get_mosaic",
    "get_mosaic_group",
    "insert_mosaic_group",
    "list_mosaic_groups",
    "list_mosaics",
    "register_mosaic",
    "update_mosaic_group",
]

log = logging.getLogger(__name__)

#: Life of a group: ``pending`` (formed) -> ``building`` -> ``built`` or ``failed``;
#: ``abandoned`` (too few images before a gap). Photometry is tracked by ``photometry_job_id``.
GROUP_STATUSES = ("pending", "building", "built", "failed", "abandoned")


@dataclass(frozen=True)
class MosaicRecord:
    """A registered mosaic (a row of ``mosaics`` and its members).

    Attributes
    ----------
    data_id, path : str
        Identifier (shared with ``images`` and the registry) and resolved file path.
    n_images : int
        Number of inputs.
    weight_path, noise_path : str or None
        Weight and effective-noise maps.
    bmaj_deg, bmin_deg, bpa_deg : float or None
        Common restoring beam.
    mjd_start, mjd_end : float or None
        Earliest input start, latest input end.
    member_data_ids : tuple of str
        The inputs' ``data_id`` in input order.
    created_at : float
        Registration time (Unix seconds).
    """

    data_id: str
    path: str
    n_images: int
    weight_path: str | None
    noise_path: str | None
    bmaj_deg: float | None
    bmin_deg: float | None
    bpa_deg: float | None
    mjd_start: float | None
    mjd_end: float | None
    member_data_ids: tuple[str, ...]
    created_at: float


@dataclass(frozen=True)
class MosaicGroupRecord:
    """A group of consecutive images formed by the orchestrator.

    Attributes
    ----------
    id : int
        Group id.
    status : str
        One of :data:`GROUP_STATUSES`.
    n_images : int
        Number of member images.
    mjd_first, mjd_last : float or None
        Mid times of the first and last member.
    dec_deg : float or None
        Declination strip (centre of the first member).
    complete : bool
        Whether the group has the full ``images_per_mosaic`` members.
    mosaic_path, mosaic_data_id : str or None
        The mosaic once built and registered.
    photometry_job_id : int or None
        The batch photometry job measuring the mosaic.
    reason : str or None
        Why the group closed early, was abandoned or failed.
    member_data_ids : tuple of str
        Members in time order.
    created_at, updated_at : float
        Bookkeeping times (Unix seconds).
    built_at : float or None
        When the mosaic was written.
    """

    id: int
    status: str
    n_images: int
    mjd_first: float | None
    mjd_last: float | None
    dec_deg: float | None
    complete: bool
    mosaic_path: str | None
    mosaic_data_id: str | None
    photometry_job_id: int | None
    reason: str | None
    member_data_ids: tuple[str, ...]
    created_at: float
    updated_at: float
    built_at: float | None

    def as_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-ready dict."""
        out = dict(self.__dict__)
        out["member_data_ids"] = list(self.member_data_ids)
        return out


def _header_info(path: Path) -> dict[str, Any]:
    from ..photometry.image import observation_times, read_image

    img = read_image(path)
    h = img.header
    start, _mid, end = observation_times(h)
    out: dict[str, Any] = {
        "mjd_start": start,
        "mjd_end": end,
        "bmaj_deg": img.beam.bmaj_deg if img.beam else None,
        "bmin_deg": img.beam.bmin_deg if img.beam else None,
        "bpa_deg": img.beam.bpa_deg if img.beam else None,
        "weight_path": None,
        "noise_path": None,
    }
    for key, col in (("WGTMAP", "weight_path"), ("NOISEMAP", "noise_path")):
        name = h.get(key)
        if name:
            side = path.with_name(str(name))
            out[col] = side.as_posix() if side.exists() else None
    return out


def register_mosaic(
    path: str | Path,
    *,
    member_data_ids: Sequence[str],
    data_id: str | None = None,
    settings: Settings | None = None,
) -> str:
    """Register a mosaic: ``images`` (kind mosaic), the data registry, ``mosaics`` and members.

    Registering the same file again refreshes it and replaces its member list.

    Parameters
    ----------
    path : str or Path
        The mosaic FITS written by :func:`dsa110_contimg.mosaic.build_mosaic` (its header
        names the weight and noise maps, the common beam and the time span).
    member_data_ids : sequence of str
        ``data_id`` of each input image, in input order.
    data_id : str, optional
        Identifier to use (default: as for images, from the resolved path).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    str
        The mosaic's ``data_id``.

    Raises
    ------
    InvalidImageError
        The file is not a FITS image with a celestial WCS.
    DatabaseError
        The path or id is registered otherwise.
    """
    settings = resolve_settings(settings)
    resolved = Path(path).expanduser().resolve()
    if not resolved.is_file():
        raise InvalidImageError("mosaic file does not exist", path=resolved)
    did = register_image(resolved, data_id=data_id, kind="mosaic", settings=settings)
    info = _header_info(resolved)
    members = [str(m) for m in member_data_ids]
    if len(set(members)) != len(members):
        raise DatabaseError("member_data_ids has duplicates", path=resolved)
    now = time.time()
    with write_transaction(get_engine(settings)) as conn:
        row = {"data_id": did, "path": resolved.as_posix(), "n_images": len(members), **info}
        upsert(conn, mosaics, {**row, "created_at": now}, key=["data_id"],
               update=[c for c in row if c != "data_id"])
        conn.execute(delete(mosaic_members).where(mosaic_members.c.mosaic_data_id == did))
        if members:
            conn.execute(
                insert(mosaic_members),
                [{"mosaic_data_id": did, "member_data_id": m, "position": i}
                 for i, m in enumerate(members)],
            )
    log.info("registered mosaic %s (%d members) as %s", resolved, len(members), did)
    return did


def _members(conn: Connection, column, key_column, key, position_column) -> tuple[str, ...]:
    return tuple(conn.execute(
        select(column).where(key_column == key).order_by(position_column)
    ).scalars().all())


def mosaic_member_ids(engine: Engine, data_id: str) -> list[str]:
    """Return the member images of a mosaic, in their order (empty when it has none)."""
    with engine.connect() as conn:
        return list(_members(conn, mosaic_members.c.member_data_id,
                             mosaic_members.c.mosaic_data_id, data_id, mosaic_members.c.position))


def _mosaic_from_row(conn: Connection, row) -> MosaicRecord:
    members = _members(conn, mosaic_members.c.member_data_id, mosaic_members.c.mosaic_data_id,
                       row["data_id"], mosaic_members.c.position)
    fields = {k: row[k] for k in MosaicRecord.__dataclass_fields__ if k != "member_data_ids"}
    return MosaicRecord(**fields, member_data_ids=members)


def get_mosaic(
    data_id_or_path: str | Path, *, settings: Settings | None = None
) -> MosaicRecord | None:
    """Return the registered mosaic with this ``data_id`` or path, or None."""
    key = str(data_id_or_path)
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = conn.execute(select(mosaics).where(mosaics.c.data_id == key)).mappings().first()
        if row is None:
            p = Path(key).expanduser().resolve().as_posix()
            row = conn.execute(select(mosaics).where(mosaics.c.path == p)).mappings().first()
        return _mosaic_from_row(conn, row) if row is not None else None


def list_mosaics(
    *, limit: int | None = None, settings: Settings | None = None
) -> list[MosaicRecord]:
    """Return registered mosaics, oldest observation first."""
    stmt = select(mosaics).order_by(mosaics.c.mjd_start, mosaics.c.data_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [_mosaic_from_row(conn, r) for r in conn.execute(stmt).mappings().all()]


# --- orchestrator groups -----------------------------------------------------------------


def _group_from_row(conn: Connection, row) -> MosaicGroupRecord:
    members = _members(conn, mosaic_group_members.c.data_id, mosaic_group_members.c.group_id,
                       row["id"], mosaic_group_members.c.position)
    fields = {k: row[k] for k in MosaicGroupRecord.__dataclass_fields__
              if k not in ("member_data_ids", "complete")}
    return MosaicGroupRecord(**fields, complete=bool(row["complete"]),
                             member_data_ids=members)


def insert_mosaic_group(
    conn: Connection,
    *,
    members: Sequence[tuple[str, float | None]],
    status: str,
    complete: bool,
    dec_deg: float | None,
    reason: str | None = None,
) -> int:
    """Insert a group and its members inside the caller's transaction; return its id.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection inside a write transaction.
    members : sequence of (data_id, mjd_mid)
        Member images in time order.
    status : str
        ``pending`` or ``abandoned``.
    complete : bool
        Whether the group has the full number of images.
    dec_deg : float or None
        Declination strip.
    reason : str, optional
        Why the group closed early or was abandoned.
    """
    if status not in GROUP_STATUSES:
        raise DatabaseError(f"unknown mosaic group status {status!r}")
    now = time.time()
    mjds = [m for _, m in members if m is not None]
    gid = conn.execute(
        insert(mosaic_groups).values(
            status=status,
            n_images=len(members),
            mjd_first=min(mjds) if mjds else None,
            mjd_last=max(mjds) if mjds else None,
            dec_deg=dec_deg,
            complete=1 if complete else 0,
            reason=reason,
            created_at=now,
            updated_at=now,
        ).returning(mosaic_groups.c.id)
    ).scalar_one()
    conn.execute(
        insert(mosaic_group_members),
        [{"group_id": gid, "data_id": d, "position": i, "mjd_mid": m}
         for i, (d, m) in enumerate(members)],
    )
    return int(gid)


def get_mosaic_group(
    group_id: int, *, settings: Settings | None = None
) -> MosaicGroupRecord | None:
    """Return one group, or None."""
    with get_engine(resolve_settings(settings)).connect() as conn:
        row = conn.execute(
            select(mosaic_groups).where(mosaic_groups.c.id == int(group_id))
        ).mappings().first()
        return _group_from_row(conn, row) if row is not None else None


def list_mosaic_groups(
    *,
    status: str | Sequence[str] | None = None,
    limit: int | None = None,
    settings: Settings | None = None,
) -> list[MosaicGroupRecord]:
    """Return groups in formation order, optionally only with the given status(es)."""
    stmt = select(mosaic_groups).order_by(mosaic_groups.c.id)
    if status is not None:
        wanted = [status] if isinstance(status, str) else list(status)
        stmt = stmt.where(mosaic_groups.c.status.in_(wanted))
    if limit is not None:
        stmt = stmt.limit(limit)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [_group_from_row(conn, r) for r in conn.execute(stmt).mappings().all()]


def claim_mosaic_group(
    group_id: int, *, stale_seconds: float | None = None, settings: Settings | None = None
) -> bool:
    """Move a group to ``building`` atomically; return whether this caller got it.

    A ``pending`` group can be claimed, and so can one left ``building`` for longer than
    ``stale_seconds`` (its builder died).
    """
    now = time.time()
    cond = mosaic_groups.c.status == "pending"
    if stale_seconds is not None:
        cond = cond | (
            (mosaic_groups.c.status == "building")
            & (mosaic_groups.c.updated_at < now - stale_seconds)
        )
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        res = conn.execute(
            update(mosaic_groups)
            .where((mosaic_groups.c.id == int(group_id)) & cond)
            .values(status="building", updated_at=now)
        )
        return res.rowcount == 1


_UPDATABLE = frozenset(
    {"status", "mosaic_path", "mosaic_data_id", "photometry_job_id", "reason", "built_at"}
)


def update_mosaic_group(group_id: int, *, settings: Settings | None = None, **values: Any) -> None:
    """Set fields of a group.

    Fields: status, mosaic_path, mosaic_data_id, photometry_job_id, reason, built_at.

    Raises
    ------
    DatabaseError
        For an unknown field or status, or a group that does not exist.
    """
    bad = set(values) - _UPDATABLE
    if bad:
        raise DatabaseError(f"cannot update mosaic group fields {sorted(bad)}")
    if "status" in values and values["status"] not in GROUP_STATUSES:
        raise DatabaseError(f"unknown mosaic group status {values['status']!r}")
    with write_transaction(get_engine(resolve_settings(settings))) as conn:
        res = conn.execute(
            update(mosaic_groups)
            .where(mosaic_groups.c.id == int(group_id))
            .values(**values, updated_at=time.time())
        )
        if res.rowcount != 1:
            raise DatabaseError(f"no mosaic group {group_id}")


# -- the orchestrator's group formation (inside its write transaction) ----------------------------

#: Key of the PostgreSQL advisory lock that serializes group formation.
PG_FORM_LOCK = 0x0D5A1106


def lock_group_formation(conn: Connection) -> None:
    """Serialize group formation across processes until the transaction ends.

    On PostgreSQL an advisory transaction lock; on SQLite the write transaction's
    ``BEGIN IMMEDIATE`` already does it.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_FORM_LOCK})


def last_mosaic_group(conn: Connection) -> dict[str, Any] | None:
    """Return the row of the most recently formed group, or None."""
    row = (
        conn.execute(select(mosaic_groups).order_by(mosaic_groups.c.id.desc()).limit(1))
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def group_carry_candidates(
    conn: Connection, group_id: int
) -> list[tuple[str, float | None, float | None]]:
    """Return ``(data_id, mjd_mid, dec_center_deg)`` of a group's members, in their order."""
    rows = conn.execute(
        select(
            mosaic_group_members.c.data_id,
            mosaic_group_members.c.mjd_mid,
            images.c.dec_center_deg,
        )
        .join(images, images.c.data_id == mosaic_group_members.c.data_id, isouter=True)
        .where(mosaic_group_members.c.group_id == group_id)
        .order_by(mosaic_group_members.c.position)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows]


def mosaic_candidates(
    conn: Connection, *, after_mjd: float | None = None
) -> list[tuple[str, float, float | None]]:
    """Return ``(data_id, mjd_mid, dec_center_deg)`` of the images that may enter a mosaic.

    Registered images (``kind = "image"``) with a mid time, later than ``after_mjd`` when
    given, leaving out uncalibrated and superseded ones
    (:func:`~dsa110_contimg.database.caltables.science_usable`); ordered by mid time.
    """
    stmt = (
        select(images.c.data_id, images.c.mjd_mid, images.c.dec_center_deg)
        .select_from(images.outerjoin(data_registry, data_registry.c.data_id == images.c.data_id))
        .where((images.c.kind == "image") & images.c.mjd_mid.is_not(None) & science_usable())
    )
    if after_mjd is not None:
        stmt = stmt.where(images.c.mjd_mid > after_mjd)
    rows = conn.execute(stmt.order_by(images.c.mjd_mid, images.c.id)).all()
    return [(r[0], r[1], r[2]) for r in rows]


def group_member_inputs(
    engine: Engine, group_id: int
) -> list[tuple[str, str | None, str | None, float | None]]:
    """Return ``(data_id, path, beam_path, noise_jy)`` of a group's members, in their order.

    ``path`` is None for a member no longer registered.
    """
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                mosaic_group_members.c.data_id,
                images.c.path,
                images.c.beam_path,
                images.c.noise_jy,
            )
            .join(images, images.c.data_id == mosaic_group_members.c.data_id, isouter=True)
            .where(mosaic_group_members.c.group_id == int(group_id))
            .order_by(mosaic_group_members.c.position)
        ).all()
    return [(r[0], r[1], r[2], r[3]) for r in rows]
