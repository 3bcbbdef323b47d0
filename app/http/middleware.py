"""The ASGI middleware: request ids, HTTP metrics, and the body size limit."""

from __future__ import annotations

import json
import time
import uuid
from typing import Callable

import anyio

from app.http.bodies import error_payload
from app.observability.logs import request_id_var
from app.observability.metrics import REQUEST_SECONDS, REQUESTS, series


class BodySizeLimit:
    """Bodies over MAX_REQUEST_SIZE answer 413 before the app sees them, chunked or not."""

    def __init__(self, app, max_bytes: int, on_reject: Callable[[str, str], None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_reject = on_reject  # called off the event loop with (path, reason)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > self.max_bytes:
                    return await self._too_large(scope, send)
            except ValueError:
                await self._record(scope, "invalid_content_length")
                return await self._reply(send, 400, "invalid Content-Length",
                                         "The Content-Length header is not a number.")
        # Read the whole (bounded) body here, so an oversized chunked body is refused
        # before any route runs, then hand it on unchanged.
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                return await self._too_large(scope, send)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _record(self, scope, reason: str) -> None:
        if self.on_reject:
            await anyio.to_thread.run_sync(self.on_reject, scope.get("path", ""), reason)

    async def _too_large(self, scope, send) -> None:
        await self._record(scope, "body_too_large")
        await self._reply(send, 413, f"request body larger than {self.max_bytes} bytes",
                          f"The message is too large: at most {self.max_bytes} bytes are accepted.")

    @staticmethod
    async def _reply(send, status: int, detail: str, error: str) -> None:
        # Answered before FastAPI runs, so its handlers cannot shape this body: same fields here.
        body = json.dumps(error_payload(detail, error)).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class RequestIds:
    """Every HTTP request gets an id, in the logs, on its audit rows (refusals included) and
    in the X-Request-ID response header; a turn then records under its own request id."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request_id = str(uuid.uuid4())
        request_id_var.set(request_id)

        async def with_header(message):
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        await self.app(scope, receive, with_header)


class HttpMetrics:
    """Counts every request by its route template (not its path, to keep labels bounded)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = 500

        async def counting_send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            series(REQUESTS, scope.get("method", ""), template, str(status)).inc()
            series(REQUEST_SECONDS, template).observe(time.perf_counter() - started)
