"""The official ``openai`` client (3.57.0) against the fake's /v1, so the fake cannot drift from the protocol."""

from __future__ import annotations

import openai
import pytest

from tests.fake_ollama import FakeOllama, fake_ollama_fixture  # noqa: F401

MODEL = "qwen2.5:3b"


def _client(server: FakeOllama) -> openai.OpenAI:
    # Ollama ignores the key, but the client refuses to start without one.
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="ollama", max_retries=0)


def test_stream_yields_chunks_then_a_finish_reason(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client:
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "你好"}], stream=True
        )
        chunks = list(stream)

    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "你说的是：你好。"
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    assert all(c.choices[0].delta.role == "assistant" for c in chunks)
    assert [c.choices[0].finish_reason for c in chunks] == [None] * (len(chunks) - 1) + ["stop"]
    assert len({c.id for c in chunks}) == 1
    [request] = [r for r in fake_ollama.requests if r.path == "/v1/chat/completions"]
    assert request.body["stream"] is True
    headers = {name.lower(): value for name, value in request.headers.items()}
    assert headers["authorization"] == "Bearer ollama"


def test_stream_usage_comes_last_when_asked_for(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "hi there"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(chunks) - 2


def test_max_tokens_cuts_the_reply_with_finish_reason_length(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client:
        chunks = list(
            client.chat.completions.create(
                model=MODEL,
                messages=[{"role": "user", "content": "one two three four"}],
                stream=True,
                max_tokens=2,
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "You said: "
    assert chunks[-1].choices[0].finish_reason == "length"


def test_without_stream_returns_one_completion_with_usage(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client:
        completion = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hi there"}]
        )
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "You said: hi there."
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > completion.usage.prompt_tokens


def test_models_list_and_retrieve(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client:
        assert [m.id for m in client.models.list()] == ["qwen2.5:3b", "llama3.2:1b"]
        assert client.models.retrieve("llama3.2:1b").object == "model"
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("nope")


def test_missing_model_raises_not_found_with_the_openai_error_shape(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client, pytest.raises(openai.NotFoundError) as raised:
        client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 404
    # the client found error.message inside the body (else it would quote the whole body)
    assert raised.value.message == "Error code: 404 - model 'nope' not found"
    assert raised.value.type == "not_found_error"
    assert raised.value.body == {
        "message": "model 'nope' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }


def test_empty_messages_are_a_bad_request(fake_ollama: FakeOllama) -> None:
    with _client(fake_ollama) as client, pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model=MODEL, messages=[])
    assert raised.value.type == "invalid_request_error"


def test_error_mid_stream_raises_after_the_chunks_before_it(fake_ollama: FakeOllama) -> None:
    fake_ollama.error_after_chunks = 2
    received: list[str] = []
    with _client(fake_ollama) as client, pytest.raises(openai.APIError) as raised:
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "你好"}], stream=True
        )
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["你说", "的是"]
    assert raised.value.message == fake_ollama.error_message


def test_a_scripted_401_raises_authentication_error(fake_ollama: FakeOllama) -> None:
    fake_ollama.http_error = (401, "invalid api key")
    with _client(fake_ollama) as client:
        with pytest.raises(openai.AuthenticationError):
            client.models.list()
        with pytest.raises(openai.AuthenticationError):
            client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
