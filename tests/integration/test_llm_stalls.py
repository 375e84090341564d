"""A reply stream that goes quiet must not hang the session (issue 8 §3), for both HTTP backends.

The fake server sends part of a reply and then nothing, keeping the connection open. Short limits
keep the tests fast; each runs under ``asyncio.timeout`` so a hang fails instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from localvoice.backends.llm.http_chat import HttpTimeouts
from localvoice.backends.llm.ollama import OllamaLLM
from localvoice.backends.llm.openai_compat import OpenAICompatLLM
from localvoice.clock import MonotonicClock
from localvoice.conversation import Conversation
from localvoice.errors import BackendError, LocalVoiceError
from localvoice.events import ConversationEvent, ConversationState, ErrorOccurred, Message
from tests.fake_ollama import FakeOllama, default_reply, fake_ollama_fixture  # noqa: F401
from tests.fakes import ToneTTS

HELLO = [Message("system", "你是小声。"), Message("user", "你好")]
PIECES = default_reply([{"role": "user", "content": "你好"}])  # 你说 的是 ：你 好。
HANG_GUARD_S = 10.0

Backend = OllamaLLM | OpenAICompatLLM
Make = Callable[[FakeOllama, HttpTimeouts, Callable[[str], None]], Backend]


def _ollama(server: FakeOllama, timeouts: HttpTimeouts, notify: Callable[[str], None]) -> Backend:
    return OllamaLLM(server.url, timeouts=timeouts, notify=notify)


def _openai(server: FakeOllama, timeouts: HttpTimeouts, notify: Callable[[str], None]) -> Backend:
    return OpenAICompatLLM(f"{server.url}/v1", timeouts=timeouts, notify=notify)


BACKENDS = pytest.mark.parametrize("make", [_ollama, _openai], ids=["ollama", "openai"])


async def collect(llm: Backend, pause_s: float = 0.0) -> tuple[list[str], LocalVoiceError | None]:
    deltas: list[str] = []
    try:
        async with asyncio.timeout(HANG_GUARD_S):
            async for delta in llm.stream_chat(HELLO):
                deltas.append(delta)
                await asyncio.sleep(pause_s)
    except LocalVoiceError as error:
        return deltas, error
    finally:
        await llm.aclose()
    return deltas, None


@BACKENDS
async def test_a_reply_that_goes_quiet_midway_ends_with_one_clear_line(
    fake_ollama: FakeOllama, make: Make
) -> None:
    fake_ollama.stall_after_chunks = 2
    notices: list[str] = []
    llm = make(fake_ollama, HttpTimeouts(first_token_notice_s=0.3, stall_s=0.6), notices.append)
    started = time.monotonic()
    deltas, error = await collect(llm)
    waited = time.monotonic() - started

    assert deltas == PIECES[:2]  # what came before the stall is kept
    assert isinstance(error, BackendError)
    message = str(error)
    assert "middle of the reply" in message and "0.6 s" in message and "llm.stall_timeout_s" in message
    assert "\n" not in message
    assert 0.5 < waited < 5.0
    assert notices == []  # the first word came at once: nothing to say about loading


@BACKENDS
async def test_no_first_word_says_the_model_may_be_loading_then_gives_up(
    fake_ollama: FakeOllama, make: Make
) -> None:
    fake_ollama.stall_after_chunks = 0
    notices: list[str] = []
    llm = make(fake_ollama, HttpTimeouts(first_token_notice_s=0.2, stall_s=0.8), notices.append)
    deltas, error = await collect(llm)

    assert deltas == []
    assert len(notices) == 1 and "loading" in notices[0] and "qwen2.5:3b" in notices[0]
    assert isinstance(error, BackendError)
    assert "no word for 0.8 s" in str(error) and "llm.stall_timeout_s" in str(error)


@BACKENDS
async def test_a_slow_but_steady_reply_is_not_cut(fake_ollama: FakeOllama, make: Make) -> None:
    # Every gap is under the limit although the whole reply takes far longer than it.
    fake_ollama.chunk_delay_s = 0.3
    notices: list[str] = []
    llm = make(fake_ollama, HttpTimeouts(first_token_notice_s=0.1, stall_s=0.8), notices.append)
    deltas, error = await collect(llm)

    assert error is None and deltas == PIECES
    assert len(notices) == 1  # the first word was slow: said once, not once per chunk


@BACKENDS
async def test_time_the_listener_takes_between_deltas_does_not_count(
    fake_ollama: FakeOllama, make: Make
) -> None:
    # The reply pipeline may wait on the speaker between deltas; only the server's silence counts.
    llm = make(fake_ollama, HttpTimeouts(first_token_notice_s=0.1, stall_s=0.3), lambda _: None)
    deltas, error = await collect(llm, pause_s=0.5)
    assert error is None and deltas == PIECES


async def test_the_conversation_keeps_what_was_said_and_listens_again(fake_ollama: FakeOllama) -> None:
    """End to end through the reply pipeline: the stall is one error line, the spoken part stays."""
    from localvoice.audio.sinks import CollectingSink

    fake_ollama.reply = lambda _messages: ["今天天气", "很好。", "我们去", "公园"]
    fake_ollama.stall_after_chunks = 3
    clock = MonotonicClock()
    llm = OllamaLLM(fake_ollama.url, timeouts=HttpTimeouts(first_token_notice_s=1.0, stall_s=0.5))
    events: list[ConversationEvent] = []
    conversation = Conversation(
        llm, ToneTTS(clock, delay_s=lambda _text: 0.0, seconds_per_char=0.01), CollectingSink(16_000),
        clock, system_prompt="你是小声。", observers=[events.append],
    )  # fmt: skip
    async with asyncio.timeout(HANG_GUARD_S):
        finished = await conversation.reply_to("你好")
    await llm.aclose()

    assert finished.heard.startswith("今天天气很好。")
    assert finished.error is not None and "llm.stall_timeout_s" in finished.error
    assert [e.message for e in events if isinstance(e, ErrorOccurred)] == [finished.error]
    assert conversation.state is ConversationState.LISTENING
    assert conversation.history[-1].content.startswith("今天天气很好。")
