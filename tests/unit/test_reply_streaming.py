"""Streaming synthesis in the reply pipeline: a clause's first chunk plays while the rest is made."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np

from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.events import AudioClip, ClauseSpoken, ConversationEvent, Message
from localvoice.reply import ReplyPipeline, ReplySettings
from tests.fakes import ScriptedLLM, tone_for

RATE = 16_000
MESSAGES = [Message("user", "讲个故事")]
REPLY = "从前有一座山，山上有一座庙。庙里有一个老和尚，他在讲故事。"


@dataclass
class StreamingToneTTS:
    """Each clause as ``chunk_s`` pieces of its tone: the first after ``first_delay_s``, then one every
    ``chunk_delay_s`` — a streaming server on the virtual clock."""

    clock: VirtualClock
    seconds_per_char: float = 0.1
    chunk_s: float = 0.25
    first_delay_s: float = 0.1
    chunk_delay_s: float = 0.1
    finished_at: dict[str, float] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    closed_early: list[str] = field(default_factory=list)

    async def synthesize(self, text: str) -> AudioClip:
        parts = [chunk.samples async for chunk in self.stream_synthesize(text)]
        return AudioClip(np.concatenate(parts), RATE)

    async def stream_synthesize(self, text: str) -> AsyncIterator[AudioClip]:
        self.started.append(text)
        whole = tone_for(text, self.seconds_per_char, RATE).samples
        step = round(self.chunk_s * RATE)
        done = False
        try:
            for number, start in enumerate(range(0, len(whole), step)):
                await self.clock.sleep(self.first_delay_s if number == 0 else self.chunk_delay_s)
                yield AudioClip(whole[start : start + step], RATE)
            done = True
            self.finished_at[text] = self.clock.now()
        finally:
            if not done:
                self.closed_early.append(text)

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def make(
    clock: VirtualClock, tts: StreamingToneTTS, text: str = REPLY
) -> tuple[ReplyPipeline, PacedSink, list[ConversationEvent]]:
    events: list[ConversationEvent] = []
    sink = PacedSink(clock, RATE)
    llm = ScriptedLLM(clock, [(0.0, text)])
    pipeline = ReplyPipeline(llm, tts, sink, clock, events.append, ReplySettings(max_concurrency=2))
    return pipeline, sink, events


async def test_first_chunk_plays_before_the_clause_is_synthesized() -> None:
    clock = VirtualClock()
    tts = StreamingToneTTS(clock)
    pipeline, sink, events = make(clock, tts)
    async with clock.running():
        finished = await pipeline.run(1, MESSAGES)
    first = tts.started[0]
    assert sink.played[0].start_s < 0.15, "the first chunk sounds as soon as it exists"
    assert sink.played[0].start_s < tts.finished_at[first], "…before the clause's synthesis ended"
    assert finished.heard == REPLY and not finished.interrupted
    in_order = np.concatenate([tone_for(t, 0.1, RATE).samples for t in tts.started])
    assert np.array_equal(sink.played_audio().samples, in_order), "clauses and chunks keep their order"
    spoken = [e.index for e in events if isinstance(e, ClauseSpoken)]
    assert spoken == list(range(len(tts.started))), "one ClauseSpoken per clause, once all chunks played"


async def test_barge_in_mid_chunk_cuts_the_heard_text_across_the_chunks_of_the_clause() -> None:
    clock = VirtualClock()
    # Synthesis far faster than playback: the whole first clause exists when the user barges in.
    tts = StreamingToneTTS(clock, first_delay_s=0.05, chunk_delay_s=0.01)
    pipeline, sink, _ = make(clock, tts)
    async with clock.running():
        reply = asyncio.create_task(pipeline.run(1, MESSAGES))
        while not sink.played:
            await clock.sleep(0.01)
        await clock.sleep(0.6)  # 0.6 s in: the third 0.25 s chunk of the first clause is playing
        pipeline.interrupt()
        finished = await reply
    first = tts.started[0]
    assert first in tts.finished_at, "the scenario needs the clause fully synthesized"
    assert len(sink.played_audio().samples) == round(0.6 * RATE)
    assert finished.interrupted
    assert finished.heard == first[:6], "0.6 s of a 0.1 s-per-character clause: six characters"


async def test_barge_in_while_the_clause_is_still_streaming_never_claims_its_end() -> None:
    clock = VirtualClock()
    # Chunks arrive just in time: when the user barges in, the clause's end has not been made.
    tts = StreamingToneTTS(clock, chunk_s=0.2, first_delay_s=0.1, chunk_delay_s=0.2)
    pipeline, sink, _ = make(clock, tts, "从前有一座山，山上有一座庙。")
    async with clock.running():
        reply = asyncio.create_task(pipeline.run(1, MESSAGES))
        while not sink.played:
            await clock.sleep(0.01)
        await clock.sleep(0.3)
        pipeline.interrupt()
        finished = await reply
    first = tts.started[0]
    assert first in tts.closed_early, "the stream was closed mid-clause"
    assert finished.interrupted
    assert finished.heard and first.startswith(finished.heard)
    assert len(finished.heard) < len(first)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others, f"orphan tasks left running: {others}"
