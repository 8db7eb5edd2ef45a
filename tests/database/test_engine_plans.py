"""PostgreSQL connections plan every statement for its own parameter values.

psycopg prepares a statement run five times on a connection; PostgreSQL may then keep one
generic plan. For the bulk reads' key lists that plan was a hash join over every photometry
row (minutes per call at 10^8 rows, measured with ``make bench-scale``); the engine sets
``plan_cache_mode = force_custom_plan`` and keeps any ``options`` the URL gives.
"""

from __future__ import annotations

from sqlalchemy import text

from dsa110_contimg.database import get_engine

from ..conftest import make_settings


def _show(engine, name: str) -> str:
    with engine.connect() as conn:
        return conn.execute(text(f"SHOW {name}")).scalar()


def test_custom_plans_and_the_urls_own_options(postgres_url, tmp_path):
    plain = make_settings(tmp_path / "a", database_url=postgres_url)
    assert _show(get_engine(plain), "plan_cache_mode") == "force_custom_plan"
    own = make_settings(tmp_path / "b", database_url=f"{postgres_url}?options=-c%20work_mem%3D7MB")
    engine = get_engine(own)
    assert _show(engine, "work_mem") == "7MB"
    assert _show(engine, "plan_cache_mode") == "force_custom_plan"
    # a statement run more often than psycopg's prepare threshold keeps custom plans
    with engine.connect() as conn:
        for _ in range(8):
            conn.execute(text("SELECT count(*) FROM images WHERE data_id = ANY(:ids)"),
                         {"ids": ["a", "b"]})  # fmt: skip
        plans = conn.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE 'SELECT count(*) FROM images%'"
            )  # fmt: skip
        ).all()
    assert plans and all(g == 0 for g, _ in plans)
