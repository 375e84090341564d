"""``barge_in``: how fast the assistant falls silent when the user starts talking over it.

A long reply (instant fake LLM and TTS) plays into a ``PacedSink`` in real time; meanwhile a recorded
question arrives through a clock-paced source into the real ``LiveLoop`` with the real Silero VAD and
segmenter. Measured from the true speech onset in the recording to the end of the last audio block
that went out, and also from ``onset + min_interrupt_ms`` (the deliberate wait that keeps a short
"嗯" from cutting in) and from the moment the VAD reported speech.
"""

from __future__ import annotations

import dataclasses
import time

from localvoice.audio.echo import NullEchoCanceller
from localvoice.audio.paced_source import PacedFileSource
from localvoice.audio.segmenter import Segmenter
from localvoice.audio.sinks import PacedSink
from localvoice.backends.vad.silero import SileroVAD
from localvoice.bench.fakes import InstantLLM, InstantTTS, SilentASR
from localvoice.bench.questions import Question, load_questions
from localvoice.bench.result import ScenarioResult
from localvoice.bench.speech_bounds import speech_bounds
from localvoice.clock import MonotonicClock
from localvoice.config import Config
from localvoice.conversation import Conversation
from localvoice.events import AudioClip, ConversationEvent, SpeechStarted
from localvoice.live import LiveLoop, LiveSettings

LONG_REPLY = "从前有一座山，山里有一座庙，庙里有个老和尚在给小和尚讲故事。" * 6
LEAD_S = 0.6  # the reply is already playing when the user starts
SPEECH_KEPT_S = 1.2  # speech after the onset: enough to barge in, short enough to keep runs quick
TRAIL_S = 0.7  # lets the segmenter end the utterance
TARGET_AFTER_WAIT_MS = 150.0


@dataclasses.dataclass(frozen=True, slots=True)
class _Run:
    onset_to_silence_ms: float
    detection_to_silence_ms: float
    clear_to_silence_ms: float


async def _one_run(question: Question, clip: AudioClip, onset_s: float, config: Config) -> _Run | None:
    clock = MonotonicClock()
    tts = InstantTTS()
    sink = PacedSink(clock, tts.sample_rate_hz)
    conversation = Conversation(InstantLLM(LONG_REPLY), tts, sink, clock, "系统")
    source = PacedFileSource(clip, clock, leading_silence_s=LEAD_S, trailing_silence_s=TRAIL_S)
    detected: list[float] = []

    def emit(event: ConversationEvent) -> None:
        if isinstance(event, SpeechStarted) and not detected:
            detected.append(clock.now())

    loop = LiveLoop(
        conversation,
        SilentASR(),
        source,
        Segmenter(SileroVAD(), config.vad),
        NullEchoCanceller(),
        clock,
        LiveSettings(min_interrupt_ms=config.conversation.min_interrupt_ms),
        emit,
    )
    conversation.start_reply("讲个长故事")
    try:
        await loop.run()
    finally:
        source_end = clock.now()
        await conversation.interrupt()  # a missed barge-in would otherwise play on for a minute
        await sink.aclose()
    cleared = [t for t in sink.clear_times_s if t < source_end]
    silent = sink.silent_since_s()
    if not cleared or not detected or silent is None:
        return None
    onset = source.clip_time(onset_s)
    return _Run(
        onset_to_silence_ms=(silent - onset) * 1000.0,
        detection_to_silence_ms=(silent - detected[0]) * 1000.0,
        clear_to_silence_ms=(silent - cleared[0]) * 1000.0,
    )


async def run_barge_in(config: Config, runs: int = 3) -> ScenarioResult:
    questions = load_questions()
    # One Mandarin and one English voice: onsets differ (a soft "H" vs a plosive).
    picked = [next(q for q in questions if q.language == lang) for lang in ("zh", "en")]
    wait_ms = float(config.conversation.min_interrupt_ms)
    result = ScenarioResult("barge_in", f"Barge-in: user speech → assistant silent ({runs} runs × 2 voices)")
    onset_ms: list[float] = []
    after_wait_ms: list[float] = []
    detection_ms: list[float] = []
    missed = 0
    for _ in range(runs):
        for question in picked:
            audio = question.audio()
            onset_s, _ = speech_bounds(audio)
            cut = AudioClip(audio.samples[: round((onset_s + SPEECH_KEPT_S) * 16_000)], 16_000)
            started = time.perf_counter()
            run = await _one_run(question, cut, onset_s, config)
            if run is None:
                missed += 1
                result.details.append({"question": question.text, "barged_in": False})
                continue
            onset_ms.append(run.onset_to_silence_ms)
            after_wait_ms.append(run.onset_to_silence_ms - wait_ms)
            detection_ms.append(run.detection_to_silence_ms)
            result.details.append(
                {
                    "question": question.text,
                    "barged_in": True,
                    "onset_to_silence_ms": round(run.onset_to_silence_ms, 1),
                    "detection_to_silence_ms": round(run.detection_to_silence_ms, 1),
                    "clear_to_silence_ms": round(run.clear_to_silence_ms, 1),
                    "run_s": round(time.perf_counter() - started, 2),
                }
            )
    result.add("onset_to_silence_ms", onset_ms, "speech onset → silence")
    result.add(
        "after_min_interrupt_ms",
        after_wait_ms,
        f"onset + min_interrupt ({wait_ms:.0f} ms) → silence",
        TARGET_AFTER_WAIT_MS,
    )
    result.add("detection_to_silence_ms", detection_ms, "VAD SpeechStarted → silence")
    after = result.metrics.get("after_min_interrupt_ms")
    onset = result.metrics.get("onset_to_silence_ms")
    result.headline = {
        "median_ms": None if after is None else round(after.median, 1),
        "onset_to_silence_median_ms": None if onset is None else round(onset.median, 1),
        "min_interrupt_ms": int(wait_ms),
        "missed": missed,
    }
    result.notes.append(
        "median_ms counts from onset + min_interrupt_ms, the point at which the design says to stop; "
        "the VAD also needs min_speech_ms of speech before it reports any"
    )
    return result
