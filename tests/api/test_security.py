"""Path confinement to the data roots, bearer token, one error shape."""

from __future__ import annotations

import os

import pytest
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.api.errors import ApiError, status_for
from dsa110_contimg.api.security import resolve_request_path
from dsa110_contimg.config import Settings
from dsa110_contimg.database import dispose_engine
from dsa110_contimg.errors import (
    CatalogError,
    ContimgError,
    DatabaseError,
    InvalidImageError,
    JobError,
    NotFoundError,
    SchemaError,
)


@pytest.fixture
def roots(tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "passwd.fits").write_bytes(b"not for you")
    (root / "sub" / "ok.fits").write_bytes(b"x")
    os.symlink(outside / "passwd.fits", root / "escape.fits")
    os.symlink(outside, root / "escape_dir")
    os.symlink(root / "sub" / "ok.fits", root / "inner_link.fits")
    return root, outside


def _settings(tmp_path, root, **api):
    return Settings(state_dir=tmp_path / "state", api={"data_roots": [root], **api})


@pytest.mark.parametrize(
    "raw, status",
    [
        ("../secret/passwd.fits", 403),
        ("sub/../../secret/passwd.fits", 403),
        ("escape.fits", 403),  # symlink pointing outside
        ("escape_dir/passwd.fits", 403),  # symlinked directory pointing outside
        ("/etc/passwd", 403),
        ("missing.fits", 404),
        ("sub/missing.fits", 404),
        ("", 422),
        ("a\x00b", 422),
    ],
)
def test_paths_outside_roots_are_refused(tmp_path, roots, raw, status):
    root, _ = roots
    with pytest.raises(ApiError) as exc:
        resolve_request_path(_settings(tmp_path, root), raw)
    assert exc.value.status == status


def test_paths_inside_roots_resolve(tmp_path, roots):
    root, _ = roots
    s = _settings(tmp_path, root)
    ok = (root / "sub" / "ok.fits").resolve()
    assert resolve_request_path(s, "sub/ok.fits") == ok
    assert resolve_request_path(s, str(root / "sub" / "ok.fits")) == ok
    assert resolve_request_path(s, "inner_link.fits") == ok  # symlink staying inside


def test_no_roots_refuses_everything(tmp_path, roots):
    root, _ = roots
    with pytest.raises(ApiError) as exc:
        resolve_request_path(Settings(state_dir=tmp_path / "s"), str(root / "sub" / "ok.fits"))
    assert exc.value.status == 403


def test_error_mapping():
    assert status_for(NotFoundError("x")) == 404
    assert status_for(InvalidImageError("x")) == 422
    assert status_for(CatalogError("x")) == 422
    assert status_for(JobError("x")) == 409
    assert status_for(SchemaError("x")) == 503
    assert status_for(DatabaseError("x")) == 503
    assert status_for(ContimgError("x")) == 500


@pytest.fixture
def token_client(tmp_path, roots):
    root, _ = roots
    s = _settings(tmp_path, root, token="s3cret-token")
    with TestClient(create_app(s), raise_server_exceptions=False) as c:
        yield c
    dispose_engine(s)


WRITE_CALLS = [
    ("post", "/api/photometry/measure", {"image_path": "sub/ok.fits", "ra_deg": 1, "dec_deg": 2}),
    (
        "post",
        "/api/photometry/measure-batch",
        {"image_paths": ["sub/ok.fits"], "positions": [{"ra_deg": 1, "dec_deg": 2}]},
    ),
    ("post", "/api/photometry/normalize", {"data_id": "x", "flux_jy": 1.0, "flux_err_jy": 0.1}),
    ("post", "/api/batch/1/cancel", None),
    ("post", "/api/batch/1/retry", None),
    ("post", "/api/ese/candidates/1/confirm", None),
    ("post", "/api/ese/candidates/1/dismiss", None),
    ("post", "/api/ese/candidates/1/reopen", None),
]


@pytest.mark.parametrize("method, url, body", WRITE_CALLS)
def test_write_endpoints_need_the_token(token_client, method, url, body):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        r = token_client.request(method, url, json=body, headers=headers)
        assert r.status_code == 401, (url, headers, r.text)
        assert r.json()["error"]["type"] == "Unauthorized"
        assert r.headers["www-authenticate"] == "Bearer"
    r = token_client.request(
        method, url, json=body, headers={"Authorization": "Bearer s3cret-token"}
    )
    assert r.status_code != 401


def test_reads_do_not_need_the_token(token_client):
    assert token_client.get("/api/data").status_code == 200
    assert token_client.get("/api/batch").status_code == 200


def test_measure_with_escaping_path_is_403_without_opening(token_client, roots):
    _, outside = roots
    auth = {"Authorization": "Bearer s3cret-token"}
    target = outside / "passwd.fits"
    before = target.stat().st_atime_ns
    for raw in ("../secret/passwd.fits", "escape.fits", str(target)):
        r = token_client.post(
            "/api/photometry/measure",
            headers=auth,
            json={"image_path": raw, "ra_deg": 10, "dec_deg": 10},
        )
        assert r.status_code == 403
        assert set(r.json()["error"]) == {"status", "type", "message"}
    assert target.stat().st_atime_ns == before
