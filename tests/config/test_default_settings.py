"""The plain call path: default settings and engine built once per process, schema checked once."""

from __future__ import annotations

import pytest

import dsa110_contimg.database.migrate as migrate
from dsa110_contimg.catalog import ingest_table, query_sources
from dsa110_contimg.config import default_settings, resolve_settings
from dsa110_contimg.database import dispose_engine, get_engine
from dsa110_contimg.simulation.catalogs import make_catalog


@pytest.fixture
def env(tmp_path, monkeypatch):
    for k in list(__import__("os").environ):
        if k.startswith("CONTIMG_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("CONTIMG_STATE_DIR", str(tmp_path / "a"))
    yield tmp_path
    dispose_engine(default_settings())


def test_plain_calls_reuse_settings_engine_and_schema_check(env, monkeypatch):
    calls = []
    real = migrate.ensure_schema

    def counting(engine, **kw):
        calls.append(engine)
        return real(engine, **kw)

    monkeypatch.setattr(migrate, "ensure_schema", counting)
    ingest_table("nvss", make_catalog(50, center=(10.0, 40.0), radius_deg=1.0, seed=1))
    for ra in (10.0, 10.2, 9.8):
        assert len(query_sources("nvss", ra, 40.0, 1.0)) > 0
    assert resolve_settings(None) is resolve_settings(None)
    assert get_engine(None) is get_engine(None)
    assert len(calls) == 1


def test_a_changed_environment_gives_new_settings(env, monkeypatch):
    first = resolve_settings(None)
    e1 = get_engine(None)
    monkeypatch.setenv("CONTIMG_DATABASE_URL", f"sqlite:///{env / 'b' / 'other.sqlite3'}")
    second = resolve_settings(None)
    assert second is not first and second.database_url.endswith("other.sqlite3")
    assert get_engine(None) is not e1
    monkeypatch.setenv("CONTIMG_JOBS__MAX_ATTEMPTS", "7")
    assert resolve_settings(None).jobs.max_attempts == 7


def test_passed_settings_are_used_as_given(env, settings):
    assert resolve_settings(settings) is settings
