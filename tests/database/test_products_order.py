"""Every product a full re-normalization visits, in its order, from the product dictionary.

``products_in_order`` lists the registered images by mid time, then the products with
photometry that are not registered. The second part was a DISTINCT over the view
``photometry`` (a parallel scan of every measurement at 10^8 rows, twice per pass); it now
reads ``photometry_products``. The oracle is that old statement.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import delete, insert, select

from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database import normalization as nstore
from dsa110_contimg.database.products import photometry_insert
from dsa110_contimg.database.tables import images, photometry, photometry_products, photometry_rows


def _rows(data_id: str, mjd: float) -> dict:
    n = 3
    return {"data_id": data_id, "catalog": "nvss", "source_id": [f"S{i}" for i in range(n)],
            "ra_deg": np.full(n, 10.0), "dec_deg": np.arange(n) * 0.1, "mjd": mjd,
            "flux_jy": np.ones(n), "flux_err_jy": np.full(n, 0.01), "flags": ""}  # fmt: skip


def test_unregistered_products_with_rows_follow_the_images(db_settings):
    for did, mjd in (("zeta", 60003.0), ("alpha", 60002.0), ("img-b", 60001.0),
                     ("img-a", 60000.0), ("empty", 60004.0)):  # fmt: skip
        photometry_insert(_rows(did, mjd), settings=db_settings)
    engine = get_engine(db_settings)
    with write_transaction(engine) as conn:
        for did, mjd in (("img-a", 60000.0), ("img-b", 60001.0)):
            conn.execute(insert(images).values(data_id=did, path=f"/{did}.fits", kind="image",
                                               mjd_mid=mjd, created_at=0.0))  # fmt: skip
        key = conn.execute(
            select(photometry_products.c.image_key).where(photometry_products.c.data_id == "empty")
        ).scalar()
        conn.execute(delete(photometry_rows).where(photometry_rows.c.image_key == key))
    with engine.connect() as conn:
        got = nstore.products_in_order(conn)
        old = conn.execute(
            select(photometry.c.data_id)
            .distinct()
            .where(photometry.c.data_id.not_in(select(images.c.data_id)))
        ).all()
    assert got == ["img-a", "img-b", "alpha", "zeta"]
    assert sorted(got[2:]) == sorted(r[0] for r in old)  # the statement it replaced
