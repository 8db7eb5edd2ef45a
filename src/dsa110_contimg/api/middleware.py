"""ASGI middleware: request-body size limit and a per-status request counter."""

from __future__ import annotations

import json
import threading
from collections import Counter

from .errors import error_body

__all__ = ["BodyLimitMiddleware", "RequestCounter"]


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
    body = json.dumps(error_body(status, "PayloadTooLarge", message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


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
