"""Conversation history and the transcript log, driven through whole turns on a virtual clock."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.conversation import Conversation
from localvoice.events import ConversationEvent, ConversationState, StateChanged
from localvoice.transcript_log import TranscriptLog, read_log
from tests.fakes import ScriptedLLM, ToneTTS, pieces_every

FIRST = "北京明天晴，最高二十五度。适合出门散步，记得防晒。"
SECOND = "好的，不客气。"


async def test_interrupted_reply_is_remembered_as_heard_and_logged(tmp_path: Path) -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.02, FIRST))
    tts = ToneTTS(clock, delay_s=lambda text: 0.1, seconds_per_char=0.1)
    sink = PacedSink(clock, 16_000)
    events: list[ConversationEvent] = []
    log = TranscriptLog(tmp_path)
    conversation = Conversation(llm, tts, sink, clock, "系统提示", log=log, observers=[events.append])
    async with clock.running():
        conversation.start_reply("明天天气怎么样？")
        while conversation.state is not ConversationState.SPEAKING:
            await clock.sleep(0.01)
        await clock.sleep(0.35)
        cut = await conversation.interrupt()
        llm.pieces = [(0.01, SECOND)]
        await conversation.reply_to("谢谢")
    assert cut is not None and cut.interrupted
    heard = conversation.history[1]
    assert heard.role == "assistant" and heard.interrupted
    assert FIRST.startswith(heard.content) and 0 < len(heard.content) < len(FIRST)
    # The next turn's prompt carries only what was heard.
    second_prompt = llm.calls[1]
    assert [m.role for m in second_prompt] == ["system", "user", "assistant", "user"]
    assert second_prompt[2].content == heard.content
    records = read_log(log.path)
    assert [r["user"] for r in records] == ["明天天气怎么样？", "谢谢"]
    assert records[0]["interrupted"] is True and records[0]["assistant"] == heard.content
    assert records[1]["assistant"] == SECOND
    assert records[0]["timings_ms"]["voice_to_voice"] is not None
    states = [e.state for e in events if isinstance(e, StateChanged)]
    assert states[:3] == [ConversationState.THINKING, ConversationState.SPEAKING, ConversationState.LISTENING]


def test_transcript_log_survives_a_torn_last_line(tmp_path: Path) -> None:
    log = TranscriptLog(tmp_path, session="s1")
    from localvoice.events import TurnRecord

    log.append(TurnRecord(1, "你好", "你好！"))
    with log.path.open("a", encoding="utf-8") as handle:
        handle.write('{"turn": 2, "user": "半')  # a crash mid-write
    records = read_log(log.path)
    assert len(records) == 1 and records[0]["assistant"] == "你好！"
    raw = log.path.read_text(encoding="utf-8").splitlines()[0]
    assert json.loads(raw)["session"] == "s1"


async def test_virtual_clock_runs_a_long_conversation_in_little_real_time() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.5, SECOND * 4, size=1))  # 14 s of writing
    tts = ToneTTS(clock)
    conversation = Conversation(llm, tts, PacedSink(clock, 16_000), clock)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with clock.running():
        await conversation.reply_to("讲个长故事")
    assert clock.now() > 14.0
    assert loop.time() - started < 5.0
