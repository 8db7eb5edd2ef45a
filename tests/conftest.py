"""Shared fixtures: real files and a real database under ``tmp_path``.

``settings`` is an SQLite database in a fresh state directory. ``db_settings`` runs a test
once on SQLite and once on PostgreSQL (a fresh database on the loopback server that
``make test`` starts; its admin URL is in ``CONTIMG_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from dsa110_contimg.config import Settings
from dsa110_contimg.database import dispose_engine

DATA = Path(__file__).parent / "data"

# FastAPI's TestClient sends "Host: testserver"; write requests must name a host the server
# knows (api.allowed_hosts), so the suite's servers know that name too.
os.environ.setdefault("CONTIMG_API__ALLOWED_HOSTS", '["testserver"]')


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real sample files copied from shared/data (see tests/data/PROVENANCE.md)."""
    return DATA


def make_settings(state_dir: Path, database_url: str | None = None, **kwargs) -> Settings:
    """Settings for a test: nothing read from the developer's environment or TOML."""
    return Settings(state_dir=state_dir, database_url=database_url, **kwargs)


@pytest.fixture
def settings(tmp_path: Path):
    s = make_settings(tmp_path / "state")
    yield s
    dispose_engine(s)


def _postgres_admin_url() -> str | None:
    return os.environ.get("CONTIMG_TEST_POSTGRES_URL") or None


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    url = _postgres_admin_url()
    if url is None:
        if os.environ.get("CI"):
            pytest.fail("CONTIMG_TEST_POSTGRES_URL is not set: run the suite with 'make test'")
        pytest.skip("no PostgreSQL test server (run 'make test', which starts one)")
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str):
    """A fresh, empty PostgreSQL database; dropped after the test."""
    from sqlalchemy import create_engine, text

    name = f"contimg_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = postgres_admin_url.rpartition("/")
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_settings(request, tmp_path: Path):
    """Settings on SQLite, then on PostgreSQL (the same test runs on both)."""
    if request.param == "sqlite":
        s = make_settings(tmp_path / "state")
    else:
        url = request.getfixturevalue("postgres_url")
        s = make_settings(tmp_path / "state", database_url=url)
    yield s
    dispose_engine(s)
