"""The packaged model, told the time by the conversation, answers "what time is it" with the right hour.

Before issue 8 it invented one ("现在是下午2点" at 07:25 UTC). Real model, temperature 0 and a fixed
seed; the instant is fixed and far from this machine's clock, so a model that guessed could not pass.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from localvoice.audio.sinks import CollectingSink
from localvoice.backends.llm.llama_cpp import LlamaCppLLM
from localvoice.backends.llm.sampling import Sampling
from localvoice.clock import MonotonicClock
from localvoice.config import DEFAULT_SYSTEM_PROMPT
from localvoice.conversation import Conversation
from localvoice.now import TimeTeller
from tests.fakes import ToneTTS

pytestmark = pytest.mark.slow

# Saturday 5 December 2026, 14:05 in Beijing: an afternoon hour, so 12- and 24-hour forms differ.
INSTANT = datetime(2026, 12, 5, 6, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def llm() -> Iterator[LlamaCppLLM]:
    model = LlamaCppLLM(
        system_prompt=DEFAULT_SYSTEM_PROMPT,
        sampling=Sampling(temperature=0.0, seed=7, num_predict=48, num_ctx=2048),
    )
    asyncio.run(model.load())
    yield model
    asyncio.run(model.aclose())


async def answer(llm: LlamaCppLLM, question: str) -> str:
    clock = MonotonicClock()
    conversation = Conversation(
        llm, ToneTTS(clock), CollectingSink(16_000), clock, system_prompt=DEFAULT_SYSTEM_PROMPT,
        now_line=TimeTeller("Asia/Shanghai", wall_clock=lambda: INSTANT),
    )  # fmt: skip
    return "".join([delta async for delta in llm.stream_chat(conversation.messages_for(question))])


async def test_chinese_what_time_is_it_gets_the_right_hour(llm: LlamaCppLLM) -> None:
    reply = await answer(llm, "请问现在几点了")
    assert re.search(r"(?<!\d)(2|14)点|两点|十四点|(?<!\d)(2|14):05", reply), reply
    assert "上午" not in reply, reply


async def test_english_what_time_is_it_gets_the_right_hour(llm: LlamaCppLLM) -> None:
    reply = await answer(llm, "What time is it?")
    assert re.search(r"(?<!\d)(2|14):05|(?<!\d)2\s*(PM|p\.m\.)", reply, re.IGNORECASE), reply
    assert not re.search(r"\bAM\b|a\.m\.", reply, re.IGNORECASE), reply
