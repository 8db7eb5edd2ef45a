"""Normalization stored as factors, applied at read time by the view ``photometry``.

A normalization rewrote every measurement of an image (``normalized_flux_jy`` and its error
in ``photometry_rows``): 10^8 row updates for a re-normalization of a survey. It now stores
what it computes once per image (``photometry_products.norm_factor``/``norm_factor_err``)
and, for the references measured on the image, their leave-one-out factors
(``photometry_factors``, one row per (reference, image)); the view computes

    normalized_flux_jy     = flux / F
    normalized_flux_err_jy = sqrt((err / F)^2 + (flux * F_err / F^2)^2)

with F the row's own factor where it has one, else its image's: the same IEEE operations, in
the same order, as :func:`dsa110_contimg.variability.normalization.apply_factor`, so the
values are the same to the last bit; non-finite results read as NULL as they were stored.

A row's own stored ``normalized_flux_jy``/``normalized_flux_err_jy`` (as every row written
before this migration holds) still wins: the upgrade changes no value anyone reads, and a
normalization clears the own values of the image it normalizes (a partial index finds them).

Revision ID: 0020
Revises: 0019
"""

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def _compact():
    """The 0016 migration's module (view columns and triggers)."""
    path = Path(__file__).with_name("0016_compact_photometry.py")
    spec = importlib.util.spec_from_file_location("contimg_migration_0016", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _finite(x: str, dialect: str) -> str:
    """``x`` when finite, else NULL (PostgreSQL sorts NaN above infinity)."""
    inf = "9e999" if dialect == "sqlite" else "CAST('Infinity' AS float8)"
    return f"CASE WHEN abs({x}) < {inf} THEN {x} END"


_F = "(CASE WHEN x.image_key IS NOT NULL THEN x.factor ELSE p.norm_factor END)"
_FE = "(CASE WHEN x.image_key IS NOT NULL THEN x.factor_err ELSE p.norm_factor_err END)"


def normalized_exprs(dialect: str) -> dict[str, str]:
    """The view's expressions of the normalized columns."""
    nf = f"r.flux_jy / {_F}"
    a = f"(r.flux_err_jy / {_F})"
    b = f"(r.flux_jy * {_FE} / ({_F} * {_F}))"
    ne = f"sqrt({a} * {a} + {b} * {b})"
    return {
        "normalized_flux_jy": f"coalesce(r.normalized_flux_jy, {_finite(nf, dialect)})",
        "normalized_flux_err_jy": f"coalesce(r.normalized_flux_err_jy, {_finite(ne, dialect)})",
    }


def view_sql(dialect: str) -> str:
    """``CREATE VIEW photometry`` reading the factors."""
    m = _compact()
    norm = normalized_exprs(dialect)
    cols = ", ".join(f"{norm.get(c) or m._view_expr(c)} AS {c}" for c in m.VIEW)
    return (
        f"CREATE VIEW photometry AS SELECT {cols}{m._FROM}"
        " LEFT JOIN photometry_factors x"
        " ON x.source_key = r.source_key AND x.image_key = r.image_key"
    )


_OWN = "normalized_flux_jy IS NOT NULL OR normalized_flux_err_jy IS NOT NULL"


def _create_view(sql: str, dialect: str) -> None:
    m = _compact()
    op.execute(sql)
    if dialect == "sqlite":
        for stmt in m.sqlite_triggers():
            op.execute(stmt)
    else:
        for stmt in m.pg_functions()[3:]:  # the triggers; the functions were kept
            op.execute(stmt)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.add_column("photometry_products", sa.Column("norm_factor", sa.Float))
    op.add_column("photometry_products", sa.Column("norm_factor_err", sa.Float))
    op.create_table(
        "photometry_factors",
        sa.Column("source_key", sa.Integer, nullable=False),
        sa.Column("image_key", sa.Integer, nullable=False),
        sa.Column("factor", sa.Float),
        sa.Column("factor_err", sa.Float),
        sa.PrimaryKeyConstraint("source_key", "image_key", name="pk_photometry_factors"),
    )
    op.create_index("ix_photometry_factors_image_key", "photometry_factors", ["image_key"])
    op.create_index(
        "ix_photometry_rows_own_normalized",
        "photometry_rows",
        ["image_key"],
        postgresql_where=sa.text(_OWN),
        sqlite_where=sa.text(_OWN),
    )
    op.execute("DROP VIEW photometry")  # its triggers go with it (PostgreSQL: not the functions)
    _create_view(view_sql(dialect), dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    # the values the view computes go back into the rows
    norm = normalized_exprs(dialect)
    for c in ("normalized_flux_jy", "normalized_flux_err_jy"):
        expr = norm[c].replace("r.", "photometry_rows.")
        op.execute(
            f"UPDATE photometry_rows SET {c} = (SELECT {expr} FROM photometry_products p "
            "LEFT JOIN photometry_factors x ON x.source_key = photometry_rows.source_key "
            "AND x.image_key = photometry_rows.image_key "
            f"WHERE p.image_key = photometry_rows.image_key) WHERE {c} IS NULL"
        )
    op.execute("DROP VIEW photometry")
    op.drop_index("ix_photometry_rows_own_normalized", "photometry_rows")
    op.drop_index("ix_photometry_factors_image_key", "photometry_factors")
    op.drop_table("photometry_factors")
    for c in ("norm_factor_err", "norm_factor"):  # in place (SQLite >= 3.35): its triggers kept
        op.execute(f"ALTER TABLE photometry_products DROP COLUMN {c}")
    _create_view(_compact().VIEW_SQL, dialect)
