"""An error inside a reply (the speaker fails, a bug in a stage) ends that reply with one clear
line; the conversation settles back to listening, remembers the turn, and the next turn works."""

from __future__ import annotations

import asyncio
from pathlib import Path

from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.conversation import Conversation
from localvoice.errors import AudioDeviceError
from localvoice.events import AudioClip, ConversationEvent, ConversationState, ErrorOccurred, ReplyFinished
from localvoice.transcript_log import TranscriptLog, read_log
from tests.fakes import ScriptedLLM, ToneTTS, pieces_every

REPLY = "好的。我来回答你的问题，这是第二句话。"


class FlakySink(PacedSink):
    """A speaker that is unplugged for the clips numbered in ``failing`` (counting from 0)."""

    def __init__(self, clock: VirtualClock, failing: set[int], error: Exception) -> None:
        super().__init__(clock, 16_000)
        self.failing = failing
        self.error = error
        self.count = 0

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        number, self.count = self.count, self.count + 1
        if number in self.failing:
            raise self.error
        return super().enqueue(clip)


def build(
    tmp_path: Path, sink: PacedSink, clock: VirtualClock
) -> tuple[Conversation, list[ConversationEvent]]:
    events: list[ConversationEvent] = []
    llm = ScriptedLLM(clock, pieces_every(0.02, REPLY))
    conversation = Conversation(
        llm, ToneTTS(clock, seconds_per_char=0.05), sink, clock, "系统", log=TranscriptLog(tmp_path)
    )
    conversation.subscribe(events.append)
    return conversation, events


async def test_a_speaker_failure_mid_reply_is_one_line_and_the_session_goes_on(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = FlakySink(clock, {1}, AudioDeviceError("the speaker went away (unplugged?)"))
    conversation, events = build(tmp_path, sink, clock)
    async with clock.running():
        first = await conversation.reply_to("你好")
        second = await conversation.reply_to("再说一遍")
    assert first.error == "the speaker went away (unplugged?)"
    assert not isinstance(first, BaseExceptionGroup)
    assert first.heard and REPLY.startswith(first.heard), "what was played before the failure is kept"
    assert second.error is None and second.heard == REPLY
    assert conversation.state is ConversationState.LISTENING
    assert [m.role for m in conversation.history] == ["user", "assistant", "user", "assistant"]
    assert [e.message for e in events if isinstance(e, ErrorOccurred)] == [
        "the speaker went away (unplugged?)"
    ]
    records = read_log(TranscriptLog(tmp_path).path)
    assert [r["error"] for r in records] == ["the speaker went away (unplugged?)", None]


async def test_an_unexpected_error_is_reported_not_raised(tmp_path: Path) -> None:
    clock = VirtualClock()
    sink = FlakySink(clock, {0}, RuntimeError("boom"))
    conversation, _ = build(tmp_path, sink, clock)
    async with clock.running():
        finished = await conversation.reply_to("你好")
    assert isinstance(finished, ReplyFinished)
    assert finished.error is not None and "RuntimeError: boom" in finished.error
    assert conversation.state is ConversationState.LISTENING
    assert conversation.history[0].content == "你好"
