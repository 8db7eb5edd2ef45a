"""Storage of the reference sources (``reference_sources``, migration 0005).

The stable sources the normalization divides by: their baselines, tests and drops, their
points, and the images waiting for them.

Readers return rows as dicts keyed by (catalog, source_id) or columns; writers take a ``conn``
inside the caller's write transaction. The arithmetic is in
:mod:`dsa110_contimg.variability.references`; the orchestration in
:mod:`dsa110_contimg.variability.pipeline.references`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, or_, select, update

from .normalization import clean_measurements
from .rawsql import PgArray, execute_pg_arrays
from .tables import image_normalization, images, photometry, reference_sources

__all__ = [
    "ReferencePoints",
    "add_references",
    "candidate_references_on_image",
    "candidate_references_on_images",
    "count_references",
    "drop_reference",
    "images_waiting_for",
    "list_references",
    "record_reference_tests",
    "reference_points",
    "reference_rows",
    "reference_rows_of",
    "set_baselines",
]

_CHUNK = 500


# --------------------------------------------------------------------------------------------
# references


def add_references(
    conn: Connection, keys: Sequence[tuple[str, str]], *, origin: str, now: float
) -> int:
    """Insert references not yet present as ``candidate``; return how many were added."""
    keys = list(dict.fromkeys(keys))
    if not keys:
        return 0
    existing = set()
    for i in range(0, len(keys), _CHUNK):
        part = keys[i : i + _CHUNK]
        sids = [k[1] for k in part]
        rows = conn.execute(
            select(reference_sources.c.catalog, reference_sources.c.source_id).where(
                reference_sources.c.source_id.in_(sids)
            )
        ).all()
        existing.update((r.catalog, r.source_id) for r in rows)
    new = [k for k in keys if k not in existing]
    if new:
        conn.execute(
            reference_sources.insert(),
            [
                {
                    "catalog": c,
                    "source_id": s,
                    "origin": origin,
                    "status": "candidate",
                    "updated_at": now,
                }
                for c, s in new
            ],
        )
    return len(new)


def reference_rows(conn: Connection, statuses: Sequence[str]) -> dict[tuple[str, str], dict]:
    """Return the references with one of ``statuses``, keyed by (catalog, source_id)."""
    rows = conn.execute(
        select(reference_sources).where(reference_sources.c.status.in_(list(statuses)))
    )
    return {(r.catalog, r.source_id): dict(r._mapping) for r in rows}


def reference_rows_of(
    conn: Connection, keys: Iterable[tuple[str, str]], statuses: Sequence[str]
) -> dict[tuple[str, str], dict]:
    """:func:`reference_rows` of the given (catalog, source_id) only.

    What the per-image path reads: on PostgreSQL the references measured on one image (by
    primary key), not every reference of the survey (47 000 rows per 16 images at 10^7).
    """
    keys = sorted(set(keys))
    if not keys:
        return {}
    if conn.dialect.name == "postgresql":  # the keys as two arrays: primary-key probes
        names = [c.name for c in reference_sources.columns]
        rows = execute_pg_arrays(
            conn,
            f"SELECT {', '.join('r.' + n for n in names)} FROM unnest(%(c)s, %(s)s) AS k(c, s) "
            "CROSS JOIN LATERAL (SELECT * FROM reference_sources "
            "WHERE catalog = k.c AND source_id = k.s AND status = ANY(%(st)s) LIMIT 1) r",
            # LIMIT 1 of a primary key: a probe per key, never flattened into a hash join
            {
                "c": PgArray([k[0] for k in keys], "text"),
                "s": PgArray([k[1] for k in keys], "text"),
                "st": PgArray(list(statuses), "text"),
            },
        )
        return {(row[0], row[1]): dict(zip(names, row, strict=True)) for row in rows}
    # SQLite (in process, no round trips): the survey's references with those statuses,
    # filtered here (one statement; what the per-image path read before)
    wanted = set(keys)
    return {k: v for k, v in reference_rows(conn, statuses).items() if k in wanted}


def count_references(conn: Connection, status: str) -> int:
    """Return the number of references with this status."""
    return int(
        conn.execute(select(func.count()).where(reference_sources.c.status == status)).scalar_one()
    )


def list_references(conn: Connection, *, status: str | None = None) -> list[dict]:
    """Return every reference (with baselines, status and drop reasons), by catalog and id."""
    stmt = select(reference_sources).order_by(
        reference_sources.c.catalog, reference_sources.c.source_id
    )
    if status is not None:
        stmt = stmt.where(reference_sources.c.status == status)
    return [dict(r._mapping) for r in conn.execute(stmt)]


def set_baselines(
    conn: Connection,
    baselines: Mapping[tuple[str, str], tuple[float, float]],
    *,
    n_baseline: int,
    now: float,
) -> None:
    """Store established baselines and make those references ``active``."""
    for key, (b, eb) in baselines.items():
        conn.execute(
            update(reference_sources)
            .where(reference_sources.c.catalog == key[0], reference_sources.c.source_id == key[1])
            .values(
                baseline_flux_jy=b,
                baseline_err_jy=eb,
                n_baseline=n_baseline,
                status="active",
                drop_reason=None,
                established_at=now,
                updated_at=now,
            )
        )


def record_reference_tests(
    conn: Connection, tests: Sequence[tuple[tuple[str, str], float, int]], *, now: float
) -> None:
    """Store the variability statistics of references: ``(key, chi2_reduced, n_epochs)`` each.

    One statement for all of them (executemany): a test pass covers every active reference
    (~15,000 in a survey), an image's pass its few hundred.
    """
    if not tests:
        return
    conn.execute(
        update(reference_sources)
        .where(
            reference_sources.c.catalog == bindparam("b_catalog"),
            reference_sources.c.source_id == bindparam("b_source_id"),
        )
        .values(chi2_reduced=bindparam("b_chi2"), n_epochs=bindparam("b_n"), updated_at=now),
        [
            {"b_catalog": k[0], "b_source_id": k[1], "b_chi2": chi2, "b_n": n}
            for k, chi2, n in tests
        ],
    )


def drop_reference(conn: Connection, key: tuple[str, str], *, reason: str, now: float) -> None:
    """Mark a reference ``dropped`` with the reason."""
    conn.execute(
        update(reference_sources)
        .where(reference_sources.c.catalog == key[0], reference_sources.c.source_id == key[1])
        .values(status="dropped", drop_reason=reason, updated_at=now)
    )


@dataclass(frozen=True)
class ReferencePoints:
    """Good measurements of some sources (for baselines): one element per measurement.

    ``mjd`` holds None where unknown; ``flux`` and ``err`` are positive.
    """

    catalog: list[str]
    source_id: list[str]
    mjd: list[float | None]
    flux: list[float]
    err: list[float]


def reference_points(conn: Connection, source_ids: Iterable[str]) -> ReferencePoints:
    """Return the clean positive measurements on single images of ``source_ids``."""
    stmt0 = clean_measurements(
        photometry.c.catalog,
        photometry.c.source_id,
        photometry.c.flux_jy,
        photometry.c.flux_err_jy,
        photometry.c.mjd,
    ).where(photometry.c.flux_jy > 0, photometry.c.flux_err_jy > 0, images.c.kind == "image")
    sids = sorted(set(source_ids))
    cols: tuple[list, ...] = ([], [], [], [], [])
    for i in range(0, len(sids), _CHUNK):
        for r in conn.execute(stmt0.where(photometry.c.source_id.in_(sids[i : i + _CHUNK]))):
            for c, v in zip(
                cols, (r.catalog, r.source_id, r.mjd, r.flux_jy, r.flux_err_jy), strict=True
            ):
                c.append(v)
    return ReferencePoints(*cols)


# --------------------------------------------------------------------------------------------
# images


def candidate_references_on_image(conn: Connection, data_id: str) -> set[tuple[str, str]]:
    """(catalog, source_id) of the photometry rows on an image that are candidate references.

    Catalogs are as stored in ``photometry`` (a join: no scan of the image's rows).
    """
    return candidate_references_on_images(conn, [data_id])


def candidate_references_on_images(
    conn: Connection, data_ids: Sequence[str]
) -> set[tuple[str, str]]:
    """:func:`candidate_references_on_image` of several images (one statement per 500)."""
    ids = list(dict.fromkeys(data_ids))
    out: set[tuple[str, str]] = set()
    for i in range(0, len(ids), _CHUNK):
        part = ids[i : i + _CHUNK]
        out.update(
            (r[0], r[1])
            for r in conn.execute(
                select(photometry.c.catalog, photometry.c.source_id)
                .select_from(
                    photometry.join(
                        reference_sources,
                        reference_sources.c.source_id == photometry.c.source_id,
                    )
                )
                .where(
                    photometry.c.data_id == part[0] if len(part) == 1
                    else photometry.c.data_id.in_(part),
                    reference_sources.c.status == "candidate",
                )
            )
        )  # fmt: skip
    return out


def images_waiting_for(
    conn: Connection, source_ids: Iterable[str], *, exclude: Iterable[str]
) -> list[str]:
    """Products measuring ``source_ids`` that are not normalized, other than ``exclude``."""
    sids = sorted(set(source_ids))
    other = photometry.c.data_id.not_in(sorted(set(exclude)))
    pending = set()
    for i in range(0, len(sids), _CHUNK):
        stmt = (
            select(photometry.c.data_id)
            .distinct()
            .select_from(
                photometry.outerjoin(
                    image_normalization,
                    image_normalization.c.data_id == photometry.c.data_id,
                )
            )
            .where(
                photometry.c.source_id.in_(sids[i : i + _CHUNK]),
                other,
                or_(
                    image_normalization.c.status.is_(None),
                    image_normalization.c.status != "normalized",
                ),
            )
        )
        pending.update(r[0] for r in conn.execute(stmt))
    return sorted(pending)
