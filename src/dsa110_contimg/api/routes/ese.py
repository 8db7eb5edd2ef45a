"""ESE candidate endpoints: list (by preset and status), confirm, dismiss."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Path, Query

from ...config import Settings
from ..deps import Page, page_params, settings_dep
from ..encoding import SafeJSONResponse, clean_json, table_rows
from ..models import EseStatusRequest
from ..security import require_token

router = APIRouter(prefix="/api/ese", tags=["ese"])

CandidateId = Path(ge=1, le=2**62, description="Candidate id.")


def candidate_rows(settings: Settings, *, preset: str | None, status: str | None) -> list[dict]:
    """Return the candidates passing ``preset`` (default: the configured one), best first."""
    from ...photometry import ese

    return table_rows(ese.list_candidates(preset=preset, status=status, settings=settings))


@router.get("/candidates")
def candidates(
    status: str | None = Query(None, pattern="^(active|dismissed|confirmed)$"),
    preset: str | None = Query(None, pattern="^(conservative|moderate|sensitive)$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """List ESE candidates passing a preset, highest score first (paginated)."""
    rows = candidate_rows(settings, preset=preset, status=status)
    return SafeJSONResponse(page.envelope(rows[page.offset : page.offset + page.limit], len(rows)))


def _note(body: EseStatusRequest | None) -> str | None:
    return body.note if body is not None else None


@router.post("/candidates/{candidate_id}/confirm", dependencies=[Depends(require_token)])
def confirm(
    candidate_id: int = CandidateId,
    body: EseStatusRequest | None = Body(None),
    settings: Settings = Depends(settings_dep),
):
    """Mark a candidate confirmed (optional ``{"note": ...}``); return it."""
    from ...photometry import ese

    row = ese.confirm_candidate(candidate_id, note=_note(body), settings=settings)
    return SafeJSONResponse(clean_json(row))


@router.post("/candidates/{candidate_id}/dismiss", dependencies=[Depends(require_token)])
def dismiss(
    candidate_id: int = CandidateId,
    body: EseStatusRequest | None = Body(None),
    settings: Settings = Depends(settings_dep),
):
    """Mark a candidate dismissed (optional ``{"note": ...}``); return it."""
    from ...photometry import ese

    row = ese.dismiss_candidate(candidate_id, note=_note(body), settings=settings)
    return SafeJSONResponse(clean_json(row))
