import math

import numpy as np
import pytest
from astropy.table import Table
from sqlalchemy import func, select

from dsa110_contimg.catalog import position_source_id
from dsa110_contimg.database import (
    get_engine,
    get_image,
    list_images,
    photometry_insert,
    register_image,
)
from dsa110_contimg.database.products import default_data_id
from dsa110_contimg.database.tables.products import data_registry, images, photometry
from dsa110_contimg.errors import DatabaseError, InvalidImageError
from dsa110_contimg.photometry.noise import robust_rms
from dsa110_contimg.simulation import make_fits_image


def _count(settings, table):
    with get_engine(settings).connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_register_image_reads_header_and_is_idempotent(db_settings, tmp_path):
    path = tmp_path / "field.fits"
    make_fits_image(
        path,
        shape=(256, 256),
        center=(150.0, 40.0),
        beam=(20.0, 15.0, 10.0),
        noise_jy=2e-3,
        n_sources=3,
        seed=3,
        date_obs="2026-01-01T00:00:00",
        date_end="2026-01-01T00:05:00",
        freq_hz=1.4e9,
    )
    did = register_image(path, imaging_params={"niter": 1000}, settings=db_settings)
    assert did == default_data_id(path)
    rec = get_image(did, settings=db_settings)
    assert rec.path == str(path.resolve())
    assert rec.kind == "image"
    assert rec.mjd_start == pytest.approx(61041.0)
    assert rec.mjd_end == pytest.approx(61041.0 + 300 / 86400)
    assert rec.mjd_mid == pytest.approx(61041.0 + 150 / 86400)
    assert rec.ra_center_deg == pytest.approx(150.0, abs=0.01)
    assert rec.dec_center_deg == pytest.approx(40.0, abs=0.01)
    assert rec.bmaj_deg * 3600 == pytest.approx(20.0)
    assert rec.bmin_deg * 3600 == pytest.approx(15.0)
    assert rec.bpa_deg == pytest.approx(10.0)
    assert rec.freq_hz == pytest.approx(1.4e9)
    assert rec.noise_jy == pytest.approx(2e-3, rel=0.15)  # a few bright sources bias MAD little
    assert rec.imaging_params == {"niter": 1000}
    assert rec.beam_path is None and rec.uncorrected_path is None
    # the same file again (by another spelling): same id, one row, params kept
    again = register_image(tmp_path / "." / "field.fits", settings=db_settings)
    assert again == did
    assert _count(db_settings, images) == 1 and _count(db_settings, data_registry) == 1
    assert get_image(str(path), settings=db_settings).imaging_params == {"niter": 1000}
    # another file: another id
    other = tmp_path / "sub" / "field.fits"
    other.parent.mkdir()
    make_fits_image(other, shape=(64, 64), n_sources=1, seed=1)
    assert register_image(other, settings=db_settings) != did
    assert [r.data_id for r in list_images(settings=db_settings)]


def test_register_pb_corrected_image_uses_beam_and_uncorrected_noise(db_settings, tmp_path):
    pb = tmp_path / "obs-image-pb.fits"
    make_fits_image(pb, shape=(128, 128), noise_jy=1e-3, n_sources=0, seed=1)
    make_fits_image(
        tmp_path / "obs-image.fits", shape=(128, 128), noise_jy=4e-3, n_sources=0, seed=2
    )
    make_fits_image(tmp_path / "obs-beam.fits", shape=(128, 128), noise_jy=0.0, n_sources=0, seed=2)
    did = register_image(pb, settings=db_settings)
    rec = get_image(did, settings=db_settings)
    assert rec.beam_path == str((tmp_path / "obs-beam.fits").resolve())
    assert rec.uncorrected_path == str((tmp_path / "obs-image.fits").resolve())
    assert rec.noise_jy == pytest.approx(4e-3, rel=0.1)


def test_register_refuses_conflicting_ids_and_bad_files(db_settings, tmp_path):
    a, b = tmp_path / "a.fits", tmp_path / "b.fits"
    make_fits_image(a, shape=(64, 64), n_sources=1)
    make_fits_image(b, shape=(64, 64), n_sources=1)
    register_image(a, data_id="img-a", settings=db_settings)
    assert register_image(a, data_id="img-a", settings=db_settings) == "img-a"
    with pytest.raises(DatabaseError, match="already registered"):
        register_image(a, data_id="other", settings=db_settings)
    with pytest.raises(DatabaseError, match="already belongs"):
        register_image(b, data_id="img-a", settings=db_settings)
    bad = tmp_path / "bad.fits"
    bad.write_text("not fits")
    with pytest.raises(InvalidImageError, match="bad.fits"):
        register_image(bad, settings=db_settings)
    with pytest.raises(DatabaseError, match="kind"):
        register_image(a, kind="cube", settings=db_settings)


def test_robust_rms_subsamples_large_images():
    rng = np.random.default_rng(0)
    data = rng.normal(0, 3.0, (2000, 2000)).astype(">f4")
    assert robust_rms(data) == pytest.approx(3.0, rel=0.01)
    assert robust_rms(np.full((4, 4), np.nan)) is None


def _rows(settings, data_id=None):
    stmt = select(photometry).order_by(photometry.c.source_id)
    if data_id is not None:
        stmt = stmt.where(photometry.c.data_id == data_id)
    with get_engine(settings).connect() as conn:
        return [dict(r) for r in conn.execute(stmt).mappings()]


def test_photometry_insert_upserts_on_the_natural_key(db_settings):
    rows = [
        {
            "data_id": "img1",
            "catalog": "nvss",
            "source_id": "A",
            "ra_deg": 10.0,
            "dec_deg": 5.0,
            "catalog_flux_mjy": 12.0,
            "flux_jy": 0.011,
            "flux_err_jy": 0.001,
            "snr": 11.0,
            "dof": 8,
            "flags": "",
            "mjd": 61000.5,
            "job_id": 7,
        },
        {
            "data_id": "img1",
            "catalog": "nvss",
            "source_id": "B",
            "ra_deg": 11.0,
            "dec_deg": 6.0,
            "flux_jy": float("nan"),
            "flags": "off_image",
        },
        {"data_id": "img1", "ra_deg": 12.5, "dec_deg": -6.25, "flux_jy": 0.5},  # bare position
    ]
    assert photometry_insert(rows, settings=db_settings) == 3
    stored = _rows(db_settings)
    assert len(stored) == 3
    by_id = {r["source_id"]: r for r in stored}
    assert (
        by_id["A"]["catalog_flux_mjy"] == 12.0
        and by_id["A"]["dof"] == 8
        and by_id["A"]["job_id"] == 7
    )
    assert by_id["B"]["flux_jy"] is None and by_id["B"]["flags"] == "off_image"
    pos = by_id[position_source_id(12.5, -6.25)]
    assert pos["catalog"] == "position" and pos["flags"] == ""
    assert pos["software_version"] and pos["measured_at"] > 0
    # writing again updates (never duplicates); a repeated key in one batch: the last one wins
    again = [dict(rows[0], flux_jy=0.02), dict(rows[0], flux_jy=0.03)]
    assert photometry_insert(again, settings=db_settings) == 2
    stored = _rows(db_settings)
    assert len(stored) == 3
    assert {r["source_id"]: r for r in stored}["A"]["flux_jy"] == 0.03


def test_photometry_insert_columns_and_tables(db_settings):
    n = 500
    rng = np.random.default_rng(2)
    cols = {
        "data_id": "img2",
        "catalog": "first",
        "source_id": [f"S{i}" for i in range(n)],
        "ra_deg": rng.uniform(0, 360, n),
        "dec_deg": rng.uniform(-30, 80, n),
        "flux_jy": rng.normal(1, 0.1, n),
        "dof": np.full(n, 3),
        "mjd": 61000.25,
        "job_id": 3,
    }
    assert photometry_insert(cols, settings=db_settings) == n
    t = Table({k: v for k, v in cols.items() if not np.isscalar(v)})
    t["data_id"] = "img3"
    t["x_pix"] = 1.0  # extra measurement columns are ignored
    assert photometry_insert(t, settings=db_settings) == n
    assert len(_rows(db_settings, "img2")) == n and len(_rows(db_settings, "img3")) == n
    assert all(r["mjd"] == 61000.25 for r in _rows(db_settings, "img2"))
    assert photometry_insert([], settings=db_settings) == 0


def test_photometry_insert_batch_constants_are_stored_exactly(db_settings):
    # Values given once for the whole batch take a different path from per-row values (on
    # SQLite the exact ones are written into the statement): they must come back identical.
    rng = np.random.default_rng(4)
    n = 300
    mjds = 61000.0 + rng.uniform(0, 1, 5)  # floats SQLite would not always parse back exactly
    for k, mjd in enumerate(mjds):
        did = f'it\'s img "{k}"; DROP TABLE photometry; --'
        cols = {
            "data_id": did,
            "catalog": "nv'ss",
            "source_id": [f"S{i}" for i in range(n)],
            "ra_deg": rng.uniform(0, 360, n),
            "dec_deg": 30.0,  # a constant float
            "flux_jy": np.float32(0.25),
            "flux_err_jy": np.nan,  # a constant NaN is NULL
            "dof": np.int64(7),
            "mjd": float(mjd),
            "job_id": None,
            "software_version": "v'1",
            "measured_at": 1.7e9 + float(mjd),
        }
        assert photometry_insert(cols, settings=db_settings) == n
        stored = _rows(db_settings, did)
        assert len(stored) == n
        r = stored[0]
        assert r["catalog"] == "nv'ss" and r["software_version"] == "v'1" and r["dof"] == 7
        assert r["mjd"] == float(mjd) and r["measured_at"] == 1.7e9 + float(mjd)
        assert r["dec_deg"] == 30.0 and r["flux_jy"] == float(np.float32(0.25))
        assert r["flux_err_jy"] is None and r["job_id"] is None and r["flags"] == ""
        assert sorted(x["ra_deg"] for x in stored) == sorted(cols["ra_deg"].tolist())
    assert _count(db_settings, photometry) == n * len(mjds)
    # constant key parts and a repeated key in one batch: the last row wins
    again = {
        "data_id": "one",
        "catalog": "nvss",
        "source_id": ["A", "A"],
        "ra_deg": 1.0,
        "dec_deg": 2.0,
        "flux_jy": [0.1, 0.2],
    }
    assert photometry_insert(again, settings=db_settings) == 2
    assert [r["flux_jy"] for r in _rows(db_settings, "one")] == [0.2]


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"ra_deg": 1.0, "dec_deg": 2.0}, "data_id"),
        ({"data_id": "x", "catalog": "nvss", "ra_deg": 1.0, "dec_deg": 2.0}, "source_id"),
        ({"data_id": "x", "ra_deg": math.nan, "dec_deg": 2.0}, "finite"),
        ({"data_id": "x", "ra_deg": 1.0, "dec_deg": 2.0, "fluxx": 1.0}, "unknown"),
    ],
)
def test_photometry_insert_rejects_bad_rows(settings, bad, match):
    with pytest.raises(DatabaseError, match=match):
        photometry_insert([bad], settings=settings)
