import pytest

from dsa110_contimg.database import (
    count_data,
    finalize_data,
    get_data,
    get_photometry_status,
    link_photometry_to_data,
    list_data,
    register_image,
    update_photometry_status,
    update_qa,
)
from dsa110_contimg.errors import DatabaseError, NotFoundError
from dsa110_contimg.simulation import make_fits_image


@pytest.fixture
def two_products(db_settings, tmp_path):
    ids = []
    for name, kind in (("a.fits", "image"), ("m.fits", "mosaic")):
        make_fits_image(tmp_path / name, shape=(64, 64), n_sources=1)
        ids.append(register_image(tmp_path / name, kind=kind, settings=db_settings))
    return ids


def test_photometry_status_lifecycle(db_settings, two_products):
    img, _ = two_products
    assert get_photometry_status(img, settings=db_settings) == {"status": None, "job_id": None}
    link_photometry_to_data(img, 5, settings=db_settings)
    assert get_photometry_status(img, settings=db_settings) == {"status": "pending", "job_id": 5}
    update_photometry_status(img, "running", settings=db_settings)
    assert get_photometry_status(img, settings=db_settings) == {"status": "running", "job_id": 5}
    link_photometry_to_data(img, 5, settings=db_settings)  # linking again changes nothing
    assert get_photometry_status(img, settings=db_settings)["status"] == "running"
    update_photometry_status(img, "completed", 6, settings=db_settings)
    assert get_photometry_status(img, settings=db_settings) == {"status": "completed", "job_id": 6}
    assert get_photometry_status("nope", settings=db_settings) is None
    with pytest.raises(DatabaseError, match="photometry status"):
        update_photometry_status(img, "done", settings=db_settings)
    with pytest.raises(NotFoundError):
        update_photometry_status("nope", "pending", settings=db_settings)
    with pytest.raises(NotFoundError):
        link_photometry_to_data("nope", 1, settings=db_settings)


def test_qa_finalize_and_listing(db_settings, two_products, caplog):
    img, mosaic = two_products
    update_qa(
        img,
        qa_status="failed",
        qa_metrics={"noise_ratio": 3.2},
        qa_reason="noisy",
        settings=db_settings,
    )
    rec = get_data(img, settings=db_settings)
    assert (rec.qa_status, rec.qa_metrics, rec.qa_reason) == (
        "failed",
        {"noise_ratio": 3.2},
        "noisy",
    )
    with pytest.raises(DatabaseError):
        update_qa(img, qa_status="meh", qa_metrics=None, settings=db_settings)
    link_photometry_to_data(img, 9, settings=db_settings)
    with caplog.at_level("INFO", logger="dsa110_contimg.database.registry"):
        final = finalize_data(img, settings=db_settings)  # never waits for the pending photometry
    assert final.status == "finalized" and final.finalized_at is not None
    assert "photometry pending" in caplog.text
    with pytest.raises(NotFoundError):
        finalize_data("nope", settings=db_settings)
    assert {r.data_id for r in list_data(settings=db_settings)} == {img, mosaic}
    assert [r.data_id for r in list_data(data_type="mosaic", settings=db_settings)] == [mosaic]
    assert count_data(photometry_status="pending", settings=db_settings) == 1
    assert count_data(status="finalized", settings=db_settings) == 1
    assert get_data("nope", settings=db_settings) is None
    # re-registering keeps the registry state
    register_image(get_data(img, settings=db_settings).path, settings=db_settings)
    assert get_data(img, settings=db_settings).qa_status == "failed"
    assert get_data(img, settings=db_settings).photometry_status == "pending"
