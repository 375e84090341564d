"""``overhead``: what the reply pipeline and conversation add per turn when every stage is instant.

The LLM yields a three-sentence reply at once, the TTS returns audio at once and the sink "plays" it at
once, all on the real ``MonotonicClock``: whatever time a turn still takes is the pipeline's own
(tasks, queues, chunking, text filtering, bookkeeping).
"""

from __future__ import annotations

import time

from localvoice.audio.sinks import CollectingSink
from localvoice.bench.fakes import InstantLLM, InstantTTS
from localvoice.bench.result import ScenarioResult
from localvoice.clock import MonotonicClock
from localvoice.conversation import Conversation
from localvoice.events import ClauseSpoken, ConversationEvent, TurnTimings

DEFAULT_TURNS = 200
WARM_UP_TURNS = 10
TARGET_MS = 5.0


async def run_overhead(turns: int = DEFAULT_TURNS) -> ScenarioResult:
    clock = MonotonicClock()
    timings: list[TurnTimings] = []

    def observe(event: ConversationEvent) -> None:
        if isinstance(event, TurnTimings):
            timings.append(event)

    tts = InstantTTS()
    sink = CollectingSink(tts.sample_rate_hz, keep=False)
    clauses: list[int] = []

    def observe_clauses(event: ConversationEvent) -> None:
        if isinstance(event, ClauseSpoken):
            clauses.append(event.turn)

    conversation = Conversation(InstantLLM(), tts, sink, clock, "系统", observers=[observe, observe_clauses])
    turn_ms: list[float] = []
    for number in range(WARM_UP_TURNS + turns):
        started = time.perf_counter()
        finished = await conversation.reply_to("给我三个建议")
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if finished.interrupted or finished.error:
            raise RuntimeError(f"overhead turn {number} did not finish cleanly: {finished}")
        if number >= WARM_UP_TURNS:
            turn_ms.append(elapsed_ms)
        conversation.history.clear()  # every turn the same size: measure the pipeline, not history growth
    measured = timings[WARM_UP_TURNS:]
    first_audio_ms = [t.voice_to_voice_ms for t in measured if t.voice_to_voice_ms is not None]
    result = ScenarioResult("overhead", f"Pipeline overhead per turn (instant fakes, {turns} turns)")
    result.add("turn_ms", turn_ms, "whole turn (3 sentences)", TARGET_MS)
    result.add("first_audio_ms", first_audio_ms, "request → first clip queued")
    summary = result.metrics["turn_ms"]
    result.headline = {
        "median_ms": round(summary.median, 3),
        "p90_ms": round(summary.p90, 3),
        "jitter_ms": round(summary.stdev, 3),
        "turns": turns,
        # Proof that every turn did the whole job: clauses played and seconds of audio "heard".
        "clauses_per_turn": round(len(clauses) / (WARM_UP_TURNS + turns), 2),
        "audio_s_per_turn": round(sink.played_samples / tts.sample_rate_hz / (WARM_UP_TURNS + turns), 2),
    }
    return result
