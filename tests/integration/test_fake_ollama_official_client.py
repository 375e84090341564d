"""The official ``ollama`` client (0.6.1) against the fake, so the fake cannot drift from the protocol."""

from __future__ import annotations

import json

import httpx
import ollama
import pytest

from tests.fake_ollama import FakeOllama, fake_ollama_fixture  # noqa: F401

MODEL = "qwen2.5:3b"


def test_chat_stream_yields_pieces_then_a_final_chunk_with_stats(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    chunks = list(client.chat(model=MODEL, messages=[{"role": "user", "content": "你好"}], stream=True))

    assert "".join(c.message.content or "" for c in chunks) == "你说的是：你好。"
    assert all(c.message.role == "assistant" for c in chunks)
    assert [c.done for c in chunks] == [False] * (len(chunks) - 1) + [True]
    final = chunks[-1]
    assert final.done_reason == "stop"
    assert final.eval_count == len(chunks) - 1
    assert final.total_duration is not None and final.total_duration > 1_000_000  # nanoseconds
    assert fake_ollama.chat_bodies()[0]["stream"] is True


def test_chat_without_stream_returns_one_object(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    response = client.chat(model=MODEL, messages=[{"role": "user", "content": "hi there"}])

    assert response.message.content == "You said: hi there."
    assert response.done and response.done_reason == "stop"
    assert response.prompt_eval_count and response.eval_duration


def test_empty_messages_load_the_model_and_keep_alive_zero_unloads(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    assert client.chat(model=MODEL, messages=[], keep_alive="10m").done_reason == "load"
    assert client.chat(model=MODEL, messages=[], keep_alive=0).done_reason == "unload"


def test_num_predict_cuts_the_reply_with_done_reason_length(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    chunks = list(
        client.chat(
            model=MODEL,
            messages=[{"role": "user", "content": "one two three four"}],
            stream=True,
            options={"num_predict": 2},
        )
    )
    assert "".join(c.message.content or "" for c in chunks) == "You said: "
    assert chunks[-1].done_reason == "length"


def test_thinking_on_a_model_without_it_is_refused(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], think=True)
    assert raised.value.status_code == 400 and "does not support thinking" in raised.value.error
    assert client.chat(model=MODEL, messages=[{"role": "user", "content": "hi"}], think=False).done


def test_list_and_show_parse(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    names = [m.model for m in client.list().models]
    assert names == ["qwen2.5:3b", "llama3.2:1b"]

    shown = client.show("llama3.2:1b")
    assert shown.details is not None and shown.details.format == "gguf"
    assert shown.modelinfo is not None and "general.architecture" in shown.modelinfo
    assert shown.capabilities == ["completion", "tools"]


def test_missing_model_raises_response_error_404(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    with pytest.raises(ollama.ResponseError) as raised:
        list(client.chat(model="nope:7b", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert raised.value.status_code == 404
    assert raised.value.error == "model 'nope:7b' not found"

    with pytest.raises(ollama.ResponseError) as raised_show:
        client.show("nope:7b")
    assert raised_show.value.status_code == 404


def test_error_line_mid_stream_raises_after_the_pieces_before_it(fake_ollama: FakeOllama) -> None:
    fake_ollama.error_after_chunks = 2
    client = ollama.Client(host=fake_ollama.url)
    received: list[str] = []
    with pytest.raises(ollama.ResponseError) as raised:
        for chunk in client.chat(model=MODEL, messages=[{"role": "user", "content": "a b c d"}], stream=True):
            received.append(chunk.message.content or "")
    assert received == ["You ", "said: "]
    assert raised.value.error == fake_ollama.error_message


def test_generate_minimal(fake_ollama: FakeOllama) -> None:
    client = ollama.Client(host=fake_ollama.url)
    assert client.generate(model=MODEL, prompt="hello").response == "You said: hello."
    assert client.generate(model=MODEL).done_reason == "load"


def test_wire_format_is_ndjson_without_blank_lines_and_errors_are_json(fake_ollama: FakeOllama) -> None:
    with httpx.Client(base_url=fake_ollama.url) as http:
        payload = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
        with http.stream("POST", "/api/chat", json=payload) as response:  # stream defaults to true
            assert response.headers["content-type"] == "application/x-ndjson"
            assert response.headers["transfer-encoding"] == "chunked"
            lines = response.read().decode().split("\n")
        assert lines[-1] == "" and all(lines[:-1])
        assert all("message" in json.loads(line) for line in lines[:-1])

        bad = http.post("/api/chat", content=b"{not json")
        assert bad.status_code == 400 and "error" in bad.json()
        assert http.post("/api/chat", json={"messages": []}).json() == {"error": "model is required"}
        assert http.get("/").text == "Ollama is running"
        assert http.get("/api/version").json()["version"]


def test_official_client_cannot_reach_a_closed_port() -> None:
    server = FakeOllama().start()
    url = server.url
    server.close()
    with pytest.raises(ConnectionError):
        ollama.Client(host=url).list()
