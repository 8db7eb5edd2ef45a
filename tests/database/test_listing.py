"""The explorer's copies of the per-source tables (``database.listing``, migration 0023).

The ingest rewrites ``sources`` and ``source_metrics``, which carry their primary keys only;
the lists read ``source_list`` and ``metric_list``, with an index per sort key. The copies
must hold what the tables hold after every writer: the ingest pass (refreshed right after it,
or by its caller), a recomputation, an ESE decision; a rolled-back write queues nothing.
"""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import inspect, select, text

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.listing import pending, refresh_listing
from dsa110_contimg.database.migrate import alembic_config, current_revision, upgrade
from dsa110_contimg.database.tables import LISTED_METRICS, metric_list, source_list
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability.pipeline import (
    confirm_candidate,
    list_candidates,
    normalize_all,
    on_photometry_written,
    on_photometry_written_many,
    recompute_metrics,
)

_METRICS = ", ".join(("catalog", "source_id", "series", *LISTED_METRICS))
_SOURCES = ", ".join(c.name for c in source_list.columns)


@pytest.fixture
def survey():
    return simulate_lightcurves(
        n_epochs=16,
        n_references=6,
        targets=[{"snr": 80}] * 5 + [{"snr": 60, "dip_depth": 0.4, "dip_epochs": 4,
                                     "dip_start": 11}],
        seed=21,
    )  # fmt: skip


def _rows(conn, sql: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(text(sql)).all()]


def _copies(settings) -> tuple[list, list, list, list]:
    """(sources, source_list, source_metrics' listed columns, metric_list), all in key order."""
    with get_engine(settings).connect() as conn:
        return (
            _rows(conn, f"SELECT {_SOURCES} FROM sources ORDER BY catalog, source_id"),
            _rows(conn, f"SELECT {_SOURCES} FROM source_list ORDER BY catalog, source_id"),
            _rows(conn, f"SELECT {_METRICS} FROM source_metrics "
                        "ORDER BY catalog, source_id, series"),
            _rows(conn, f"SELECT {_METRICS} FROM metric_list ORDER BY catalog, source_id, series"),
        )  # fmt: skip


def _assert_current(settings) -> None:
    s, sl, m, ml = _copies(settings)
    assert s and m  # something was written (the comparison below would hold on empty tables)
    assert sl == s
    assert ml == m
    with get_engine(settings).connect() as conn:
        assert pending(conn) == 0


def _ingest(settings, sim, images, **kwargs) -> None:
    write_simulated_photometry(sim, images=images, settings=settings)
    on_photometry_written_many([sim.data_ids[i] for i in images], normalize=True,
                               settings=settings, **kwargs)  # fmt: skip


def test_the_copies_follow_every_writer(db_settings, survey):
    for i in range(12):  # one by one: the references get their baselines (10 epochs)
        write_simulated_photometry(survey, images=[i], settings=db_settings)
        on_photometry_written(survey.data_ids[i], normalize=True, settings=db_settings)
    _assert_current(db_settings)
    _ingest(db_settings, survey, [12, 13, 14, 15])  # a pass over several images
    _assert_current(db_settings)
    assert list_candidates(status="active", settings=db_settings)["source_id"].tolist() == [
        str(survey.source_ids[-1])
    ]
    cid = int(list_candidates(settings=db_settings)["id"][0])
    confirm_candidate(cid, note="checked", settings=db_settings)  # an ESE decision
    _assert_current(db_settings)
    with get_engine(db_settings).connect() as conn:
        status = conn.execute(
            select(source_list.c.ese_status).where(
                source_list.c.source_id == str(survey.source_ids[-1])
            )
        ).scalar_one()
    assert status == "confirmed"
    recompute_metrics(settings=db_settings)  # a recomputation
    _assert_current(db_settings)
    normalize_all(settings=db_settings)  # a whole re-normalization
    _assert_current(db_settings)


def test_a_deferred_refresh_waits_for_the_caller(db_settings, survey):
    _ingest(db_settings, survey, list(range(14)))
    before = _copies(db_settings)
    _ingest(db_settings, survey, [14, 15], refresh_listing=False)  # what the worker does
    s, sl, m, ml = _copies(db_settings)
    assert (sl, ml) == before[1::2] and (s, m) != before[::2]  # the tables moved, not the copies
    with get_engine(db_settings).connect() as conn:
        assert pending(conn) > 0
    with write_transaction(get_engine(db_settings)) as conn:
        assert refresh_listing(conn) == len(survey.source_ids)
    _assert_current(db_settings)


def test_a_rolled_back_write_queues_nothing(settings, survey):
    from dsa110_contimg.database.listing import enqueue

    _ingest(settings, survey, list(range(16)))
    with pytest.raises(RuntimeError), write_transaction(get_engine(settings)) as conn:
        enqueue(conn, [("nvss", "J000000+000000")])
        raise RuntimeError("the writer fails")
    with get_engine(settings).connect() as conn:
        assert pending(conn) == 0


def test_the_tables_keep_their_keys_only_and_the_copies_the_indexes(db_settings):
    engine = get_engine(db_settings)
    insp = inspect(engine)
    assert insp.get_indexes("sources") == [] and insp.get_indexes("source_metrics") == []
    listed = {i["name"] for i in insp.get_indexes("metric_list")}
    assert listed == {i.name for i in metric_list.indexes} and len(listed) == 9
    assert len(insp.get_indexes("source_list")) == 9


def test_migration_0023_copies_an_existing_database(db_settings, survey):
    _ingest(db_settings, survey, list(range(16)))
    engine = get_engine(db_settings)
    cfg = alembic_config()
    with engine.begin() as conn:  # back to 0022: the copies dropped, the indexes back
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0022")
    assert current_revision(engine) == "0022"
    assert "metric_list" not in inspect(engine).get_table_names()
    assert len(inspect(engine).get_indexes("source_metrics")) == 9
    upgrade(engine, "head", settings=db_settings)
    _assert_current(db_settings)


def test_a_removed_metric_row_leaves_the_copies(db_settings, survey):
    from dsa110_contimg.database.metrics import delete_metrics

    _ingest(db_settings, survey, list(range(16)))
    gone = ("nvss", str(survey.source_ids[0]))
    with write_transaction(get_engine(db_settings)) as conn:
        delete_metrics(conn, "epoch", [gone])
    _assert_current(db_settings)
    with get_engine(db_settings).connect() as conn:
        left = conn.execute(
            select(metric_list.c.source_id).where(metric_list.c.source_id == gone[1])
        ).all()
    assert left == []


def test_a_moved_source_moves_in_the_copy(db_settings, survey):
    """Position and catalog flux are copied when they change (they seldom do)."""
    from dsa110_contimg.database.listing import enqueue

    _ingest(db_settings, survey, list(range(16)))
    key = ("nvss", str(survey.source_ids[1]))
    with write_transaction(get_engine(db_settings)) as conn:
        conn.execute(
            text("UPDATE sources SET ra_deg = ra_deg + 0.001, catalog_flux_mjy = NULL "
                 "WHERE catalog = :c AND source_id = :s"), {"c": key[0], "s": key[1]}
        )  # fmt: skip
        enqueue(conn, [key])
    _assert_current(db_settings)


def test_a_source_written_again_after_a_refresh_is_queued_again(settings, survey):
    """Each source is queued once per transaction, until a refresh in it copies the queue."""
    from dsa110_contimg.database.listing import enqueue

    _ingest(settings, survey, list(range(16)))
    key = ("nvss", str(survey.source_ids[2]))
    move = text("UPDATE sources SET ra_deg = ra_deg + 0.001 WHERE catalog = :c AND source_id = :s")
    with write_transaction(get_engine(settings)) as conn:
        conn.execute(move, {"c": key[0], "s": key[1]})
        enqueue(conn, [key])
        assert refresh_listing(conn) == 1
        conn.execute(move, {"c": key[0], "s": key[1]})
        enqueue(conn, [key])
    _assert_current(settings)
