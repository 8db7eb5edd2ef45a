import numpy as np

from dsa110_contimg.database import photometry_for_data, photometry_insert


def test_rows_read_back_as_written(db_settings):
    rows = [
        {"data_id": "img-a", "catalog": "nvss", "source_id": f"S{i}", "ra_deg": 10.0 + i,
         "dec_deg": 40.0, "flux_jy": 0.1 * i, "flux_err_jy": 0.01, "mjd": 60000.5,
         "flags": "" if i else "edge"}
        for i in range(3)
    ]
    rows.append({**rows[0], "data_id": "img-b"})
    photometry_insert(rows, settings=db_settings)
    t = photometry_for_data("img-a", settings=db_settings)
    assert list(t["source_id"]) == ["S0", "S1", "S2"]
    np.testing.assert_allclose(t["flux_jy"], [0.0, 0.1, 0.2])
    assert list(t["flags"]) == ["edge", "", ""]
    assert np.isnan(t["catalog_flux_mjy"]).all()


def test_unknown_product_gives_empty_table(db_settings):
    assert len(photometry_for_data("nothing", settings=db_settings)) == 0
