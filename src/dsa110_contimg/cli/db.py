"""``contimg db``: the database schema, and moving a database to PostgreSQL."""

from __future__ import annotations

import typer

from ._common import Groups, console, get_settings


def register(app: typer.Typer, groups: Groups) -> None:
    """Add the ``db`` commands."""

    @groups.db.command("upgrade")
    def upgrade(ctx: typer.Context) -> None:
        """Bring the database schema to the latest migration (under a lock)."""
        from ..database import current_revision, get_engine, upgrade

        settings = get_settings(ctx)
        engine = get_engine(settings, migrate=False)
        upgrade(engine, settings=settings)
        console.print(f"database at revision {current_revision(engine)}")

    @groups.db.command("current")
    def current(ctx: typer.Context) -> None:
        """Print the database's schema revision and the newest known one."""
        from ..database import current_revision, get_engine, head_revision

        engine = get_engine(get_settings(ctx), migrate=False)
        console.print(f"current {current_revision(engine)}  head {head_revision()}")

    @groups.db.command("cluster")
    def cluster(ctx: typer.Context) -> None:
        """Rewrite the photometry rows in light-curve order (PostgreSQL; locks the table).

        New rows are appended image by image; a light curve reads one page per point until
        the rows are clustered by source again. Run it in a quiet hour.
        """
        from ..database import get_engine
        from ..database.photometry_layout import cluster_photometry

        if cluster_photometry(get_engine(get_settings(ctx))):
            console.print("photometry rows clustered by (source, image)")
        else:
            console.print("SQLite: nothing to do (rows are read through the light-curve index)")

    @groups.db.command("copy")
    def copy(
        ctx: typer.Context,
        to: str = typer.Option(
            ..., "--to", help="Target database URL (postgresql+psycopg://...), empty."
        ),
        batch_rows: int = typer.Option(
            50_000, "--batch-rows", min=1, max=10_000_000, help="Rows per batch."
        ),
    ) -> None:
        """Copy this database (products, catalogs, registry, jobs, ...) into an empty one.

        The target is migrated to the same schema, filled in primary-key order and then
        compared with the source row for row.
        """
        from ..config import Settings
        from ..database import get_engine
        from ..database.copy import copy_database

        settings = get_settings(ctx)
        target = Settings(**{**settings.child_kwargs(), "database_url": to})
        tables = copy_database(get_engine(settings), get_engine(target), batch_rows=batch_rows)
        for t in tables:
            console.print(f"{t.name}: {t.rows} rows")
        total = sum(t.rows for t in tables)
        console.print(f"copied and verified row for row: {total} rows in {len(tables)} tables")
