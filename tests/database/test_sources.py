"""The per-source table: kept current by the metrics update, exact against a rebuild, and the
list/cone/eta-V reads that never touch photometry."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import event, select

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.source_lists import eta_v_points, list_sources
from dsa110_contimg.database.sources import rebuild_sources
from dsa110_contimg.database.tables import sources
from dsa110_contimg.photometry.ese import confirm_candidate, list_candidates
from dsa110_contimg.photometry.normalize import normalize_all, on_photometry_written
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry

N_EPOCHS = 16


@pytest.fixture
def field():
    return simulate_lightcurves(
        n_epochs=N_EPOCHS,
        n_references=10,
        targets=[{"snr": 80}] * 20
        + [{"snr": 60, "dip_depth": 0.4, "dip_epochs": 5, "dip_start": 10}],
        field_center=(359.8, 30.0),  # straddles RA 0/360
        field_radius_deg=0.5,
        seed=5,
    )


def _table(settings) -> dict:
    with get_engine(settings).connect() as conn:
        rows = conn.execute(select(sources).order_by(sources.c.source_id)).all()
    return {r.source_id: {k: v for k, v in r._mapping.items() if k != "updated_at"} for r in rows}


def _write_image_by_image(settings, field) -> None:
    """Four images at once, then the others one by one as the pipeline writes them."""
    write_simulated_photometry(field, images=slice(0, 4), settings=settings)
    normalize_all(settings=settings)
    for i in range(4, N_EPOCHS):
        (did,) = write_simulated_photometry(
            field, images=[i], register_references=False, settings=settings
        )
        on_photometry_written(did, normalize=True, settings=settings)


def test_incremental_update_equals_rebuild(db_settings, field):
    """Images arriving one by one keep the table exactly as a rebuild from photometry makes it."""
    _write_image_by_image(db_settings, field)
    inc = _table(db_settings)
    assert len(inc) == len(field.source_ids)
    with write_transaction(get_engine(db_settings)) as conn:
        assert rebuild_sources(conn, None) == len(field.source_ids)
    full = _table(db_settings)
    assert inc.keys() == full.keys()
    for sid, row in full.items():
        for k, v in row.items():
            if isinstance(v, float):
                assert inc[sid][k] == pytest.approx(v, rel=1e-12), (sid, k)
            else:
                assert inc[sid][k] == v, (sid, k)
    row = full[field.source_ids[0]]
    assert row["n_measurements"] == N_EPOCHS and row["n_clean"] == N_EPOCHS
    assert row["first_mjd"] == pytest.approx(field.mjd[0])
    assert row["last_mjd"] == pytest.approx(field.mjd[-1])
    refs = {s for s, r in full.items() if r["is_reference"]}
    assert refs and refs <= set(field.source_ids[field.is_reference])
    dipper = field.source_ids[field.dips[0]["source"]]
    assert full[dipper]["ese_status"] == "active" and full[dipper]["ese_score"] > 0


def test_lists_sort_filter_cone_without_photometry(db_settings, field):
    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    dipper = field.source_ids[field.dips[0]["source"]]
    engine = get_engine(db_settings)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with engine.connect() as conn:
        rows, total = list_sources(conn, sort="eta", order="desc", limit=5)
        assert total == len(field.source_ids) and len(rows) == 5
        etas = [r["eta"] for r in rows]
        assert etas == sorted(etas, reverse=True)
        assert rows[0]["source_id"] == dipper  # the dip is the most variable source
        page2, _ = list_sources(conn, sort="eta", order="desc", limit=5, offset=5)
        assert page2[0]["eta"] <= etas[-1]
        assert not {r["source_id"] for r in rows} & {r["source_id"] for r in page2}
        hi, n_hi = list_sources(conn, eta_min=etas[2], sort="source_id", order="asc")
        assert n_hi == 3 and {r["source_id"] for r in hi} == {r["source_id"] for r in rows[:3]}
        v_cut = sorted(r["v"] for r in list_sources(conn, limit=100)[0])[-4]
        assert list_sources(conn, v_min=v_cut)[1] == 4
        cands, n_c = list_sources(conn, ese_status="any")
        assert n_c == 1 and cands[0]["source_id"] == dipper
        refs, n_ref = list_sources(conn, reference=True, limit=100)
        assert n_ref == sum(r["is_reference"] for r in list_sources(conn, limit=100)[0])
        # a cone across RA 0/360, nearest first, exact cut before any limit
        ra0, dec0 = 0.1, 30.0
        got, n_cone = list_sources(conn, cone=(ra0, dec0, 0.3), sort="separation", order="asc")
        from dsa110_contimg.catalog.spatial import angular_separation_deg

        sep = angular_separation_deg(field.ra_deg, field.dec_deg, ra0, dec0)
        assert n_cone == int((sep <= 0.3).sum()) > 0
        assert [r["source_id"] for r in got] == list(field.source_ids[np.argsort(sep)][:n_cone])
        pts = eta_v_points(conn, series="epoch")
        assert len(pts["eta"]) == len(field.source_ids)
        assert pts["source_id"][int(np.argmax(pts["eta"]))] == dipper
    assert not [s for s in statements if "photometry" in s.lower()], statements


def test_ese_decision_updates_the_table(settings, field):
    write_simulated_photometry(field, settings=settings)
    normalize_all(settings=settings)
    cid = int(list_candidates(preset="sensitive", settings=settings)["id"][0])
    confirm_candidate(cid, note="checked", settings=settings)
    dipper = field.source_ids[field.dips[0]["source"]]
    assert _table(settings)[dipper]["ese_status"] == "confirmed"


def test_migration_0008_fills_the_table_of_an_existing_database(tmp_path):
    """A database at 0006 with photometry: upgrading creates and fills ``sources``."""
    from dsa110_contimg.database import dispose_engine
    from dsa110_contimg.database.migrate import upgrade

    from ..conftest import make_settings

    s = make_settings(tmp_path / "st", auto_migrate=False)
    engine = get_engine(s, migrate=False)
    upgrade(engine, "0006")
    sim = simulate_lightcurves(n_epochs=4, n_references=3, targets=[{"snr": 50}], seed=9)
    from sqlalchemy import text

    with engine.begin() as conn:
        for i, did in enumerate(sim.data_ids):
            for j, sid in enumerate(sim.source_ids):
                conn.execute(
                    text(
                        "INSERT INTO photometry (data_id, catalog, source_id, ra_deg, dec_deg, "
                        "flux_jy, flux_err_jy, flags, mjd, measured_at) "
                        "VALUES (:d, 'nvss', :s, :ra, :dec, 0.05, 0.001, :f, :mjd, 0)"
                    ),
                    {
                        "d": str(did),
                        "s": str(sid),
                        "ra": float(sim.ra_deg[j]),
                        "dec": float(sim.dec_deg[j]),
                        "f": "blended" if (i == 3 and j == 0) else "",
                        "mjd": float(sim.mjd[i]),
                    },
                )
    upgrade(engine, "head")
    table = _table(s)
    assert set(table) == set(sim.source_ids)
    first = table[str(sim.source_ids[0])]
    assert first["n_measurements"] == 4 and first["n_clean"] == 3
    assert first["last_flags"] == "blended" and first["last_mjd"] == pytest.approx(sim.mjd[3])
    dispose_engine(s)


def _metric_rows(settings, series="epoch") -> dict:
    from dsa110_contimg.database.tables import source_metrics

    m = source_metrics.c
    with get_engine(settings).connect() as conn:
        rows = conn.execute(select(source_metrics).where(m.series == series)).all()
    return {r.source_id: dict(r._mapping) for r in rows}


def test_stored_median_flux_is_the_median_of_the_light_curve(db_settings, field):
    """Images one by one: each source's median flux is numpy's median of its epoch curve."""
    from dsa110_contimg.variability.pipeline import get_lightcurve

    _write_image_by_image(db_settings, field)
    stored = _metric_rows(db_settings)
    assert len(stored) == len(field.source_ids)
    for sid, row in stored.items():
        lc = get_lightcurve("nvss", sid, series="epoch", settings=db_settings)
        f = np.asarray(lc["normalized_flux_jy"], dtype=float)
        f = f[np.isfinite(f)]
        assert row["median_flux_jy"] == pytest.approx(float(np.median(f)), rel=1e-9), sid
    dipper = field.source_ids[field.dips[0]["source"]]
    # the dip (5 of 16 epochs 40 % deep) pulls the mean down, not the median
    assert stored[dipper]["median_flux_jy"] > stored[dipper]["mean_flux_jy"]
    with get_engine(db_settings).connect() as conn:
        rows, total = list_sources(conn, sort="median_flux_jy", order="desc", limit=1000)
        assert total == len(field.source_ids)
        meds = [r["median_flux_jy"] for r in rows]
        assert meds == sorted(meds, reverse=True) and None not in meds
        bright, n = list_sources(conn, sort="source_id", median_flux_min=meds[4])
        assert n == 5 and {r["source_id"] for r in bright} == {r["source_id"] for r in rows[:5]}


def test_migration_0012_backfills_the_median(db_settings, field):
    """A database whose metric states predate the median band: upgrading fills the column."""
    from alembic import command
    from sqlalchemy import inspect, update

    from dsa110_contimg.database.migrate import alembic_config, current_revision, upgrade
    from dsa110_contimg.database.tables import source_metrics

    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    before = _metric_rows(db_settings)
    engine = get_engine(db_settings)
    cfg = alembic_config()
    with engine.begin() as conn:  # back to 0011: the column and the indexes dropped
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")
    assert current_revision(engine) == "0011"
    cols = {c["name"] for c in inspect(engine).get_columns("source_metrics")}
    assert "median_flux_jy" not in cols
    old_width = len(before[field.source_ids[0]]["state"]) - 8 * 34  # no band, no band counts
    with engine.begin() as conn:
        conn.execute(update(source_metrics).values(state=b"\0" * old_width))
    upgrade(engine, "head", settings=db_settings)
    after = _metric_rows(db_settings)
    assert after.keys() == before.keys()
    for sid, row in after.items():
        assert row["median_flux_jy"] == before[sid]["median_flux_jy"], sid
        assert row["state"] == before[sid]["state"], sid
        for k in ("eta", "v", "mean_flux_jy", "max_dip_sigma", "n_points"):
            assert row[k] == before[sid][k], (sid, k)


@pytest.mark.parametrize(
    "sort, order, filters",
    [
        ("eta", "desc", {}),
        ("median_flux_jy", "asc", {}),
        ("vs", "desc", {"reference": False}),  # joined path (not the metric index alone)
        ("last_mjd", "asc", {}),  # every source ties: the key decides
        ("ese_score", "desc", {}),  # one source has a score: the rest come after it
        ("ese_score", "asc", {"median_flux_min": 0.0}),
        ("source_id", "desc", {}),
        ("n_measurements", "asc", {"ese_status": None}),
    ],
)
def test_cursor_walk_returns_every_source_once_in_order(db_settings, field, sort, order, filters):
    """Walking by next_cursor (any page size) gives the offset list's rows, each once; and
    walking back by prev_cursor gives them in reverse."""
    from dsa110_contimg.database.source_lists import page_sources

    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    with get_engine(db_settings).connect() as conn:
        everything, total = list_sources(conn, sort=sort, order=order, limit=10**6, **filters)
        want = [(r["catalog"], r["source_id"]) for r in everything]
        assert len(set(want)) == len(want) == total > 0
        for size in (1, 4, total, total + 3):
            got, pages, cursor = [], [], None
            while True:
                page = page_sources(
                    conn, cursor=cursor, sort=sort, order=order, limit=size, **filters
                )
                assert page.total == total
                assert (page.prev_cursor is None) == (cursor is None)
                pages.append(page)
                got += [(r["catalog"], r["source_id"]) for r in page.rows]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
                assert len(pages) <= total + 1
            assert got == want, (size, got, want)
            # the offset pages agree page by page
            for i, page in enumerate(pages[:3]):
                rows, _ = list_sources(
                    conn, sort=sort, order=order, limit=size, offset=i * size, **filters
                )
                assert [r["source_id"] for r in rows] == [r["source_id"] for r in page.rows]
            back, cursor = [], pages[-1].prev_cursor
            while cursor is not None:
                page = page_sources(
                    conn, cursor=cursor, sort=sort, order=order, limit=size, **filters
                )
                back = [(r["catalog"], r["source_id"]) for r in page.rows] + back
                cursor = page.prev_cursor
            assert back + [(r["catalog"], r["source_id"]) for r in pages[-1].rows] == want


def test_bad_or_foreign_cursor_is_a_clear_error(settings, field):
    from dsa110_contimg.database.source_lists import BadCursor, page_sources

    write_simulated_photometry(field, settings=settings)
    normalize_all(settings=settings)
    with get_engine(settings).connect() as conn:
        first = page_sources(conn, sort="eta", order="desc", limit=2)
        with pytest.raises(BadCursor, match="sorted by eta desc"):
            page_sources(conn, cursor=first.next_cursor, sort="v", order="desc")
        with pytest.raises(BadCursor, match="cannot be read"):
            page_sources(conn, cursor="not-a-cursor", sort="eta", order="desc")
        # forged tokens (a string for a number, too few values, NaN) never reach the database
        import base64
        import json

        for values in (["x", 1.0, "nvss", "J1"], [1.0, "nvss", "J1"], [float("nan"), 1, "a", "b"]):
            raw = json.dumps({"k": "eta", "o": "desc", "p": 1, "v": values, "d": "after"})
            token = base64.urlsafe_b64encode(raw.encode()).decode()
            with pytest.raises(BadCursor, match="cannot be read"):
                page_sources(conn, cursor=token, sort="eta", order="desc")


def test_every_sort_key_pages_by_an_index_walk(db_settings, field):
    """Each sort of the source list (offset and cursor pages, both directions) is served by an
    index in its order: no sort of the whole table (SQLite: no temporary B-tree; PostgreSQL,
    with sequential scans and sorts disfavoured: no Sort node)."""
    from dsa110_contimg.database.source_lists import SOURCE_SORTS, page_sources

    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    engine = get_engine(db_settings)
    pg = engine.dialect.name == "postgresql"
    stmts: list = []
    event.listen(engine, "before_cursor_execute", lambda *a: stmts.append((a[2], a[3])))
    sorting = {}
    with engine.connect() as conn:
        if pg:
            conn.exec_driver_sql("SET enable_seqscan = off")
            conn.exec_driver_sql("SET enable_sort = off")
        for sort in SOURCE_SORTS:
            for order in ("asc", "desc"):
                stmts.clear()
                first = page_sources(conn, sort=sort, order=order, limit=3)
                page_sources(conn, cursor=first.next_cursor, sort=sort, order=order, limit=3)
                list_sources(conn, sort=sort, order=order, limit=3, offset=3)
                for sql, params in [x for x in stmts if "ORDER BY" in x[0]]:
                    explain = "EXPLAIN " if pg else "EXPLAIN QUERY PLAN "
                    plan = "\n".join(
                        str(r[0] if pg else r[-1])
                        for r in conn.exec_driver_sql(explain + sql, params)
                    )
                    if (
                        ("Sort" in plan and "Incremental Sort" not in plan)
                        if pg
                        else ("TEMP B-TREE" in plan)
                    ):
                        sorting[(sort, order)] = plan
    assert not sorting, "\n".join(f"{k}:\n{v}" for k, v in sorting.items())
