"""The HTTP API (FastAPI): ``create_app(settings)``; served by ``contimg serve``.

``api.batch_jobs`` and ``api.job_adapters`` hold the seed roadmap's names of job creation and
in-process running (``docs/seed.md``); they import without the web framework.
"""

from .app import create_app

__all__ = ["create_app"]
