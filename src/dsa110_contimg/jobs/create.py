"""Creating batch photometry jobs: one item per image, the same positions on every image."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings, resolve_settings
from ..database import get_engine, write_transaction
from ..database import jobs as db
from ..database.products import register_image
from ..database.registry import set_photometry_status
from ..errors import ContimgError, JobError

__all__ = ["METHODS", "create_batch_photometry_job", "normalize_sources"]

log = logging.getLogger(__name__)

#: Measurement methods a job may ask for. ``"peak"``: the forced-photometry engine of
#: :func:`~dsa110_contimg.photometry.measure_many` (beam-weighted peak flux, joint fit of blends).
METHODS = ("peak",)


def _get(src: Any, key: str, default: Any = None) -> Any:
    try:
        value = src[key]
    except (KeyError, IndexError, TypeError, ValueError):
        return default
    return default if value is None else value


def normalize_sources(coordinates: Any) -> dict[str, list]:
    """Turn job coordinates into columns ``catalog, source_id, ra_deg, dec_deg, flux_mjy``.

    Parameters
    ----------
    coordinates : sequence
        ``(ra_deg, dec_deg)`` pairs (bare positions: catalog ``"position"``, the J-name as
        ``source_id``), or source mappings as returned by
        :func:`~dsa110_contimg.photometry.helpers.query_sources_for_fits` (keys ``ra_deg``,
        ``dec_deg`` and optionally ``catalog``, ``source_id``, ``flux_mjy``), or an astropy
        Table with those columns.

    Returns
    -------
    dict of lists
        One entry per distinct ``(catalog, source_id)`` (later duplicates are dropped).

    Raises
    ------
    JobError
        No coordinates, or a position that is not finite or out of range.

    Examples
    --------
    >>> normalize_sources([(150.0, 2.0)])["source_id"]
    ['J100000.00+020000.0']
    """
    from ..catalog.ids import POSITION_CATALOG, position_source_ids

    if coordinates is None:
        raise JobError("a photometry job needs coordinates")
    if hasattr(coordinates, "colnames"):  # astropy Table
        coordinates = [{c: row[c] for c in coordinates.colnames} for row in coordinates]
    parsed: list[tuple[str, str | None, float, float, Any]] = []
    for i, src in enumerate(coordinates):
        if isinstance(src, Mapping):
            ra, dec = _get(src, "ra_deg"), _get(src, "dec_deg")
            catalog = str(_get(src, "catalog", POSITION_CATALOG))
            source_id = _get(src, "source_id")
            flux = _get(src, "flux_mjy")
        elif isinstance(src, Sequence) and len(src) >= 2 and not isinstance(src, str):
            ra, dec = src[0], src[1]
            catalog, source_id, flux = POSITION_CATALOG, None, None
        else:
            raise JobError(
                f"coordinate {i} is neither an (ra_deg, dec_deg) pair nor a source mapping: {src!r}"
            )
        try:
            ra, dec = float(ra), float(dec)
        except (TypeError, ValueError):
            raise JobError(
                f"coordinate {i}: ra_deg/dec_deg not numbers ({ra!r}, {dec!r})"
            ) from None
        if not (math.isfinite(ra) and math.isfinite(dec) and -90.0 <= dec <= 90.0):
            raise JobError(f"coordinate {i}: invalid position ({ra}, {dec})")
        if source_id is not None and str(source_id) == "":
            source_id = None
        if source_id is None and catalog != POSITION_CATALOG:
            raise JobError(f"coordinate {i}: a {catalog!r} source needs a source_id")
        parsed.append((catalog, source_id, ra % 360.0, dec, flux))
    unnamed = [k for k, p in enumerate(parsed) if p[1] is None]
    names: dict[int, str] = {}
    if unnamed:  # J-names of bare positions, vectorized
        jnames = position_source_ids(
            [parsed[k][2] for k in unnamed], [parsed[k][3] for k in unnamed]
        )
        names = dict(zip(unnamed, jnames, strict=True))
    out: dict[str, list] = {
        "catalog": [],
        "source_id": [],
        "ra_deg": [],
        "dec_deg": [],
        "flux_mjy": [],
    }
    seen: set[tuple[str, str]] = set()
    for k, (catalog, source_id, ra, dec, flux) in enumerate(parsed):
        key = (catalog, str(names.get(k, source_id)))
        if key in seen:
            log.warning("duplicate source %s/%s in job coordinates dropped", *key)
            continue
        seen.add(key)
        out["catalog"].append(catalog)
        out["source_id"].append(key[1])
        out["ra_deg"].append(ra)
        out["dec_deg"].append(dec)
        try:
            out["flux_mjy"].append(float(flux) if flux is not None else None)
        except (TypeError, ValueError):
            out["flux_mjy"].append(None)
    if not out["ra_deg"]:
        raise JobError("a photometry job needs at least one coordinate")
    return out


def _as_paths(fits_paths: str | Path | Iterable[str | Path]) -> list[Path]:
    if isinstance(fits_paths, (str, Path)):
        fits_paths = [fits_paths]
    paths = [Path(p).expanduser().resolve() for p in fits_paths]
    if not paths:
        raise JobError("a photometry job needs at least one FITS path")
    return paths


def create_batch_photometry_job(
    fits_paths: str | Path | Iterable[str | Path],
    coordinates: Any,
    normalize: bool = False,
    method: str = "peak",
    data_id: str | None = None,
    *,
    options: Mapping[str, Any] | None = None,
    settings: Settings | None = None,
) -> int:
    """Create a batch photometry job: one item per image, all measured at ``coordinates``.

    Each item carries its image's ``data_id`` (``data_id`` for a single image; otherwise
    looked up in the registry by path, registering an image not registered yet). The
    registry's ``photometry_status`` of every image becomes ``pending`` and points at the job.
    An image that cannot be registered (unreadable, no WCS) still gets an item, which the
    worker fails with the error.

    Parameters
    ----------
    fits_paths : path or iterable of paths
        The images.
    coordinates : sequence
        ``(ra_deg, dec_deg)`` pairs or source mappings (see :func:`normalize_sources`).
    normalize : bool
        Normalize each image after its rows are written (see
        :mod:`dsa110_contimg.variability.pipeline.normalize`).
    method : str
        Measurement method, one of :data:`METHODS`.
    data_id : str, optional
        The ``data_id`` of the (single) image.
    options : mapping, optional
        Options of :func:`~dsa110_contimg.photometry.measure_many`.
    settings : Settings, optional
        Settings naming the database.

    Returns
    -------
    int
        The new job's id.

    Raises
    ------
    JobError
        Unknown method, no coordinates, ``data_id`` with several images, bad options.
    """
    settings = resolve_settings(settings)
    if method not in METHODS:
        raise JobError(f"unknown photometry method {method!r}; known: {', '.join(METHODS)}")
    paths = _as_paths(fits_paths)
    if data_id is not None and len(paths) != 1:
        raise JobError(f"data_id={data_id!r} given for {len(paths)} images; it names one image")
    opts = dict(options or {})
    if opts:
        from ..photometry.forced import ForcedOptions

        unknown = set(opts) - set(ForcedOptions.__dataclass_fields__)
        if unknown:
            raise JobError(f"unknown photometry options {sorted(unknown)}")
    sources = normalize_sources(coordinates)
    engine = get_engine(settings)

    known = db.image_ids_by_path(engine, [p.as_posix() for p in paths])
    ids: list[str | None] = []
    for p in paths:
        registered = known.get(p.as_posix())
        if data_id is not None and registered is not None and registered != data_id:
            raise JobError(f"registered as data_id {registered!r}, not {data_id!r}", path=p)
        did = registered or data_id
        if registered is None:
            try:
                did = register_image(p, data_id=data_id, settings=settings)
            except ContimgError as exc:
                log.warning("cannot register %s (its item will fail): %s", p, exc)
        ids.append(did)

    params = {
        "method": method,
        "normalize": bool(normalize),
        "options": opts,
        "n_sources": len(sources["ra_deg"]),
        "sources": sources,
    }
    now = time.time()
    with write_transaction(engine) as conn:
        job_id = db.insert_job(
            conn,
            {
                "job_type": "photometry",
                "status": "pending",
                "total_items": len(paths),
                "completed_items": 0,
                "failed_items": 0,
                "params": json.dumps(params),
                "created_at": now,
                "updated_at": now,
            },
        )
        db.insert_items(
            conn,
            [
                {
                    "job_id": job_id,
                    "fits_path": p.as_posix(),
                    "data_id": did,
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
                for p, did in zip(paths, ids, strict=True)
            ],
        )
        set_photometry_status(conn, [d for d in ids if d is not None], "pending", job_id)
    log.info(
        "created photometry job %d: %d image(s) x %d source(s)",
        job_id,
        len(paths),
        params["n_sources"],
    )
    return int(job_id)
