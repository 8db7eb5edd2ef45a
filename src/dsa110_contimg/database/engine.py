"""The one engine factory: SQLite (WAL, busy timeout) by default, PostgreSQL when the URL says so.

No other module opens a database connection. The engine is created once per
:class:`~dsa110_contimg.config.Settings` object and kept on it, so a process that builds its
settings once reuses one connection pool; the schema is brought to the current migration on
first use (see :mod:`dsa110_contimg.database.migrate`).

SQLite connections run in the driver's autocommit mode, with SQLAlchemy emitting ``BEGIN``
itself, so that a transaction can be opened as ``BEGIN IMMEDIATE`` (the write lock taken up
front) when a caller asks for it with :func:`write_transaction`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from ..config import Settings, resolve_settings
from ..errors import DatabaseError

__all__ = ["get_engine", "write_transaction", "sqlite_path", "is_sqlite", "dispose_engine", "ping"]

log = logging.getLogger(__name__)

#: How long an SQLite connection waits for another writer before failing, in milliseconds.
SQLITE_BUSY_TIMEOUT_MS = 60_000

#: Page size of a *new* SQLite file, in bytes (an existing file keeps the size it was made
#: with). Measured here: 16 KiB pages make a 200 000-row bulk ``photometry_insert`` ~1.2x
#: faster, but the pipeline's real writes (a few hundred rows per image, each landing on a
#: different page of the light-curve index) and light-curve reads of a database larger than
#: the memory map were 10-40% slower, so the products database keeps 4 KiB pages.
SQLITE_PAGE_SIZE = 4_096


def is_sqlite(engine_or_url: Engine | str) -> bool:
    """Return whether an engine or URL is SQLite."""
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path | None:
    """Return the file of an SQLite URL, or None for another backend or an in-memory database."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _normalise_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see below)
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")  # before WAL: new files only
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA cache_size = -65536")
        cur.execute("PRAGMA mmap_size = 1073741824")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


#: Every statement planned for its own parameter values. psycopg prepares a statement run five
#: times on a connection, and PostgreSQL may then use one generic plan for all values: for the
#: key lists of the bulk reads (500 reference sources, a block of images) that plan was a hash
#: join over every photometry row, minutes per call at 10^8 rows instead of ~2 s.
PG_OPTIONS = "-c plan_cache_mode=force_custom_plan"


def _pg_options(url: str) -> str:
    """Return the connection's ``options``: the URL's own, then :data:`PG_OPTIONS`."""
    from sqlalchemy.engine import make_url

    own = make_url(url).query.get("options")
    own = own[-1] if isinstance(own, tuple) else own
    return f"{own} {PG_OPTIONS}" if own else PG_OPTIONS


def _create_engine(url: str) -> Engine:
    url = _normalise_url(url)
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot create the database directory ({exc})", path=path.parent
                ) from None
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
            poolclass=NullPool if path is None else None,
        )
        _install_sqlite_hooks(engine)
        return engine
    try:
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"options": _pg_options(url)},
        )
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise DatabaseError(
            f"the PostgreSQL driver is missing ({exc}); install the 'postgres' extra"
        ) from None


def get_engine(settings: Settings | None = None, *, migrate: bool = True) -> Engine:
    """Return the engine of the settings' database, creating it on first use.

    Parameters
    ----------
    settings : Settings, optional
        Settings naming the database; ``None`` loads them from the environment.
    migrate : bool
        Bring the schema to the latest migration (or refuse, when ``auto_migrate`` is off)
        the first time the engine is made.

    Returns
    -------
    sqlalchemy.Engine
        The engine, cached on ``settings``.

    Raises
    ------
    DatabaseError
        The database cannot be reached or created.
    SchemaError
        The schema is behind and ``auto_migrate`` is off.
    """
    settings = resolve_settings(settings)
    engine = settings._engine
    if engine is None:
        engine = _open_engine(
            str(settings.database_url), migrate, settings.auto_migrate, settings=settings
        )
        settings._engine = engine
    return engine


def _shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given (it has no password)
        return url


def _open_engine(
    url: str, migrate: bool, auto_migrate: bool, *, settings: Settings | None = None
) -> Engine:
    """Create an engine (and check its schema); errors become one typed DatabaseError."""
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    try:
        engine = _create_engine(url)
    except ArgumentError as exc:
        raise DatabaseError(
            f"malformed database URL {_shown_url(url)!r} ({exc}); expected "
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        ) from None
    if migrate:
        from .migrate import ensure_schema

        try:
            ensure_schema(engine, auto_upgrade=auto_migrate, settings=settings)
        except SQLAlchemyError as exc:
            engine.dispose()
            orig = getattr(exc, "orig", None) or exc
            reason = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
            path = sqlite_path(url)
            raise DatabaseError(
                f"cannot use the database {_shown_url(url)} ({reason})",
                path=path if path is not None and path.exists() else None,
            ) from None
    return engine


def dispose_engine(settings: Settings) -> None:
    """Close the pooled connections of ``settings``' engine (before fork, at shutdown)."""
    if settings._engine is not None:
        settings._engine.dispose()
        settings._engine = None


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """Open a transaction that holds the write lock from its first statement.

    On SQLite this is ``BEGIN IMMEDIATE``, so two processes that read-then-update (a job
    claim) cannot both read the same state; on PostgreSQL it is an ordinary transaction and
    callers use ``SELECT ... FOR UPDATE SKIP LOCKED``.

    Parameters
    ----------
    engine : sqlalchemy.Engine
        The engine from :func:`get_engine`.

    Yields
    ------
    sqlalchemy.Connection
        A connection inside the transaction; committed on normal exit, rolled back on error.
        After a commit of a transaction that changed per-source rows, the explorer's copies
        of them are refreshed in a transaction of their own
        (:func:`~dsa110_contimg.database.listing.refresh_after_commit`).
    """
    from .listing import forget, refresh_after_commit

    conn = engine.connect()
    if is_sqlite(engine):
        conn = conn.execution_options(sqlite_begin="IMMEDIATE")
    try:
        with conn.begin():
            yield conn
        refresh_after_commit(conn)
    finally:
        forget(conn)
        conn.close()


def ping(engine: Engine) -> None:
    """Open a connection and run a trivial query; the driver's error if the database is down."""
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
