"""The product's kind and superseded flag in ``photometry_products``, kept by triggers.

A light curve reads one row per point and, for each, its product: the MJD and ``data_id``
(``photometry_products``), the kind (``images.kind``: image or mosaic series) and whether a
re-calibrated product replaced it (``data_registry.superseded_by``). At 10^8 rows (150 000
products) those were three index probes per point, most of a light curve's time
(docs/architecture.md, Scale). ``photometry_products`` now holds ``kind`` (NULL while the
product is not in ``images``) and ``superseded`` (1 when its registry row names a successor),
so a point costs one probe.

Both are copies kept by triggers on SQLite and PostgreSQL (whoever writes ``images``,
``data_registry`` or ``photometry_products``: the pipeline, the view's triggers,
``contimg db copy``), never written by the application:

- inserting a product takes its kind and flag from ``images`` and ``data_registry``;
- inserting, updating or deleting an ``images`` / ``data_registry`` row sets (or clears) them
  on the product of the same ``data_id``.

Revision ID: 0019
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0016"
branch_labels = None
depends_on = None

_KIND = "(SELECT i.kind FROM images i WHERE i.data_id = {d})"
_SUPERSEDED = (
    "(CASE WHEN EXISTS (SELECT 1 FROM data_registry g WHERE g.data_id = {d} "
    "AND g.superseded_by IS NOT NULL) THEN 1 ELSE 0 END)"
)


def _set(d: str) -> str:
    """``SET`` both copies of the product ``data_id = d`` from their sources."""
    return (
        f"UPDATE photometry_products SET kind = {_KIND.format(d=d)}, "
        f"superseded = {_SUPERSEDED.format(d=d)} WHERE data_id = {d}"
    )


#: (trigger name, table, event, data_ids to refresh): each runs ``_set`` for OLD and/or NEW.
_SOURCES = (
    ("images_ins", "images", "INSERT", ("NEW",)),
    ("images_upd", "images", "UPDATE", ("OLD", "NEW")),
    ("images_del", "images", "DELETE", ("OLD",)),
    ("registry_ins", "data_registry", "INSERT", ("NEW",)),
    ("registry_upd", "data_registry", "UPDATE", ("OLD", "NEW")),
    ("registry_del", "data_registry", "DELETE", ("OLD",)),
)


def _statements(dialect: str) -> list[str]:
    out = []
    for name, table, event, rows in _SOURCES:
        body = [_set(f"{r}.data_id") for r in rows]
        if event == "UPDATE":  # only when the copied column (or the key) changed
            col = "kind" if table == "images" else "superseded_by"
            same = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
            when = f"NOT (OLD.{col} {same} NEW.{col} AND OLD.data_id = NEW.data_id)"
        else:
            when = None
        if dialect == "sqlite":
            out.append(
                f"CREATE TRIGGER product_copy_{name} AFTER {event} ON {table} FOR EACH ROW"
                + (f" WHEN {when}" if when else "")
                + " BEGIN\n  "
                + ";\n  ".join(body)
                + ";\nEND"
            )
        else:
            out.append(
                f"CREATE FUNCTION product_copy_{name}() RETURNS trigger LANGUAGE plpgsql AS "
                "$fn$\nBEGIN\n  " + ";\n  ".join(body) + ";\n  RETURN NULL;\nEND $fn$"
            )
            out.append(
                f"CREATE TRIGGER product_copy_{name} AFTER {event} ON {table} FOR EACH ROW"
                + (f" WHEN ({when})" if when else "")
                + f" EXECUTE FUNCTION product_copy_{name}()"
            )
    # a new product takes both from the rows that already exist
    if dialect == "sqlite":
        out.append(
            "CREATE TRIGGER product_copy_products_ins AFTER INSERT ON photometry_products "
            "FOR EACH ROW BEGIN\n  "
            f"UPDATE photometry_products SET kind = {_KIND.format(d='NEW.data_id')}, "
            f"superseded = {_SUPERSEDED.format(d='NEW.data_id')} "
            "WHERE image_key = NEW.image_key;\nEND"
        )
    else:
        out.append(
            "CREATE FUNCTION product_copy_products_ins() RETURNS trigger LANGUAGE plpgsql AS "
            f"$fn$\nBEGIN\n  NEW.kind := {_KIND.format(d='NEW.data_id')};\n"
            f"  NEW.superseded := {_SUPERSEDED.format(d='NEW.data_id')};\n  RETURN NEW;\nEND $fn$"
        )
        out.append(
            "CREATE TRIGGER product_copy_products_ins BEFORE INSERT ON photometry_products "
            "FOR EACH ROW EXECUTE FUNCTION product_copy_products_ins()"
        )
    return out


_NAMES = [n for n, *_ in _SOURCES] + ["products_ins"]
_TABLES = {n: t for n, t, *_ in _SOURCES} | {"products_ins": "photometry_products"}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("photometry_products", sa.Column("kind", sa.String(16)))
    op.add_column(
        "photometry_products",
        sa.Column("superseded", sa.Integer, nullable=False, server_default="0"),
    )
    op.execute(
        f"UPDATE photometry_products SET kind = {_KIND.format(d='photometry_products.data_id')}, "
        f"superseded = {_SUPERSEDED.format(d='photometry_products.data_id')}"
    )
    for stmt in _statements(dialect):
        op.execute(stmt)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name in _NAMES:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS product_copy_{name}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS product_copy_{name} ON {_TABLES[name]}")
            op.execute(f"DROP FUNCTION IF EXISTS product_copy_{name}()")
    # plain ALTER (SQLite >= 3.35): a batch copy of the table would break the view on it
    op.execute("ALTER TABLE photometry_products DROP COLUMN superseded")
    op.execute("ALTER TABLE photometry_products DROP COLUMN kind")
