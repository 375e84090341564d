"""Fakes for the stages that the pipeline tests script: an LLM and a TTS on an injected clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from localvoice.clock import Clock
from localvoice.errors import BackendError
from localvoice.events import AudioClip, Message, Transcript


@dataclass
class ScriptedLLM:
    """Streams scripted pieces, each after a delay on the clock; may fail after some pieces."""

    clock: Clock
    pieces: Sequence[tuple[float, str]]  # (delay before this piece in seconds, text)
    fail_after: int | None = None  # raise BackendError after this many pieces
    calls: list[list[Message]] = field(default_factory=list)
    stopped_early: int = 0

    @property
    def description(self) -> str:
        return "scripted"

    async def stream_chat(self, messages: Sequence[Message]) -> AsyncIterator[str]:
        self.calls.append(list(messages))
        finished = False
        try:
            for number, (delay_s, text) in enumerate(self.pieces):
                if self.fail_after is not None and number == self.fail_after:
                    raise BackendError("Ollama reported an error mid-reply: scripted failure")
                await self.clock.sleep(delay_s)
                yield text
            finished = True
        finally:
            if not finished:
                self.stopped_early += 1

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def pieces_every(delay_s: float, text: str, size: int = 2) -> list[tuple[float, str]]:
    """Split ``text`` into ``size``-character deltas arriving every ``delay_s``."""
    return [(delay_s, text[i : i + size]) for i in range(0, len(text), size)]


@dataclass
class ToneTTS:
    """A tone whose length follows the text, after a scripted synthesis delay on the clock."""

    clock: Clock
    delay_s: Callable[[str], float] = lambda text: 0.1
    seconds_per_char: float = 0.1
    sample_rate_hz: int = 16_000
    in_flight: int = 0
    max_in_flight: int = 0
    started: list[str] = field(default_factory=list)
    finished: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    async def synthesize(self, text: str) -> AudioClip:
        self.started.append(text)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await self.clock.sleep(self.delay_s(text))
        except BaseException:
            self.cancelled.append(text)
            raise
        finally:
            self.in_flight -= 1
        self.finished.append(text)
        return tone_for(text, self.seconds_per_char, self.sample_rate_hz)

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


def tone_for(text: str, seconds_per_char: float, sample_rate_hz: int) -> AudioClip:
    """A tone whose pitch encodes the text, so the played order can be read back."""
    length = max(1, round(len(text) * seconds_per_char * sample_rate_hz))
    pitch_hz = 200 + (sum(map(ord, text)) % 50) * 20
    t = np.arange(length) / sample_rate_hz
    samples = (0.3 * 32767 * np.sin(2 * np.pi * pitch_hz * t)).astype(np.int16)
    return AudioClip(samples, sample_rate_hz)


@dataclass
class AmplitudeVAD:
    """Speech wherever the frame is loud: lets a test script user speech as tone bursts."""

    frame_samples: int = 512
    threshold_rms: float = 500.0

    def speech_probability(self, frame: np.ndarray) -> float:
        rms = float(np.sqrt(np.mean(frame.astype(np.float64) ** 2)))
        return 1.0 if rms > self.threshold_rms else 0.0

    def reset(self) -> None:
        return None


@dataclass
class TimelineSource:
    """A microphone on the clock: tone while the scripted user speaks, silence otherwise."""

    clock: Clock
    speech: Sequence[tuple[float, float]]  # (start_s, end_s) of each stretch of user speech
    total_s: float
    block_ms: int = 20
    sample_rate_hz: int = 16_000

    async def stream_frames(self) -> AsyncIterator[np.ndarray]:
        block = self.sample_rate_hz * self.block_ms // 1000
        position = 0
        end = round(self.total_s * self.sample_rate_hz)
        while position < end:
            await self.clock.sleep(block / self.sample_rate_hz)
            times = (position + np.arange(block)) / self.sample_rate_hz
            speaking = np.zeros(block, dtype=bool)
            for start_s, end_s in self.speech:
                speaking |= (times >= start_s) & (times < end_s)
            tone = (0.3 * 32767 * np.sin(2 * np.pi * 220 * times)).astype(np.int16)
            yield np.where(speaking, tone, 0).astype(np.int16)
            position += block

    async def aclose(self) -> None:
        return None


@dataclass
class ScriptedASR:
    """Returns the scripted transcripts in order, after a delay on the clock."""

    clock: Clock
    texts: list[str]
    delay_s: float = 0.2
    heard: list[float] = field(default_factory=list)  # durations of the audio it was given
    early_language: str | None = None  # what detect_language answers
    languages_detected: list[float] = field(default_factory=list)  # durations it was asked about
    languages_given: list[str | None] = field(default_factory=list)  # the language of each transcribe

    async def transcribe(self, audio: AudioClip, language: str | None = None) -> Transcript:
        self.heard.append(audio.duration_s)
        self.languages_given.append(language)
        await self.clock.sleep(self.delay_s)  # a cancelled (speculative) call takes no text
        text = self.texts.pop(0) if self.texts else ""
        return Transcript(text, language or "zh", audio.duration_s)

    async def detect_language(self, audio: AudioClip) -> str | None:
        self.languages_detected.append(audio.duration_s)
        return self.early_language

    async def warm_up(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
