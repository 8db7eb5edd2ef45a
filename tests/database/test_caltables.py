"""Solution sets, image calibration status and supersession in the database (both backends)."""

import pytest
from sqlalchemy import select

from dsa110_contimg.database import get_engine, register_image
from dsa110_contimg.database.caltables import (
    caltables_covering,
    count_caltables,
    get_caltable,
    image_calibration,
    list_caltables,
    previous_valid_caltable,
    register_caltable,
    science_usable,
    set_image_calibration,
    supersede_product,
)
from dsa110_contimg.database.tables.products import data_registry
from dsa110_contimg.errors import DatabaseError, NotFoundError
from dsa110_contimg.simulation import make_fits_image

T0 = 61000.5


def write_test_image(path):
    make_fits_image(path, shape=(64, 64), n_sources=1)
    return path


def _set(settings, transit, status="valid", reason=None, **kw):
    tables = {k: f"/tmp/cal/{transit}.{k}" for k in "KBG"}
    return register_caltable(
        calibrator="3C286",
        transit_mjd=transit,
        validity_hours=12,
        tables=tables,
        status=status,
        reason=reason,
        snr_median=50.0,
        flagged_fraction=0.02,
        antennas_flagged=[5, 3],
        n_antennas=20,
        delay_scatter_ns=0.03,
        antenna_delays_ns=[1.0, float("nan"), 2.0],
        settings=settings,
        **kw,
    )


def test_register_and_read_back(db_settings):
    rec = _set(db_settings, T0, group_key="2026-01-01T00:00:00")
    got = get_caltable(rec.id, settings=db_settings)
    assert got.to_dict() == rec.to_dict()
    assert got.valid_from_mjd == pytest.approx(T0 - 0.5) and got.valid_until_mjd == pytest.approx(
        T0 + 0.5
    )
    assert got.antennas_flagged == (3, 5)
    assert got.tables["B"].name == f"{T0}.B"
    assert got.antenna_delays_ns[0] == 1.0 and got.antenna_delays_ns[1] != got.antenna_delays_ns[1]
    assert got.to_dict()["antennas_flagged"] == [3, 5]
    from dsa110_contimg.database.caltables import caltable_for_group

    assert caltable_for_group("2026-01-01T00:00:00", settings=db_settings).id == rec.id
    assert caltable_for_group("2026-01-01T00:05:09", settings=db_settings) is None


def test_refused_needs_reason_and_is_never_covering(db_settings):
    with pytest.raises(DatabaseError, match="reason"):
        _set(db_settings, T0, status="refused")
    good = _set(db_settings, T0)
    bad = _set(db_settings, T0 + 0.1, status="refused", reason="median SNR 2 < 10")
    assert [c.id for c in caltables_covering(T0 + 0.05, settings=db_settings)] == [good.id]
    assert [c.id for c in caltables_covering(T0 + 0.05, status=None, settings=db_settings)] == [
        good.id,
        bad.id,
    ]
    assert previous_valid_caltable(T0 + 0.2, settings=db_settings).id == good.id
    assert previous_valid_caltable(T0, settings=db_settings) is None
    assert count_caltables(status="refused", settings=db_settings) == 1
    assert [c.id for c in list_caltables(settings=db_settings)] == [bad.id, good.id]
    assert caltables_covering(T0 + 0.6, settings=db_settings) == []


def test_image_status_and_supersession(db_settings, tmp_path):
    a = register_image(write_test_image(tmp_path / "a-image-pb.fits"), settings=db_settings)
    b = register_image(write_test_image(tmp_path / "b-image-pb.fits"), settings=db_settings)
    # registered before any calibration: read as precalibrated
    assert image_calibration(a, settings=db_settings)["calibration_status"] == "precalibrated"
    with pytest.raises(DatabaseError, match="needs the solution set"):
        set_image_calibration(a, "calibrated", settings=db_settings)
    with pytest.raises(DatabaseError):
        set_image_calibration(a, "bogus", settings=db_settings)
    with pytest.raises(NotFoundError):
        set_image_calibration("nope", "uncalibrated", settings=db_settings)
    cal = _set(db_settings, T0)
    set_image_calibration(a, "uncalibrated", settings=db_settings)
    set_image_calibration(b, "calibrated", cal.id, settings=db_settings)

    def usable():
        with get_engine(db_settings).connect() as conn:
            return {
                r[0] for r in conn.execute(select(data_registry.c.data_id).where(science_usable()))
            }

    assert usable() == {b}
    set_image_calibration(a, "calibrated", cal.id, settings=db_settings)
    assert usable() == {a, b}
    supersede_product(a, b, now=123.0, settings=db_settings)
    info = image_calibration(a, settings=db_settings)
    assert info["superseded_by"] == b and info["superseded_at"] == 123.0
    assert usable() == {b}
    supersede_product(a, b, settings=db_settings)  # idempotent
    with pytest.raises(DatabaseError, match="already superseded"):
        c = register_image(write_test_image(tmp_path / "c-image-pb.fits"), settings=db_settings)
        supersede_product(a, c, settings=db_settings)
    with pytest.raises(DatabaseError, match="itself"):
        supersede_product(b, b, settings=db_settings)
