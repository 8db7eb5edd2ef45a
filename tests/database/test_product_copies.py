"""Migration 0019: the product's kind and superseded flag copied into ``photometry_products``.

The light curve reads them from the product (one index probe per point instead of three). The
copies are kept by triggers whoever writes: the test changes ``images`` and ``data_registry``
in every order the pipeline can (photometry before and after the image is registered, a kind
changed, a product superseded and restored, rows deleted) and, after each change, compares
:func:`read_lightcurve` with the statement it replaced (the view joined to ``images`` and
``data_registry``), on SQLite and PostgreSQL; and an existing database is upgraded in place.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, insert, text, update

from dsa110_contimg.database import get_engine, photometry_insert
from dsa110_contimg.database.lightcurves import read_lightcurve
from dsa110_contimg.database.migrate import upgrade
from dsa110_contimg.database.tables import data_registry, images

#: read_lightcurve's statement before migration 0019 (the view, two look-ups per point).
OLD = (
    "SELECT p.mjd, p.data_id, p.flux_jy, p.flux_err_jy, p.normalized_flux_jy, "
    "p.normalized_flux_err_jy, p.flags, "
    "(SELECT i.kind FROM images i WHERE i.data_id = p.data_id) FROM photometry p "
    "WHERE p.catalog = :c AND p.source_id = :s "
    "AND NOT EXISTS (SELECT 1 FROM data_registry r WHERE r.data_id = p.data_id "
    "AND r.superseded_by IS NOT NULL) ORDER BY p.mjd, p.data_id"
)
SOURCES = ["S0", "S1", "S2"]


def _write(settings, data_id: str, mjd: float, own_mjd: float | None = None) -> None:
    rows = {"data_id": data_id, "catalog": "nvss", "source_id": SOURCES,
            "ra_deg": [10.0, 10.1, 10.2], "dec_deg": [20.0, 20.1, 20.2],
            "flux_jy": [0.1 + mjd % 1, 0.2, 0.3], "flux_err_jy": 0.001, "mjd": mjd}  # fmt: skip
    if own_mjd is not None:  # one row with an MJD of its own (kept in the row)
        rows["mjd"] = [mjd, own_mjd, mjd]
    photometry_insert(rows, settings=settings)


def _register(conn, data_id: str, kind: str = "image") -> None:
    conn.execute(insert(images).values(data_id=data_id, path=f"/x/{data_id}.fits", kind=kind,
                                       created_at=0.0))  # fmt: skip
    conn.execute(insert(data_registry).values(data_id=data_id, data_type=kind,
                                              path=f"/x/{data_id}.fits", created_at=0.0,
                                              updated_at=0.0))  # fmt: skip


def _same_as_before(engine) -> int:
    """Assert read_lightcurve equals the old statement for every source; return points seen."""
    n = 0
    for sid in SOURCES:
        with engine.connect() as conn:
            old = conn.execute(text(OLD), {"c": "nvss", "s": sid}).all()
        new = read_lightcurve(engine, "nvss", sid)
        assert new.image == [r[1] for r in old]
        assert new.kind == [r[7] for r in old]
        np.testing.assert_array_equal(new.mjd, [r[0] for r in old])
        np.testing.assert_array_equal(new.flux, [r[2] for r in old])
        n += len(new)
    return n


def test_copies_follow_images_and_registry(db_settings):
    engine = get_engine(db_settings)
    _write(db_settings, "early", 60000.1)  # photometry first, the image registered later
    with engine.begin() as conn:
        _register(conn, "late-registered")
        _register(conn, "mosaic-1", kind="mosaic")
    _write(db_settings, "late-registered", 60000.2, own_mjd=60000.25)
    _write(db_settings, "mosaic-1", 60000.3)
    assert _same_as_before(engine) == 9
    assert read_lightcurve(engine, "nvss", "S0").kind == [None, "image", "mosaic"]
    with engine.begin() as conn:
        _register(conn, "early")
    assert read_lightcurve(engine, "nvss", "S0").kind == ["image", "image", "mosaic"]
    # superseded, restored, superseded again: the point leaves and comes back
    for successor, points in (("new-1", 6), (None, 9), ("new-2", 6)):
        with engine.begin() as conn:
            conn.execute(update(data_registry).where(data_registry.c.data_id == "early")
                         .values(superseded_by=successor))  # fmt: skip
        assert _same_as_before(engine) == points
    # a kind changed, a registry row and an image deleted
    with engine.begin() as conn:
        conn.execute(update(images).where(images.c.data_id == "mosaic-1").values(kind="image"))
        conn.execute(delete(data_registry).where(data_registry.c.data_id == "early"))
        conn.execute(delete(images).where(images.c.data_id == "late-registered"))
    assert _same_as_before(engine) == 9
    assert read_lightcurve(engine, "nvss", "S0").kind == ["image", None, "image"]


def test_upgrade_fills_the_copies(db_settings):
    engine = get_engine(db_settings, migrate=False)
    upgrade(engine, "0016")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO photometry_products (data_id, mjd, measured_at) VALUES "
            "('a', 60000.1, 0), ('b', 60000.2, 0), ('c', 60000.3, 0)"))  # fmt: skip
        conn.execute(text("INSERT INTO photometry_sources (catalog, source_id, ra_deg, dec_deg) "
                          "VALUES ('nvss', 'S0', 1, 2)"))  # fmt: skip
        conn.execute(text(
            "INSERT INTO photometry_rows (id, image_key, source_key, flux_jy, flags) "
            "SELECT image_key, image_key, 1, 0.1 * image_key, '' FROM photometry_products"))
        for did, kind in (("a", "image"), ("b", "mosaic")):
            conn.execute(text(
                "INSERT INTO images (data_id, path, kind, created_at) VALUES (:d, :p, :k, 0)"),
                {"d": did, "p": f"/x/{did}", "k": kind})  # fmt: skip
            conn.execute(text(
                "INSERT INTO data_registry (data_id, data_type, path, status, created_at, "
                "updated_at, superseded_by) VALUES (:d, :k, :p, 'registered', 0, 0, :s)"),
                {"d": did, "p": f"/x/{did}", "k": kind, "s": "a2" if did == "a" else None})
    upgrade(engine)
    with engine.connect() as conn:
        got = conn.execute(text("SELECT data_id, kind, superseded FROM photometry_products "
                                "ORDER BY data_id")).all()  # fmt: skip
    assert [tuple(r) for r in got] == [("a", "image", 1), ("b", "mosaic", 0), ("c", None, 0)]
    lc = read_lightcurve(engine, "nvss", "S0")
    assert lc.image == ["b", "c"] and lc.kind == ["mosaic", None]
