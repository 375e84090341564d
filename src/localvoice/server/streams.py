"""Streaming replies: SSE for the OpenAI routes, NDJSON for the Ollama routes, and a request slot
that is given back however the response ends (finished, failed, or the client went away)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable
from typing import Any

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from localvoice.server.state import ServerState


class SlotStreamingResponse(StreamingResponse):
    """A streaming response that owns one of ``state.request_slots`` (already taken) until it ends.

    Released around the whole ASGI call, not in the body's generator: a client that leaves before
    the first chunk means the generator never starts, and its ``finally`` would never run.
    """

    def __init__(
        self,
        state: ServerState,
        content: AsyncIterable[str | bytes],
        media_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            content, media_type=media_type, headers={"Cache-Control": "no-cache", **(headers or {})}
        )
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._state.request_slots.release()


def sse_event(payload: dict[str, Any] | str) -> str:
    """One server-sent event: ``data: <json>`` and a blank line (``[DONE]`` is sent as is)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    return f"data: {data}\n\n"


def ndjson_line(payload: dict[str, Any]) -> str:
    """One NDJSON line: compact JSON, no blank lines (Ollama's stream format)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n"
