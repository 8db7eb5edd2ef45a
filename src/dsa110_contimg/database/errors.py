"""Which exceptions mean that the database failed (not the science, not a bug).

A worker that cannot store a result gives the item back; a worker that cannot reach the
database waits and retries; the CLI turns such an error into one line. These tests of an
exception's class need SQLAlchemy's and the drivers' error classes, which only
:mod:`dsa110_contimg.database` imports.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError

__all__ = ["DATABASE_ERRORS", "STORE_ERRORS", "UNREACHABLE_ERRORS", "describe_error"]


def _driver_errors() -> tuple[type[BaseException], ...]:
    """Return the drivers' own errors (raised by the raw-cursor bulk paths), and ``OSError``."""
    errors: list[type[BaseException]] = [sqlite3.Error, OSError]
    try:
        import psycopg

        errors.append(psycopg.Error)
    except ImportError:  # pragma: no cover - PostgreSQL extra not installed
        pass
    return tuple(errors)


#: Any error of the database layer (SQLAlchemy's base class): for a step that must never fail
#: the run over its bookkeeping (``except (ContimgError, OSError, *DATABASE_ERRORS)``).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (SQLAlchemyError,)

#: Errors of a database write (SQLAlchemy's, and the drivers' raised by bulk inserts).
STORE_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, *_driver_errors())

#: Errors of a database that cannot be reached or is full (a statement that could not run,
#: rather than one the database refused: an ``IntegrityError`` is not among them).
UNREACHABLE_ERRORS: tuple[type[BaseException], ...] = (OperationalError, *_driver_errors())


def describe_error(exc: BaseException) -> str | None:
    """One line for an SQLAlchemy error (a bad URL, a database error), or None for another."""
    if isinstance(exc, ArgumentError):
        return f"invalid database URL ({exc})"
    if isinstance(exc, SQLAlchemyError):
        orig = getattr(exc, "orig", None)
        return f"database error: {orig if orig is not None else exc}".splitlines()[0]
    return None
