"""The HTTP server's plumbing on a real uvicorn, without loading models (fast): the start-up refusal,
503 for a missing model, 429 when busy, 500 without a stack trace, the Host/Origin checks, the
OpenAPI schema behind the token. The real-model routes are in test_server_http.py."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from localvoice.events import Message
from tests.server_fixtures import RunningServer, running_server, server_config

TOKEN = "plumbing-token-123"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(server_config(tmp_path_factory.mktemp("logs")), token=TOKEN, models=False) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=server.auth_headers, timeout=30) as http:
        yield http


def test_a_non_loopback_host_without_a_token_refuses_to_start_in_one_line() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "localvoice.cli.main", "serve", "--host", "0.0.0.0", "--port", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "token" in lines[0] and "0.0.0.0" in lines[0] and "Traceback" not in run.stderr


def test_options_work_after_the_subcommand_and_help_has_an_example() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "localvoice.cli.main", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0
    assert "localvoice serve --host 0.0.0.0 --token" in run.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "localvoice.cli.main", "serve", "--set", "server.port=70000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        bad.returncode == 2
        and bad.stderr.strip() == "localvoice: --port 70000 is not a port number (1-65535)"
    )


def test_every_model_route_says_503_when_its_model_is_not_loaded(client: httpx.Client) -> None:
    openai_routes = [
        ("/v1/chat/completions", {"json": {"model": "m", "messages": [{"role": "user", "content": "hi"}]}}),
        ("/v1/audio/speech", {"json": {"model": "m", "input": "你好"}}),
        ("/v1/audio/transcriptions", {"files": {"file": ("a.wav", b"RIFF")}, "data": {"model": "m"}}),
    ]
    for path, request in openai_routes:
        reply = client.post(path, **request)  # type: ignore[arg-type]
        assert reply.status_code == 503, path
        assert reply.json()["error"]["code"] == "model_not_loaded"
    for path in ("/api/chat", "/api/generate"):
        reply = client.post(path, json={"model": "m", "messages": [], "prompt": "hi"})
        assert reply.status_code == 503
        assert "not loaded" in reply.json()["error"]
    assert client.get("/api/version").status_code == 200


def test_openapi_schema_is_behind_the_token_and_lists_the_routes(
    server: RunningServer, client: httpx.Client
) -> None:
    assert httpx.get(f"{server.url}/openapi.json").status_code == 401
    schema = client.get("/openapi.json").json()
    assert schema["info"]["title"] == "localvoice"
    for path in (
        "/v1/audio/transcriptions",
        "/v1/audio/speech",
        "/v1/chat/completions",
        "/v1/models",
        "/api/chat",
    ):
        assert path in schema["paths"], path
    form = schema["paths"]["/v1/audio/transcriptions"]["post"]["requestBody"]["content"][
        "multipart/form-data"
    ]
    assert form["schema"]["required"] == ["file", "model"]


def test_foreign_origins_and_rebound_host_names_are_refused(
    server: RunningServer, client: httpx.Client
) -> None:
    foreign = client.get("/v1/models", headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["error"]["code"] == "forbidden_origin"
    own = client.get("/v1/models", headers={"Origin": server.url})
    assert own.status_code == 200


def test_without_a_token_only_local_host_names_are_answered(tmp_path: Path) -> None:
    with running_server(server_config(tmp_path), models=False) as open_server:
        assert httpx.get(f"{open_server.url}/api/version").status_code == 200  # no token needed on loopback
        rebound = httpx.get(f"{open_server.url}/api/version", headers={"Host": "attacker.example:80"})
        assert rebound.status_code == 403
        assert rebound.json() == {"error": "this server answers only to localhost without a token"}


class _BrokenLLM:
    """Fails the way a bug would: the message must stay in the server's log, not reach the client."""

    description = "broken test-model"

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        raise RuntimeError("secret internal detail /home/someone/model.gguf")
        yield ""  # pragma: no cover

    async def warm_up(self) -> None: ...

    async def aclose(self) -> None: ...


def test_a_bug_is_a_500_in_json_without_the_stack_trace(server: RunningServer, client: httpx.Client) -> None:
    session = server.state.session
    assert session is not None
    session.llm = _BrokenLLM()
    try:
        plain = client.post(
            "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert plain.status_code == 500
        assert plain.json()["error"]["type"] == "server_error"
        ollama = client.post(
            "/api/chat", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        # Mid-stream (Ollama streams by default): status 200 already sent, the error is the last line.
        assert ollama.status_code == 200 and ollama.headers["content-type"] == "application/x-ndjson"
        assert ollama.text.strip().splitlines()[-1].startswith('{"error":')
        for text in (plain.text, ollama.text):
            assert "secret internal detail" not in text and "Traceback" not in text
    finally:
        session.llm = None
    # Every failed request gives its slot back. A streamed one does so just after its last chunk
    # is sent, so the client can be a moment ahead of the release.
    deadline = time.monotonic() + 5.0
    while server.state.request_slots.in_use and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.state.request_slots.in_use == 0


def test_busy_server_answers_429_in_each_api_shape(server: RunningServer, client: httpx.Client) -> None:
    session = server.state.session
    assert session is not None
    session.llm = _BrokenLLM()  # any LLM: the slot check comes first
    slots = server.state.request_slots
    slots.in_use = slots.limit  # every slot taken
    try:
        chat = client.post(
            "/v1/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert chat.status_code == 429 and chat.json()["error"]["type"] == "rate_limit_error"
        ollama = client.post(
            "/api/chat", json={"model": "m", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert ollama.status_code == 429 and isinstance(ollama.json()["error"], str)
    finally:
        slots.in_use = 0
        session.llm = None
