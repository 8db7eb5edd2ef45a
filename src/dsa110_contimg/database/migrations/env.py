"""Alembic environment: runs on the connection handed in by :func:`migrate.upgrade`."""

from alembic import context

from dsa110_contimg.database.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the project's own runner is supported
    raise RuntimeError("run migrations with 'contimg db upgrade'")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
