"""Every request tells the model the current local time, read fresh each turn (issue 8 §7).

Checked on the wire: the messages the fake Ollama server received.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from localvoice.audio.sinks import CollectingSink
from localvoice.backends.llm.ollama import OllamaLLM
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.conversation import Conversation
from localvoice.now import time_teller
from tests.fake_ollama import FakeOllama, fake_ollama_fixture  # noqa: F401
from tests.fakes import ToneTTS


async def test_each_turn_sends_the_time_of_that_turn(fake_ollama: FakeOllama) -> None:
    config = Config()
    config.llm.host = fake_ollama.url
    config.llm.timezone = "Asia/Shanghai"
    now = [datetime(2026, 12, 3, 0, 25, 10, tzinfo=UTC)]  # 08:25 in Beijing, a Thursday
    llm = OllamaLLM.from_config(config.llm)
    clock = MonotonicClock()
    conversation = Conversation(
        llm, ToneTTS(clock, delay_s=lambda _text: 0.0, seconds_per_char=0.01), CollectingSink(16_000),
        clock, system_prompt=config.llm.system, now_line=time_teller(config.llm, lambda: now[0]),
    )  # fmt: skip
    await conversation.reply_to("请问现在几点了")
    now[0] += timedelta(minutes=1)
    await conversation.reply_to("今天星期几")
    await llm.aclose()

    first, second = (body["messages"] for body in fake_ollama.chat_bodies())
    # The persona first and unchanged (a prompt cache keeps it), the time just before the question.
    assert first[0] == {"role": "system", "content": config.llm.system}
    assert [m["role"] for m in first] == ["system", "system", "user"]
    assert first[1]["content"].startswith("现在是2026年12月3日 星期四 上午8点25分（08:25，北京时间）")
    assert "上午8点26分（08:26，北京时间）" in second[-2]["content"]
    # The second request only appends to the first: its prefix (the first turn with its own time
    # line) is sent unchanged, so a prompt cache never reads it again; the newest time comes last.
    assert [m["role"] for m in second] == ["system", "system", "user", "assistant", "system", "user"]
    assert second[:3] == first
    assert "现在是" in second[-2]["content"] and second[-1]["content"] == "今天星期几"


async def test_telling_the_time_can_be_turned_off(fake_ollama: FakeOllama) -> None:
    config = Config()
    config.llm.tell_time = False
    llm = OllamaLLM(fake_ollama.url)
    clock = MonotonicClock()
    conversation = Conversation(
        llm, ToneTTS(clock, delay_s=lambda _text: 0.0), CollectingSink(16_000), clock,
        system_prompt="你是小声。", now_line=time_teller(config.llm),
    )  # fmt: skip
    await conversation.reply_to("你好")
    await llm.aclose()
    [body] = fake_ollama.chat_bodies()
    assert body["messages"][0] == {"role": "system", "content": "你是小声。"}
