"""The application factory: ``create_app(settings) -> FastAPI`` (API, web pages, static files)."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

from ..config import Settings, resolve_settings

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None):
    """Build the HTTP application over one settings object.

    Parameters
    ----------
    settings : Settings, optional
        Database URL, data roots, bearer token and limits (``settings.api``); ``None`` loads
        them from the environment.

    Returns
    -------
    fastapi.FastAPI
        The app: JSON API under ``/api`` (OpenAPI at ``/api/openapi.json``, docs at
        ``/api/docs``), Prometheus metrics at ``/metrics``, web pages at ``/``.

    Examples
    --------
    >>> import tempfile
    >>> app = create_app(Settings(state_dir=tempfile.mkdtemp()))
    >>> app.title
    'DSA-110 continuum pipeline'
    """
    try:
        from fastapi import FastAPI
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the API needs the 'api' extra: pip install 'dsa110-contimg[api]'"
        ) from exc

    from .. import __version__
    from ..database import get_engine
    from ..web import pages
    from .docs import install_docs
    from .encoding import SafeJSONResponse
    from .errors import install_error_handlers
    from .middleware import (
        BodyLimitMiddleware,
        RelativePathsMiddleware,
        RequestCounter,
        WriteGuardMiddleware,
        default_allowed_hosts,
    )
    from .render import RenderCache
    from .routes import batch, caltables, data, ese, health, images, photometry, sources
    from .routes import variability as variability_routes

    settings = resolve_settings(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        get_engine(settings)  # connect and migrate once, before the first request
        log.info("serving database %s", settings.database_url.split("@")[-1])
        yield

    app = FastAPI(
        title="DSA-110 continuum pipeline",
        version=__version__,
        description="Forced photometry, batch jobs, data registry, light curves and ESE "
        "candidates. Write and compute endpoints need `Authorization: Bearer <token>` when "
        "the server has a token (api.token, CONTIMG_API__TOKEN). Errors always have the shape "
        '`{"error": {"status", "type", "message"}}`.',
        openapi_url="/api/openapi.json",
        docs_url=None,  # served offline by api.docs.install_docs
        redoc_url=None,
        default_response_class=SafeJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.render_cache = RenderCache(max_items=1024)  # ~10 kB per cutout
    app.state.request_counter = RequestCounter()
    install_error_handlers(app)
    for module in (photometry, batch, data, images, sources, ese, health, caltables):
        app.include_router(module.router)
    app.include_router(variability_routes.router)
    pages.install(app)
    install_docs(app)
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.api.max_body_bytes,
        counter=app.state.request_counter,
    )
    app.add_middleware(  # issue 15: cross-site / DNS-rebinding writes refused
        WriteGuardMiddleware,
        allowed_hosts=default_allowed_hosts(settings.api.host, settings.api.allowed_hosts),
    )
    app.add_middleware(  # issue 15: paths shown relative to the data roots
        RelativePathsMiddleware,
        roots=[str(r) for r in settings.api.data_roots]
        + [str(Path(r).expanduser().resolve()) for r in settings.api.data_roots]
        + [str(Path(settings.state_dir).expanduser().resolve())],
    )
    return app
