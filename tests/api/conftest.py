from __future__ import annotations

import pytest

from dsa110_contimg.database import dispose_engine

from .pipeline import build_pipeline, pipeline_settings


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """The pipeline run on SQLite, built once for the API tests (read-only use)."""
    root = tmp_path_factory.mktemp("api-pipeline")
    data_root = root / "data"
    data_root.mkdir()
    settings = pipeline_settings(root / "state", data_root)
    p = build_pipeline(settings, data_root)
    yield p
    dispose_engine(settings)


@pytest.fixture(scope="session")
def client(pipeline):
    from fastapi.testclient import TestClient

    from dsa110_contimg.api import create_app

    with TestClient(create_app(pipeline.settings), raise_server_exceptions=False) as c:
        yield c
