"""``contimg serve``: the HTTP API and web UI on uvicorn."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ._common import Groups, console, get_settings


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind a listening TCP socket (``port=0`` picks a free port); raise ConfigError if taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio then sets TCP_NODELAY on accepted connections (proto 0 would
    # leave Nagle on, adding ~40 ms per keep-alive response through delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror})") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ui_url(host: str, port: int) -> str:
    """Return the browser URL of a server listening on ``host:port``.

    Examples
    --------
    >>> ui_url("0.0.0.0", 8110), ui_url("::1", 80)
    ('http://127.0.0.1:8110/', 'http://[::1]:80/')
    """
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def register(app: typer.Typer, groups: Groups) -> None:
    """Add ``contimg serve`` to the app."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: Annotated[
            str | None, typer.Option("--host", help="Interface to listen on (api.host).")
        ] = None,
        port: Annotated[
            int | None,
            typer.Option("--port", min=0, max=65535, help="Port (api.port; 0 picks a free one)."),
        ] = None,
        data_root: Annotated[
            list[Path] | None,
            typer.Option(
                "--data-root",
                help="Directory request image paths must resolve into (repeatable; "
                "replaces api.data_roots).",
            ),
        ] = None,
        access_log: Annotated[
            bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
        ] = False,
    ) -> None:
        """Serve the JSON API (/api, OpenAPI at /api/docs), /metrics and the web UI.

        Write and compute endpoints need 'Authorization: Bearer TOKEN' when a token is set
        (CONTIMG_API__TOKEN or the api.token setting in the TOML file; never on the command line).
        """
        try:
            import uvicorn
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigError("'contimg serve' needs the 'api' extra (uvicorn, fastapi)") from None
        from ..api import create_app
        from ..runtime import settle

        settings = get_settings(ctx)
        update = {}
        if host is not None:
            update["host"] = host
        if port is not None:
            update["port"] = port
        if data_root:
            roots = []
            for d in data_root:
                if not d.is_dir():
                    raise ConfigError("--data-root is not a directory", path=d)
                roots.append(d.resolve())
            update["data_roots"] = roots
        if update:
            settings = settings.model_copy(update={"api": settings.api.model_copy(update=update)})
        api = settings.api
        sock = bind_socket(api.host, api.port)
        bound_port = sock.getsockname()[1]
        app_ = create_app(settings)
        settle()  # a long-running process: its start-up objects out of the collector's walks
        url = ui_url(api.host, bound_port)
        console.print(f"contimg UI: {url}", highlight=False, soft_wrap=True)
        console.print(f"API docs: {url}api/docs", highlight=False, soft_wrap=True)
        if api.token is None:
            console.print(
                "no API token set: write endpoints are open (set CONTIMG_API__TOKEN)",
                style="yellow",
                highlight=False,
            )
        config = uvicorn.Config(
            app_,
            log_level=settings.log_level.lower(),
            access_log=access_log,
            timeout_keep_alive=75,  # longer than clients keep idle connections (no reuse race)
            timeout_graceful_shutdown=5,
        )
        server = uvicorn.Server(config)
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
