"""Request dependencies: the settings, the engine and pagination."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query, Request
from sqlalchemy import Engine

from ..config import Settings
from ..database import get_engine
from .errors import ApiError

__all__ = ["Page", "engine_dep", "page_params", "settings_dep"]

#: Largest offset accepted (keeps the value inside a 64-bit SQL integer).
MAX_OFFSET = 10**12


def settings_dep(request: Request) -> Settings:
    """Return the settings the app was created with."""
    return request.app.state.settings


def engine_dep(request: Request) -> Engine:
    """Return the database engine of the app's settings (created and migrated at startup)."""
    return get_engine(request.app.state.settings)


@dataclass(frozen=True)
class Page:
    """One page of a list: ``limit`` rows from ``offset``."""

    limit: int
    offset: int

    def envelope(self, items: list, total: int | None) -> dict:
        """Return the list envelope ``{"items", "total", "limit", "offset", "next_offset"}``."""
        more = (self.offset + len(items) < total) if total is not None else len(items) == self.limit
        return {
            "items": items,
            "total": total,
            "limit": self.limit,
            "offset": self.offset,
            "next_offset": self.offset + len(items) if more else None,
        }


def page_params(
    request: Request,
    limit: int | None = Query(None, ge=1, le=MAX_OFFSET, description="Rows per page."),
    offset: int = Query(0, ge=0, le=MAX_OFFSET, description="Rows to skip."),
) -> Page:
    """Pagination parameters, with the page size capped by ``api.max_page_size``."""
    api = request.app.state.settings.api
    if limit is None:
        limit = min(api.default_page_size, api.max_page_size)
    if limit > api.max_page_size:
        raise ApiError(422, f"limit {limit} exceeds the maximum page size {api.max_page_size}")
    return Page(limit=limit, offset=offset)
