"""The metric rebuild's block read on PostgreSQL (``metric_blocks.block_rows``).

It reads the base tables with a few statements per block and joins the per-image values in
numpy; what it returns must be, to the last bit, what the view ``photometry`` gives for the
same rows (read here through the view path of the same module), including the rows that do
not take the fast read: flagged, NULL flux, values of their own in the per-image columns.
The products it joins are read once per rebuild (:func:`image_table`), not once per block.
"""

import numpy as np
import pytest
from sqlalchemy import text

from dsa110_contimg.database import get_engine
from dsa110_contimg.database import metric_blocks as mb
from dsa110_contimg.database import metrics as mstore
from dsa110_contimg.database.block_reads import (
    BITMAP_ONLY,
    BLOCK_READ_SETTINGS,
    bitmap_scans,
    set_block_reads,
)
from dsa110_contimg.database.rawsql import fetch_raw
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.variability import apply_factor
from dsa110_contimg.variability.pipeline import normalize_all

from ..conftest import make_settings

pytestmark = pytest.mark.postgres


def _hex(a) -> list:
    return [None if not np.isfinite(v) else float(v).hex() for v in np.asarray(a, dtype=float)]


@pytest.fixture
def stored(tmp_path, postgres_url):
    """A normalized survey on PostgreSQL with rows that each take the read's other path."""
    s = make_settings(tmp_path / "state", database_url=postgres_url)
    sim = simulate_lightcurves(
        n_epochs=20, n_references=8, targets=[{"snr": 60}, {"snr": 30}], seed=11
    )
    write_simulated_photometry(sim, settings=s)
    normalize_all(settings=s)
    with get_engine(s).begin() as conn:
        for sql in (
            "UPDATE photometry_rows SET flags = 'blended' WHERE id % 5 = 0",
            "UPDATE photometry_rows SET flux_jy = NULL WHERE id % 11 = 1",
            "UPDATE photometry_rows SET flux_err_jy = NULL WHERE id % 17 = 2",
            "UPDATE photometry_rows SET mjd = 60123.25 + id WHERE id % 7 = 3",
            "UPDATE photometry_rows SET normalized_flux_jy = 1.5, normalized_flux_err_jy = 0.25 "
            "WHERE id % 13 = 4",
            "UPDATE photometry_rows SET ra_deg = 12.5, dec_deg = -3.25, catalog_flux_mjy = 99.0 "
            "WHERE id % 19 = 5",
            "UPDATE photometry_rows SET flux_jy = 'NaN' WHERE id % 23 = 6",  # NaN, not NULL
        ):
            conn.execute(text(sql))
    yield s


def _by_row(rows: mb.BlockRows, *, view: bool) -> dict:
    """(source, data_id) -> the values the view gives for the row."""
    if view:
        nf, ne = rows.own_nf, rows.own_ne
        nf_null, ne_null = rows.own_nf_null, rows.own_ne_null
    else:  # as compute_metrics applies the factors
        f, e = apply_factor(rows.flux, rows.err, rows.factor, rows.factor_err)
        nf, ne = (
            np.where(rows.own_nf_null, f, rows.own_nf),
            np.where(rows.own_ne_null, e, rows.own_ne),
        )
        nf_null = rows.own_nf_null & ~np.isfinite(f)
        ne_null = rows.own_ne_null & ~np.isfinite(e)
    out = {}
    for i in range(len(rows)):
        key = (rows.keys[rows.key_index[i]], rows.image[i])
        out[key] = (
            _hex(rows.mjd[i : i + 1]), bool(rows.mjd_null[i]),
            _hex(rows.flux[i : i + 1]), bool(rows.flux_null[i]),
            _hex(rows.err[i : i + 1]), bool(rows.err_null[i]),
            None if nf_null[i] else _hex(nf[i : i + 1]),
            None if ne_null[i] else _hex(ne[i : i + 1]),
            bool(rows.clean[i]), bool(rows.science[i]), bool(rows.mosaic[i]), rows.flags[i],
            _hex(rows.ra[i : i + 1]), _hex(rows.dec[i : i + 1]),
            None if rows.catalog_flux_null[i] else _hex(rows.catalog_flux[i : i + 1]),
        )  # fmt: skip
    return out


def test_block_rows_give_the_views_values_to_the_last_bit(stored):
    with get_engine(stored).connect() as conn:
        keys = sorted(set(mstore.photometry_keys(conn)))
        expected = _by_row(mb._block_rows_view(conn, keys), view=True)
        images = mb.image_table(conn)
        got = _by_row(mb.block_rows(conn, keys, images), view=False)
        again = _by_row(mb.block_rows(conn, keys[3:] + keys[:3]), view=False)  # reads them
        n_other = conn.execute(
            text(
                "SELECT count(*) FROM photometry_rows WHERE flags <> '' OR flux_jy IS NULL "
                "OR flux_err_jy IS NULL OR mjd IS NOT NULL OR ra_deg IS NOT NULL "
                "OR normalized_flux_jy IS NOT NULL"
            )  # fmt: skip
        ).scalar_one()
    assert n_other > 20 and len(expected) - n_other > 50  # both kinds of rows
    assert got == expected
    assert again == expected


def test_the_image_table_is_none_where_the_view_is_read(tmp_path):
    s = make_settings(tmp_path / "lite")  # SQLite
    with get_engine(s).connect() as conn:
        assert mb.image_table(conn) is None


def test_block_read_settings_last_for_the_transaction_only(stored):
    engine = get_engine(stored)
    with engine.connect() as conn:
        pid = fetch_raw(conn, "SELECT pg_backend_pid()")[0][0]
        set_block_reads(conn)
        for name, value in BLOCK_READ_SETTINGS.items():
            assert fetch_raw(conn, f"SHOW {name}")[0][0] == value
    seen = []
    for _ in range(20):  # the same pooled connection again, as the pool returned it
        with engine.connect() as conn:
            seen.append(fetch_raw(conn, "SELECT pg_backend_pid()")[0][0])
            if seen[-1] == pid:
                assert fetch_raw(conn, "SHOW max_parallel_workers_per_gather")[0][0] != "0"
                assert fetch_raw(conn, "SHOW enable_indexscan")[0][0] == "on"
                break
    assert seen[-1] == pid


def test_bitmap_scans_restore_the_setting_they_found(stored):
    with get_engine(stored).connect() as conn:
        for before in ("on", "off"):
            for name in BITMAP_ONLY:
                fetch_raw(conn, f"SELECT set_config('{name}', '{before}', false)")
            with bitmap_scans(conn):
                for name in BITMAP_ONLY:
                    assert fetch_raw(conn, f"SHOW {name}")[0][0] == "off"
            for name in BITMAP_ONLY:
                assert fetch_raw(conn, f"SHOW {name}")[0][0] == before
        for name in BITMAP_ONLY:
            fetch_raw(conn, f"SELECT set_config('{name}', 'on', false)")


def test_an_image_table_older_than_the_rows_is_read_again(stored):
    """Products stored after the table was read (a run beside the pipeline) are not missed."""
    with get_engine(stored).connect() as conn:
        keys = sorted(set(mstore.photometry_keys(conn)))
        full = mb.image_table(conn)
        expected = _by_row(mb.block_rows(conn, keys, full), view=False)
        stale = mb.ImageTable(*(getattr(full, f)[:-3] for f in full.__dataclass_fields__))
        got = _by_row(mb.block_rows(conn, keys, stale), view=False)
    assert len(stale.key) == len(full.key) - 3 > 0
    assert got == expected
