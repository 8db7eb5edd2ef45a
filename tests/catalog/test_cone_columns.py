"""Cone searches return the columns a photometry job needs; every column on request."""

import numpy as np

from dsa110_contimg.catalog import ingest_table, query_sources
from dsa110_contimg.simulation import make_catalog


def test_default_columns_are_lean_and_all_columns_complete(settings):
    cat = make_catalog(center=(150.0, 40.0), radius_deg=1.0, seed=3)
    ingest_table("nvss", cat, settings=settings)
    lean = query_sources("nvss", 150.0, 40.0, 0.5, settings=settings)
    full = query_sources("nvss", 150.0, 40.0, 0.5, all_columns=True, settings=settings)
    assert lean.colnames == ["source_id", "catalog", "ra_deg", "dec_deg", "flux_mjy",
                             "flux_err_mjy", "flags", "sep_deg"]
    assert {"dc_maj_arcsec", "dc_pa_deg", "ra_err_arcsec"} <= set(full.colnames)
    # the same rows, in the same order, with the same values where both have a column
    assert list(lean["source_id"]) == list(full["source_id"])
    for name in lean.colnames:
        if lean[name].dtype.kind == "f":
            np.testing.assert_array_equal(lean[name], full[name])
