"""The data registry: one record per product (image, mosaic) and the state it is in.

``data_id`` is the one identifier of a product everywhere. A record is created by
:func:`~dsa110_contimg.database.products.register_image`; its ``photometry_status`` follows the
batch-job item that measures the product (NULL, ``pending``, ``running``, ``completed``,
``failed``, ``cancelled``) and ``photometry_job_id`` points at that job. QA fields are filled
by the imaging step (:func:`update_qa`); :func:`finalize_data` marks a product final.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select, update

from ..config import Settings, resolve_settings
from ..errors import DatabaseError, NotFoundError
from .engine import get_engine, write_transaction
from .tables.products import data_registry

__all__ = [
    "PHOTOMETRY_STATUSES",
    "RegistryRecord",
    "count_data",
    "finalize_data",
    "get_data",
    "get_photometry_status",
    "link_photometry_to_data",
    "list_data",
    "set_photometry_status",
    "update_photometry_status",
    "update_qa",
]

log = logging.getLogger(__name__)

#: Values of ``data_registry.photometry_status`` (besides NULL: never measured).
PHOTOMETRY_STATUSES = ("pending", "running", "completed", "failed", "cancelled")
_QA_STATUSES = ("passed", "failed", "warning")


@dataclass(frozen=True)
class RegistryRecord:
    """One data-registry record.

    Attributes
    ----------
    data_id : str
        The product's identifier.
    data_type : str
        ``"image"`` or ``"mosaic"``.
    path : str
        The product's file.
    status : str
        ``"registered"`` or ``"finalized"``.
    qa_status : str or None
        None (not assessed), ``"passed"``, ``"warning"`` or ``"failed"``.
    qa_metrics : dict or None
        QA measurements.
    qa_reason : str or None
        Why QA failed or warned.
    finalized_at : float or None
        When the product was finalized (Unix seconds).
    photometry_status : str or None
        State of the product's photometry item (see :data:`PHOTOMETRY_STATUSES`).
    photometry_job_id : int or None
        The batch job measuring the product.
    created_at, updated_at : float
        Unix seconds.
    """

    data_id: str
    data_type: str
    path: str
    status: str
    qa_status: str | None
    qa_metrics: dict[str, Any] | None
    qa_reason: str | None
    finalized_at: float | None
    photometry_status: str | None
    photometry_job_id: int | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> RegistryRecord:
        """Build the record from a row of ``data_registry``."""
        values = {k: row[k] for k in cls.__dataclass_fields__}
        values["qa_metrics"] = json.loads(row["qa_metrics"]) if row["qa_metrics"] else None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return the record as a plain dictionary (for JSON)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _check_status(status: str | None) -> None:
    if status is not None and status not in PHOTOMETRY_STATUSES:
        raise DatabaseError(
            f"photometry status must be one of {PHOTOMETRY_STATUSES} or None, not {status!r}"
        )


def set_photometry_status(
    conn: Connection,
    data_ids: list[str],
    status: str | None,
    job_id: int | None,
    *,
    only_job: int | None = None,
) -> int:
    """Set the photometry status of registry records inside the caller's transaction.

    Parameters
    ----------
    conn : sqlalchemy.Connection
        Connection inside a write transaction.
    data_ids : list of str
        Records to update (missing ones are ignored).
    status : str or None
        New status.
    job_id : int or None
        New ``photometry_job_id``; None keeps the current one.
    only_job : int, optional
        Update only records that point at this job (or at no job), so that an older job
        finishing never overwrites the state of a newer one.

    Returns
    -------
    int
        Records updated.
    """
    _check_status(status)
    ids = sorted({d for d in data_ids if d is not None})
    if not ids:
        return 0
    values: dict[str, Any] = {"photometry_status": status, "updated_at": time.time()}
    if job_id is not None:
        values["photometry_job_id"] = job_id
    stmt = update(data_registry).where(data_registry.c.data_id.in_(ids)).values(**values)
    if only_job is not None:
        stmt = stmt.where(
            (data_registry.c.photometry_job_id == only_job)
            | data_registry.c.photometry_job_id.is_(None)
        )
    return conn.execute(stmt).rowcount


def update_photometry_status(
    data_id: str,
    status: str | None,
    job_id: int | None = None,
    *,
    settings: Settings | None = None,
) -> None:
    """Set a product's photometry status (and job).

    Parameters
    ----------
    data_id : str
        The product.
    status : {"pending", "running", "completed", "failed", "cancelled"} or None
        New status.
    job_id : int, optional
        The job measuring it (kept when omitted).
    settings : Settings, optional
        Settings naming the database.

    Raises
    ------
    NotFoundError
        No registry record has this ``data_id``.
    DatabaseError
        Unknown status.
    """
    engine = get_engine(resolve_settings(settings))
    with write_transaction(engine) as conn:
        if set_photometry_status(conn, [data_id], status, job_id) == 0:
            raise NotFoundError(f"no registered product with data_id {data_id!r}")


def link_photometry_to_data(data_id: str, job_id: int, *, settings: Settings | None = None) -> None:
    """Point a product's registry record at the job measuring it.

    The status becomes ``pending`` unless the job already moved it on.

    Parameters
    ----------
    data_id : str
        The product.
    job_id : int
        The batch job.
    settings : Settings, optional
        Settings naming the database.

    Raises
    ------
    NotFoundError
        No registry record has this ``data_id``.
    """
    engine = get_engine(resolve_settings(settings))
    with write_transaction(engine) as conn:
        row = conn.execute(
            select(data_registry.c.photometry_job_id, data_registry.c.photometry_status).where(
                data_registry.c.data_id == data_id
            )
        ).first()
        if row is None:
            raise NotFoundError(f"no registered product with data_id {data_id!r}")
        if row.photometry_job_id == job_id and row.photometry_status is not None:
            return
        set_photometry_status(conn, [data_id], "pending", job_id)


def get_photometry_status(
    data_id: str, *, settings: Settings | None = None
) -> dict[str, Any] | None:
    """Return ``{"status": ..., "job_id": ...}`` of a product, or None if it is not registered.

    Parameters
    ----------
    data_id : str
        The product.
    settings : Settings, optional
        Settings naming the database.
    """
    engine = get_engine(resolve_settings(settings))
    with engine.connect() as conn:
        row = conn.execute(
            select(data_registry.c.photometry_status, data_registry.c.photometry_job_id).where(
                data_registry.c.data_id == data_id
            )
        ).first()
    if row is None:
        return None
    return {"status": row.photometry_status, "job_id": row.photometry_job_id}


def finalize_data(data_id: str, *, settings: Settings | None = None) -> RegistryRecord:
    """Mark a product final; log (never wait for) the state of its photometry.

    Parameters
    ----------
    data_id : str
        The product.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    RegistryRecord
        The updated record.

    Raises
    ------
    NotFoundError
        No registry record has this ``data_id``.
    """
    engine = get_engine(resolve_settings(settings))
    now = time.time()
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(data_registry)
            .where(data_registry.c.data_id == data_id)
            .values(status="finalized", finalized_at=now, updated_at=now)
        ).rowcount
        if not done:
            raise NotFoundError(f"no registered product with data_id {data_id!r}")
        row = conn.execute(select(data_registry).where(data_registry.c.data_id == data_id))
        record = RegistryRecord.from_row(row.mappings().one())
    log.info(
        "finalized %s (photometry %s, job %s)",
        data_id,
        record.photometry_status or "not requested",
        record.photometry_job_id,
    )
    return record


def update_qa(
    data_id: str,
    *,
    qa_status: str,
    qa_metrics: Mapping[str, Any] | None,
    qa_reason: str | None = None,
    settings: Settings | None = None,
) -> None:
    """Record the QA verdict of a product.

    Parameters
    ----------
    data_id : str
        The product.
    qa_status : {"passed", "warning", "failed"}
        The verdict.
    qa_metrics : mapping or None
        The QA measurements (stored as JSON).
    qa_reason : str, optional
        Why it failed or warned.
    settings : Settings, optional
        Settings naming the database.

    Raises
    ------
    NotFoundError
        No registry record has this ``data_id``.
    DatabaseError
        Unknown ``qa_status``.
    """
    if qa_status not in _QA_STATUSES:
        raise DatabaseError(f"qa_status must be one of {_QA_STATUSES}, not {qa_status!r}")
    metrics = json.dumps(dict(qa_metrics), sort_keys=True, default=float) if qa_metrics else None
    engine = get_engine(resolve_settings(settings))
    with write_transaction(engine) as conn:
        done = conn.execute(
            update(data_registry)
            .where(data_registry.c.data_id == data_id)
            .values(
                qa_status=qa_status, qa_metrics=metrics, qa_reason=qa_reason, updated_at=time.time()
            )
        ).rowcount
    if not done:
        raise NotFoundError(f"no registered product with data_id {data_id!r}")


def get_data(data_id: str, *, settings: Settings | None = None) -> RegistryRecord | None:
    """Return the registry record of a product, or None.

    Parameters
    ----------
    data_id : str
        The product.
    settings : Settings, optional
        Settings naming the database.
    """
    engine = get_engine(resolve_settings(settings))
    with engine.connect() as conn:
        row = (
            conn.execute(select(data_registry).where(data_registry.c.data_id == data_id))
            .mappings()
            .first()
        )
    return RegistryRecord.from_row(row) if row is not None else None


def _filtered(stmt, data_type, status, photometry_status, qa_status):
    if data_type is not None:
        stmt = stmt.where(data_registry.c.data_type == data_type)
    if status is not None:
        stmt = stmt.where(data_registry.c.status == status)
    if photometry_status is not None:
        stmt = stmt.where(data_registry.c.photometry_status == photometry_status)
    if qa_status is not None:
        stmt = stmt.where(data_registry.c.qa_status == qa_status)
    return stmt


def list_data(
    *,
    data_type: str | None = None,
    status: str | None = None,
    photometry_status: str | None = None,
    qa_status: str | None = None,
    limit: int | None = 100,
    offset: int = 0,
    settings: Settings | None = None,
) -> list[RegistryRecord]:
    """Return registry records, newest first.

    Parameters
    ----------
    data_type, status, photometry_status, qa_status : str, optional
        Filters.
    limit : int, optional
        Most records returned (None: all).
    offset : int
        Records skipped (paging).
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    list of RegistryRecord
    """
    stmt = _filtered(select(data_registry), data_type, status, photometry_status, qa_status)
    stmt = stmt.order_by(data_registry.c.created_at.desc(), data_registry.c.data_id).offset(offset)
    if limit is not None:
        stmt = stmt.limit(limit)
    with get_engine(resolve_settings(settings)).connect() as conn:
        return [RegistryRecord.from_row(r) for r in conn.execute(stmt).mappings()]


def count_data(
    *,
    data_type: str | None = None,
    status: str | None = None,
    photometry_status: str | None = None,
    qa_status: str | None = None,
    settings: Settings | None = None,
) -> int:
    """Return how many registry records match the filters of :func:`list_data`."""
    stmt = _filtered(
        select(func.count()).select_from(data_registry),
        data_type,
        status,
        photometry_status,
        qa_status,
    )
    with get_engine(resolve_settings(settings)).connect() as conn:
        return int(conn.execute(stmt).scalar_one())
