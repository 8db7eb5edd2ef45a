import pytest
from sqlalchemy import func, select

from dsa110_contimg.catalog import position_source_id
from dsa110_contimg.database import get_data, get_engine, get_image, register_image
from dsa110_contimg.database.tables.products import batch_job_items
from dsa110_contimg.errors import JobError
from dsa110_contimg.jobs import (
    count_waiting_items,
    create_batch_photometry_job,
    get_job,
    job_items,
)
from dsa110_contimg.jobs.create import normalize_sources


def test_job_has_one_item_per_image_with_its_data_id(jsettings, field):
    first = register_image(field.paths[0], data_id="known-image", settings=jsettings)
    job_id = create_batch_photometry_job(field.paths, field.coords, settings=jsettings)
    job = get_job(job_id, settings=jsettings)
    assert job.status == "pending" and job.total_items == 3
    assert count_waiting_items(settings=jsettings) == 3  # what the stream/API warn about
    assert job.params["method"] == "peak" and job.params["n_sources"] == len(field.truth)
    assert (
        "sources" not in job.params
        and "sources" in get_job(job_id, with_sources=True, settings=jsettings).params
    )
    items = job_items(job_id, settings=jsettings)
    assert [i.fits_path for i in items] == [str(p.resolve()) for p in field.paths]
    assert items[0].data_id == first  # looked up by path
    for item in items:  # the others were registered on the way
        assert get_image(item.data_id, settings=jsettings).path == item.fits_path
        assert get_data(item.data_id, settings=jsettings).photometry_status == "pending"
        assert get_data(item.data_id, settings=jsettings).photometry_job_id == job_id


def test_single_image_data_id_and_normalize_accepted(jsettings, field):
    job_id = create_batch_photometry_job(
        field.paths[0], field.coords, normalize=True, data_id="my-image", settings=jsettings
    )
    assert job_items(job_id, settings=jsettings)[0].data_id == "my-image"
    assert get_job(job_id, settings=jsettings).params["normalize"] is True
    with pytest.raises(JobError, match="registered as data_id 'my-image'"):
        create_batch_photometry_job(
            field.paths[0], field.coords, data_id="other", settings=jsettings
        )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"method": "aperture"}, "unknown photometry method"),
        ({"data_id": "x"}, "names one image"),
        ({"coordinates": []}, "at least one coordinate"),
        ({"coordinates": [(1.0, 95.0)]}, "invalid position"),
        (
            {"coordinates": [{"ra_deg": 1.0, "dec_deg": 2.0, "catalog": "nvss"}]},
            "needs a source_id",
        ),
        ({"options": {"cutout": 3}}, "unknown photometry options"),
    ],
)
def test_invalid_jobs_are_refused_before_anything_is_stored(jsettings, field, kwargs, match):
    args = {"fits_paths": field.paths, "coordinates": field.coords, **kwargs}
    with pytest.raises(JobError, match=match):
        create_batch_photometry_job(settings=jsettings, **args)
    with get_engine(jsettings).connect() as conn:
        assert conn.execute(select(func.count()).select_from(batch_job_items)).scalar_one() == 0


def test_sources_from_catalog_dicts_keep_catalog_identity():
    cols = normalize_sources(
        [
            {
                "source_id": "NVSS J1",
                "catalog": "nvss",
                "ra_deg": 10.0,
                "dec_deg": 20.0,
                "flux_mjy": 35.0,
            },
            {
                "source_id": "NVSS J1",
                "catalog": "nvss",
                "ra_deg": 10.0,
                "dec_deg": 20.0,
            },  # duplicate
            (370.0, -5.0),
        ]
    )
    assert cols["catalog"] == ["nvss", "position"]
    assert cols["source_id"] == ["NVSS J1", position_source_id(10.0, -5.0)]
    assert cols["ra_deg"] == [10.0, 10.0] and cols["flux_mjy"] == [35.0, None]
