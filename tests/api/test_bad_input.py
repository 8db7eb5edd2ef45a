"""Malformed, huge, non-finite and mistyped input: always a 4xx in the one error shape."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.config import Settings
from dsa110_contimg.database import dispose_engine


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("badinput")
    (tmp / "data").mkdir()
    s = Settings(
        state_dir=tmp / "state",
        api={
            "data_roots": [tmp / "data"],
            "max_batch_positions": 10,
            "max_body_bytes": 20_000,
            "max_page_size": 100,
        },
    )
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        yield c
    dispose_engine(s)


def _shape(r, status):
    if isinstance(status, tuple):  # either is right (e.g. unparseable body: 400 or 422)
        assert r.status_code in status, r.text
        status = r.status_code
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"status", "type", "message"}
    assert body["error"]["status"] == status
    assert body["error"]["message"]
    return body["error"]


JSON = {"content-type": "application/json"}
MEASURE = "/api/photometry/measure"


@pytest.mark.parametrize(
    "raw",
    [
        b"{bad json",
        b"",
        b"[]",
        b"null",
        b'"string"',
        b'{"image_path": "a.fits", "ra_deg": NaN, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": Infinity, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": -Infinity, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": 1e400, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": 1e300, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": ' + b"9" * 5000 + b', "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": "ten", "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": [1], "dec_deg": 1}',
        b'{"image_path": 5, "ra_deg": 1, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": 1, "dec_deg": 91}',
        b'{"image_path": "a.fits", "ra_deg": 1}',
        b'{"image_path": "a.fits", "data_id": "x", "ra_deg": 1, "dec_deg": 1}',
        b'{"ra_deg": 1, "dec_deg": 1}',
        b'{"image_path": "a.fits", "ra_deg": 1, "dec_deg": 1, "unknown": 1}',
        b"\xff\xfe\x00garbage",
        b'{"image_path": "a.fits", "ra_deg": 1, "dec_deg": 1' + b"}" * 3,
        b"[" * 10000 + b"]" * 10000,
    ],
)
def test_malformed_measure_bodies(client, raw):
    _shape(client.post(MEASURE, content=raw, headers=JSON), (400, 422))


def test_wrong_content_type_is_422(client):
    _shape(client.post(MEASURE, content=b"ra=1", headers={"content-type": "text/plain"}), 422)


def test_body_too_large_is_413(client):
    big = b'{"image_path": "' + b"a" * 30_000 + b'", "ra_deg": 1, "dec_deg": 1}'
    _shape(client.post(MEASURE, content=big, headers=JSON), 413)

    def chunks():  # no Content-Length: streamed body counted as it arrives
        for _ in range(30):
            yield b" " * 1000

    _shape(client.post(MEASURE, content=chunks(), headers=JSON), 413)


def test_batch_limits(client):
    pos = [{"ra_deg": 1.0, "dec_deg": 1.0}] * 11
    err = _shape(
        client.post(
            "/api/photometry/measure-batch", json={"image_paths": ["a.fits"], "positions": pos}
        ),
        422,
    )
    assert "maximum of 10" in err["message"]
    _shape(
        client.post(
            "/api/photometry/measure-batch", json={"image_paths": ["a.fits"], "positions": []}
        ),
        422,
    )
    _shape(client.post("/api/photometry/measure-batch", json={"positions": pos[:1]}), 422)
    _shape(
        client.post(
            "/api/photometry/measure-batch",
            json={"image_paths": ["a.fits"], "positions": pos[:1], "method": "psf"},
        ),
        422,
    )


@pytest.mark.parametrize(
    "url, status",
    [
        ("/api/data?limit=101", 422),
        ("/api/data?limit=0", 422),
        ("/api/data?limit=-5", 422),
        ("/api/data?limit=abc", 422),
        ("/api/data?offset=-1", 422),
        ("/api/data?offset=" + "9" * 400, 422),
        ("/api/data?type=movie", 422),
        ("/api/batch/0", 422),
        ("/api/batch/" + "9" * 40, 422),
        ("/api/batch/abc", 422),
        ("/api/batch/12345", 404),
        ("/api/data/nothing-here", 404),
        ("/api/images/nothing-here", 404),
        ("/api/images/nothing-here/preview.png", 404),
        ("/api/images/x/cutout.fits?ra_deg=nan&dec_deg=1", 422),
        ("/api/images/x/cutout.fits?ra_deg=inf&dec_deg=1", 422),
        ("/api/images/x/cutout.fits?ra_deg=1&dec_deg=1&size_arcmin=-1", 422),
        ("/api/sources?ra_deg=1&dec_deg=100", 422),
        ("/api/sources?ra_deg=1&dec_deg=1&radius_deg=50", 422),
        ("/api/sources?ra_deg=1e999&dec_deg=1", 422),
        ("/api/sources/nvss/J000000+000000", 404),
        ("/api/sources/nvss/J000000+000000/lightcurve", 404),
        ("/api/sources/nvss/J0/lightcurve?series=weekly", 422),
        ("/api/sources/nvss/J0/lightcurve?format=xlsx", 422),
        ("/api/no/such/route", 404),
    ],
)
def test_bad_queries(client, url, status):
    _shape(client.get(url), status)


def test_wrong_method_has_the_shape(client):
    _shape(client.delete("/api/data"), 405)
    _shape(client.get(MEASURE), 405)


def test_server_still_answers(client):
    assert client.get("/api/health").status_code == 200


WEIRD_PATH = [
    "0",
    "-1",
    "9" * 30,
    "a" * 300,
    "..%2F..%2Fetc%2Fpasswd",
    "%00",
    "%F0%9F%99%82",
    "x%2Fy",
    "nan",
]
WEIRD_QUERY = ["nan", "inf", "-1e309", "", "[]", "%F0%9F%99%82", "9" * 400, "-0", "true"]
WEIRD_BODIES = [
    b"{}",
    b"[]",
    b"1e999",
    b'{"a": [[[[[]]]]]}',
    b'{"note": 5}',
    b'{"image_paths": "x", "positions": {}}',
    b'{"data_id": null}',
    b"\x00",
]


def test_every_endpoint_with_garbage_never_5xx(client):
    """A small fuzz over the OpenAPI schema: odd path values, query values and bodies."""
    spec = client.get("/api/openapi.json").json()
    n = 0
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            params = op.get("parameters", [])
            query = [p["name"] for p in params if p["in"] == "query"]
            for i, weird in enumerate(WEIRD_PATH):
                url = path
                for p in params:
                    if p["in"] == "path":
                        url = url.replace("{" + p["name"] + "}", weird)
                q = "&".join(
                    f"{name}={WEIRD_QUERY[(i + k) % len(WEIRD_QUERY)]}"
                    for k, name in enumerate(query)
                )
                body = WEIRD_BODIES[i % len(WEIRD_BODIES)] if method == "post" else None
                r = client.request(
                    method.upper(),
                    url + ("?" + q if q else ""),
                    content=body,
                    headers=JSON if body is not None else {},
                )
                n += 1
                assert r.status_code < 500, (method, url, q, body, r.text)
                if r.status_code >= 400:
                    assert set(r.json()["error"]) == {"status", "type", "message"}
    assert n > 150
