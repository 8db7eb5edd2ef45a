"""ASGI middleware: body size limit, request counter, write guard, relative file paths."""

from __future__ import annotations

import json
import threading
from collections import Counter

from .errors import error_body

__all__ = [
    "BodyLimitMiddleware",
    "RelativePathsMiddleware",
    "RequestCounter",
    "WriteGuardMiddleware",
    "default_allowed_hosts",
]


class RequestCounter:
    """Thread-safe counts of responses by status class (``"2xx"``, ``"4xx"``, ...)."""

    def __init__(self) -> None:
        self._counts: Counter = Counter()
        self._lock = threading.Lock()

    def add(self, status: int) -> None:
        """Count one response."""
        with self._lock:
            self._counts[(f"{status // 100}xx",)] += 1

    def snapshot(self) -> dict:
        """Return a copy of the counts."""
        with self._lock:
            return dict(self._counts)


async def _send_error(send, status: int, message: str) -> None:
    await _send_json(send, status, "PayloadTooLarge", message, close=True)


class BodyLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` with 413, before any parsing.

    The declared ``Content-Length`` is checked first; a chunked body is read up to the limit
    and then replayed to the application.
    """

    def __init__(self, app, *, max_bytes: int, counter: RequestCounter | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.counter = counter

    async def __call__(self, scope, receive, send):
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counting_send(message):
            if message["type"] == "http.response.start" and self.counter is not None:
                self.counter.add(int(message["status"]))
            await send(message)

        too_big = f"request body larger than {self.max_bytes} bytes"
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared < 0 or declared > self.max_bytes:
                    return await _send_error(
                        counting_send,
                        413 if declared > 0 else 400,
                        too_big if declared > 0 else "bad Content-Length",
                    )
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, counting_send)
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return await _send_error(counting_send, 413, too_big)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, counting_send)


# -- cross-site and DNS-rebinding protection of write requests -------------------------------

_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def default_allowed_hosts(bind_host: str, extra: list[str] | tuple[str, ...] = ()) -> set[str]:
    """Host names a write request may carry: the bind address, loopback names and ``extra``.

    Examples
    --------
    >>> sorted(default_allowed_hosts("127.0.0.1", ["pipeline.ovro.example"]))
    ['127.0.0.1', '::1', 'localhost', 'pipeline.ovro.example']
    """
    hosts = {"localhost", "127.0.0.1", "::1"}
    bind = (bind_host or "").strip("[]").lower()
    if bind in ("0.0.0.0", "::", ""):
        import socket

        name = socket.gethostname().lower()
        hosts |= {name, socket.getfqdn(name).lower()}
    elif bind:
        hosts.add(bind)
    hosts |= {h.strip().strip("[]").lower() for h in extra if h.strip()}
    return hosts


def _host_only(value: str) -> str:
    """``example.org:8110`` -> ``example.org``; ``[::1]:80`` -> ``::1``."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class WriteGuardMiddleware:
    """Refuse write requests (POST/PUT/PATCH/DELETE) from other sites or to unknown hosts.

    * ``Host`` must name this server (:func:`default_allowed_hosts`), so a DNS-rebinding page
      cannot reach it under another name: 421 otherwise;
    * an ``Origin`` header must be the same host (a browser sends it with every cross-site
      POST, also for HTML forms), and ``Sec-Fetch-Site`` must not be ``cross-site`` or
      ``same-site``: 403 otherwise. Clients that send neither (curl, scripts) are let through:
      the bearer token (``api.token``) is what authenticates them.
    """

    def __init__(self, app, *, allowed_hosts: set[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope, receive, send):
        """Handle one ASGI connection."""
        if scope["type"] != "http" or scope.get("method") not in _WRITE_METHODS:
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _host_only(headers.get("host", ""))
        if host not in self.allowed:
            return await _send_json(
                send,
                421,
                "MisdirectedRequest",
                f"Host {host or '(none)'!r} is not served here (add it to api.allowed_hosts)",
            )
        fetch_site = headers.get("sec-fetch-site", "").lower()
        if fetch_site in ("cross-site", "same-site"):
            return await _send_json(
                send,
                403,
                "Forbidden",
                f"cross-site write request refused (Sec-Fetch-Site: {fetch_site})",
            )
        origin = headers.get("origin")
        if origin is not None:
            from urllib.parse import urlsplit

            o = urlsplit(origin)
            o_host = (o.hostname or "").lower()
            if origin == "null" or not o_host or (o_host != host and o_host not in self.allowed):
                return await _send_json(
                    send, 403, "Forbidden", f"cross-origin write request refused (Origin: {origin})"
                )
        return await self.app(scope, receive, send)


async def _send_json(send, status: int, kind: str, message: str, *, close: bool = False) -> None:
    """Send the one error shape as a whole response (``close``: and end the connection)."""
    body = json.dumps(error_body(status, kind, message)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- file paths relative to the data roots ----------------------------------------------------


class RelativePathsMiddleware:
    """Show file paths in JSON responses relative to the data root they lie in.

    A JSON string that starts with a data root (``api.data_roots``) or the state directory is
    rewritten to the part after it (``"/data/dsa110/images/x.fits"`` -> ``"images/x.fits"``
    with root ``/data/dsa110``), so responses never reveal the server's directory layout, and
    a path read from one response can be sent back in a request (request paths are resolved
    relative to each data root). Roots are tried longest first.
    """

    def __init__(self, app, *, roots: list[str]) -> None:
        self.app = app
        prefixes = []
        for r in sorted({str(r).rstrip("/") for r in roots if str(r).strip("/")}, key=len,
                        reverse=True):
            quoted = json.dumps(r + "/")[:-1].encode()  # '"/root/' as JSON writes it
            prefixes.append(quoted)
        self.prefixes = prefixes

    async def __call__(self, scope, receive, send):
        """Handle one ASGI connection."""
        if scope["type"] != "http" or not self.prefixes:
            return await self.app(scope, receive, send)
        start: dict | None = None
        chunks: list[bytes] = []

        async def rewriting_send(message):
            nonlocal start
            if message["type"] == "http.response.start":
                ctype = dict(message.get("headers", [])).get(b"content-type", b"")
                if ctype.startswith(b"application/json"):
                    start = message
                    return None
                return await send(message)
            if start is None:
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return None
            body = b"".join(chunks)
            for prefix in self.prefixes:
                if prefix in body:
                    body = body.replace(prefix, b'"')
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            return await send({"type": "http.response.body", "body": body})

        return await self.app(scope, receive, rewriting_send)
