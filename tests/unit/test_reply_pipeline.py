"""The reply pipeline on a virtual clock with scripted LLM and TTS delays."""

from __future__ import annotations

import asyncio

import numpy as np

from localvoice.audio.sinks import PacedSink
from localvoice.clock import VirtualClock
from localvoice.events import (
    AudioClip,
    ConversationEvent,
    ErrorOccurred,
    Message,
    ReplyFinished,
    TurnTimings,
)
from localvoice.reply import ReplyPipeline, ReplySettings
from tests.fakes import ScriptedLLM, ToneTTS, pieces_every, tone_for

REPLY = "好的，我来帮你查一下。明天北京晴，最高气温二十五度。适合出去走走，记得带水。"
RATE = 16_000
MESSAGES = [Message("system", "你是助手"), Message("user", "明天天气怎么样？")]


def make(
    clock: VirtualClock,
    llm: ScriptedLLM,
    tts: ToneTTS,
    settings: ReplySettings | None = None,
) -> tuple[ReplyPipeline, PacedSink, list[ConversationEvent]]:
    events: list[ConversationEvent] = []
    sink = PacedSink(clock, RATE)
    return ReplyPipeline(llm, tts, sink, clock, events.append, settings), sink, events


def synthesized(tts: ToneTTS) -> np.ndarray:
    return np.concatenate([tone_for(t, tts.seconds_per_char, RATE).samples for t in tts.finished])


async def test_first_audio_starts_after_first_clause_not_after_whole_reply() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.05, REPLY))  # 2 characters every 50 ms: 1.3 s in all
    tts = ToneTTS(clock, delay_s=lambda text: 0.1)
    pipeline, sink, _ = make(clock, llm, tts)
    async with clock.running():
        finished = await pipeline.run(1, MESSAGES)
    llm_done_s = 0.05 * len(pieces_every(0.05, REPLY))
    first_block_s = sink.played[0].start_s
    assert first_block_s < 0.6, "the first clause should sound while the LLM is still writing"
    assert first_block_s < llm_done_s / 2
    assert finished.heard == REPLY and not finished.interrupted
    assert tts.started[0].startswith("好的")


async def test_audio_plays_in_clause_order_when_synthesis_finishes_out_of_order() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, [(0.0, REPLY)])
    # The first clause is slow to synthesize, the later ones fast: completion order is reversed.
    tts = ToneTTS(clock, delay_s=lambda text: 0.8 if text.startswith("好的") else 0.05)
    pipeline, sink, _ = make(clock, llm, tts, ReplySettings(max_concurrency=3, max_ahead=3))
    async with clock.running():
        await pipeline.run(1, MESSAGES)
    assert tts.finished[0] != tts.started[0], "the script should finish synthesis out of order"
    in_clause_order = np.concatenate([tone_for(t, tts.seconds_per_char, RATE).samples for t in tts.started])
    assert np.array_equal(sink.played_audio().samples, in_clause_order)


async def test_synthesis_concurrency_is_bounded() -> None:
    clock = VirtualClock()
    text = "第一句话。第二句话。第三句话。第四句话。第五句话。第六句话。"
    llm = ScriptedLLM(clock, [(0.0, text)])
    tts = ToneTTS(clock, delay_s=lambda t: 0.3)
    pipeline, _, _ = make(clock, llm, tts, ReplySettings(max_concurrency=2, max_ahead=2))
    async with clock.running():
        finished = await pipeline.run(1, MESSAGES)
    assert tts.max_in_flight == 2
    assert finished.heard == text


async def test_interrupt_mid_synthesis_stops_everything_and_keeps_what_was_heard() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.02, REPLY * 3))
    tts = ToneTTS(clock, delay_s=lambda text: 0.4, seconds_per_char=0.1)
    pipeline, sink, events = make(clock, llm, tts)
    async with clock.running():
        reply = asyncio.create_task(pipeline.run(1, MESSAGES))
        while not sink.played:
            await clock.sleep(0.01)
        await clock.sleep(0.5)  # half a second into the first clause
        interrupted_at = clock.now()
        played_before = sink.played_samples
        pipeline.interrupt()
        finished = await reply
        await clock.sleep(5.0)  # nothing may sound after the interruption
    assert finished.interrupted
    assert sink.played_samples - played_before <= RATE * 0.02, "silence within one block"
    assert all(block.start_s <= interrupted_at for block in sink.played)
    first_clause = tts.started[0]
    # 0.5 s of a 0.1 s-per-character clause: the first five characters were heard.
    assert finished.heard == first_clause[:5]
    assert REPLY.startswith(finished.heard)
    assert tts.cancelled, "synthesis in flight was cancelled"
    assert llm.stopped_early == 1, "the LLM stream was closed"
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others, f"orphan tasks left running: {others}"
    assert any(isinstance(e, TurnTimings) for e in events)


class RemoteSink(PacedSink):
    """A speaker across a network (the browser page): how much of a clip played is known only when
    its acknowledgement arrives, a moment after the clip ended or was cut."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock, RATE)
        self._remote_clock = clock
        self._acks: set[asyncio.Task[None]] = set()

    def enqueue(self, clip: AudioClip) -> asyncio.Future[int]:
        local = super().enqueue(clip)
        acknowledged: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def acknowledge() -> None:
            played = await local
            await self._remote_clock.sleep(0.05)
            if not acknowledged.done():
                acknowledged.set_result(played)

        task = asyncio.get_running_loop().create_task(acknowledge())
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)
        return acknowledged


async def test_interrupt_after_the_whole_reply_was_queued_keeps_what_was_heard() -> None:
    # A short reply is written and synthesized long before it has played: the pipeline is only
    # waiting for the speaker when the user cuts in. What was heard must still come back.
    clock = VirtualClock()
    short = "好的，我来帮你查一下。"
    llm = ScriptedLLM(clock, [(0.0, short)])
    tts = ToneTTS(clock, delay_s=lambda text: 0.05, seconds_per_char=0.1)
    sink = RemoteSink(clock)
    pipeline = ReplyPipeline(llm, tts, sink, clock, lambda event: None)
    async with clock.running():
        reply = asyncio.create_task(pipeline.run(1, MESSAGES))
        while not sink.played:
            await clock.sleep(0.01)
        await clock.sleep(0.6)  # 0.6 s into 1.1 s of audio, all of it synthesized by now
        assert tts.finished and len(tts.finished) == len(tts.started)
        pipeline.interrupt()
        finished = await reply
    assert finished.interrupted
    assert finished.heard.startswith("好的，我") and len(finished.heard) < len(short)


async def test_llm_failure_mid_reply_keeps_the_spoken_part() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.01, REPLY), fail_after=12)  # 24 characters arrive
    tts = ToneTTS(clock)
    pipeline, _, events = make(clock, llm, tts)
    async with clock.running():
        finished: ReplyFinished = await pipeline.run(1, MESSAGES)
    assert finished.error is not None and "scripted failure" in finished.error
    assert finished.heard == REPLY[:24].strip()
    assert any(isinstance(e, ErrorOccurred) for e in events)


async def test_timings_measure_each_stage_from_end_of_speech() -> None:
    clock = VirtualClock(start_s=100.0)
    llm = ScriptedLLM(clock, [(0.3, "你好，"), (0.1, "我是小声，很高兴认识你。")])
    tts = ToneTTS(clock, delay_s=lambda text: 0.2)
    pipeline, _, events = make(clock, llm, tts, ReplySettings(first_clause_min_chars=2))
    async with clock.running():
        await pipeline.run(1, MESSAGES, speech_end_s=99.5, asr_ms=500.0)
    timings = next(e for e in events if isinstance(e, TurnTimings))
    assert timings.asr_ms == 500.0
    assert timings.llm_first_token_ms == 300.0
    assert timings.tts_first_audio_ms == 200.0
    assert timings.first_clause_ms is not None and timings.first_clause_ms >= 300.0
    assert timings.voice_to_voice_ms == 500.0 + timings.first_clause_ms + 200.0


async def test_an_interrupt_before_the_reply_starts_still_stops_it() -> None:
    clock = VirtualClock()
    llm = ScriptedLLM(clock, pieces_every(0.02, REPLY))
    tts = ToneTTS(clock)
    pipeline, sink, _ = make(clock, llm, tts)
    async with clock.running():
        reply = asyncio.create_task(pipeline.run(1, MESSAGES))
        pipeline.interrupt()  # the user spoke before the task got to run
        finished = await reply
        again = await pipeline.run(2, MESSAGES)  # the next reply is not affected
    assert finished.interrupted and finished.heard == ""
    assert not again.interrupted and again.heard == REPLY
    assert sink.played_samples > 0
