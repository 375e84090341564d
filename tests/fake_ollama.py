"""A protocol-faithful fake Ollama server: a real HTTP/1.1 server on 127.0.0.1 in a background thread.

Shapes follow Ollama 0.12 (server/routes.go at fb30760) and are checked against the official
``ollama`` Python client in tests/integration/test_fake_ollama_official_client.py. Streams are NDJSON
(``application/x-ndjson``) in chunked transfer encoding, one flushed chunk per line, no blank lines.

Behaviour is scriptable between requests through plain attributes (``reply``, ``chunk_delay_s``,
``error_after_chunks``, ``stall_after_chunks``, ``garbage_after_chunks``, ``serve_html``,
``http_error``, ``create_error``); every request is recorded in ``requests``; uploaded blobs land in
``blobs`` and created models in ``created``. Use ``with FakeOllama() as server:`` or the ``fake_ollama``
fixture (import ``fake_ollama_fixture`` into the test module).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import pytest

from localvoice.bench.fake_server import ThreadedFakeServer
from tests.fake_openai_routes import serve_openai_route

Reply = Callable[[list[dict[str, Any]]], list[str]]

FAKE_VERSION = "0.12.6"
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af]")


def default_reply(messages: list[dict[str, Any]]) -> list[str]:
    """Echo the newest user message in its own language, split into token-like pieces."""
    text = next((str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"), "")
    if _CJK.search(text):
        whole = f"你说的是：{text}。"
        return [whole[i : i + 2] for i in range(0, len(whole), 2)]
    return re.findall(r"\S+\s*", f"You said: {text}.")


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, None when empty or not JSON


def unused_local_url() -> str:
    """The URL of a 127.0.0.1 port nothing listens on (bound, then released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class FakeOllama(ThreadedFakeServer):
    def __init__(
        self,
        models: Sequence[str] = ("qwen2.5:3b", "llama3.2:1b"),
        reply: Reply = default_reply,
        port: int = 0,  # 0: an ephemeral port
    ) -> None:
        self.models = [_full_name(m) for m in models]
        self.reply: Reply = reply
        self.chunk_delay_s = 0.0
        self.error_after_chunks: int | None = None  # send {"error"} after this many content lines
        self.error_message = "an error was encountered while running the model: unexpected EOF"
        self.stall_after_chunks: int | None = None  # then send nothing more until the server closes
        self.garbage_after_chunks: int | None = None  # then a line of bytes that are not JSON
        self.serve_html = False  # answer everything like some other web server would
        self.http_error: tuple[int, str] | None = None  # answer chat/generate with this status and error
        self.requests: list[RecordedRequest] = []
        self.blobs: dict[str, bytes] = {}  # "sha256:<hex>" → bytes, as uploaded to /api/blobs
        self.created: dict[str, dict[str, Any]] = {}  # model name → its /api/create body
        self.create_error: str | None = None  # /api/create streams this as an {"error"} line
        self.completed_streams = 0
        self.aborted_streams = 0  # streams whose client went away before the last line
        self.stream_aborted = threading.Event()
        super().__init__(_Handler, port, poll_s=0.02)
        self.stopping = self.dead  # set on close: releases stalled streams

    def chat_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.path == "/api/chat" and isinstance(r.body, dict)]


@pytest.fixture(name="fake_ollama")
def fake_ollama_fixture() -> Iterator[FakeOllama]:
    """Import ``fake_ollama_fixture`` into a test module, then ask for ``fake_ollama``."""
    with FakeOllama() as server:
        yield server


def _full_name(name: str) -> str:
    """Ollama's name completion: a model without a tag means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _model_entry(name: str) -> dict[str, Any]:
    family = name.split(":")[0].rstrip("0123456789.") or "llama"
    return {
        "name": name,
        "model": name,
        "modified_at": "2025-01-01T00:00:00.000000000Z",
        "size": 1_929_912_432,
        "digest": hashlib.sha256(name.encode()).hexdigest(),
        "details": {
            "parent_model": "",
            "format": "gguf",
            "family": family,
            "families": [family],
            "parameter_size": "3.1B",
            "quantization_level": "Q4_K_M",
        },
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked responses, like Go's net/http
    server_version = "fake-ollama"
    timeout = 30  # idle keep-alive connections end eventually
    fake: ClassVar[FakeOllama]

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def handle(self) -> None:
        # A client that drops a half-read stream resets the connection: normal here, not a failure.
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            super().handle()

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        path = self.path.split("?")[0]
        if path.startswith("/api/blobs/"):  # does the server have this blob? 200 or 404, no body
            self.fake.requests.append(RecordedRequest("HEAD", path, dict(self.headers.items()), None))
            self._send_text(
                200 if path.removeprefix("/api/blobs/") in self.fake.blobs else 404, "", head_only=True
            )
            return
        self._send_text(200, "Ollama is running", head_only=True)

    # ---- routing ----

    def _dispatch(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: Any = json.loads(raw) if raw else None
            bad_json: str | None = None
        except ValueError as error:
            body, bad_json = None, str(error)
        fake = self.fake
        path = self.path.split("?")[0]
        fake.requests.append(RecordedRequest(self.command, path, dict(self.headers.items()), body))

        if fake.serve_html:
            self._send_bytes(200, "text/html; charset=utf-8", b"<html><body>It works!</body></html>\n")
            return
        if path.startswith("/v1/"):  # Ollama serves the OpenAI-compatible API itself
            serve_openai_route(self, fake, path, raw, body)
            return
        route = (self.command, path)
        if self.command == "POST" and path.startswith("/api/blobs/"):
            self._blob(path.removeprefix("/api/blobs/"), raw)
            return
        if route in (("POST", "/api/create"), ("DELETE", "/api/delete")):
            if bad_json is not None or not isinstance(body, dict):
                self._send_json(400, {"error": f"invalid JSON: {bad_json or 'not an object'}"})
            elif not body.get("model"):
                self._send_json(400, {"error": "model is required"})
            elif path == "/api/create":
                self._create(body)
            else:
                self._delete(str(body["model"]))
            return
        if route == ("GET", "/"):
            self._send_text(200, "Ollama is running")
        elif route == ("GET", "/api/version"):
            self._send_json(200, {"version": FAKE_VERSION})
        elif route == ("GET", "/api/tags"):
            self._send_json(200, {"models": [_model_entry(m) for m in fake.models]})
        elif route == ("GET", "/api/ps"):
            self._send_json(200, {"models": []})
        elif route in (("POST", "/api/chat"), ("POST", "/api/generate"), ("POST", "/api/show")):
            if bad_json is not None or not isinstance(body, dict):
                message = (
                    "missing request body" if not raw else f"invalid JSON: {bad_json or 'not an object'}"
                )
                self._send_json(400, {"error": message})
                return
            if not body.get("model"):
                self._send_json(400, {"error": "model is required"})
                return
            if _full_name(str(body["model"])) not in fake.models:
                self._send_json(404, {"error": f"model '{body['model']}' not found"})
                return
            if path == "/api/show":
                self._show(body)
            else:
                self._generate(body, chat=path == "/api/chat")
        else:
            self._send_text(404, "404 page not found")

    def _blob(self, digest: str, raw: bytes) -> None:
        """``POST /api/blobs/sha256:<hex>``: 201 when stored, 200 when already there, 400 on a bad digest."""
        if not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
            self._send_json(400, {"error": "invalid digest format"})
            return
        if digest in self.fake.blobs:
            self._send_text(200, "")
            return
        actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        if actual != digest:
            self._send_json(400, {"error": f"digest mismatch, expected {digest}, got {actual}"})
            return
        self.fake.blobs[digest] = raw
        self._send_text(201, "")

    def _create(self, body: dict[str, Any]) -> None:
        """``POST /api/create``: ``from`` a known model or ``files`` already uploaded; streams status."""
        fake = self.fake
        files = {**(body.get("files") or {}), **(body.get("adapters") or {})}
        if not body.get("from") and not body.get("files"):
            self._send_json(400, {"error": "neither 'from' or 'files' was specified"})
            return
        missing = [d for d in files.values() if d not in fake.blobs]
        if missing:
            self._send_json(400, {"error": f"blob {missing[0]} not found"})
            return
        if body.get("from") and _full_name(str(body["from"])) not in fake.models:
            self._send_json(404, {"error": f"model '{body['from']}' not found"})
            return
        lines: list[dict[str, Any]] = [{"status": "using existing layer " + d} for d in files.values()]
        if fake.create_error is not None:
            lines.append({"error": fake.create_error})
        else:
            lines += [{"status": "creating new layer"}, {"status": "writing manifest"}, {"status": "success"}]
        if body.get("stream", True) is False:
            last = lines[-1]
            self._send_json(500 if "error" in last else 200, last)
        else:
            self._start_stream()
            for line in lines:
                self._write_line(line)
            self._write_chunk(b"")
        if fake.create_error is None:
            name = _full_name(str(body["model"]))
            fake.created[name] = body
            if name not in fake.models:
                fake.models.append(name)

    def _delete(self, model: str) -> None:
        name = _full_name(model)
        if name not in self.fake.models:
            self._send_json(404, {"error": f"model '{model}' not found"})
            return
        self.fake.models.remove(name)
        self.fake.created.pop(name, None)
        self._send_text(200, "")

    def _show(self, body: dict[str, Any]) -> None:
        name = _full_name(str(body["model"]))
        entry = _model_entry(name)
        family = entry["details"]["family"]
        self._send_json(
            200,
            {
                "license": "Apache License 2.0",
                "modelfile": f"# Modelfile generated by fake-ollama\nFROM {name}\n",
                "parameters": 'stop                           "<|im_start|>"\nstop                           "<|im_end|>"',
                "template": "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}",
                "details": entry["details"],
                "model_info": {
                    "general.architecture": family,
                    "general.parameter_count": 3_085_938_688,
                    f"{family}.context_length": 32768,
                },
                "capabilities": ["completion", "tools"],
                "modified_at": entry["modified_at"],
            },
        )

    def _generate(self, body: dict[str, Any], chat: bool) -> None:
        """/api/chat, and /api/generate in its minimal form (``prompt`` in, ``response`` out)."""
        fake = self.fake
        model = str(body["model"])
        if chat:
            messages = body.get("messages") or []
            empty = not messages
        else:
            prompt = str(body.get("prompt") or "")
            messages = [{"role": "user", "content": prompt}]
            empty = not prompt
        if body.get("think") is True:  # the fake's models have no thinking capability
            self._send_json(400, {"error": f'"{model}" does not support thinking'})
            return
        if fake.http_error is not None:
            status, message = fake.http_error
            self._send_json(status, {"error": message})
            return
        if empty:  # a bare load, or unload with keep_alive 0
            reason = "unload" if body.get("keep_alive") in (0, "0", "0s") else "load"
            self._send_json(200, self._line(chat, model, "", done_reason=reason))
            return

        pieces = fake.reply(messages)
        reason = "stop"
        num_predict = int((body.get("options") or {}).get("num_predict", -1))
        if 0 <= num_predict < len(pieces):
            pieces, reason = pieces[:num_predict], "length"
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in messages) // 3 + 1
        stats: dict[str, Any] = {
            "total_duration": 1_500_000_000,
            "load_duration": 50_000_000,
            "prompt_eval_count": prompt_tokens,
            "prompt_eval_duration": 200_000_000,
            "eval_count": len(pieces),
            "eval_duration": 1_200_000_000,
        }

        if body.get("stream", True) is False:
            if fake.error_after_chunks is not None:
                self._send_json(500, {"error": fake.error_message})
                return
            self._send_json(200, self._line(chat, model, "".join(pieces), done_reason=reason, **stats))
            return

        self._start_stream()
        try:
            for index in range(len(pieces) + 1):
                if fake.error_after_chunks == index:
                    self._write_line({"error": fake.error_message})
                    break
                if fake.garbage_after_chunks == index:
                    self._write_chunk(b"\xff\xfe<garbage \x00 not json>\n")
                    break
                if fake.stall_after_chunks == index:
                    fake.stopping.wait()
                    self.close_connection = True
                    return
                if fake.chunk_delay_s:
                    fake.stopping.wait(fake.chunk_delay_s)
                if index < len(pieces):
                    self._write_line(self._line(chat, model, pieces[index], done=False))
                else:
                    self._write_line(self._line(chat, model, "", done_reason=reason, **stats))
            self._write_chunk(b"")  # the zero-length chunk that ends the body
            fake.completed_streams += 1
        except (BrokenPipeError, ConnectionResetError):
            fake.aborted_streams += 1
            fake.stream_aborted.set()
            self.close_connection = True

    @staticmethod
    def _line(chat: bool, model: str, text: str, *, done: bool = True, **final: Any) -> dict[str, Any]:
        line: dict[str, Any] = {"model": model, "created_at": _now()}
        if chat:
            line["message"] = {"role": "assistant", "content": text}
        else:
            line["response"] = text
        line["done"] = done
        line.update(final)
        return line

    # ---- writing ----

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _write_line(self, obj: dict[str, Any]) -> None:
        self._write_chunk(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _send_json(self, status: int, obj: Any) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        self._send_bytes(status, "application/json; charset=utf-8", data)

    def _send_text(self, status: int, text: str, head_only: bool = False) -> None:
        self._send_bytes(status, "text/plain; charset=utf-8", text.encode(), head_only)

    def _send_bytes(self, status: int, content_type: str, data: bytes, head_only: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not head_only:
            self.wfile.write(data)


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    """Poll ``predicate`` (for state the server thread updates) until true or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
