"""A real server (uvicorn in a thread, random loopback port) over a pipeline-filled database,
and headless Debian Chromium driven by Playwright (never Playwright's own browser download)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from dsa110_contimg.database import dispose_engine

from ..api.pipeline import build_pipeline, pipeline_settings

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "web-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import uvicorn

    from dsa110_contimg.api import create_app
    from dsa110_contimg.cli.serve import bind_socket

    root = tmp_path_factory.mktemp("web")
    data_root = root / "data"
    data_root.mkdir()
    settings = pipeline_settings(root / "state", data_root, token=TOKEN)
    pipe = build_pipeline(settings, data_root)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", pipe
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()
    dispose_engine(settings)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing (Debian package 'chromium')")
        pytest.skip("/usr/bin/chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh page that records console errors and refuses every non-loopback request."""
    base, _ = server
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    pg.errors = []
    pg.external = []
    pg.on("console", lambda m: pg.errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))

    def guard(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            pg.external.append(route.request.url)
            route.abort()

    pg.route("**/*", guard)
    yield pg
    ctx.close()
