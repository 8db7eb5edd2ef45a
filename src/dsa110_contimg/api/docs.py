"""``/api/docs``: Swagger UI served from the package (vendored under ``web/static/vendor``).

FastAPI's default page loads Swagger UI from a CDN (a major-version pin, no integrity hash) and
its favicon from fastapi.tiangolo.com, so it is blank on an isolated network. This page loads
the vendored ``swagger-ui-dist`` (version and licence in ``web/static/VENDORED.md``) and turns
off the online validator badge (``validatorUrl: null``), so nothing leaves the server.
"""

from __future__ import annotations

__all__ = ["install_docs"]

_VENDOR = "/static/vendor/swagger-ui"


def install_docs(app, *, path: str = "/api/docs") -> None:
    """Add the offline Swagger UI page at ``path`` (the app must have ``docs_url=None``)."""
    from fastapi.openapi.docs import get_swagger_ui_html

    @app.get(path, include_in_schema=False)
    def swagger_ui():
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} · API",
            swagger_js_url=f"{_VENDOR}/swagger-ui-bundle.js",
            swagger_css_url=f"{_VENDOR}/swagger-ui.css",
            swagger_favicon_url=f"{_VENDOR}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None},
        )
