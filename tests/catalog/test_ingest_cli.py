"""File ingest (provenance, atomic replace), the ``contimg catalog`` commands and download."""

import functools
import hashlib
import http.server
import json
import threading

import pytest
from astropy.table import Table

from dsa110_contimg.catalog import (
    catalog_info,
    download_catalog,
    ingest_catalog,
    query_sources,
    read_all_sources,
)
from dsa110_contimg.cli import main
from dsa110_contimg.errors import CatalogError

VLASS = "vlass1ql_components_cirada_T22t16.csv"


def test_ingest_records_provenance_and_replaces_atomically(db_settings, data_dir, tmp_path):
    src = data_dir / "catalogs" / VLASS
    info = ingest_catalog("vlass", src, settings=db_settings)
    assert info.row_count == 658 and info.format == "vlass-cirada" and info.file_name == VLASS
    assert info.file_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert info.skipped == {"empty_island": 377, "duplicate": 47, "quality": 173}
    stored = catalog_info("vlass", settings=db_settings)
    assert stored.row_count == 658 and stored.skipped == info.skipped and stored.ingested_at > 0
    ids = sorted(read_all_sources("vlass", settings=db_settings)["source_id"])
    # a malformed file: refused naming file and line, the stored catalog untouched
    lines = src.read_text().splitlines()
    lines[1200] = lines[1200].replace(",", ",,", 1)
    bad = tmp_path / "vlass_bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=r"vlass_bad.csv: line 1201"):
        ingest_catalog("vlass", bad, settings=db_settings)
    assert catalog_info("vlass", settings=db_settings).file_sha256 == info.file_sha256
    assert sorted(read_all_sources("vlass", settings=db_settings)["source_id"]) == ids
    # re-ingesting the same file keeps every id (photometry rows never orphaned)
    ingest_catalog("vlass", src, settings=db_settings)
    assert sorted(read_all_sources("vlass", settings=db_settings)["source_id"]) == ids


def test_cli_ingest_query_info(tmp_path, data_dir):
    state = str(tmp_path / "state")
    src = data_dir / "catalogs" / "nvss_vizier_VIII65_flint_extract.fits"
    assert main(["--state-dir", state, "catalog", "ingest", "nvss", str(src)]) == 0
    out = tmp_path / "cone.csv"
    rc = main(
        [
            "--state-dir",
            state,
            "catalog",
            "query",
            "nvss",
            "--ra",
            "97.5",
            "--dec",
            "-31.5",
            "--radius",
            "1.0",
            "--min-flux",
            "10",
            "--max-sources",
            "7",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    t = Table.read(out, format="ascii.csv")
    assert len(t) == 7 and min(t["flux_mjy"]) >= 10
    assert list(t["flux_mjy"]) == sorted(t["flux_mjy"], reverse=True)
    assert main(["--state-dir", state, "catalog", "info"]) == 0
    assert (
        main(
            [
                "--state-dir",
                state,
                "catalog",
                "query",
                "nope",
                "--ra",
                "1",
                "--dec",
                "2",
                "--radius",
                "1",
            ]
        )
        == 2
    )
    assert (
        main(["--state-dir", state, "catalog", "ingest", "x", str(tmp_path / "missing.csv")]) == 2
    )
    assert (
        main(["--state-dir", state, "catalog", "ingest", "x", str(src), "--format", "bogus"]) == 2
    )


def test_cli_info_json_and_build_master(tmp_path, data_dir, capsys):
    state = str(tmp_path / "state")
    cats = data_dir / "catalogs"
    assert main(["--state-dir", state, "catalog", "build-master"]) == 2  # needs NVSS
    assert (
        main(
            [
                "--state-dir",
                state,
                "catalog",
                "ingest",
                "nvss",
                str(cats / "nvss_CATALOG41_aipsVL_cirada_T22t16.fits"),
            ]
        )
        == 0
    )
    assert main(["--state-dir", state, "catalog", "build-master"]) == 0
    capsys.readouterr()
    assert main(["--state-dir", state, "catalog", "info", "--json"]) == 0
    infos = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    assert infos["nvss"]["row_count"] == 562 and infos["master"]["row_count"] == 562


@pytest.fixture
def http_dir(tmp_path):
    """A directory served over HTTP on 127.0.0.1 (a stand-in for HEASARC)."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_download_from_local_server(http_dir, tmp_path, data_dir, settings):
    root, base = http_dir
    src = data_dir / "catalogs" / VLASS
    (root / VLASS).write_bytes(src.read_bytes())
    dest = tmp_path / "dl"
    path = download_catalog("vlass", url=f"{base}/{VLASS}", dest=dest, settings=settings)
    assert path == dest / VLASS and path.read_bytes() == src.read_bytes()
    with pytest.raises(CatalogError, match="failed"):
        download_catalog("vlass", url=f"{base}/missing.csv", dest=dest, settings=settings)
    assert sorted(p.name for p in dest.iterdir()) == [VLASS]  # no partial file left behind
    with pytest.raises(CatalogError, match="no download URL"):
        download_catalog("vlass", dest=dest, settings=settings)
    assert settings.catalog.download_urls["nvss"].startswith("https://heasarc")
    # the command, with ingest, through the default-URL setting pointed at the local server
    state = tmp_path / "state"
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[catalog.download_urls]\nvlass = "{base}/{VLASS}"\n')
    rc = main(
        [
            "--config",
            str(cfg),
            "--state-dir",
            str(state),
            "catalog",
            "download",
            "vlass",
            "--ingest",
        ]
    )
    assert rc == 0
    assert (state / "catalogs" / VLASS).is_file()
    from tests.conftest import make_settings

    s = make_settings(state)
    assert len(query_sources("vlass", 228.0, 46.5, 3.0, settings=s)) == 658
