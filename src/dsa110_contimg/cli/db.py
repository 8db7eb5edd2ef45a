"""``contimg db``: the database schema."""

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
        upgrade(engine)
        console.print(f"database at revision {current_revision(engine)}")

    @groups.db.command("current")
    def current(ctx: typer.Context) -> None:
        """Print the database's schema revision and the newest known one."""
        from ..database import current_revision, get_engine, head_revision

        engine = get_engine(get_settings(ctx), migrate=False)
        console.print(f"current {current_revision(engine)}  head {head_revision()}")
