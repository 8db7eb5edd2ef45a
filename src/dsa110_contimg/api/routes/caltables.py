"""Calibration solution-set endpoints: the list (filterable, paginated) and one set."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ...config import Settings
from ...errors import NotFoundError
from ..deps import Page, page_params, settings_dep
from ..encoding import SafeJSONResponse

router = APIRouter(prefix="/api/caltables", tags=["calibration"])

CaltableId = Path(ge=1, le=2**62, description="Solution set id.")


@router.get("")
def list_sets(
    status: str | None = Query(None, pattern="^(valid|refused)$", description="Set status."),
    calibrator: str | None = Query(None, pattern=r"^[A-Za-z0-9_+\-. ]{1,64}$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """List calibration solution sets, latest transit first, with QA and status."""
    from ...database.caltables import count_caltables, list_caltables

    recs = list_caltables(
        status=status,
        calibrator=calibrator,
        limit=page.limit,
        offset=page.offset,
        settings=settings,
    )
    total = count_caltables(status=status, calibrator=calibrator, settings=settings)
    return SafeJSONResponse(page.envelope([r.to_dict() for r in recs], total))


@router.get("/summary")
def summary(settings: Settings = Depends(settings_dep)):
    """Latest valid and refused sets, images per calibration status, groups waiting."""
    from ...database.caltables import calibration_summary

    return SafeJSONResponse(calibration_summary(settings=settings))


@router.get("/{caltable_id}")
def get_set(caltable_id: int = CaltableId, settings: Settings = Depends(settings_dep)):
    """One solution set: tables, validity window, QA, status and the images it calibrated."""
    from ...database.caltables import get_caltable, products_using_caltable

    rec = get_caltable(caltable_id, settings=settings)
    if rec is None:
        raise NotFoundError(f"calibration solution set {caltable_id} does not exist")
    out = rec.to_dict()
    out["images"], out["n_images"] = products_using_caltable(
        caltable_id, limit=100, settings=settings
    )
    return SafeJSONResponse(out)
