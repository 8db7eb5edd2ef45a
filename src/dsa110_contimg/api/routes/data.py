"""Data registry endpoints: every product (image, mosaic) by its ``data_id``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query

from ...config import Settings
from ..deps import Page, engine_dep, page_params, settings_dep
from ..encoding import SafeJSONResponse
from ..queries import get_data_record, list_data

router = APIRouter(prefix="/api/data", tags=["registry"])

_WORD = r"^[A-Za-z0-9_\-]{1,32}$"


@router.get("")
def list_registry(
    type: str | None = Query(None, pattern="^(image|mosaic)$", description="Product type."),
    status: str | None = Query(None, pattern=_WORD, description="Registry status."),
    photometry_status: str | None = Query(
        None,
        pattern="^(pending|running|completed|failed|cancelled)$",
        description="Photometry status of the product.",
    ),
    qa_status: str | None = Query(None, pattern="^(passed|warning|failed)$"),
    page: Page = Depends(page_params),
    settings: Settings = Depends(settings_dep),
):
    """List registered products, newest first (paginated, filterable)."""
    return SafeJSONResponse(
        list_data(
            settings,
            page,
            data_type=type,
            status=status,
            photometry_status=photometry_status,
            qa_status=qa_status,
        )
    )


@router.get("/{data_id:path}")
def get_registry(data_id: str, engine=Depends(engine_dep)):
    """One product: registry fields, its image record, photometry status and job."""
    return SafeJSONResponse(get_data_record(engine, data_id))
