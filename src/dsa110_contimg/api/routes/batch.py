"""Batch job endpoints: list, detail with item counts and errors, cancel, retry."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Query

from ...config import Settings
from ..deps import Page, page_params, settings_dep
from ..encoding import SafeJSONResponse
from ..queries import get_job, list_jobs
from ..security import require_token

router = APIRouter(prefix="/api/batch", tags=["jobs"])

JobId = Path(ge=1, le=2**62, description="Batch job id.")
_STATUS = "^(pending|running|completed|partial|failed|cancelled)$"


@router.get("")
def list_batch(
    status: str | None = Query(None, pattern=_STATUS),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """List batch jobs, newest first (paginated)."""
    return SafeJSONResponse(list_jobs(settings, page, status=status))


@router.get("/{job_id}", name="get_batch")
def get_batch(job_id: int = JobId, settings: Settings = Depends(settings_dep)):
    """One job: status, counts by item status, errors of failed items."""
    return SafeJSONResponse(get_job(settings, job_id))


@router.post("/{job_id}/cancel", dependencies=[Depends(require_token)])
def cancel_batch(job_id: int = JobId, settings: Settings = Depends(settings_dep)):
    """Cancel a job: its pending items are cancelled; running items finish."""
    from ...jobs import cancel_job

    cancel_job(job_id, settings=settings)
    return SafeJSONResponse(get_job(settings, job_id))


@router.post("/{job_id}/retry", dependencies=[Depends(require_token)])
def retry_batch(job_id: int = JobId, settings: Settings = Depends(settings_dep)):
    """Retry the failed (and cancelled) items of a job."""
    from ...jobs import retry_job

    retry_job(job_id, settings=settings)
    return SafeJSONResponse(get_job(settings, job_id))
