"""Which exceptions mean the database failed (database/errors.py), on real SQLite errors."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine
from sqlalchemy.exc import ArgumentError

from dsa110_contimg.cli._run import _environment_error
from dsa110_contimg.database.errors import (
    DATABASE_ERRORS,
    STORE_ERRORS,
    UNREACHABLE_ERRORS,
    describe_error,
)


def _raised(sql: str) -> BaseException:
    engine = create_engine("sqlite://")
    with engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        try:
            conn.exec_driver_sql(sql)
        except Exception as exc:  # noqa: BLE001 - the exception is what is tested
            return exc
    raise AssertionError(f"{sql!r} did not fail")


def test_a_missing_table_is_unreachable_and_a_store_error():
    exc = _raised("SELECT * FROM nope")
    assert isinstance(exc, UNREACHABLE_ERRORS)
    assert isinstance(exc, STORE_ERRORS)
    assert isinstance(exc, DATABASE_ERRORS)
    assert describe_error(exc) == "database error: no such table: nope"


def test_a_refused_row_is_a_store_error_but_not_unreachable():
    """A constraint the database enforces is no reason to wait for the database."""
    exc = _raised("INSERT INTO t VALUES (1)")
    assert isinstance(exc, STORE_ERRORS)
    assert not isinstance(exc, UNREACHABLE_ERRORS)


def test_driver_and_disk_errors_count_as_store_errors():
    import sqlite3

    for exc in (sqlite3.OperationalError("disk I/O error"), OSError(28, "No space left")):
        assert isinstance(exc, STORE_ERRORS)
        assert isinstance(exc, UNREACHABLE_ERRORS)


@pytest.mark.parametrize(
    ("exc", "line"),
    [
        (ArgumentError("Could not parse URL"), "invalid database URL (Could not parse URL)"),
        (ValueError("not the database's"), None),
    ],
)
def test_describe_error(exc, line):
    assert describe_error(exc) == line


def test_the_cli_says_one_line_for_a_database_error():
    """``contimg`` turns an SQLAlchemy error into the same line (cli/_run.py)."""
    exc = _raised("SELECT * FROM nope")
    assert _environment_error(exc) == "database error: no such table: nope"
