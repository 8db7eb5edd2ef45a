import json
import logging

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import select

from dsa110_contimg.catalog import ingest_table
from dsa110_contimg.cli import main
from dsa110_contimg.database import get_data, get_engine, get_image
from dsa110_contimg.database.tables.products import photometry
from dsa110_contimg.jobs import (
    Worker,
    create_batch_photometry_job,
    get_job,
    run_batch_photometry_job,
)
from dsa110_contimg.jobs.trigger import trigger_photometry
from dsa110_contimg.simulation import make_catalog, make_fits_image


def _rows(settings):
    stmt = select(photometry).order_by(photometry.c.data_id, photometry.c.source_id)
    with get_engine(settings).connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def test_trigger_measures_the_catalog_sources_on_an_image(jsettings, tmp_path, caplog):
    cat = make_catalog(center=(180.0, 55.0), radius_deg=0.15, n_sources=30, seed=5)
    ingest_table("nvss", cat, settings=jsettings)
    sky = Table(
        {
            "ra_deg": cat["ra_deg"],
            "dec_deg": cat["dec_deg"],
            "flux_jy": np.clip(cat["flux_mjy"] / 1000.0, 0.02, 1.0),
        }
    )
    path = tmp_path / "obs-image-pb.fits"
    make_fits_image(
        path, shape=(200, 200), center=(180.0, 55.0), sources=sky, noise_jy=1e-3, seed=2
    )
    job_id = trigger_photometry(path, catalog="nvss", max_sources=10, settings=jsettings)
    data_id = get_image(path, settings=jsettings).data_id
    assert get_data(data_id, settings=jsettings).photometry_status == "pending"
    assert get_data(data_id, settings=jsettings).photometry_job_id == job_id
    run_batch_photometry_job(job_id, settings=jsettings)
    rows = _rows(jsettings)
    assert len(rows) == 10 and {r["catalog"] for r in rows} == {"nvss"}
    by_id = {str(s): f for s, f in zip(cat["source_id"], cat["flux_mjy"], strict=True)}
    assert all(r["catalog_flux_mjy"] == pytest.approx(by_id[r["source_id"]]) for r in rows)
    assert get_data(data_id, settings=jsettings).photometry_status == "completed"
    # an image with no catalog source: a warning and no job
    empty = tmp_path / "empty.fits"
    make_fits_image(empty, shape=(64, 64), center=(30.0, -20.0), n_sources=0)
    with caplog.at_level(logging.WARNING, logger="dsa110_contimg.jobs.trigger"):
        assert trigger_photometry(empty, settings=jsettings) is None
    assert "no nvss sources" in caplog.text
    # explained where it appears: what it means and what to do (issue 15)
    assert "catalog store holds no nvss source in this image's field" in caplog.text
    assert "stays registered" in caplog.text and "contimg catalog ingest" in caplog.text


def test_dask_cluster_gives_the_same_results(settings, field):
    distributed = pytest.importorskip("distributed")
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=settings)
    run_batch_photometry_job(job_id, settings=settings)
    local = [
        (r["data_id"], r["source_id"], r["flux_jy"], r["flux_err_jy"]) for r in _rows(settings)
    ]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        again = create_batch_photometry_job(field.paths, field.coords, settings=settings)
        stats = Worker(settings, concurrency=2, dask_scheduler=cluster.scheduler_address).run(
            once=True
        )
    assert stats.completed == 3
    assert get_job(again, settings=settings).status == "completed"
    dask = [(r["data_id"], r["source_id"], r["flux_jy"], r["flux_err_jy"]) for r in _rows(settings)]
    assert dask == local
    assert {r["job_id"] for r in _rows(settings)} == {again}


def _cli(settings, *args):
    return main(
        [
            "--state-dir",
            str(settings.state_dir),
            "--database-url",
            str(settings.database_url),
            *args,
        ]
    )


def test_cli_jobs_registry_and_worker(jsettings, field, capsys):
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=jsettings)
    assert _cli(jsettings, "jobs", "list") == 0
    out = capsys.readouterr().out
    assert "pending" in out and "0 worker(s) alive" in out
    assert _cli(jsettings, "jobs", "cancel", str(job_id)) == 0
    assert "cancelled" in capsys.readouterr().out
    assert _cli(jsettings, "jobs", "cancel", str(job_id)) == 2  # a finished job: one-line error
    assert "only pending or running" in capsys.readouterr().err
    assert _cli(jsettings, "jobs", "retry", str(job_id)) == 0
    assert _cli(jsettings, "worker", "--once") == 0
    assert "3 completed" in capsys.readouterr().out
    assert _cli(jsettings, "jobs", "show", str(job_id), "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["job"]["status"] == "completed" and len(shown["items"]) == 3
    assert _cli(jsettings, "jobs", "show", str(job_id)) == 0
    assert "completed" in capsys.readouterr().out
    assert _cli(jsettings, "jobs", "show", "999") == 2
    assert _cli(jsettings, "registry", "list", "--photometry-status", "completed") == 0
    assert "(3 of 3)" in capsys.readouterr().out
    data_id = shown["items"][0]["data_id"]
    assert _cli(jsettings, "registry", "show", data_id, "--json") == 0
    rec = json.loads(capsys.readouterr().out)
    assert (
        rec["registry"]["photometry_status"] == "completed" and rec["image"]["data_id"] == data_id
    )
    assert _cli(jsettings, "registry", "show", str(field.paths[0])) == 0
    assert _cli(jsettings, "registry", "show", "nope") == 2
