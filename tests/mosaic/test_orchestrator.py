"""The orchestrator on a real database (SQLite and PostgreSQL) with real registered images."""

import numpy as np
import pytest
from astropy.time import Time, TimeDelta
from sqlalchemy import select

from dsa110_contimg.database import get_engine
from dsa110_contimg.database.mosaics import (
    get_mosaic,
    get_mosaic_group,
    list_mosaic_groups,
    register_mosaic,
)
from dsa110_contimg.database.products import get_image, register_image
from dsa110_contimg.database.tables.products import data_registry
from dsa110_contimg.errors import ConfigError
from dsa110_contimg.mosaic import MosaicOrchestrator, build_mosaic
from dsa110_contimg.simulation.mosaic_inputs import make_pb_image_set
from tests.conftest import make_settings

T0 = "2025-03-01T02:00:00"
SMALL = {"shape": (96, 96), "ra_step_deg": 0.2, "n_sources": 0, "noise_jy": 1e-3}


def _later(iso: str, seconds: float) -> str:
    return (Time(iso, scale="utc") + TimeDelta(seconds, format="sec")).isot


def _settings(base, **mosaic):
    """The db_settings database with a mosaic section for the test."""
    s = make_settings(base.state_dir, database_url=base.database_url,
                      mosaic={"images_per_mosaic": 4, "overlap": 1, "min_images": 3, **mosaic})
    return s


@pytest.fixture
def mk(tmp_path):
    """Write and register a run of consecutive images: mk(settings, n, start=..., **kw)."""
    counter = iter(range(100))

    def make(settings, n, *, start=T0, ra_start_deg=180.0, **kw):
        d = tmp_path / f"set{next(counter)}"
        opts = {**SMALL, **kw}
        s = make_pb_image_set(d, n_images=n, start_time=start, ra_start_deg=ra_start_deg,
                              seed=len(str(d)), **opts)
        ids = [register_image(p, settings=settings) for p in s.pb_paths]
        return s, ids

    return make


def test_groups_of_n_overlapping_built_and_registered(db_settings, mk):
    settings = _settings(db_settings)
    s, ids = mk(settings, 7)
    orch = MosaicOrchestrator(settings)
    built = orch.poll()
    groups = list_mosaic_groups(settings=settings)
    assert [g.member_data_ids for g in groups] == [tuple(ids[0:4]), tuple(ids[3:7])]
    assert built == [g.id for g in groups]
    assert all(g.status == "built" and g.complete for g in groups)
    for g in groups:
        m = get_mosaic(g.mosaic_data_id, settings=settings)
        assert m.member_data_ids == g.member_data_ids and m.n_images == 4
        assert m.weight_path and m.noise_path
        rec = get_image(g.mosaic_data_id, settings=settings)
        assert rec.kind == "mosaic"
        # the mosaic's time span is its inputs' (DATE-OBS / DATE-END written by the builder)
        first, last = (get_image(g.member_data_ids[0], settings=settings),
                       get_image(g.member_data_ids[-1], settings=settings))
        assert rec.mjd_start == pytest.approx(first.mjd_start, abs=1e-7)
        assert rec.mjd_end == pytest.approx(last.mjd_end, abs=1e-7)
        assert rec.mjd_mid == pytest.approx(0.5 * (first.mjd_start + last.mjd_end), abs=1e-7)
    with get_engine(settings).connect() as conn:
        types = dict(conn.execute(select(data_registry.c.data_id, data_registry.c.data_type)).all())
    assert types[groups[0].mosaic_data_id] == "mosaic"
    # nothing new: polling again builds nothing, forms nothing
    assert orch.poll() == []
    # one more image makes no group yet (open: 3 carried + new < 4 ... needs 3 new images)
    s2, ids2 = mk(settings, 3, start=_later(T0, 7 * 309), ra_start_deg=180.0 + 7 * 0.2)
    assert len(orch.poll()) == 1
    last = list_mosaic_groups(settings=settings)[-1]
    assert last.member_data_ids == (ids[6], *ids2)


def test_gap_closes_the_group_short_or_abandoned(db_settings, mk, caplog):
    settings = _settings(db_settings)
    _, a = mk(settings, 3)  # closed early by the gap: 3 >= min_images -> built, incomplete
    _, b = mk(settings, 2, start=_later(T0, 3600))  # 2 < 3 -> abandoned
    _, c = mk(settings, 5, start=_later(T0, 7200))  # one full group, one image left open
    orch = MosaicOrchestrator(settings)
    orch.poll()
    groups = list_mosaic_groups(settings=settings)
    assert [g.member_data_ids for g in groups] == [tuple(a), tuple(b), tuple(c[:4])]
    assert [g.status for g in groups] == ["built", "abandoned", "built"]
    assert not groups[0].complete and "gap of" in groups[0].reason
    assert "only 2 image(s)" in groups[1].reason and groups[1].mosaic_path is None
    # the warning explains itself: the images are kept and measured, nothing to do (issue 15)
    abandoned = [r.getMessage() for r in caplog.records if "abandoned" in r.getMessage()]
    assert len(abandoned) == 1 and f"mosaic group {groups[1].id}: 2 images" in abandoned[0]
    assert "stay registered, measured and in the light curves" in abandoned[0]
    assert "nothing to do unless" in abandoned[0]
    assert groups[2].complete and groups[2].reason is None


def test_declination_change_breaks_the_group(db_settings, mk):
    settings = _settings(db_settings)
    _, a = mk(settings, 3, dec_deg=55.0)
    _, b = mk(settings, 4, dec_deg=62.0, start=_later(T0, 3 * 309))  # consecutive in time
    MosaicOrchestrator(settings).poll()
    groups = list_mosaic_groups(settings=settings)
    assert [g.member_data_ids for g in groups] == [tuple(a), tuple(b)]
    assert "declination changes" in groups[0].reason
    assert groups[1].dec_deg == pytest.approx(62.0, abs=0.01)


def test_missing_or_off_strip_input_fails_that_group_only(db_settings, mk):
    settings = _settings(db_settings, max_gap_seconds=400.0)
    s, ids = mk(settings, 7)
    s.pb_paths[1].unlink()  # member of the first group only
    orch = MosaicOrchestrator(settings)
    built = orch.poll()
    g1, g2 = list_mosaic_groups(settings=settings)
    assert g1.status == "failed" and "drift_001-image-pb.fits" in g1.reason
    assert "missing" in g1.reason
    assert g2.status == "built" and built == [g2.id]


def test_input_on_another_strip_fails_with_reason(db_settings, mk, tmp_path):
    """An image registered with a wrong declination (so grouped) whose file is on another strip."""
    settings = _settings(db_settings)
    s, ids = mk(settings, 4, dec_offsets_deg=[0.0, 0.0, 0.0, 3.0])
    assert list_mosaic_groups(settings=settings) == []
    # the fourth image is 3 deg off: grouping breaks before it (declination from registration)
    orch = MosaicOrchestrator(settings)
    orch.poll()
    (g,) = list_mosaic_groups(settings=settings)
    assert g.member_data_ids == tuple(ids[:3]) and "declination" in g.reason
    # build_mosaic itself refuses mixed strips, naming the file
    from dsa110_contimg.errors import MosaicError

    with pytest.raises(MosaicError, match="drift_003-image-pb.fits.*another declination strip"):
        build_mosaic(s.pb_paths, tmp_path / "x.fits", dec_tolerance_deg=0.5)


def test_register_mosaic_is_idempotent_and_replaces_members(db_settings, mk, tmp_path):
    settings = _settings(db_settings)
    s, ids = mk(settings, 3)
    result = build_mosaic(s.pb_paths, tmp_path / "m.fits")
    did = register_mosaic(result.path, member_data_ids=ids, settings=settings)
    assert register_mosaic(result.path, member_data_ids=ids[:2], settings=settings) == did
    m = get_mosaic(did, settings=settings)
    assert m.member_data_ids == tuple(ids[:2]) and m.n_images == 2
    assert m.bmaj_deg == pytest.approx(result.beam.bmaj_deg)
    assert get_mosaic(result.path, settings=settings).data_id == did


def test_unknown_photometry_option_refused(settings):
    with pytest.raises(ConfigError, match="unknown mosaic photometry option"):
        MosaicOrchestrator(settings, photometry_config={"catalogue": "nvss"})
    orch = MosaicOrchestrator(settings, photometry_config={"normalize": True})
    assert orch.photometry_config == {"catalog": "nvss", "radius_deg": None,
                                      "normalize": True, "max_sources": None}


def test_run_once_and_stop_event(settings, mk):
    import threading

    s = _settings(settings)
    mk(s, 4)
    orch = MosaicOrchestrator(s)
    stop = threading.Event()
    stop.set()
    assert len(orch.run(stop_event=stop)) == 1
    assert orch.run(once=True) == []
    assert get_mosaic_group(1, settings=s).status == "built"
    assert np.isfinite(get_image(get_mosaic_group(1, settings=s).mosaic_data_id,
                                 settings=s).mjd_mid)


def test_uncalibrated_and_superseded_images_never_enter_a_mosaic(db_settings, mk):
    from dsa110_contimg.database.caltables import (
        register_caltable,
        set_image_calibration,
        supersede_product,
    )

    settings = _settings(db_settings, images_per_mosaic=3, overlap=0, max_gap_seconds=1e6)
    _, ids = mk(settings, 7)
    cal = register_caltable(calibrator="3C286", transit_mjd=60735.0, validity_hours=12,
                            tables={"K": "/k"}, settings=settings)
    set_image_calibration(ids[1], "uncalibrated", settings=settings)
    set_image_calibration(ids[4], "calibrated", cal.id, settings=settings)
    set_image_calibration(ids[5], "precalibrated", settings=settings)
    # ids[2] was re-calibrated into ids[3]'s place: the replaced product is left out
    set_image_calibration(ids[2], "calibrated", cal.id, settings=settings)
    supersede_product(ids[2], ids[3], settings=settings)
    MosaicOrchestrator(settings).form_groups()
    members = [m for g in list_mosaic_groups(settings=settings) for m in g.member_data_ids]
    assert members == [ids[0], ids[3], ids[4], ids[5], ids[6]][: len(members)]
    assert ids[1] not in members and ids[2] not in members
    assert members[:3] == [ids[0], ids[3], ids[4]]
