"""Photometry endpoints: one measurement, a batch job, normalization of a raw measurement."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi import APIRouter, Depends, Request

from ...config import Settings
from ...errors import NotFoundError
from ..deps import engine_dep, settings_dep
from ..encoding import SafeJSONResponse
from ..errors import ApiError
from ..models import BatchRequest, MeasureRequest, NormalizeRequest
from ..queries import get_image_record
from ..security import require_token, resolve_request_path

router = APIRouter(prefix="/api/photometry", tags=["photometry"])


def _image_path(
    settings: Settings, engine, *, image_path: str | None, data_id: str | None
) -> tuple[Path, str | None]:
    if image_path is not None:
        return resolve_request_path(settings, image_path), None
    rec = get_image_record(engine, data_id)
    path = Path(rec["path"])
    if not path.is_file():
        raise NotFoundError(f"the file of {data_id!r} is missing", path=path)
    return path, data_id


@router.post("/measure", dependencies=[Depends(require_token)])
def measure(
    body: MeasureRequest, settings: Settings = Depends(settings_dep), engine=Depends(engine_dep)
):
    """Measure the forced peak flux of one position on one image (nothing is stored)."""
    path, data_id = _image_path(settings, engine, image_path=body.image_path, data_id=body.data_id)
    from ...photometry import measure_forced_peak

    result = measure_forced_peak(str(path), body.ra_deg % 360.0, body.dec_deg)
    out = dataclasses.asdict(result)
    out["image_path"] = str(path)
    out["data_id"] = data_id
    return SafeJSONResponse(out)


@router.post("/measure-batch", status_code=202, dependencies=[Depends(require_token)])
def measure_batch(
    body: BatchRequest,
    request: Request,
    settings: Settings = Depends(settings_dep),
    engine=Depends(engine_dep),
):
    """Create a batch photometry job (images x positions); returns its id at once (202).

    A worker (``contimg worker`` or ``contimg run``) executes it; follow it at
    ``GET /api/batch/{job_id}``.
    """
    from ...catalog.ids import POSITION_CATALOG, position_source_id

    api = settings.api
    n_images = len(body.image_paths) + len(body.data_ids)
    if n_images > api.max_batch_images:
        raise ApiError(422, f"{n_images} images exceed the maximum of {api.max_batch_images}")
    if len(body.positions) > api.max_batch_positions:
        raise ApiError(
            422, f"{len(body.positions)} positions exceed the maximum of {api.max_batch_positions}"
        )
    paths = [resolve_request_path(settings, p) for p in body.image_paths]
    for data_id in body.data_ids:
        paths.append(_image_path(settings, engine, image_path=None, data_id=data_id)[0])
    seen: set[Path] = set()
    paths = [p for p in paths if not (p in seen or seen.add(p))]
    if any(p.source_id is not None for p in body.positions):
        coords = []
        for p in body.positions:
            ra = p.ra_deg % 360.0
            coords.append(
                {
                    "ra_deg": ra,
                    "dec_deg": p.dec_deg,
                    "catalog": p.catalog or POSITION_CATALOG,
                    "source_id": p.source_id or position_source_id(ra, p.dec_deg),
                    "flux_mjy": p.flux_mjy,
                }
            )
    else:
        coords = [(p.ra_deg % 360.0, p.dec_deg) for p in body.positions]
    data_id = body.data_ids[0] if len(paths) == 1 and body.data_ids else None
    from ...jobs import create_batch_photometry_job

    job_id = create_batch_photometry_job(
        [str(p) for p in paths],
        coords,
        normalize=body.normalize,
        method=body.method,
        data_id=data_id,
        settings=settings,
    )
    url = str(request.url_for("get_batch", job_id=job_id))
    return SafeJSONResponse(
        {
            "job_id": int(job_id),
            "status": "pending",
            "n_images": len(paths),
            "n_positions": len(body.positions),
            "url": url,
        },
        status_code=202,
        headers={"Location": url},
    )


@router.post("/normalize", dependencies=[Depends(require_token)])
def normalize(body: NormalizeRequest, settings: Settings = Depends(settings_dep)):
    """Normalize a raw flux measured on a registered image with that image's correction.

    The image must have been normalized (its correction factor stored); otherwise the
    answer is a 422 error naming the reason.
    """
    from ...variability.pipeline import get_image_normalization, normalize_measurement

    flux, err = normalize_measurement(
        body.flux_jy, body.flux_err_jy, body.data_id, settings=settings
    )
    rec = get_image_normalization(body.data_id, settings=settings)
    return SafeJSONResponse(
        {
            "data_id": body.data_id,
            "flux_jy": body.flux_jy,
            "flux_err_jy": body.flux_err_jy,
            "normalized_flux_jy": flux,
            "normalized_flux_err_jy": err,
            "factor": rec.factor if rec else None,
            "factor_err": rec.factor_err if rec else None,
            "n_references": rec.n_refs if rec else None,
        }
    )
