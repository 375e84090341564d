"""The upload limit, enforced while the body arrives rather than after it was all read.

A request that declares a larger ``Content-Length`` is refused before its body is read. One without a
length (chunked) is counted as it streams and refused as soon as it passes the limit. Either way the
bytes are never kept: a modest overshoot (up to the limit again) is read and thrown away first, so
that the client, which is usually still sending, reads the 413 instead of a reset connection.
"""

from __future__ import annotations

import asyncio
import json
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from localvoice.server.errors import error_body, too_large

_DRAIN_SECONDS = 5.0  # give up discarding after this long; the connection then simply closes


class UploadLimit:
    """Pure ASGI middleware (streaming responses pass straight through)."""

    def __init__(self, app: ASGIApp, limit_bytes: int) -> None:
        self.app = app
        self.limit_bytes = limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit_bytes:
            if declared <= 2 * self.limit_bytes:
                await _discard(receive, 2 * self.limit_bytes)
            await self._refuse(scope, send)
            return
        counted = 0
        refused = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal counted, refused
            message = await receive()
            if message["type"] == "http.request":
                counted += len(message.get("body", b""))
                if counted > self.limit_bytes:
                    refused = True
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            pass
        except Exception:
            if not refused:
                raise  # the app's own failure; the exception handlers deal with it
        if refused and not response_started:
            await _discard(receive, self.limit_bytes)
            await self._refuse(scope, send)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        limit_mb = max(1, self.limit_bytes // (1024 * 1024))
        body = json.dumps(error_body(scope.get("path", ""), too_large(limit_mb))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    """Raised inside the app's ``receive`` to stop its body parsing at once."""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _discard(receive: Receive, budget_bytes: int) -> None:
    """Read and drop what the client is still sending, up to ``budget_bytes`` or a few seconds."""
    deadline = time.monotonic() + _DRAIN_SECONDS
    dropped = 0
    while dropped <= budget_bytes:
        try:
            message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            return
        if message["type"] != "http.request":
            return
        dropped += len(message.get("body", b""))
        if not message.get("more_body", False):
            return
