"""OllamaLLM against the fake Ollama server: streaming, request shape, and every failure a user can meet."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

from localvoice.backends.llm.http_chat import HttpTimeouts
from localvoice.backends.llm.ollama import OllamaLLM, list_models, ollama_available
from localvoice.backends.llm.sampling import Sampling
from localvoice.config import Config
from localvoice.errors import BackendError, BackendUnavailableError, LocalVoiceError, ModelNotFoundError
from localvoice.events import Message
from localvoice.protocols import LLM
from tests.fake_ollama import FakeOllama, default_reply, fake_ollama_fixture, unused_local_url  # noqa: F401

SYSTEM = Message("system", "你是小声。")
HELLO = [SYSTEM, Message("user", "你好")]


async def collect(llm: OllamaLLM, messages: list[Message]) -> tuple[list[str], LocalVoiceError | None]:
    """The deltas received before the stream ended, and the error it ended with (if any)."""
    deltas: list[str] = []
    try:
        async for delta in llm.stream_chat(messages):
            deltas.append(delta)
    except LocalVoiceError as error:
        return deltas, error
    return deltas, None


async def test_streams_deltas_in_order(fake_ollama: FakeOllama) -> None:
    llm = OllamaLLM(host=fake_ollama.url)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()

    assert error is None
    assert deltas == default_reply([{"role": "user", "content": "你好"}])
    assert "".join(deltas) == "你说的是：你好。"
    assert isinstance(llm, LLM)
    assert llm.description == f"ollama qwen2.5:3b at {fake_ollama.url}"


async def test_sends_options_keep_alive_and_the_callers_messages(fake_ollama: FakeOllama) -> None:
    llm = OllamaLLM(
        host=fake_ollama.url,
        model="llama3.2:1b",
        sampling=Sampling(
            temperature=0.2, top_p=0.5, num_ctx=8192, num_predict=100, seed=7, stop=("用户：",)
        ),
        keep_alive="-1",
    )
    await collect(llm, HELLO)
    await llm.aclose()

    [body] = fake_ollama.chat_bodies()
    assert body["model"] == "llama3.2:1b"
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "你是小声。"},
        {"role": "user", "content": "你好"},
    ]
    assert body["options"] == {
        "temperature": 0.2,
        "top_p": 0.5,
        "num_ctx": 8192,
        "num_predict": 100,
        "seed": 7,
        "stop": ["用户："],
    }
    assert body["think"] is False  # else Ollama lets a thinking model think before speaking
    assert body["keep_alive"] == -1  # a number: Ollama would reject the string "-1" as a duration


async def test_from_config_defaults_the_model_and_keeps_duration_strings(fake_ollama: FakeOllama) -> None:
    config = Config()
    config.llm.host = fake_ollama.url
    config.llm.num_ctx = 2048
    llm = OllamaLLM.from_config(config.llm)
    assert llm.model == "qwen2.5:3b"
    await collect(llm, HELLO)
    await llm.aclose()
    [body] = fake_ollama.chat_bodies()
    assert body["keep_alive"] == "30m"
    assert body["options"]["num_ctx"] == 2048
    assert "stop" not in body["options"]


async def test_long_history_is_trimmed_to_the_context(fake_ollama: FakeOllama) -> None:
    messages = [SYSTEM]
    for i in range(50):
        messages += [Message("user", f"问题{i}" + "字" * 40), Message("assistant", f"回答{i}" + "字" * 40)]
    messages.append(Message("user", "最新的问题"))
    llm = OllamaLLM(host=fake_ollama.url, sampling=Sampling(num_ctx=1024, num_predict=256))
    deltas, error = await collect(llm, messages)
    await llm.aclose()

    assert error is None and deltas
    sent = fake_ollama.chat_bodies()[0]["messages"]
    assert 3 < len(sent) < len(messages)
    assert sent[0] == SYSTEM.to_api()
    assert sent[-1] == {"role": "user", "content": "最新的问题"}
    assert sent[1]["role"] == "user"
    assert sent[-3]["content"].startswith("问题49")


async def test_warm_up_sends_the_load_request_with_the_chat_options(fake_ollama: FakeOllama) -> None:
    llm = OllamaLLM(host=fake_ollama.url, sampling=Sampling(num_ctx=8192), keep_alive="10m")
    await llm.warm_up()
    await llm.aclose()

    [body] = fake_ollama.chat_bodies()
    assert body["messages"] == []
    assert body["keep_alive"] == "10m"
    assert body["options"]["num_ctx"] == 8192  # same as the chats, or Ollama reloads the model


async def test_warm_up_of_a_missing_model_says_how_to_pull_it(fake_ollama: FakeOllama) -> None:
    llm = OllamaLLM(host=fake_ollama.url, model="qwen2.5:72b")
    with pytest.raises(ModelNotFoundError, match=r"`ollama pull qwen2\.5:72b`"):
        await llm.warm_up()
    await llm.aclose()


async def test_ollama_not_running_says_how_to_start_it() -> None:
    url = unused_local_url()
    llm = OllamaLLM(host=url)
    deltas, error = await collect(llm, HELLO)
    assert deltas == []
    assert isinstance(error, BackendUnavailableError)
    message = str(error)
    assert "`ollama serve`" in message and url in message and "OLLAMA_HOST" in message
    assert "\n" not in message
    with pytest.raises(BackendUnavailableError):
        await llm.warm_up()
    await llm.aclose()


async def test_missing_model_in_chat_says_how_to_pull_it(fake_ollama: FakeOllama) -> None:
    llm = OllamaLLM(host=fake_ollama.url, model="nope")
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == []
    assert isinstance(error, ModelNotFoundError)
    assert "`ollama pull nope`" in str(error)


async def test_error_line_mid_stream_comes_after_the_deltas_already_sent(fake_ollama: FakeOllama) -> None:
    fake_ollama.error_after_chunks = 3
    llm = OllamaLLM(host=fake_ollama.url)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert deltas == default_reply([{"role": "user", "content": "你好"}])[:3]
    assert isinstance(error, BackendError)
    assert fake_ollama.error_message in str(error)


async def test_other_http_errors_carry_the_servers_message(fake_ollama: FakeOllama) -> None:
    fake_ollama.http_error = (503, "server busy, please try again.  maximum pending requests exceeded")
    llm = OllamaLLM(host=fake_ollama.url)
    _, error = await collect(llm, HELLO)
    await llm.aclose()
    assert isinstance(error, BackendError) and not isinstance(error, ModelNotFoundError)
    assert "503" in str(error) and "maximum pending requests exceeded" in str(error)


async def test_silent_server_times_out_naming_the_timeout(fake_ollama: FakeOllama) -> None:
    fake_ollama.stall_after_chunks = 2
    llm = OllamaLLM(host=fake_ollama.url, timeouts=HttpTimeouts(read_s=0.3))
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert len(deltas) == 2
    assert isinstance(error, BackendError)
    assert "0.3 s" in str(error) and "llm.read_timeout_s" in str(error)


@pytest.mark.parametrize("mode", ["garbage_after_chunks", "serve_html"])
async def test_something_that_is_not_ollama_is_named_so(fake_ollama: FakeOllama, mode: str) -> None:
    setattr(fake_ollama, mode, 1 if mode == "garbage_after_chunks" else True)
    llm = OllamaLLM(host=fake_ollama.url)
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert len(deltas) == (1 if mode == "garbage_after_chunks" else 0)
    assert isinstance(error, BackendError)
    assert "not Ollama's protocol" in str(error)


def _break(server: FakeOllama, attribute: str, value: Any) -> Callable[[], None]:
    setattr(server, attribute, value)
    return lambda: setattr(server, attribute, None if attribute != "serve_html" else False)


@pytest.mark.parametrize(
    ("attribute", "value", "error_type"),
    [
        ("error_after_chunks", 1, BackendError),
        ("stall_after_chunks", 1, BackendError),
        ("garbage_after_chunks", 0, BackendError),
        ("serve_html", True, BackendError),
        ("http_error", (500, "boom"), BackendError),
    ],
)
async def test_the_same_instance_works_again_after_a_failure(
    fake_ollama: FakeOllama, attribute: str, value: Any, error_type: type[Exception]
) -> None:
    llm = OllamaLLM(host=fake_ollama.url, timeouts=HttpTimeouts(read_s=0.3))
    repair = _break(fake_ollama, attribute, value)
    _, error = await collect(llm, HELLO)
    assert isinstance(error, error_type)

    repair()
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and "".join(deltas) == "你说的是：你好。"


async def test_works_once_ollama_is_started_after_a_failure() -> None:
    url = unused_local_url()
    llm = OllamaLLM(host=url)
    _, error = await collect(llm, HELLO)
    assert isinstance(error, BackendUnavailableError)

    with FakeOllama(port=int(url.rsplit(":", 1)[1])):
        deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas


async def test_closing_the_iterator_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["词"] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OllamaLLM(host=fake_ollama.url)
    stream = llm.stream_chat(HELLO)
    assert await anext(stream) == "词"
    await stream.aclose()
    assert await asyncio.to_thread(fake_ollama.stream_aborted.wait, 5.0)
    assert fake_ollama.completed_streams == 0

    # the instance keeps working after the abandoned reply
    fake_ollama.reply = default_reply
    fake_ollama.chunk_delay_s = 0.0
    deltas, error = await collect(llm, HELLO)
    await llm.aclose()
    assert error is None and deltas


async def test_breaking_out_with_aclosing_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["word "] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OllamaLLM(host=fake_ollama.url)
    async with contextlib.aclosing(llm.stream_chat(HELLO)) as stream:
        async for _delta in stream:
            break
    assert await asyncio.to_thread(fake_ollama.stream_aborted.wait, 5.0)
    await llm.aclose()


async def test_cancelling_the_consuming_task_drops_the_connection(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply = lambda _messages: ["词"] * 500
    fake_ollama.chunk_delay_s = 0.01
    llm = OllamaLLM(host=fake_ollama.url)
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


async def test_availability_probe_and_model_list(fake_ollama: FakeOllama) -> None:
    assert await ollama_available(fake_ollama.url)
    assert await list_models(fake_ollama.url) == ["qwen2.5:3b", "llama3.2:1b"]

    closed = unused_local_url()
    assert not await ollama_available(closed)
    with pytest.raises(BackendUnavailableError, match="ollama serve"):
        await list_models(closed)

    fake_ollama.serve_html = True
    assert not await ollama_available(fake_ollama.url)
