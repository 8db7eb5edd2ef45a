"""The HTTP API (FastAPI): ``create_app(settings)``; served by ``contimg serve``."""

from .app import create_app

__all__ = ["create_app"]
