"""The one JSON error shape of the API, and the one mapping of pipeline errors to HTTP status.

Every 4xx/5xx response, whatever raised it (a pipeline :class:`~dsa110_contimg.errors.ContimgError`,
a request that failed validation, an unknown route, an unexpected bug), has the body::

    {"error": {"status": 404, "type": "NotFoundError", "message": "job 7 does not exist"}}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from ..errors import (
    CatalogError,
    ConfigError,
    ContimgError,
    DatabaseError,
    InvalidImageError,
    JobError,
    NormalizationError,
    NotFoundError,
    ToolMissingError,
)

__all__ = [
    "ApiError",
    "error_body",
    "install_error_handlers",
    "status_for",
]

log = logging.getLogger(__name__)

#: Pipeline error class -> HTTP status; the most specific class listed first wins.
STATUS_BY_ERROR: tuple[tuple[type[ContimgError], int], ...] = (
    (NotFoundError, 404),
    (InvalidImageError, 422),
    (CatalogError, 422),
    (NormalizationError, 422),
    (JobError, 409),
    (DatabaseError, 503),  # includes SchemaError
    (ToolMissingError, 503),
    (ConfigError, 500),
)


class ApiError(Exception):
    """An error raised by the API layer itself (bad path, missing token, page too large).

    Parameters
    ----------
    status : int
        HTTP status (4xx or 5xx).
    message : str
        What was wrong with the request.
    type : str, optional
        Short machine-readable kind (default: derived from the status).
    headers : dict, optional
        Extra response headers (``WWW-Authenticate`` for 401).
    """

    def __init__(
        self, status: int, message: str, *, type: str | None = None, headers: dict | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type or _TYPE_BY_STATUS.get(status, "HTTPError")
        self.headers = headers


_TYPE_BY_STATUS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def status_for(exc: ContimgError) -> int:
    """Return the HTTP status of a pipeline error.

    Examples
    --------
    >>> from dsa110_contimg.errors import NotFoundError, JobError, ContimgError
    >>> [status_for(e) for e in (NotFoundError("no job"), JobError("done"), ContimgError("x"))]
    [404, 409, 500]
    """
    for cls, status in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            return status
    return 500


def error_body(status: int, type_: str, message: str) -> dict[str, Any]:
    """Return the one error shape.

    Examples
    --------
    >>> error_body(404, "NotFound", "no such page")
    {'error': {'status': 404, 'type': 'NotFound', 'message': 'no such page'}}
    """
    return {"error": {"status": int(status), "type": type_, "message": message}}


def error_response(
    status: int, type_: str, message: str, headers: dict | None = None
) -> JSONResponse:
    """Return a JSON response with the one error shape."""
    return JSONResponse(error_body(status, type_, message), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    errors = exc.errors()
    for err in errors[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = str(err.get("msg", "invalid"))
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"malformed JSON ({ctx.get('error', 'cannot be parsed')})"
        parts.append(f"{loc}: {msg}")
    more = len(errors) - 5
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one JSON shape."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.headers)

    @app.exception_handler(ContimgError)
    async def _contimg_error(request: Request, exc: ContimgError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        return error_response(status, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "ValidationError", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return error_response(
            status, _TYPE_BY_STATUS.get(status, "HTTPError"), message, getattr(exc, "headers", None)
        )

    @app.exception_handler(OperationalError)
    async def _db_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("%s %s: database unavailable: %s", request.method, request.url.path, exc)
        return error_response(
            503, "DatabaseError", f"database unavailable ({type(exc.orig).__name__})"
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", f"internal server error ({type(exc).__name__})")
