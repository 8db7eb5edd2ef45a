"""Schema migrations: one linear Alembic history, applied under a lock.

The history lives in ``dsa110_contimg/database/migrations/versions``. Nothing else alters
tables. A process that finds the schema behind upgrades it while holding a lock (an exclusive
file lock beside an SQLite database, ``pg_advisory_lock`` on PostgreSQL), so two processes
never migrate at once; with ``auto_migrate`` off it refuses with a clear message instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from ..errors import SchemaError
from .engine import is_sqlite, sqlite_path

__all__ = ["alembic_config", "current_revision", "ensure_schema", "head_revision", "upgrade"]

log = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x0D5A110  # advisory lock id shared by every contimg process


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    return cfg


def head_revision() -> str:
    """Return the newest revision of the packaged history (there is exactly one head)."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise SchemaError(
            f"the migration history has {len(heads)} heads {heads}; it must be linear"
        )
    return heads[0]


def current_revision(engine: Engine) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if is_sqlite(engine):
        path = sqlite_path(str(engine.url))
        if path is None:
            yield
            return
        lock_path = path.with_name(path.name + ".migrate.lock")
        with open(lock_path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
    else:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()


def _upgrade_locked(engine: Engine, revision: str, settings=None) -> None:
    from .listing import suspended

    cfg = alembic_config()
    with engine.begin() as conn, suspended(conn):
        cfg.attributes["connection"] = conn
        # a migration that backfills derived values (e.g. 0012) computes them as the
        # process's settings say (the default settings when none are given)
        cfg.attributes["settings"] = settings
        command.upgrade(cfg, revision)
    log.info(
        "database %s is at revision %s", engine.url.render_as_string(), current_revision(engine)
    )


def upgrade(engine: Engine, revision: str = "head", *, settings=None) -> None:
    """Upgrade the database to ``revision`` under the migration lock.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Engine of the database to upgrade.
    revision : str
        Target revision, ``"head"`` by default.
    settings : Settings, optional
        The settings a backfilling migration computes with (default settings if None).
    """
    with _migration_lock(engine):
        _upgrade_locked(engine, revision, settings)


def ensure_schema(engine: Engine, *, auto_upgrade: bool = True, settings=None) -> None:
    """Make sure the database schema is at the head revision.

    The whole check runs under the migration lock, first connection included: on a new SQLite
    file that first connection switches the file to WAL, which must not race another process
    (or thread) doing the same or migrating.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        Engine of the database.
    auto_upgrade : bool
        Upgrade when behind; otherwise raise.
    settings : Settings, optional
        Passed to backfilling migrations (see :func:`upgrade`).

    Raises
    ------
    SchemaError
        The schema is behind and ``auto_upgrade`` is false, or the database is at a revision
        this code does not know (written by a newer version).
    """
    head = head_revision()
    with _migration_lock(engine):
        current = current_revision(engine)
        if current == head:
            return
        known = {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}
        if current is not None and current not in known:
            raise SchemaError(
                f"database {engine.url.render_as_string()} is at revision {current!r}, unknown "
                "to this version of dsa110_contimg (written by a newer version?)"
            )
        if not auto_upgrade:
            raise SchemaError(
                f"database {engine.url.render_as_string()} is at revision {current!r}, behind "
                f"{head!r}; run 'contimg db upgrade'"
            )
        _upgrade_locked(engine, "head", settings)
