import threading

import pytest
from sqlalchemy import inspect, text

from dsa110_contimg.database import current_revision, get_engine, head_revision, write_transaction
from dsa110_contimg.database.migrate import alembic_config, ensure_schema
from dsa110_contimg.database.tables import metadata
from dsa110_contimg.errors import SchemaError


def test_fresh_database_is_migrated_to_head(db_settings):
    engine = get_engine(db_settings)
    assert current_revision(engine) == head_revision()
    names = set(inspect(engine).get_table_names()) | set(inspect(engine).get_view_names())
    assert {"images", "photometry", "data_registry", "batch_jobs", "batch_job_items"} <= names
    assert "photometry" in inspect(engine).get_view_names()  # migration 0009: a view


def test_tables_match_migrations(db_settings):
    """The Core tables used by the code describe exactly what the migrations create."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = get_engine(db_settings)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_history_is_linear():
    from alembic.script import ScriptDirectory

    assert len(ScriptDirectory.from_config(alembic_config()).get_heads()) == 1


def test_behind_schema_refused_without_auto_migrate(tmp_path):
    from tests.conftest import make_settings

    s = make_settings(tmp_path / "st", auto_migrate=False)
    engine = get_engine(s, migrate=False)
    with pytest.raises(SchemaError, match="contimg db upgrade"):
        ensure_schema(engine, auto_upgrade=False)


def test_concurrent_first_use_migrates_once(tmp_path):
    from tests.conftest import make_settings

    errors = []

    def use():
        try:
            s = make_settings(tmp_path / "shared")
            get_engine(s)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = make_settings(tmp_path / "shared")
    assert current_revision(get_engine(s)) == head_revision()


def test_sqlite_write_transaction_is_immediate(settings):
    engine = get_engine(settings)
    with write_transaction(engine) as conn:
        conn.execute(text("SELECT 1"))
        mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
    assert mode == "wal"
