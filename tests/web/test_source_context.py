"""The source page's context without a browser: a blended source explains itself and still
shows what exists; sexagesimal positions; docs/variability.md is the page served."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from dsa110_contimg.catalog.ids import position_source_id
from dsa110_contimg.database import get_engine, write_transaction
from dsa110_contimg.database.products import insert_photometry_rows
from dsa110_contimg.photometry.normalize import normalize_all
from dsa110_contimg.simulation.lightcurves import simulate_lightcurves, write_simulated_photometry
from dsa110_contimg.web.source_context import sexagesimal

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def blended_db(settings):
    """A simulated field plus a pair of sources 20" apart measured jointly (flag 'blended')."""
    sim = simulate_lightcurves(n_epochs=8, n_references=6, targets=[{"snr": 60}] * 3, seed=3)
    ids = write_simulated_photometry(sim, settings=settings)
    ra0, dec0 = float(sim.ra_deg[-1]) + 0.05, float(sim.dec_deg[-1])
    pair = [
        (position_source_id(ra, dec0), ra, dec0)
        for ra in (ra0, ra0 + 20 / 3600 / np.cos(np.radians(dec0)))
    ]
    with write_transaction(get_engine(settings)) as conn:
        for i, did in enumerate(ids):
            insert_photometry_rows(
                conn,
                {
                    "data_id": [did, did],
                    "catalog": ["nvss", "nvss"],
                    "source_id": [p[0] for p in pair],
                    "ra_deg": np.array([p[1] for p in pair]),
                    "dec_deg": np.array([p[2] for p in pair]),
                    "catalog_flux_mjy": np.array([30.0, 25.0]),
                    "flux_jy": np.array([0.030, 0.025]),
                    "flux_err_jy": np.array([0.001, 0.001]),
                    "local_rms_jy": np.array([0.001, 0.001]),
                    "snr": np.array([30.0, 25.0]),
                    "flags": ["blended", "blended"],
                    "mjd": float(sim.mjd[i]),
                },
            )
    normalize_all(settings=settings)
    return settings, pair


def test_blended_source_explains_itself(blended_db):
    from fastapi.testclient import TestClient

    from dsa110_contimg.api import create_app

    settings, pair = blended_db
    with TestClient(create_app(settings)) as c:
        r = c.get(f"/sources/nvss/{quote(pair[0][0], safe='')}")
        assert r.status_code == 200
        html = r.text
        assert 'id="blend-explain"' in html
        assert pair[1][0] in html  # names the partner, with a link
        assert "no epoch light curve and no metrics" in html
        assert "0 of 8 measurements are clean" in html
        assert '"fallback": "image"' in html and '<option value="image" selected>' in html
        # the image series still has the jointly fitted fluxes
        lc = c.get(f"/api/sources/nvss/{quote(pair[0][0], safe='')}/lightcurve?series=image")
        assert lc.json()["count"] == 8
        # listed in the source table, with its flag
        listed = c.get("/api/sources", params={"q": pair[0][0]}).json()["items"]
        assert listed[0]["source_id"] == pair[0][0] and listed[0]["last_flags"] == "blended"
        # a clean source has no such block
        every = c.get("/api/sources", params={"sort": "source_id", "limit": 50}).json()["items"]
        clean = next(x for x in every if x["n_clean"])
        page = c.get(f"/sources/nvss/{quote(clean['source_id'], safe='')}").text
        assert 'id="blend-explain"' not in page


def test_sexagesimal_roundtrip():
    from dsa110_contimg.catalog.names import parse_position

    for ra, dec in [(0.0, 0.0), (198.821667, -46.501111), (359.9999, 89.99), (12.5, -0.5)]:
        r2, d2 = parse_position(sexagesimal(ra, dec))
        assert abs(((r2 - ra + 180) % 360) - 180) * np.cos(np.radians(dec)) < 0.01 / 3600 * 15
        assert abs(d2 - dec) < 0.06 / 3600


def test_packaged_docs_page_is_docs_variability_md():
    packaged = ROOT / "src/dsa110_contimg/web/docs/variability.md"
    assert packaged.read_text() == (ROOT / "docs/variability.md").read_text()
