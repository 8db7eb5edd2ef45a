"""Migration 0016: the compact photometry layout behind the view ``photometry``.

An existing database holding rows in the old layout is upgraded in place and reads back row
for row (every column, exact), including what the compact layout stores once per image or
source (MJD, job, version, time, position, catalog flux) where rows of one image or source
disagree; the downgrade restores the old table, row for row.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sqlalchemy import inspect, text

from dsa110_contimg.database import get_engine, photometry_insert
from dsa110_contimg.database.migrate import current_revision, head_revision, upgrade
from dsa110_contimg.database.tables import photometry

COLS = [c.name for c in photometry.columns]


def _old_rows(n_images: int = 6, n_sources: int = 40) -> list[dict]:
    """Rows as the old table held them: per-image values shared but with exceptions."""
    rng = np.random.default_rng(9)
    rows, rid = [], 0
    for i in range(n_images):
        for k in range(n_sources):
            rid += 3  # ids with gaps, as upserts and deletes leave them
            catalog = "nvss" if k % 5 else "position"
            row = {
                "id": rid,
                "data_id": f"img-{i}",
                "catalog": catalog,
                "source_id": f"S{k}",
                "ra_deg": 150.0 + k * 0.01,
                "dec_deg": 30.0 - k * 0.01,
                "catalog_flux_mjy": None if catalog == "position" else 10.0 + k,
                "flux_jy": float(rng.normal(0.01, 0.001)),
                "flux_err_jy": float(rng.uniform(1e-4, 2e-4)),
                "local_rms_jy": float(rng.uniform(1e-4, 2e-4)),
                "snr": float(rng.uniform(5, 50)),
                "chi2": float(rng.uniform(0.5, 2)),
                "dof": int(rng.integers(3, 30)),
                "flags": "" if k % 7 else "blended",
                "mjd": 61000.0 + i / 288 + 1e-9 * i,
                "normalized_flux_jy": float(rng.normal(0.01, 0.001)) if i % 2 else None,
                "normalized_flux_err_jy": float(rng.uniform(1e-4, 2e-4)) if i % 2 else None,
                "job_id": 100 + i,
                "software_version": "0.9.0",
                "measured_at": 1.8e9 + i + 0.123,
            }
            rows.append(row)
    # the exceptions the compact layout must keep row for row
    rows[3]["mjd"] = rows[3]["mjd"] + 0.5  # one row of img-0 with its own MJD
    rows[4]["mjd"] = None  # ... and one without: img-0 then holds NULL
    rows[45]["job_id"] = None
    rows[46]["job_id"] = 7
    rows[47]["software_version"] = "0.8.1"
    rows[48]["measured_at"] = 1.7e9
    rows[41 + 40]["ra_deg"] = 150.0 + 1 * 0.01 + 1e-7  # S1 re-measured elsewhere once
    rows[2 + 80]["catalog_flux_mjy"] = None  # one NULL catalog flux of an nvss source
    rows[6 + 120]["catalog_flux_mjy"] = 99.0
    rows[200]["flux_jy"] = None
    rows[201]["dof"] = None
    rows[202]["chi2"] = 5e-324
    return rows


#: float4 in the compact row (by design, see tables/photometry.py): compared as float32
FLOAT4 = {"local_rms_jy", "snr", "chi2"}


def _canon(rows) -> list[tuple]:
    def c(k, v):
        if isinstance(v, float) and k in FLOAT4:
            v = float(np.float32(v))
        return ("f", v.hex()) if isinstance(v, float) else v

    return [tuple(c(k, r[k]) for k in COLS) for r in rows]


def _read(engine) -> list[dict]:
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM photometry ORDER BY id"))
        ]


def test_upgrade_keeps_old_rows_row_for_row(db_settings):
    engine = get_engine(db_settings, migrate=False)
    upgrade(engine, "0015")
    assert "photometry" in inspect(engine).get_table_names()
    old = _old_rows()
    with engine.begin() as conn:
        conn.execute(
            text(f"INSERT INTO photometry ({', '.join(COLS)}) VALUES "
                 f"({', '.join(':' + c for c in COLS)})"),
            old,
        )  # fmt: skip
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('photometry_id_seq', 1000)"))
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert "photometry" in inspect(engine).get_view_names()
    got = _read(engine)
    assert list(got[0]) == COLS  # the old columns, in the old order
    assert _canon(got) == _canon(old)
    # one value per image / source where rows agree: the rows hold their own only otherwise
    with engine.connect() as conn:
        n_products = conn.execute(text("SELECT count(*) FROM photometry_products")).scalar()
        n_sources = conn.execute(text("SELECT count(*) FROM photometry_sources")).scalar()
        own_mjd = conn.execute(
            text("SELECT count(*) FROM photometry_rows WHERE mjd IS NOT NULL")
        ).scalar()
    assert (n_products, n_sources) == (6, 40)
    assert own_mjd == 40 - 1  # img-0 holds NULL (one row had none): its other rows their own
    # new rows after the upgrade: new ids past the old ones, the old rows untouched
    photometry_insert(
        [{"data_id": "img-0", "catalog": "nvss", "source_id": "S99", "ra_deg": 1.0,
          "dec_deg": 2.0, "flux_jy": 0.5, "mjd": 61000.0}],
        settings=db_settings,
    )  # fmt: skip
    after = _read(engine)
    assert _canon(after[:-1]) == _canon(old)
    assert after[-1]["id"] > old[-1]["id"] and after[-1]["source_id"] == "S99"
    assert after[-1]["mjd"] == 61000.0
    # and back: the old table, row for row
    upgrade_to_old(engine)
    assert "photometry" in inspect(engine).get_table_names()
    back = _read(engine)
    assert _canon(back) == _canon(after)


def upgrade_to_old(engine) -> None:
    from alembic import command

    from dsa110_contimg.database.migrate import alembic_config

    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")


def test_writes_read_back_exactly_through_the_view(db_settings):
    """Rows of one image disagreeing on MJD/job/position/catalog flux, written by the fast path
    in several batches and through the view: each reads back its own values."""
    rows = [
        {"data_id": "a", "catalog": "nvss", "source_id": "X", "ra_deg": 1.0, "dec_deg": 2.0,
         "catalog_flux_mjy": 5.0, "flux_jy": 0.1, "mjd": 61000.1, "job_id": 3},
        {"data_id": "a", "catalog": "nvss", "source_id": "Y", "ra_deg": 3.0, "dec_deg": 4.0,
         "catalog_flux_mjy": None, "flux_jy": 0.2, "mjd": 61000.1, "job_id": 3},
        {"data_id": "b", "catalog": "nvss", "source_id": "X", "ra_deg": 1.5, "dec_deg": 2.0,
         "catalog_flux_mjy": 5.0, "flux_jy": 0.3, "mjd": 61000.2, "job_id": 4},
    ]  # fmt: skip
    photometry_insert(rows, settings=db_settings)
    # a later batch: a NULL MJD on image a (which held one), a new catalog flux for Y
    photometry_insert(
        [{"data_id": "a", "catalog": "nvss", "source_id": "Z", "ra_deg": 5.0, "dec_deg": 6.0,
          "catalog_flux_mjy": None, "flux_jy": 0.4, "mjd": None, "job_id": 3},
         {"data_id": "c", "catalog": "nvss", "source_id": "Y", "ra_deg": 3.0, "dec_deg": 4.0,
          "catalog_flux_mjy": 8.0, "flux_jy": 0.5, "mjd": 61000.3, "job_id": None}],
        settings=db_settings,
    )  # fmt: skip
    engine = get_engine(db_settings)
    with engine.begin() as conn:  # through the view: an update and an insert
        conn.execute(text("UPDATE photometry SET mjd = 61001.0, flags = 'edge' "
                          "WHERE data_id = 'b' AND source_id = 'X'"))  # fmt: skip
        conn.execute(text("INSERT INTO photometry (data_id, catalog, source_id, ra_deg, dec_deg, "
                          "flux_jy, mjd, measured_at) VALUES ('a', 'first', 'W', 7.0, 8.0, 0.6, "
                          "61000.1, 1.0)"))  # fmt: skip
    got = {(r["data_id"], r["source_id"]): r for r in _read(engine)}
    assert got[("a", "X")]["mjd"] == 61000.1 and got[("a", "Y")]["mjd"] == 61000.1
    assert got[("a", "Z")]["mjd"] is None and got[("a", "W")]["mjd"] == 61000.1
    assert got[("a", "Y")]["catalog_flux_mjy"] is None
    assert got[("c", "Y")]["catalog_flux_mjy"] == 8.0
    assert got[("a", "X")]["catalog_flux_mjy"] == 5.0 and got[("b", "X")]["ra_deg"] == 1.5
    assert got[("a", "X")]["ra_deg"] == 1.0
    assert got[("b", "X")]["mjd"] == 61001.0 and got[("b", "X")]["flags"] == "edge"
    assert got[("a", "W")]["flags"] == "" and got[("a", "W")]["catalog"] == "first"
    assert {k: got[k]["job_id"] for k in got} == {
        ("a", "X"): 3, ("a", "Y"): 3, ("b", "X"): 4, ("a", "Z"): 3, ("c", "Y"): None,
        ("a", "W"): None,
    }  # fmt: skip
    assert all(math.isfinite(r["measured_at"]) for r in got.values())
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM photometry WHERE data_id = 'c'"))
        with pytest.raises(Exception, match="cannot change"):
            with conn.begin_nested():
                conn.execute(text("UPDATE photometry SET data_id = 'z' WHERE data_id = 'a'"))
    assert ("c", "Y") not in {(r["data_id"], r["source_id"]) for r in _read(engine)}


def test_diagnostics_are_float4_on_both_backends(db_settings):
    """local_rms_jy, snr, chi2 are stored as float32 values (PostgreSQL REAL; the writer rounds
    on SQLite too, so both backends hold the same values); fluxes stay float64 exactly."""
    third = 1.0 / 3.0
    photometry_insert(
        {"data_id": "d", "catalog": "nvss", "source_id": ["A", "B"], "ra_deg": [1.0, 2.0],
         "dec_deg": [3.0, 4.0], "flux_jy": [third, 0.1], "flux_err_jy": [third, 0.2],
         "local_rms_jy": [third, 1e40], "snr": [third, 5e-50], "chi2": third},
        settings=db_settings,
    )  # fmt: skip
    got = {r["source_id"]: r for r in _read(get_engine(db_settings))}
    f32 = float(np.float32(third))
    assert f32 != third
    assert got["A"]["flux_jy"] == third and got["A"]["flux_err_jy"] == third
    assert got["A"]["local_rms_jy"] == f32 and got["A"]["snr"] == f32
    assert got["A"]["chi2"] == f32 and got["B"]["chi2"] == f32
    assert got["B"]["local_rms_jy"] is None  # beyond float4: NULL, as a non-finite value
    assert got["B"]["snr"] == 0.0  # below float4's range


def test_cluster_puts_a_sources_rows_together(db_settings, tmp_path):
    from dsa110_contimg.cli import main

    n = 650
    rng = np.random.default_rng(5)
    for k in range(4):  # arrival order: image after image
        photometry_insert(
            {"data_id": f"i{k}", "catalog": "nvss", "source_id": [f"S{j:04d}" for j in range(n)],
             "ra_deg": np.arange(n) * 0.01, "dec_deg": np.full(n, 40.0),
             "flux_jy": rng.normal(1, 0.1, n), "flux_err_jy": np.full(n, 0.01), "mjd": 61000.0 + k},
            settings=db_settings,
        )  # fmt: skip
    engine = get_engine(db_settings)
    before = _read(engine)
    pages = (
        "SELECT max(c) FROM (SELECT count(DISTINCT (ctid::text::point)[0]) AS c "
        "FROM photometry_rows GROUP BY source_key) t"
    )
    pg = engine.dialect.name == "postgresql"
    if pg:
        with engine.connect() as conn:
            assert conn.execute(text(pages)).scalar() == 4  # one page per image
    url = ["--database-url", db_settings.database_url] if pg else []
    assert main(["--state-dir", str(db_settings.state_dir), *url, "db", "cluster"]) == 0
    if pg:
        with engine.connect() as conn:  # together (a page boundary may split a source)
            assert conn.execute(text(pages)).scalar() <= 2
    assert _canon(_read(engine)) == _canon(before)


def test_concurrent_writers_share_new_sources(db_settings):
    """Two writers storing images whose new sources overlap (in opposite orders): every row
    stored, each source once (PostgreSQL: really concurrent; SQLite: serialized).

    It does not show the deadlock the name-ordered insert of new sources guards against (it
    passed without that order too): it shows that shared new sources are stored once.
    """
    from concurrent.futures import ThreadPoolExecutor

    names = [f"N{j:04d}" for j in range(400)]

    def write(k: int) -> int:
        order = names if k % 2 else names[::-1]
        return photometry_insert(
            {"data_id": f"c{k}", "catalog": "nvss", "source_id": order,
             "ra_deg": [1.0] * len(order), "dec_deg": [2.0] * len(order), "flux_jy": 1.0,
             "mjd": 61000.0 + k},
            settings=db_settings,
        )  # fmt: skip

    with ThreadPoolExecutor(2) as pool:
        assert sum(pool.map(write, range(8))) == 8 * 400
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM photometry")).scalar() == 8 * 400
        assert conn.execute(text("SELECT count(*) FROM photometry_sources")).scalar() == 400
