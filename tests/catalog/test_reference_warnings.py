"""Too few references: build-master, ``contimg run`` at start and the dashboard say so loudly."""

import pytest

from dsa110_contimg.catalog import build_master_catalog, ingest_catalog
from dsa110_contimg.catalog.coverage import reference_report, too_few_message
from dsa110_contimg.cli import main
from tests.conftest import make_settings

VIZIER = "nvss_vizier_VIII65_flint_extract.fits"


def _ingest(state, data_dir, fname=VIZIER):
    path = str(data_dir / "catalogs" / fname)
    assert main(["--state-dir", str(state), "catalog", "ingest", "nvss", path]) == 0


def test_build_master_lists_strips_and_is_quiet_when_enough(tmp_path, data_dir, capsys):
    _ingest(tmp_path / "s", data_dir)
    capsys.readouterr()
    assert main(["--state-dir", str(tmp_path / "s"), "catalog", "build-master"]) == 0
    out = capsys.readouterr()
    assert "Dec -34.0..-30.5: 55 references of 639 sources" in out.out
    assert "55 NVSS-only" in out.out
    assert "WARNING" not in out.err


def test_build_master_warns_loudly_with_too_few(tmp_path, data_dir, capsys, monkeypatch):
    _ingest(tmp_path / "s", data_dir)
    monkeypatch.setenv("CONTIMG_CATALOG__REFERENCE_FALLBACK", "false")  # NVSS alone: 0 refs
    capsys.readouterr()
    assert main(["--state-dir", str(tmp_path / "s"), "catalog", "build-master"]) == 0
    err = capsys.readouterr().err
    assert "WARNING: too few normalization references in 1 declination strip(s)" in err
    assert "Dec -34.0..-30.5: 0 references of 639 sources (~0.0 per image" in err
    assert "What to do:" in err and "contimg catalog ingest vlass" in err
    assert "reference_fallback" in err


def test_run_warns_at_start(tmp_path, data_dir, capsys, monkeypatch):
    state = tmp_path / "s"
    (tmp_path / "in").mkdir()
    run = [
        "--state-dir", str(state), "run", "--input-dir", str(tmp_path / "in"),
        "--output-dir", str(tmp_path / "out"), "--once", "--no-mosaic",
    ]  # fmt: skip
    assert main(run) == 0
    assert "WARNING: no master catalog" in capsys.readouterr().err
    _ingest(state, data_dir)
    monkeypatch.setenv("CONTIMG_CATALOG__REFERENCE_FALLBACK", "false")
    assert main(["--state-dir", str(state), "catalog", "build-master"]) == 0
    capsys.readouterr()
    assert main(run) == 0
    err = capsys.readouterr().err
    assert "too few normalization references" in err and "Dec -34.0..-30.5: 0 references" in err
    monkeypatch.delenv("CONTIMG_CATALOG__REFERENCE_FALLBACK")
    assert main(["--state-dir", str(state), "catalog", "build-master"]) == 0
    capsys.readouterr()
    assert main(run) == 0
    assert "WARNING" not in capsys.readouterr().err
    assert main([*run, "--no-normalize"]) == 0  # not normalizing: nothing to warn about


def test_per_image_estimate_and_threshold(tmp_path, data_dir):
    s = make_settings(tmp_path / "a", catalog={"reference_warn_per_image": 60})
    ingest_catalog("nvss", data_dir / "catalogs" / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits",
                   settings=s)  # fmt: skip
    build_master_catalog(settings=s)
    rep = reference_report(settings=s)
    # the box (Dec 45-48) straddles the strips [43, 46.5) and [46.5, 50)
    assert [(x.dec_lo_deg, x.dec_hi_deg) for x in rep.strips] == [(43.0, 46.5), (46.5, 50.0)]
    assert sum(x.n_sources for x in rep.strips) == 562
    for x in rep.strips:  # reference fraction x NVSS sources expected on a 3.5 deg image
        assert x.refs_per_image == pytest.approx(x.n_references / x.n_sources * 52.3 * 3.5**2)
    assert [x.dec_lo_deg for x in rep.short] == [x.dec_lo_deg for x in rep.strips
                                                 if x.refs_per_image < 60]  # fmt: skip
    assert rep.short and not rep.ok
    msg = too_few_message(rep)
    assert all(x.label in msg for x in rep.short)


def test_dashboard_block(tmp_path, data_dir, monkeypatch):
    from fastapi.testclient import TestClient

    from dsa110_contimg.api import create_app

    s = make_settings(tmp_path / "s")
    with TestClient(create_app(s)) as client:
        html = client.get("/").text
    assert 'id="references-warning"' in html and "No master catalog" in html
    ingest_catalog("nvss", data_dir / "catalogs" / VIZIER, settings=s)
    off = make_settings(tmp_path / "s", catalog={"reference_fallback": False})
    build_master_catalog(settings=off)
    with TestClient(create_app(off)) as client:
        html = client.get("/").text
    assert "Too few normalization references in 1 declination strip(s)" in html
    assert "Dec -34.0..-30.5" in html and "contimg catalog build-master" in html
    build_master_catalog(settings=s)
    with TestClient(create_app(s)) as client:
        html = client.get("/").text
    assert 'id="references-warning"' not in html
    ingest_catalog("nvss", data_dir / "catalogs" / VIZIER, settings=s)  # re-ingested after
    with TestClient(create_app(s)) as client:
        html = client.get("/").text
    assert "Master catalog out of date" in html and "nvss ingested after" in html


def test_master_without_recorded_counts_says_rebuild(tmp_path, data_dir):
    from dsa110_contimg.database import get_engine, write_transaction
    from dsa110_contimg.database.tables import reference_strips

    s = make_settings(tmp_path / "s")
    ingest_catalog("nvss", data_dir / "catalogs" / VIZIER, settings=s)
    build_master_catalog(settings=s)
    assert too_few_message(reference_report(settings=s)) is None
    with write_transaction(get_engine(s)) as conn:  # a master built before the counts existed
        conn.execute(reference_strips.delete())
    msg = too_few_message(reference_report(settings=s))
    assert msg.startswith("WARNING: no reference counts") and "build-master" in msg


def test_catalog_ingested_after_the_master_says_rebuild(tmp_path, data_dir):
    s = make_settings(tmp_path / "s")
    cats = data_dir / "catalogs"
    ingest_catalog("nvss", cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits", settings=s)
    build_master_catalog(settings=s)
    assert too_few_message(reference_report(settings=s)) is None
    ingest_catalog("vlass", cats / "vlass1ql_components_cirada_T22t16.csv", settings=s)
    rep = reference_report(settings=s)
    assert rep.newer == ["vlass"] and not rep.ok
    assert too_few_message(rep).startswith("WARNING: vlass ingested after the master catalog")
    build_master_catalog(settings=s)
    assert too_few_message(reference_report(settings=s)) is None
