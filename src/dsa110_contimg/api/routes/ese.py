"""ESE candidate endpoints: list, and status changes (confirm, dismiss, re-activate)."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Depends, Path, Query

from ...config import Settings
from ..deps import Page, page_params, settings_dep
from ..encoding import SafeJSONResponse, clean_json
from ..models import EseStatusRequest
from ..security import require_token

router = APIRouter(prefix="/api/ese", tags=["ese"])


def _dict(obj):
    if dataclasses.is_dataclass(obj):
        return dataclasses.asdict(obj)
    if hasattr(obj, "_mapping"):
        return dict(obj._mapping)
    return dict(obj)


@router.get("/candidates")
def candidates(
    status: str | None = Query(None, pattern="^(active|dismissed|confirmed)$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """ESE candidates, highest score first (paginated)."""
    from ...photometry import ese

    rows = [clean_json(_dict(c)) for c in ese.list_candidates(status=status, settings=settings)]
    return SafeJSONResponse(page.envelope(rows[page.offset : page.offset + page.limit], len(rows)))


@router.post("/candidates/{candidate_id}/status", dependencies=[Depends(require_token)])
def set_status(
    body: EseStatusRequest,
    candidate_id: int = Path(ge=1, le=2**62),
    settings: Settings = Depends(settings_dep),
):
    """Confirm, dismiss or re-activate a candidate, with an optional note."""
    from ...photometry import ese

    row = ese.set_candidate_status(candidate_id, body.status, note=body.note, settings=settings)
    return SafeJSONResponse(clean_json(_dict(row)))
