"""Compact photometry: integer image and source keys, per-image and per-source columns out of
the row, and a view ``photometry`` with the old columns (see ``database/tables/photometry.py``).

The old table is renamed ``photometry_legacy``, its rows copied (ids kept) into
``photometry_products`` (one row per ``data_id``: MJD, job, software version, time measured),
``photometry_sources`` (one row per ``(catalog, source_id)``: position, catalog flux) and
``photometry_rows`` (the measurement), the view and its INSTEAD OF triggers created, and the
old table dropped. Nothing is merged away: a row whose MJD (job, version, time, position,
catalog flux) differs from its image's (source's) keeps its own value in the row, NULL there
otherwise; an image (source) with a NULL value among its rows holds NULL, and its rows their
own values. The view reads ``coalesce(row value, image/source value)``: row for row what the
old table held.

PostgreSQL: ``photometry_rows.id`` is a serial column without an index (rows are addressed by
``(source_key, image_key)``) and the rows are written in (source, image) order, so a light
curve reads a few pages. SQLite: ``id`` is the rowid.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

ROW = ("flux_jy", "flux_err_jy", "local_rms_jy", "snr", "chi2", "dof", "flags",
       "normalized_flux_jy", "normalized_flux_err_jy")  # fmt: skip
PRODUCT = ("mjd", "job_id", "software_version", "measured_at")
SOURCE = ("ra_deg", "dec_deg", "catalog_flux_mjy")
SHARED = PRODUCT + SOURCE  # stored once per image/source, in the row only where it differs
#: float4 in the row (diagnostics shown to people, never an input of the normalization or the
#: metrics: 7 significant digits are far below their own uncertainty); the view gives float8.
FLOAT4 = ("local_rms_jy", "snr", "chi2")
NULLABLE = ("mjd", "job_id", "software_version", "catalog_flux_mjy")
#: The view's columns, in the order of the old table.
VIEW = ("id", "data_id", "catalog", "source_id", "ra_deg", "dec_deg", "catalog_flux_mjy",
        "flux_jy", "flux_err_jy", "local_rms_jy", "snr", "chi2", "dof", "flags", "mjd",
        "normalized_flux_jy", "normalized_flux_err_jy", "job_id", "software_version",
        "measured_at")  # fmt: skip
_OWNER = {**{c: "r" for c in ("id", *ROW)}, "data_id": "p", "catalog": "s", "source_id": "s",
          **{c: "p" for c in PRODUCT}, **{c: "s" for c in SOURCE}}  # fmt: skip


def _view_expr(c: str) -> str:
    if c in SHARED:
        return f"coalesce(r.{c}, {_OWNER[c]}.{c})"
    return f"CAST(r.{c} AS FLOAT)" if c in FLOAT4 else f"{_OWNER[c]}.{c}"


_FROM = (
    " FROM photometry_rows r JOIN photometry_products p ON p.image_key = r.image_key"
    " JOIN photometry_sources s ON s.source_key = r.source_key"
)
VIEW_SQL = (
    "CREATE VIEW photometry AS SELECT " + ", ".join(f"{_view_expr(c)} AS {c}" for c in VIEW) + _FROM
)
_IMAGE = "(SELECT image_key FROM photometry_products WHERE data_id = NEW.data_id)"
_SOURCE = (
    "(SELECT source_key FROM photometry_sources "
    "WHERE catalog = NEW.catalog AND source_id = NEW.source_id)"
)


def _owner_value(c: str) -> str:
    return (
        f"(SELECT {c} FROM photometry_products WHERE data_id = NEW.data_id)"
        if c in PRODUCT
        else f"(SELECT {c} FROM photometry_sources "
        "WHERE catalog = NEW.catalog AND source_id = NEW.source_id)"
    )


def _release(c: str, dialect: str) -> list[str]:
    """Statements run before a row with a NULL ``c`` is stored: its image/source's value moves
    into the rows that read it, and the image/source holds NULL from then on."""
    table, key, where = (
        ("photometry_products", "image_key", "data_id = NEW.data_id")
        if c in PRODUCT
        else (
            "photometry_sources",
            "source_key",
            "catalog = NEW.catalog AND source_id = NEW.source_id",
        )
    )
    return [
        f"UPDATE photometry_rows SET {c} = (SELECT t.{c} FROM {table} t "
        f"WHERE t.{key} = photometry_rows.{key}) WHERE NEW.{c} IS NULL AND {c} IS NULL "
        f"AND {key} = (SELECT {key} FROM {table} WHERE {where} AND {c} IS NOT NULL)",
        f"UPDATE {table} SET {c} = NULL WHERE NEW.{c} IS NULL AND {where}",
    ]


def _own(c: str, dialect: str) -> str:
    """The row's own value of a shared column: NULL where it is its image's/source's."""
    same = "IS" if dialect == "sqlite" else "IS NOT DISTINCT FROM"
    return f"CASE WHEN NEW.{c} {same} {_owner_value(c)} THEN NULL ELSE NEW.{c} END"


def _store_row(dialect: str, insert: bool) -> list[str]:
    out = [
        "INSERT INTO photometry_products (data_id, mjd, job_id, software_version, measured_at) "
        "VALUES (NEW.data_id, NEW.mjd, NEW.job_id, NEW.software_version, NEW.measured_at) "
        "ON CONFLICT (data_id) DO NOTHING",
        "INSERT INTO photometry_sources (catalog, source_id, ra_deg, dec_deg, catalog_flux_mjy) "
        "VALUES (NEW.catalog, NEW.source_id, NEW.ra_deg, NEW.dec_deg, NEW.catalog_flux_mjy) "
        "ON CONFLICT (catalog, source_id) DO NOTHING",
    ]
    for c in NULLABLE:
        out += _release(c, dialect)
    values = ["coalesce(NEW.flags, '')" if c == "flags" else f"NEW.{c}" for c in ROW] + [
        _own(c, dialect) for c in SHARED
    ]
    cols = (*ROW, *SHARED)
    if insert:
        rid = "NEW.id" if dialect == "sqlite" else "rid"
        out.append(
            f"INSERT INTO photometry_rows (id, image_key, source_key, {', '.join(cols)}) "
            f"VALUES ({rid}, {_IMAGE}, {_SOURCE}, {', '.join(values)})"
        )
    else:
        sets = ", ".join(f"{c} = {v}" for c, v in zip(cols, values, strict=True))
        out.append(f"UPDATE photometry_rows SET {sets} WHERE {_row_of_old(dialect)}")
    return out


def _row_of_old(dialect: str) -> str:
    """The stored row a view row stands for: by rowid on SQLite; by its keys on PostgreSQL,
    where ``id`` has no index (through the unique (source_key, image_key) index)."""
    if dialect == "sqlite":
        return "id = OLD.id"
    return (
        "source_key = (SELECT source_key FROM photometry_sources "
        "WHERE catalog = OLD.catalog AND source_id = OLD.source_id) "
        "AND image_key = (SELECT image_key FROM photometry_products WHERE data_id = OLD.data_id)"
    )


_KEYS_CHANGED = (
    "NEW.id {op} OLD.id OR NEW.data_id {op} OLD.data_id OR NEW.catalog {op} OLD.catalog "
    "OR NEW.source_id {op} OLD.source_id"
)
_KEYS_MSG = "photometry: the id, data_id, catalog and source_id of a stored row cannot change"


def sqlite_triggers() -> tuple[str, ...]:
    """The SQLite INSTEAD OF triggers that make the view writable."""
    body = ";\n  ".join
    return (
        "CREATE TRIGGER photometry_view_insert INSTEAD OF INSERT ON photometry BEGIN\n  "
        + body(_store_row("sqlite", True)) + ";\nEND",
        "CREATE TRIGGER photometry_view_update INSTEAD OF UPDATE ON photometry BEGIN\n  "
        f"SELECT RAISE(ABORT, '{_KEYS_MSG}') WHERE {_KEYS_CHANGED.format(op='IS NOT')};\n  "
        + body(_store_row("sqlite", False)) + ";\nEND",
        "CREATE TRIGGER photometry_view_delete INSTEAD OF DELETE ON photometry BEGIN\n"
        "  DELETE FROM photometry_rows WHERE id = OLD.id;\nEND",
    )  # fmt: skip


def pg_functions() -> tuple[str, ...]:
    """The PostgreSQL trigger functions and INSTEAD OF triggers that make the view writable."""
    body = ";\n  ".join
    funcs = (
        "CREATE FUNCTION photometry_view_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        "DECLARE rid integer;\nBEGIN\n"
        "  rid := coalesce(NEW.id, nextval(pg_get_serial_sequence('photometry_rows', 'id')));\n  "
        + body(_store_row("postgresql", True))
        + ";\n  NEW.id := rid; NEW.flags := coalesce(NEW.flags, '');\n  RETURN NEW;\nEND $fn$",
        "CREATE FUNCTION photometry_view_update() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        f"BEGIN\n  IF {_KEYS_CHANGED.format(op='IS DISTINCT FROM')} THEN\n"
        f"    RAISE EXCEPTION '{_KEYS_MSG}';\n  END IF;\n  "
        + body(_store_row("postgresql", False)) + ";\n  RETURN NEW;\nEND $fn$",
        "CREATE FUNCTION photometry_view_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$\n"
        f"BEGIN\n  DELETE FROM photometry_rows WHERE {_row_of_old('postgresql')};\n"
        "  RETURN OLD;\nEND $fn$",
    )  # fmt: skip
    triggers = tuple(
        f"CREATE TRIGGER photometry_view_{w} INSTEAD OF {w.upper()} ON photometry "
        f"FOR EACH ROW EXECUTE FUNCTION photometry_view_{w}()"
        for w in ("insert", "update", "delete")
    )
    return funcs + triggers


#: The row's columns after ``id``: 4-byte ones first, then 8-byte, then 4-byte floats, then
#: the flags, so that PostgreSQL pads nothing (84 B per row with its header and line pointer,
#: 100 B once normalized); the per-image/per-source values last (NULL: no bytes).
_ROWS_COLUMNS = (
    "image_key integer NOT NULL, source_key integer NOT NULL, dof INTEGER, flux_jy FLOAT, "
    "flux_err_jy FLOAT, normalized_flux_jy FLOAT, normalized_flux_err_jy FLOAT, "
    "local_rms_jy REAL, snr REAL, chi2 REAL, flags VARCHAR(200) DEFAULT '' NOT NULL, "
    "mjd FLOAT, job_id INTEGER, software_version VARCHAR(64), "
    "measured_at FLOAT, ra_deg FLOAT, dec_deg FLOAT, catalog_flux_mjy FLOAT, "
    "CONSTRAINT uq_photometry_rows_source_key_image_key UNIQUE (source_key, image_key)"
)


def create_compact(dialect: str) -> None:
    """Create the three base tables (empty, without the index on ``image_key``)."""
    op.create_table(
        "photometry_products",
        sa.Column("image_key", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("mjd", sa.Float),
        sa.Column("job_id", sa.Integer),
        sa.Column("software_version", sa.String(64)),
        sa.Column("measured_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("image_key", name="pk_photometry_products"),
        sa.UniqueConstraint("data_id", name="uq_photometry_products_data_id"),
    )
    op.create_table(
        "photometry_sources",
        sa.Column("source_key", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("catalog_flux_mjy", sa.Float),
        sa.PrimaryKeyConstraint("source_key", name="pk_photometry_sources"),
        sa.UniqueConstraint("catalog", "source_id", name="uq_photometry_sources_catalog_source_id"),
    )
    if dialect == "postgresql":
        op.execute(f"CREATE TABLE photometry_rows (id serial NOT NULL, {_ROWS_COLUMNS})")
    else:
        op.execute(
            "CREATE TABLE photometry_rows (id INTEGER NOT NULL, "
            f"{_ROWS_COLUMNS}, CONSTRAINT pk_photometry_rows PRIMARY KEY (id))"
        )


def create_view(dialect: str) -> None:
    """Create the view ``photometry`` and its INSTEAD OF triggers."""
    op.execute(VIEW_SQL)
    for stmt in sqlite_triggers() if dialect == "sqlite" else pg_functions():
        op.execute(stmt)


def _owner_select(cols, group: str) -> str:
    """Per image/source: NULL when a row holds NULL, else the value of its last row."""
    return (
        ", ".join(f"CASE WHEN count(l.{c}) < count(*) THEN NULL ELSE max(l.{c}) END" for c in cols)
        + f" FROM photometry_legacy l GROUP BY {group} ORDER BY min(l.id)"
    )


def _sqlite_float4(conn) -> None:
    """Register ``contimg_float4(x)`` (x rounded to float32) on the SQLite connection."""
    import numpy as np

    def f4(x):
        if x is None:
            return None
        y = float(np.float32(x))
        return y if np.isfinite(y) else None

    conn.connection.dbapi_connection.create_function("contimg_float4", 1, f4, deterministic=True)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("ALTER TABLE photometry RENAME TO photometry_legacy")
    create_compact(dialect)
    op.execute(
        f"INSERT INTO photometry_products (data_id, {', '.join(PRODUCT)}) "
        f"SELECT l.data_id, {_owner_select(PRODUCT, 'l.data_id')}"
    )
    op.execute(
        f"INSERT INTO photometry_sources (catalog, source_id, {', '.join(SOURCE)}) "
        f"SELECT l.catalog, l.source_id, {_owner_select(SOURCE, 'l.catalog, l.source_id')}"
    )
    own = ", ".join(f"CASE WHEN l.{c} = {_OWNER[c]}.{c} THEN NULL ELSE l.{c} END" for c in SHARED)
    if dialect == "sqlite":  # SQLite has no float4: round as PostgreSQL's column does
        _sqlite_float4(op.get_bind())
        legacy = ", ".join(f"contimg_float4(l.{c})" if c in FLOAT4 else f"l.{c}" for c in ROW)
    else:  # as float32 conversion does: below float4's range 0, beyond it NULL (no error)
        legacy = ", ".join(
            f"CASE WHEN abs(l.{c}) < 1e-45 THEN 0 WHEN abs(l.{c}) > 3.4e38 THEN NULL ELSE l.{c} END"
            if c in FLOAT4
            else f"l.{c}"
            for c in ROW
        )
    op.execute(
        f"INSERT INTO photometry_rows (id, image_key, source_key, {', '.join((*ROW, *SHARED))}) "
        f"SELECT l.id, p.image_key, s.source_key, {legacy}, {own} "
        "FROM photometry_legacy l JOIN photometry_products p ON p.data_id = l.data_id "
        "JOIN photometry_sources s ON s.catalog = l.catalog AND s.source_id = l.source_id "
        "ORDER BY s.source_key, p.image_key"
    )
    op.execute("DROP TABLE photometry_legacy")
    op.create_index("ix_photometry_rows_image_key", "photometry_rows", ["image_key"])
    if dialect == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('photometry_rows', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM photometry_rows"
        )
        for t in ("photometry_rows", "photometry_products", "photometry_sources"):
            op.execute(f"ANALYZE {t}")
    create_view(dialect)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for w in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER photometry_view_{w} ON photometry")
            op.execute(f"DROP FUNCTION photometry_view_{w}()")
    op.execute("DROP VIEW photometry")
    op.create_table(
        "photometry",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("data_id", sa.String(200), nullable=False),
        sa.Column("catalog", sa.String(32), nullable=False),
        sa.Column("source_id", sa.String(100), nullable=False),
        sa.Column("ra_deg", sa.Float, nullable=False),
        sa.Column("dec_deg", sa.Float, nullable=False),
        sa.Column("catalog_flux_mjy", sa.Float),
        sa.Column("flux_jy", sa.Float),
        sa.Column("flux_err_jy", sa.Float),
        sa.Column("local_rms_jy", sa.Float),
        sa.Column("snr", sa.Float),
        sa.Column("chi2", sa.Float),
        sa.Column("dof", sa.Integer),
        sa.Column("flags", sa.String(200), nullable=False, server_default=""),
        sa.Column("mjd", sa.Float),
        sa.Column("normalized_flux_jy", sa.Float),
        sa.Column("normalized_flux_err_jy", sa.Float),
        sa.Column("job_id", sa.Integer),
        sa.Column("software_version", sa.String(64)),
        sa.Column("measured_at", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_photometry"),
        sa.UniqueConstraint(
            "data_id", "catalog", "source_id", name="uq_photometry_data_id_catalog_source_id"
        ),
    )
    op.execute(
        f"INSERT INTO photometry ({', '.join(VIEW)}) SELECT "
        + ", ".join(_view_expr(c) for c in VIEW)
        + _FROM
        + " ORDER BY r.id"
    )
    op.create_index("ix_photometry_source_id_mjd", "photometry", ["source_id", "mjd"])
    if dialect == "postgresql":
        op.execute(
            "SELECT setval(pg_get_serial_sequence('photometry', 'id'), "
            "coalesce(max(id), 0) + 1, false) FROM photometry"
        )
    for name in ("photometry_rows", "photometry_sources", "photometry_products"):
        op.drop_table(name)
