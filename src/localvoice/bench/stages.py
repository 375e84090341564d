"""``stages``: every stage of a real spoken turn, through the real live loop and embedded models.

Each bench question is played in real time through a clock-paced source into ``LiveLoop`` (Silero VAD
segmenter, faster-whisper, llama.cpp, packaged TTS, a ``PacedSink`` on the ``MonotonicClock``). The
reference points are the true speech bounds in the recording, so end-of-speech detection is measured
too. A turn is timed up to its first answer audio block, then cut short to save wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from localvoice.audio.paced_source import PacedFileSource
from localvoice.audio.sinks import PacedSink
from localvoice.bench.machine import OtherLoad
from localvoice.bench.questions import Question, load_questions, pick
from localvoice.bench.result import ScenarioResult
from localvoice.bench.speech_bounds import speech_bounds
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.events import (
    OUTPUT_RATE_HZ,
    ConversationEvent,
    ReplyFinished,
    SpeechEnded,
    TranscriptReady,
    TurnTimings,
)
from localvoice.session import Session

LEAD_S = 0.3
TRAIL_S = 1.0
REPLY_TIMEOUT_S = 60.0  # the microphone stays open (silent) this long waiting for the first answer audio
SETTLE_S = 1.0
CONTENDED_CPU_S = 0.5  # lets a cancelled synthesis finish before the next question starts

STAGE_LABELS = {
    "end_of_speech_ms": "end of speech → turn end detected",
    "asr_ms": "ASR wait after the turn end was detected",
    "llm_first_token_ms": "LLM first token",
    "first_clause_ms": "first clause ready (from LLM start)",
    "tts_first_audio_ms": "TTS first audio (from first clause)",
    "voice_to_voice_ms": "voice-to-voice (speech end → answer audio)",
}


async def _one_turn(session: Session, config: Config, question: Question) -> dict[str, Any]:
    assert session.asr is not None and session.llm is not None and session.tts is not None
    clock = MonotonicClock()
    audio = question.audio()
    _, end_s = speech_bounds(audio)
    sink = PacedSink(clock, OUTPUT_RATE_HZ)
    seen: list[tuple[float, ConversationEvent]] = []

    def record(event: ConversationEvent) -> None:
        seen.append((clock.now(), event))

    source = PacedFileSource(
        audio, clock, leading_silence_s=LEAD_S, trailing_silence_s=TRAIL_S + REPLY_TIMEOUT_S
    )
    # Wired from this turn's config (``latency`` varies it), on the session's loaded models.
    conversation = session.conversation(sink, clock, observers=[record], config=config)
    loop = session.live_loop(conversation, source, clock, record, mode="full-duplex", config=config)
    others = OtherLoad()
    others.start()
    listening = asyncio.create_task(loop.run())
    try:
        while not sink.played and not listening.done():
            await asyncio.sleep(0.005)
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await conversation.interrupt()
        await sink.aclose()
    speech_end = source.clip_time(end_s)
    row: dict[str, Any] = {
        "question": question.text,
        "language": question.language,
        "others_cpu_s": others.stop(),
    }
    for at, event in seen:
        if isinstance(event, SpeechEnded) and "end_of_speech_ms" not in row:
            row["end_of_speech_ms"] = (at - speech_end) * 1000.0
        elif isinstance(event, TranscriptReady):
            row["transcript"] = event.text
        elif isinstance(event, TurnTimings):
            row["asr_ms"] = event.asr_ms
            row["llm_first_token_ms"] = event.llm_first_token_ms
            row["first_clause_ms"] = event.first_clause_ms
            row["tts_first_audio_ms"] = event.tts_first_audio_ms
    if sink.played:
        row["voice_to_voice_ms"] = (sink.played[0].start_s - speech_end) * 1000.0
    replies = [event.written for _, event in seen if isinstance(event, ReplyFinished)]
    if replies:
        row["reply_start"] = replies[-1]  # what the model had written when the turn was cut short
    return row


async def run_stages(config: Config, runs: int = 3, limit: int | None = None) -> ScenarioResult:
    questions = pick(load_questions(), limit)
    config.llm.backend = "llama_cpp"  # the embedded model: what a user without Ollama gets
    notices: list[str] = []
    result = ScenarioResult(
        "stages", f"Stages of a spoken turn ({len(questions)} questions × {runs} runs, real models)"
    )
    loading = time.perf_counter()
    async with Session(config, notices.append, need_asr=True) as session:
        load_s = time.perf_counter() - loading
        rows: list[dict[str, Any]] = []
        for _ in range(runs):
            for question in questions:
                rows.append(await _one_turn(session, config, question))
                await asyncio.sleep(SETTLE_S)
        description = session.llm.description if session.llm else ""
    for metric, label in STAGE_LABELS.items():
        values = [float(row[metric]) for row in rows if row.get(metric) is not None]
        result.add(metric, values, label)
    result.details = [{k: round(v, 1) if isinstance(v, float) else v for k, v in row.items()} for row in rows]
    v2v = result.metrics.get("voice_to_voice_ms")
    result.headline = {
        "voice_to_voice_median_ms": None if v2v is None else round(v2v.median, 1),
        "answered": sum(1 for row in rows if "voice_to_voice_ms" in row),
        "turns": len(rows),
        "models_load_and_warm_s": round(load_s, 2),
        # Turns during which other processes used over CONTENDED_CPU_S of CPU: their numbers are slower.
        "contended_turns": sum(1 for row in rows if (row.get("others_cpu_s") or 0.0) > CONTENDED_CPU_S),
        "llm": description,
    }
    result.notes += notices
    return result
