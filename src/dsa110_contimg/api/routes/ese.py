"""ESE candidate endpoints: list (by preset and status), confirm, dismiss, reopen."""

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
    from ...variability.pipeline import ese

    return table_rows(ese.list_candidates(preset=preset, status=status, settings=settings))


@router.get("/candidates")
def candidates(
    status: str | None = Query(None, pattern="^(active|dismissed|confirmed)$"),
    preset: str | None = Query(None, pattern="^(conservative|moderate|sensitive)$"),
    format: str = Query("json", pattern="^(json|csv)$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """List ESE candidates passing a preset, highest score first (paginated; CSV: all)."""
    rows = candidate_rows(settings, preset=preset, status=status)
    if format == "csv":
        from starlette.responses import Response

        from ...database.candidates import candidate_columns
        from ..encoding import rows_to_csv

        cols = [name for name, _ in candidate_columns()]
        return Response(
            rows_to_csv(cols, rows),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="ese-candidates.csv"'},
        )
    return SafeJSONResponse(page.envelope(rows[page.offset : page.offset + page.limit], len(rows)))


def _add_status_route(action: str, status: str) -> None:
    @router.post(
        f"/candidates/{{candidate_id}}/{action}",
        name=f"{action}_candidate",
        summary=f"Mark a candidate {status}",
        dependencies=[Depends(require_token)],
    )
    def change(
        candidate_id: int = CandidateId,
        body: EseStatusRequest | None = Body(None),
        settings: Settings = Depends(settings_dep),
    ):
        from ...variability.pipeline import ese

        fn = getattr(ese, f"{action}_candidate")
        row = fn(candidate_id, note=body.note if body is not None else None, settings=settings)
        return SafeJSONResponse(clean_json(row))

    change.__doc__ = f'Mark a candidate {status} (optional body ``{{"note": ...}}``); return it.'


_add_status_route("confirm", "confirmed")
_add_status_route("dismiss", "dismissed")
_add_status_route("reopen", "active")
