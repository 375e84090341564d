"""OpenAICompatLLM against the fake Ollama's /v1: streaming, request shape, and every failure a user can meet."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from localvoice.backends.llm.http_chat import HttpTimeouts
from localvoice.backends.llm.openai_compat import OpenAICompatLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import Config, load_config
from localvoice.errors import BackendError, BackendUnavailableError, LocalVoiceError, ModelNotFoundError
from localvoice.events import Message
from localvoice.protocols import LLM
from localvoice.registry import load_backend_class
from tests.fake_ollama import (  # noqa: F401
    FakeOllama,
    RecordedRequest,
    default_reply,
    fake_ollama_fixture,
    unused_local_url,
)

SYSTEM = Message("system", "你是小声。")
HELLO = [SYSTEM, Message("user", "你好")]
HELLO_REPLY = default_reply([{"role": "user", "content": "你好"}])


def base(server: FakeOllama) -> str:
    return f"{server.url}/v1"


def chat_requests(server: FakeOllama) -> list[RecordedRequest]:
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def header(request: RecordedRequest, name: str) -> str | None:
    return {k.lower(): v for k, v in request.headers.items()}.get(name.lower())


async def collect(llm: OpenAICompatLLM, messages: list[Message]) -> tuple[list[str], LocalVoiceError | None]:
    """The deltas received before the stream ended, and the error it ended with (if any)."""
    deltas: list[str] = []
    try:
        async for delta in llm.stream_chat(messages):
            deltas.append(delta)
    except LocalVoiceError as error:
        return deltas, error
    return deltas, None


async def test_streams_deltas_in_order(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(base(fake_ollama))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()

    assert error is None
    assert deltas == HELLO_REPLY
    assert "".join(deltas) == "你说的是：你好。"
    assert isinstance(llm, LLM)
    assert llm.description == f"openai-compatible qwen2.5:3b at {fake_ollama.url}/v1"


async def test_sends_the_options_and_the_callers_messages(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(
        base(fake_ollama) + "/",
        model="llama3.2:1b",
        sampling=Sampling(temperature=0.2, top_p=0.5, num_predict=100, seed=7, stop=("用户：",)),
    )
    await collect(llm, HELLO)
    await llm.aclose()

    [request] = chat_requests(fake_ollama)
    assert request.body == {
        "model": "llama3.2:1b",
        "messages": [{"role": "system", "content": "你是小声。"}, {"role": "user", "content": "你好"}],
        "stream": True,
        "temperature": 0.2,
        "top_p": 0.5,
        "max_tokens": 100,
        "seed": 7,
        "stop": ["用户："],
    }


async def test_unlimited_length_and_random_seed_are_left_to_the_server(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(base(fake_ollama), sampling=Sampling(num_predict=-1, seed=-1))
    await collect(llm, HELLO)
    await llm.aclose()
    [request] = chat_requests(fake_ollama)
    assert not {"max_tokens", "seed", "stop"} & set(request.body)


async def test_max_tokens_cuts_the_reply(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(base(fake_ollama), sampling=Sampling(num_predict=2))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas == HELLO_REPLY[:2]


async def test_api_key_is_sent_as_a_bearer_token_only_when_set(fake_ollama: FakeOllama) -> None:
    for key in ("sk-local-123", ""):
        llm = OpenAICompatLLM(base(fake_ollama), api_key=key)
        await collect(llm, HELLO)
        await llm.warm_up()
        await llm.aclose()
    with_key, without_key = fake_ollama.requests[:3], fake_ollama.requests[3:]
    assert [r.path for r in with_key] == ["/v1/chat/completions", "/v1/models", "/v1/chat/completions"]
    assert all(header(r, "Authorization") == "Bearer sk-local-123" for r in with_key)
    assert len(without_key) == 3 and all(header(r, "Authorization") is None for r in without_key)


def test_from_config_defaults_to_ollamas_v1_and_takes_the_key_config_resolved(tmp_path: Path) -> None:
    empty = tmp_path / "config.toml"
    empty.write_text("")
    config = load_config(empty, environ={"OPENAI_API_KEY": "sk-env"})
    config.llm.host = "localhost:11500"  # an OLLAMA_HOST form
    llm = OpenAICompatLLM.from_config(config.llm)
    assert llm.base_url == "http://localhost:11500/v1"
    assert llm.model == "qwen2.5:3b"
    assert llm._http.headers == {"Authorization": "Bearer sk-env"}

    config.llm.openai_url = "http://127.0.0.1:8000/v1/"
    config.llm.api_key = "sk-config"
    config.llm.model = "Qwen/Qwen2.5-3B-Instruct"
    llm = OpenAICompatLLM.from_config(config.llm)
    assert llm.base_url == "http://127.0.0.1:8000/v1"
    assert llm.model == "Qwen/Qwen2.5-3B-Instruct"
    assert llm._http.headers == {"Authorization": "Bearer sk-config"}

    config.llm.api_key = ""
    assert OpenAICompatLLM.from_config(config.llm)._http.headers == {}
    assert load_backend_class("llm", "openai") is OpenAICompatLLM


def test_the_backend_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    assert OpenAICompatLLM.from_config(Config().llm)._http.headers == {}


async def test_long_history_is_trimmed_to_the_context(fake_ollama: FakeOllama) -> None:
    messages = [SYSTEM]
    for i in range(50):
        messages += [Message("user", f"问题{i}" + "字" * 40), Message("assistant", f"回答{i}" + "字" * 40)]
    messages.append(Message("user", "最新的问题"))
    llm = OpenAICompatLLM(base(fake_ollama), sampling=Sampling(num_ctx=1024, num_predict=256))
    deltas, error = await collect(llm, messages)
    await llm.aclose()

    assert error is None and deltas
    sent = chat_requests(fake_ollama)[0].body["messages"]
    assert 3 < len(sent) < len(messages)
    assert sent[0] == SYSTEM.to_api()
    assert sent[1]["role"] == "user"
    assert sent[-3]["content"].startswith("问题49")
    assert sent[-1] == {"role": "user", "content": "最新的问题"}


async def test_warm_up_checks_the_model_list_then_asks_for_one_token(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(
        base(fake_ollama), model="llama3.2", sampling=Sampling(temperature=0.3)
    )  # means llama3.2:latest
    with pytest.raises(ModelNotFoundError) as raised:
        await llm.warm_up()
    message = str(raised.value)
    assert "'llama3.2'" in message and "qwen2.5:3b, llama3.2:1b" in message and "llm.model" in message
    assert chat_requests(fake_ollama) == []  # nothing asked of a model that is not there

    llm.model = "llama3.2:1b"
    await llm.warm_up()
    await llm.aclose()
    [request] = chat_requests(fake_ollama)
    assert request.body["model"] == "llama3.2:1b"
    assert request.body["max_tokens"] == 1 and request.body["stream"] is False
    assert request.body["temperature"] == 0.3 and request.body["messages"]


async def test_warm_up_accepts_a_bare_name_ollama_lists_as_latest() -> None:
    with FakeOllama(models=["qwen2.5"]) as server:
        llm = OpenAICompatLLM(base(server), model="qwen2.5")
        await llm.warm_up()
        await llm.aclose()
        assert len(chat_requests(server)) == 1


async def test_server_down_names_the_url_and_the_setting() -> None:
    url = unused_local_url() + "/v1"
    llm = OpenAICompatLLM(url)
    deltas, error = await collect(llm, HELLO)
    assert deltas == []
    assert isinstance(error, BackendUnavailableError)
    message = str(error)
    assert url in message and "llm.openai_url" in message and "\n" not in message
    with pytest.raises(BackendUnavailableError):
        await llm.warm_up()
    await llm.aclose()


async def test_missing_model_is_model_not_found(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(base(fake_ollama), model="nope")
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == []
    assert isinstance(error, ModelNotFoundError)
    assert "model 'nope' not found" in str(error) and "llm.model" in str(error)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_says_where_to_set_one(fake_ollama: FakeOllama, status: int) -> None:
    fake_ollama.http_error = (status, "Incorrect API key provided")
    llm = OpenAICompatLLM(base(fake_ollama), api_key="wrong")
    _, error = await collect(llm, HELLO)
    assert isinstance(error, BackendError)
    assert f"HTTP {status}" in str(error) and "Incorrect API key provided" in str(error)
    assert "llm.api_key" in str(error) and "OPENAI_API_KEY" in str(error)
    with pytest.raises(BackendError, match=r"llm\.api_key"):
        await llm.warm_up()
    await llm.aclose()


async def test_other_http_errors_carry_the_servers_message(fake_ollama: FakeOllama) -> None:
    fake_ollama.http_error = (503, "server busy, please try again.  maximum pending requests exceeded")
    llm = OpenAICompatLLM(base(fake_ollama))
    _, error = await collect(llm, HELLO)
    await llm.aclose()
    assert isinstance(error, BackendError) and not isinstance(error, ModelNotFoundError)
    assert "503" in str(error) and "maximum pending requests exceeded" in str(error)


async def test_a_base_url_without_v1_is_named(fake_ollama: FakeOllama) -> None:
    llm = OpenAICompatLLM(fake_ollama.url)  # Ollama answers /chat/completions with a plain-text 404
    _, error = await collect(llm, HELLO)
    await llm.aclose()
    assert isinstance(error, BackendError) and not isinstance(error, ModelNotFoundError)
    assert "/chat/completions" in str(error) and "/v1" in str(error)


async def test_error_chunk_mid_stream_comes_after_the_deltas_already_sent(fake_ollama: FakeOllama) -> None:
    fake_ollama.error_after_chunks = 3
    llm = OpenAICompatLLM(base(fake_ollama))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == HELLO_REPLY[:3]
    assert isinstance(error, BackendError)
    assert fake_ollama.error_message in str(error) and "middle of the reply" in str(error)


async def test_silent_server_times_out_naming_the_timeout(fake_ollama: FakeOllama) -> None:
    fake_ollama.stall_after_chunks = 2
    llm = OpenAICompatLLM(base(fake_ollama), timeouts=HttpTimeouts(read_s=0.3))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == HELLO_REPLY[:2]
    assert isinstance(error, BackendError)
    assert "0.3 s" in str(error) and "llm.read_timeout_s" in str(error)


@pytest.mark.parametrize("mode", ["garbage_after_chunks", "serve_html"])
async def test_something_that_is_not_openai_compatible_is_named_so(
    fake_ollama: FakeOllama, mode: str
) -> None:
    setattr(fake_ollama, mode, 1 if mode == "garbage_after_chunks" else True)
    llm = OpenAICompatLLM(base(fake_ollama))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == (HELLO_REPLY[:1] if mode == "garbage_after_chunks" else [])
    assert isinstance(error, BackendError)
    assert "not an OpenAI-compatible server" in str(error) and "\n" not in str(error)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("error_after_chunks", 1),
        ("stall_after_chunks", 1),
        ("garbage_after_chunks", 0),
        ("serve_html", True),
        ("http_error", (500, "boom")),
        ("http_error", (401, "bad key")),
    ],
)
async def test_the_same_instance_works_again_after_a_failure(
    fake_ollama: FakeOllama, attribute: str, value: Any
) -> None:
    llm = OpenAICompatLLM(base(fake_ollama), timeouts=HttpTimeouts(read_s=0.3))
    setattr(fake_ollama, attribute, value)
    _, error = await collect(llm, HELLO)
    assert isinstance(error, BackendError)

    setattr(fake_ollama, attribute, False if attribute == "serve_html" else None)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and "".join(deltas) == "你说的是：你好。"


async def test_works_once_the_server_is_started_after_a_failure() -> None:
    url = unused_local_url()
    llm = OpenAICompatLLM(url + "/v1")
    _, error = await collect(llm, HELLO)
    assert isinstance(error, BackendUnavailableError)

    with FakeOllama(port=int(url.rsplit(":", 1)[1])):
        deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas


async def test_closing_the_iterator_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["词"] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OpenAICompatLLM(base(fake_ollama))
    stream = llm.stream_chat(HELLO)
    assert await anext(stream) == "词"
    await stream.aclose()
    assert await asyncio.to_thread(fake_ollama.stream_aborted.wait, 5.0)
    assert fake_ollama.completed_streams == 0

    fake_ollama.reply = default_reply
    fake_ollama.chunk_delay_s = 0.0
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas


async def test_breaking_out_with_aclosing_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["word "] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OpenAICompatLLM(base(fake_ollama))
    async with contextlib.aclosing(llm.stream_chat(HELLO)) as stream:
        async for _delta in stream:
            break
    assert await asyncio.to_thread(fake_ollama.stream_aborted.wait, 5.0)
    await llm.aclose()


async def test_cancelling_the_consuming_task_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["词"] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OpenAICompatLLM(base(fake_ollama))
    first = asyncio.Event()

    async def consume() -> None:
        async for _delta in llm.stream_chat(HELLO):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), timeout=5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(fake_ollama.stream_aborted.wait, 5.0)
    await llm.aclose()


def _scripted(llm: OpenAICompatLLM, content_type: str, body: bytes) -> None:
    """Answer the backend's requests with fixed bytes, as other servers than Ollama write them."""

    def reply(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": content_type}, content=body)

    llm._http._client = httpx.AsyncClient(base_url=llm.base_url, transport=httpx.MockTransport(reply))


async def test_reads_comments_event_fields_crlf_null_content_and_usage_chunks() -> None:
    # llama-server and vLLM forms: CRLF, ": ping" keep-alives, a role-only chunk with content null,
    # a final chunk with an empty delta, a usage chunk without choices.
    stream = (
        b": ping\r\n\r\n"
        b'event: message\r\ndata: {"choices":[{"index":0,"delta":{"role":"assistant","content":null}}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"\xe4\xbd\xa0\xe2\x80\xa8"}}]}\r\n\r\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":null}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
        b"data: [DONE]\n\n"
    )
    llm = OpenAICompatLLM("http://127.0.0.1:9/v1")
    _scripted(llm, "text/event-stream; charset=utf-8", stream)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None
    assert deltas == ["你\u2028", "ok"]  # U+2028 inside the text does not split the line


async def test_a_server_that_ignores_stream_gives_its_whole_reply() -> None:
    body = b'{"object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"whole"}}]}'
    llm = OpenAICompatLLM("http://127.0.0.1:9/v1")
    _scripted(llm, "application/json", body)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas == ["whole"]


async def test_a_stream_that_stops_without_done_is_an_error() -> None:
    llm = OpenAICompatLLM("http://127.0.0.1:9/v1")
    _scripted(llm, "text/event-stream", b'data: {"choices":[{"index":0,"delta":{"content":"half"}}]}\n\n')
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == ["half"]
    assert isinstance(error, BackendError) and "[DONE]" in str(error)
