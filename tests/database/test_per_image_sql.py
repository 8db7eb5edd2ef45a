"""The per-image path's set-based SQL stores exactly what the row-by-row SQL stores.

On PostgreSQL the incremental update writes each table of an image in one statement (arrays of
columns) where SQLite keeps one statement per row; the product lookups are one query on both.
Proven three ways: the two SQL paths side by side on the same PostgreSQL data (each in a
rolled-back transaction); the whole image-by-image sequence on SQLite (row-by-row) and on
PostgreSQL (set-based) giving the same stored rows; and the combined lookups against the
single ones they replace, on both backends. The per-source accumulate is one statement on
both backends (the states read as each row is written); it is compared with the upsert and
the row-by-row re-read of the states it replaced, on each.
"""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import func, select, update

from dsa110_contimg.config import Settings
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database import metrics as mstore
from dsa110_contimg.database import normalization as nstore
from dsa110_contimg.database import references as rstore
from dsa110_contimg.database import sources as sstore
from dsa110_contimg.database.caltables import (
    excluded_from_science,
    set_image_calibration,
    supersede_product,
)
from dsa110_contimg.database.engine import dispose_engine
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.tables import (
    data_registry,
    ese_candidates,
    image_normalization,
    images,
    photometry,
    photometry_products,
    photometry_rows,
    reference_sources,
    source_metrics,
    sources,
)
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import normalize_all, on_photometry_written
from dsa110_contimg.variability.pipeline.metrics import compute_metrics
from dsa110_contimg.variability.pipeline.references import drop_variable_references

N_EPOCHS = 14
#: Bookkeeping times (Unix seconds of the write): the only columns allowed to differ.
CLOCK = {"updated_at", "created_at", "established_at", "measured_at"}


@pytest.fixture
def field():
    return simulate_lightcurves(
        n_epochs=N_EPOCHS,
        n_references=10,
        targets=[{"snr": 80}] * 15
        + [{"snr": 60, "dip_depth": 0.5, "dip_epochs": 5, "dip_start": 8}],
        field_radius_deg=0.5,
        seed=23,
    )


def _image_by_image(settings, field, last: int = N_EPOCHS) -> list[str]:
    """Four images at once, then one by one through the worker's hook (the per-image path)."""
    ids = list(write_simulated_photometry(field, images=slice(0, 4), settings=settings))
    normalize_all(settings=settings)
    for i in range(4, last):
        (did,) = write_simulated_photometry(
            field, images=[i], register_references=False, settings=settings
        )
        on_photometry_written(did, normalize=True, settings=settings)
        ids.append(did)
    return ids


def _snapshot(conn, table, order) -> list[dict]:
    rows = conn.execute(select(table).order_by(*order)).all()
    return [{k: v for k, v in r._mapping.items() if k not in CLOCK} for r in rows]


def _rows_equal(a: list[dict], b: list[dict]) -> None:
    """Exactly equal, NaN equal to NaN (bytes compared as bytes)."""
    assert len(a) == len(b)
    for ra, rb in zip(a, b, strict=True):
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) and isinstance(vb, float) and np.isnan(va):
                assert np.isnan(vb), (k, ra, rb)
            else:
                if isinstance(va, memoryview | bytearray):
                    va, vb = bytes(va), bytes(vb)
                assert va == vb, (k, va, vb)


SRC_ORDER = (sources.c.catalog, sources.c.source_id)
MET_ORDER = (source_metrics.c.catalog, source_metrics.c.source_id, source_metrics.c.series)


def _both(engine, path_a, path_b, snap):
    """Run two write paths on the same data (each rolled back); return their snapshots."""
    out = []
    for path in (path_a, path_b):
        with engine.connect() as conn:
            tr = conn.begin()
            path(conn)
            out.append(snap(conn))
            tr.rollback()
    return out


def _spoil(conn, keys) -> None:
    """A reference dropped, a candidate confirmed: the states a write must re-read."""
    conn.execute(
        update(reference_sources)
        .where(reference_sources.c.source_id == keys[0][1])
        .values(status="dropped")
    )
    conn.execute(update(ese_candidates).values(status="confirmed", score=1e3))


def _accumulate_equals_upsert_then_refresh(engine, rows, keys) -> None:
    """The per-source accumulate (one statement, states read as written) against the
    upsert followed by the row-by-row re-read of the states it replaces."""
    a, b = _both(
        engine,
        lambda c: (
            _spoil(c, keys),
            sstore._upsert(c, rows, accumulate=True),
            sstore._refresh_rows(c, keys),
        ),
        lambda c: (_spoil(c, keys), sstore._accumulate(c, rows)),
        lambda c: _snapshot(c, sources, SRC_ORDER),
    )
    _rows_equal(a, b)
    assert any(r["ese_status"] == "confirmed" for r in b)
    assert any(r["is_reference"] for r in b)


def test_sqlite_accumulate_equals_upsert_then_refresh(tmp_path, field):
    settings = Settings(state_dir=tmp_path / "state")
    _image_by_image(settings, field, last=N_EPOCHS - 1)
    engine = get_engine(settings)
    (new,) = write_simulated_photometry(
        field, images=[N_EPOCHS - 1], register_references=False, settings=settings
    )
    try:
        with engine.connect() as conn:
            rows = sstore._image_rows(conn, new)
            assert conn.execute(select(ese_candidates.c.id)).all()  # ESE state matters
        _accumulate_equals_upsert_then_refresh(
            engine, rows, [(r["catalog"], r["source_id"]) for r in rows]
        )
    finally:
        dispose_engine(settings)


@pytest.mark.postgres
def test_postgres_set_based_writes_equal_row_by_row(postgres_url, tmp_path, field):
    """Each new PostgreSQL statement against the SQLite-path statement it replaces."""
    settings = Settings(state_dir=tmp_path / "state", database_url=postgres_url)
    settings.normalize.metric_series = ["image", "epoch"]
    ids = _image_by_image(settings, field, last=N_EPOCHS - 1)
    engine = get_engine(settings)
    (new,) = write_simulated_photometry(
        field, images=[N_EPOCHS - 1], register_references=False, settings=settings
    )
    try:
        with engine.connect() as conn:
            rows = sstore._image_rows(conn, new)  # the same rows (and clock) for both paths
            keys = [(r["catalog"], r["source_id"]) for r in rows]
            n_cand = conn.execute(select(ese_candidates.c.id)).all()
        assert len(rows) == len(field.source_ids) and n_cand  # a candidate: ESE state matters
        _accumulate_equals_upsert_then_refresh(engine, rows, keys)
        # the states alone (rebuild_sources and an ESE decision use it)
        a, b = _both(
            engine,
            lambda c: (_spoil(c, keys), sstore._refresh_rows(c, keys)),
            lambda c: (_spoil(c, keys), sstore._refresh_arrays(c, keys)),
            lambda c: _snapshot(c, sources, SRC_ORDER),
        )
        _rows_equal(a, b)

        # the metric rows: every source, a few derived values non-finite (stored as NULL)
        with engine.connect() as conn:
            oc = compute_metrics(conn, sorted(set(keys)), settings)
        for series, (mkeys, vectors, open_image, derived) in oc.series.items():
            derived = {k: np.array(v, dtype=float) for k, v in derived.items()}
            derived["eta"][::3] = np.nan
            derived["m"][1::4] = np.inf
            cols = mstore._metrics_columns(mkeys, series, vectors, open_image, derived)
            args = (list(mkeys), series, vectors, list(open_image), derived)
            a, b = _both(
                engine,
                lambda c, cols=cols: mstore._upsert_metric_rows(c, cols),
                lambda c, args=args: mstore._upsert_metric_arrays(c, *args),
                lambda c: _snapshot(c, source_metrics, MET_ORDER),
            )
            _rows_equal(a, b)
            assert any(r["eta"] is None for r in b)

        # the stored states of an image's clean sources: by the keys vs the join
        with engine.connect() as conn:
            pts = mstore.image_points(conn, ids[-1], raw=False)
            for series in ("image", "epoch"):
                joined = sorted(
                    (r[0], r[1], bytes(r[2]), r[3])
                    for r in mstore._state_rows_joined(conn, ids[-1], series)
                )
                keyed = sorted(
                    (r[0], r[1], bytes(r[2]), r[3])
                    for r in mstore._state_rows_of_keys(conn, sorted(pts.keys), series)
                )
                assert joined == keyed and len(joined) == len(pts.keys)
    finally:
        dispose_engine(settings)


@pytest.mark.postgres
def test_per_image_path_stores_the_same_on_both_backends(postgres_url, tmp_path, field):
    """The image-by-image sequence: SQLite (row by row) and PostgreSQL (set-based) agree."""
    out = []
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        kw = {"database_url": url} if url else {}
        settings = Settings(state_dir=tmp_path / name, **kw)
        settings.normalize.metric_series = ["image", "epoch"]
        try:
            _image_by_image(settings, field)
            with get_engine(settings).connect() as conn:
                out.append(
                    {
                        "sources": _snapshot(conn, sources, SRC_ORDER),
                        "metrics": _snapshot(conn, source_metrics, MET_ORDER),
                        "candidates": _snapshot(
                            conn,
                            ese_candidates,
                            (
                                ese_candidates.c.catalog,
                                ese_candidates.c.source_id,
                                ese_candidates.c.series,
                            ),
                        ),  # fmt: skip
                        "references": _snapshot(
                            conn,
                            reference_sources,
                            (reference_sources.c.catalog, reference_sources.c.source_id),
                        ),
                        "normalization": _snapshot(
                            conn, image_normalization, (image_normalization.c.data_id,)
                        ),
                    }
                )
        finally:
            dispose_engine(settings)
    lite, pg = out
    for table in lite:
        for r in lite[table] + pg[table]:
            r.pop("id", None)  # candidate ids follow insertion order, not the values
        _rows_equal(lite[table], pg[table])
    assert len(pg["sources"]) == len(field.source_ids)
    assert pg["candidates"] and any(r["is_reference"] for r in pg["sources"])


def test_product_state_is_the_single_lookups(db_settings, field):
    """The one-query product lookup gives what the block's lookups and the tables give."""
    ids = list(write_simulated_photometry(field, settings=db_settings))
    engine = get_engine(db_settings)
    normalize_all(settings=db_settings)
    photometry_insert(
        [{"data_id": "unregistered", "ra_deg": 1.0, "dec_deg": 2.0, "flux_jy": 0.1}],
        settings=db_settings,
    )
    set_image_calibration(ids[1], "uncalibrated", settings=db_settings)
    supersede_product(ids[2], ids[3], settings=db_settings)
    with write_transaction(engine) as conn:
        conn.execute(
            update(data_registry)
            .where(data_registry.c.data_id == ids[4])
            .values(qa_status="failed")
        )
    cases = [*ids, "unregistered", "nothing-here"]
    with engine.connect() as conn:
        block = nstore.product_states(conn, cases)
        for did in cases:
            st = nstore.product_state(conn, did)
            assert st == block[did], did
            kind = conn.execute(select(images.c.kind).where(images.c.data_id == did)).scalar()
            assert st.kind == kind and st.registered == (kind is not None), did
            assert st.excluded == excluded_from_science(conn, did), did
        states = {did: nstore.product_state(conn, did) for did in cases}
    assert states[ids[1]].excluded == "uncalibrated"
    assert states[ids[2]].excluded == f"superseded by {ids[3]}"
    assert states[ids[4]].qa_failed and not states[ids[0]].qa_failed
    assert states["unregistered"].kind is None and states["unregistered"].has_photometry
    assert not states["nothing-here"].has_photometry
    assert states[ids[0]].mjd_mid is not None


def test_references_of_keys_are_those_of_all(db_settings, field):
    """The references of an image's keys, read by key, are the filtered survey-wide read."""
    write_simulated_photometry(field, settings=db_settings)
    normalize_all(settings=db_settings)
    with get_engine(db_settings).connect() as conn:
        every = rstore.reference_rows(conn, ["active", "candidate", "dropped"])
        assert every
        keys = sorted(every)[::2] + [("master", "no-such-source"), ("racs", keys_id(every))]
        for statuses in (["active"], ["candidate"], ["active", "dropped"]):
            want = {
                k: v for k, v in rstore.reference_rows(conn, statuses).items() if k in set(keys)
            }
            assert rstore.reference_rows_of(conn, keys, statuses) == want
        assert rstore.reference_rows_of(conn, [], ["active"]) == {}
        assert rstore.count_references(conn, "active") == len(
            rstore.reference_rows(conn, ["active"])
        )


def keys_id(refs: dict) -> str:
    """A source id that is a reference in another catalog (never matched by catalog alone)."""
    return sorted(refs)[0][1]


def test_one_read_of_an_image_is_the_two_reads_it_replaces(db_settings, field):
    """The incremental update's single read: its clean points and its measurements."""
    ids = _image_by_image(db_settings, field, last=6)
    with get_engine(db_settings).connect() as conn:
        # a flagged row on the last image: in the measurements, not among the points
        conn.execute(
            update(photometry_rows)
            .where(
                photometry_rows.c.image_key
                == select(photometry_products.c.image_key)
                .where(photometry_products.c.data_id == ids[-1])
                .scalar_subquery(),
                photometry_rows.c.source_key
                == select(func.min(photometry_rows.c.source_key)).scalar_subquery(),
            )
            .values(flags="edge")
        )
        for did in ids:
            got = mstore.image_update_rows(conn, did, raw=False)
            p = photometry.c
            every = conn.execute(
                select(
                    p.catalog, p.source_id, p.ra_deg, p.dec_deg, p.catalog_flux_mjy, p.flags, p.mjd
                ).where(p.data_id == did)
            ).all()
            assert sorted(got.measurements) == sorted(tuple(r) for r in every)
            clean = conn.execute(
                select(
                    p.catalog, p.source_id, p.mjd, p.normalized_flux_jy, p.normalized_flux_err_jy
                )
                .where(p.data_id == did, p.flags == "")
                .order_by(p.catalog, p.source_id)
            ).all()
            pts = got.points
            assert pts.keys == [(r[0], r[1]) for r in clean] and pts.kind == "image"
            np.testing.assert_array_equal(pts.mjd, [r[2] for r in clean])
            np.testing.assert_array_equal(pts.flux, np.array([r[3] for r in clean], dtype=float))
            np.testing.assert_array_equal(pts.err, np.array([r[4] for r in clean], dtype=float))
        assert len(got.measurements) == len(pts.keys) + 1
        conn.rollback()


def test_reference_test_of_an_image_is_the_survey_wide_one(db_settings, field):
    """Testing the references of an image by key drops and records what the full read does."""
    db_settings.normalize.metric_series = ["image", "epoch"]
    _image_by_image(db_settings, field)
    engine = get_engine(db_settings)
    with engine.connect() as conn:
        active = sorted(rstore.reference_rows(conn, ["active"]))
        assert active
        probe = [(a, s) for _, s in active for a in ("master", "nvss")]
        for series in ("image", "epoch"):
            want = sorted(
                r
                for r in mstore.reference_metrics(conn, series, [s for _, s in active])
                if (r[0], r[1]) in set(probe)
            )
            assert mstore.reference_metrics_of_keys(conn, series, probe) == want and want
    # a strict threshold so that some are dropped: both ways drop and record the same
    db_settings.normalize.reference_drop_chi2 = 0.0
    db_settings.normalize.reference_drop_p = 1.0

    snap = []
    for keys in (None, active):
        with engine.connect() as conn:
            tr = conn.begin()
            dropped = drop_variable_references(conn, db_settings, keys)
            order = (reference_sources.c.source_id,)
            snap.append((sorted(dropped), _snapshot(conn, reference_sources, order)))
            tr.rollback()
    assert snap[0][0] and snap[0][0] == snap[1][0]
    _rows_equal(snap[0][1], snap[1][1])


@pytest.mark.postgres
def test_binary_array_parameters_round_trip(postgres_url):
    """PgArray: every value back as sent (NULL, NaN, -0.0, extremes, text, bytes, empty)."""
    from sqlalchemy import create_engine

    from dsa110_contimg.database.rawsql import PgArray, execute_pg_arrays

    cols = {
        "f": ([1.5, None, float("nan"), -0.0, 5e-324, 1.7976931348623157e308, 0.1], "float8"),
        "i": ([1, None, -(2**31), 2**31 - 1, 0, 7, 8], "int4"),
        "j": ([2**40, None, -(2**63), 2**63 - 1, 0, 1, 2], "int8"),
        "t": (["a", None, "é ∆", "", "x" * 3000, "'\"{},", "NULL"], "text"),
        "b": ([b"\x00\x01", None, b"", b"\xff" * 900, b"abc", b"\\", b"q"], "bytea"),
    }
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = execute_pg_arrays(
                conn,
                "SELECT * FROM unnest(%(f)s, %(i)s, %(j)s, %(t)s, %(b)s) WITH ORDINALITY "
                "AS v(f, i, j, t, b, n) ORDER BY n",
                {k: PgArray(v, t) for k, (v, t) in cols.items()},
            )
            for k, (values, _) in enumerate(cols.values()):
                got = [r[k] for r in rows]
                for g, w in zip(got, values, strict=True):
                    if isinstance(w, float) and np.isnan(w):
                        assert np.isnan(g)
                    else:
                        assert g == w and type(g) is type(w) or (w is None and g is None)
                        if isinstance(w, float):
                            assert np.signbit(g) == np.signbit(w)
            empty = execute_pg_arrays(
                conn, "SELECT cardinality(%(e)s::float8[])", {"e": PgArray([], "float8")}
            )
            assert empty == [(0,)]
    finally:
        engine.dispose()


def test_box_and_centre_in_one_statement(db_settings, field):
    """The master-reference sync's one read: the measured box and the registered centre."""
    ids = list(write_simulated_photometry(field, images=slice(0, 2), settings=db_settings))
    photometry_insert(
        [{"data_id": "unregistered", "ra_deg": 1.0, "dec_deg": 2.0, "flux_jy": 0.1}],
        settings=db_settings,
    )
    with get_engine(db_settings).connect() as conn:
        for did in [*ids, "unregistered", "nothing-here"]:
            want = (nstore.measured_box(conn, did), nstore.image_centre(conn, did))
            assert nstore.measured_box_and_centre(conn, did) == want, did
        assert nstore.measured_box_and_centre(conn, ids[0])[1] is not None
        assert nstore.measured_box_and_centre(conn, "unregistered") == ((1.0, 1.0, 2.0, 2.0), None)
