"""The fake Ollama's OpenAI-compatible ``/v1`` routes: ``/v1/models`` and ``/v1/chat/completions``.

Shapes follow Ollama's openai/openai.go and middleware/openai.go (``chat.completion.chunk`` events
with ``delta.role`` "assistant" on every chunk, ``system_fingerprint`` "fp_ollama", a final chunk
with ``finish_reason`` and empty content, then ``data: [DONE]``; errors as
``{"error": {"message", "type", "param", "code"}}`` with type invalid_request_error (400),
not_found_error (404) or api_error) and are checked against the official ``openai`` client in
tests/integration/test_fake_openai_official_client.py.

A scripted error mid-stream is sent as ``data: {"error": {...}}`` under HTTP 200, the form the
official client raises ``APIError`` on (vLLM and OpenAI itself send it so). Ollama at the commit
read does not translate its own mid-stream error line for /v1 at all, so this is the convention a
client must handle, not Ollama's exact bytes.

The fake's scripting attributes apply here too: ``reply``, ``chunk_delay_s``, ``error_after_chunks``
(with ``error_message``), ``stall_after_chunks``, ``garbage_after_chunks``, ``models``, and
``http_error`` (401 and 403 gate every /v1 route like an API-key check; others only chat).
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_ollama import FakeOllama

_CREATED = 1_735_689_600  # 2025-01-01, the fake models' modified_at
_ERROR_TYPES = {400: "invalid_request_error", 404: "not_found_error"}


def openai_error(status: int, message: str) -> dict[str, Any]:
    """Ollama's openai.NewError: type by status, param and code null."""
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": None,
            "code": None,
        }
    }


def serve_openai_route(
    handler: BaseHTTPRequestHandler, fake: FakeOllama, path: str, raw: bytes, body: Any
) -> None:
    """Answer one /v1 request on ``handler`` (the request is already read and recorded)."""
    route = _Route(handler, fake)
    if fake.http_error is not None and fake.http_error[0] in (401, 403):
        route.send_json(fake.http_error[0], openai_error(*fake.http_error))
        return
    if (handler.command, path) == ("GET", "/v1/models"):
        route.send_json(200, {"object": "list", "data": [_model(m) for m in fake.models]})
    elif handler.command == "GET" and path.startswith("/v1/models/"):
        name = path.removeprefix("/v1/models/")
        if _full_name(name) in fake.models:
            route.send_json(200, _model(name))
        else:
            route.send_json(404, openai_error(404, f"model '{name}' not found"))
    elif (handler.command, path) == ("POST", "/v1/chat/completions"):
        route.chat(raw, body)
    else:
        route.send_bytes(404, "text/plain", b"404 page not found")


def _full_name(name: str) -> str:
    """Ollama's name completion: a model without a tag means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _model(name: str) -> dict[str, Any]:
    owner = name.rsplit("/", 1)[0] if "/" in name else "library"
    return {"id": name, "object": "model", "created": _CREATED, "owned_by": owner}


class _Route:
    def __init__(self, handler: BaseHTTPRequestHandler, fake: FakeOllama) -> None:
        self.handler = handler
        self.fake = fake

    def chat(self, raw: bytes, body: Any) -> None:
        fake = self.fake
        if not isinstance(body, dict):
            reason = "missing request body" if not raw else "invalid character in JSON body"
            self.send_json(400, openai_error(400, reason))
            return
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            self.send_json(400, openai_error(400, "[] is too short - 'messages'"))
            return
        if not body.get("model"):
            self.send_json(400, openai_error(400, "model is required"))
            return
        model = str(body["model"])
        if _full_name(model) not in fake.models:
            self.send_json(404, openai_error(404, f"model '{model}' not found"))
            return
        if fake.http_error is not None:
            self.send_json(fake.http_error[0], openai_error(*fake.http_error))
            return

        pieces = fake.reply(messages)
        finish = "stop"
        max_tokens = body.get("max_tokens")
        if isinstance(max_tokens, int) and 0 <= max_tokens < len(pieces):
            pieces, finish = pieces[:max_tokens], "length"
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 3 + 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(pieces),
            "total_tokens": prompt_tokens + len(pieces),
        }
        ident = f"chatcmpl-{len(fake.requests) % 999}"
        created = int(time.time())

        if not body.get("stream"):
            if fake.error_after_chunks is not None:
                self.send_json(500, openai_error(500, fake.error_message))
                return
            message = {"role": "assistant", "content": "".join(pieces)}
            choice = {"index": 0, "message": message, "finish_reason": finish}
            self.send_json(200, _envelope(ident, "chat.completion", created, model, [choice], usage))
            return

        def chunk(text: str, reason: str | None) -> dict[str, Any]:
            choice = {"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": reason}
            return _envelope(ident, "chat.completion.chunk", created, model, [choice])

        include_usage = (body.get("stream_options") or {}).get("include_usage") is True
        self._start_stream()
        try:
            for index in range(len(pieces) + 1):
                if fake.error_after_chunks == index:
                    self._event(openai_error(500, fake.error_message))
                    break
                if fake.garbage_after_chunks == index:
                    self._write_chunk(b"\xff\xfe<garbage \x00 not json>\n\n")
                    break
                if fake.stall_after_chunks == index:
                    fake.stopping.wait()
                    self.handler.close_connection = True
                    return
                if fake.chunk_delay_s:
                    fake.stopping.wait(fake.chunk_delay_s)
                if index < len(pieces):
                    self._event(chunk(pieces[index], None))
                else:
                    self._event(chunk("", finish))
                    if include_usage:
                        self._event(_envelope(ident, "chat.completion.chunk", created, model, [], usage))
                    self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")  # the zero-length chunk that ends the body
            fake.completed_streams += 1
        except (BrokenPipeError, ConnectionResetError):
            fake.aborted_streams += 1
            fake.stream_aborted.set()
            self.handler.close_connection = True

    # ---- writing ----

    def _start_stream(self) -> None:
        self.handler.send_response(200)
        self.handler.send_header("Content-Type", "text/event-stream")
        self.handler.send_header("Cache-Control", "no-cache")
        self.handler.send_header("Transfer-Encoding", "chunked")
        self.handler.end_headers()

    def _event(self, obj: dict[str, Any]) -> None:
        self._write_chunk(b"data: " + json.dumps(obj, ensure_ascii=False).encode() + b"\n\n")

    def _write_chunk(self, data: bytes) -> None:
        self.handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.handler.wfile.flush()

    def send_json(self, status: int, obj: Any) -> None:
        self.send_bytes(
            status, "application/json; charset=utf-8", json.dumps(obj, ensure_ascii=False).encode()
        )

    def send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self.handler.send_response(status)
        self.handler.send_header("Content-Type", content_type)
        self.handler.send_header("Content-Length", str(len(data)))
        self.handler.end_headers()
        self.handler.wfile.write(data)


def _envelope(
    ident: str,
    kind: str,
    created: int,
    model: str,
    choices: list[dict[str, Any]],
    usage: dict[str, int] | None = None,
) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "id": ident,
        "object": kind,
        "created": created,
        "model": model,
        "system_fingerprint": "fp_ollama",
        "choices": choices,
    }
    if usage is not None:
        reply["usage"] = usage
    return reply
